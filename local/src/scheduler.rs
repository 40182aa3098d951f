//! The local server's scheduler: the jobs of `tollgate_app::jobs` on the same schedules as
//! EventBridge Scheduler in AWS (`JobName::schedule`, UTC). Each fire time runs the jobs due
//! then, one after the other, in a task of its own, so a long job never delays the next
//! fire time; a job whose previous run is still going finds its slot claimed or runs
//! harmlessly beside it (jobs are idempotent per item).

use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_app::jobs::{run_job, run_outcome, run_summary, JobPorts};
use tollgate_domain::{Clock, JobName, JobRunStatus, JobTrigger};

/// The next fire time after `now` and the jobs due then.
pub fn next_fire(now: DateTime<Utc>) -> (DateTime<Utc>, Vec<JobName>) {
    let times: Vec<(DateTime<Utc>, JobName)> =
        JobName::ALL.iter().map(|j| (j.schedule().next_after(now), *j)).collect();
    let next = times.iter().map(|(t, _)| *t).min().expect("there are jobs");
    (next, times.into_iter().filter(|(t, _)| *t == next).map(|(_, j)| j).collect())
}

/// Starts the scheduler; it runs until `shutdown` holds `true` (or its sender is dropped).
/// Runs in flight at shutdown are left to finish or to be taken over later (a run's claim
/// goes stale after 15 minutes).
pub fn spawn_scheduler(ports: JobPorts, clock: Arc<dyn Clock>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!("scheduler started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let (at, jobs) = next_fire(clock.now());
            let wait = (at - clock.now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() { break; }
                    continue;
                }
            }
            let (ports, clock) = (ports.clone(), clock.clone());
            tokio::spawn(async move {
                for job in jobs {
                    run_scheduled(&ports, job, at, clock.now()).await;
                }
            });
        }
        tracing::info!("scheduler stopped");
    })
}

/// One scheduled run, logged; its record holds the outcome.
async fn run_scheduled(ports: &JobPorts, job: JobName, at: DateTime<Utc>, now: DateTime<Utc>) {
    let run = run_job(ports, job, JobTrigger::Scheduled, at, now).await;
    if let Ok(run) = &run {
        tollgate_http::metrics::record_job_run(job.as_str(), run_outcome(run), run.duration());
    }
    match run {
        Ok(run) if run.status == JobRunStatus::Failed => {
            tracing::warn!(job = %job, summary = %run_summary(&run), "scheduled job failed")
        }
        Ok(run) => tracing::debug!(job = %job, summary = %run_summary(&run), "scheduled job ran"),
        Err(e) => tracing::error!(job = %job, error = %e, "scheduled job could not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_fire_time_lists_every_job_due_then() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let (at, jobs) = next_fire(t("2026-12-06T10:04:30Z"));
        assert_eq!(at, t("2026-12-06T10:05:00Z"));
        assert_eq!(jobs, vec![JobName::PeriodClose, JobName::WebhookRetries]);
        let (at, jobs) = next_fire(t("2026-12-06T10:05:00Z"));
        assert_eq!((at, jobs), (t("2026-12-06T10:06:00Z"), vec![JobName::WebhookRetries]));
    }
}

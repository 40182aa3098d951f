//! The scheduler function: EventBridge Scheduler invokes it with the job's name in the
//! event (`{"job": "period-close"}`, the fixtures in `events/schedule/`), and it runs that
//! job with `tollgate_app::jobs::run_job`, the code the local server's scheduler, the admin
//! route and the CLI run too.
//!
//! A run that fails returns an error, so the invocation fails: EventBridge Scheduler retries
//! it (its retry policy) and then puts the event on the scheduler's dead-letter queue. A
//! retry of a run that claimed its slot and then failed finds the slot taken and skips, so
//! the item-level work of a failed run is left to the job's next slot, which picks up
//! whatever is not done yet.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tollgate_app::jobs::{run_job, run_summary, JobPorts};
use tollgate_domain::{JobName, JobRun, JobRunStatus, JobTrigger};

/// The event EventBridge Scheduler sends (the schedule's `Input`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledJobEvent {
    /// The job's name (`JobName::as_str`).
    pub job: String,
    /// Run as of this time instead of now (for trying a month boundary by hand with
    /// `cargo lambda invoke`); scheduled events leave it out.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The event does not name a job this build has.
    #[error("unknown job {0:?}")]
    UnknownJob(String),
    /// The job ran and failed (some items, or all of it): the run's summary says what.
    #[error("job {job} failed: {summary}")]
    Failed { job: JobName, summary: serde_json::Value },
    /// The run could not be recorded or started (the store is unavailable).
    #[error(transparent)]
    App(#[from] tollgate_app::AppError),
}

/// Runs the event's job (a scheduled run: once per slot) and returns what it did;
/// `on_run` sees the run first (the Lambda reports it as metrics).
#[tracing::instrument(skip_all, fields(job = %event.job))]
pub async fn handle(
    ports: &JobPorts,
    event: &ScheduledJobEvent,
    now: DateTime<Utc>,
    on_run: impl FnOnce(&JobRun),
) -> Result<serde_json::Value, SchedulerError> {
    let job = JobName::parse(&event.job).ok_or_else(|| SchedulerError::UnknownJob(event.job.clone()))?;
    let run = run_job(ports, job, JobTrigger::Scheduled, event.at.unwrap_or(now), now).await?;
    on_run(&run);
    let summary = run_summary(&run);
    tracing::info!(job = %job, summary = %summary, "job run");
    if run.status == JobRunStatus::Failed {
        return Err(SchedulerError::Failed { job, summary });
    }
    Ok(summary)
}

//! The scheduled jobs (see `tollgate_domain::JobName`) and the one way to run them, whoever
//! asks: EventBridge Scheduler through the `scheduler` Lambda, the local server's
//! in-process scheduler, an admin (`POST /api/admin/jobs/{name}/run`) or the CLI
//! (`tollgate job <name> [--at <time>]`).
//!
//! Every job is idempotent and safe to run late, twice or concurrently: what it does per
//! organization is guarded by that item's own conditional write (a period closes once, an
//! alert or a reminder is claimed once), and a scheduled run first claims its job's slot
//! (`JobRun`), so a schedule that fires twice does the work once. A manual run always runs;
//! the item guards make it harmless.

mod dunning;
mod key_expiry;
mod maintenance;
mod period_close;
mod quota_alerts;

use crate::AppError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_domain::{
    Backups, JobName, JobRun, JobRunStatus, JobTrigger, Payments, Queue, Store, Subscription, SubscriptionQuery,
    WebhookSender, JOB_RUN_STALE_AFTER_MINUTES,
};

pub use dunning::{DUNNING_REMINDER_DAYS, DUNNING_SCOPE};
pub use key_expiry::{KEY_EXPIRY_NOTICE_DAYS, KEY_EXPIRY_SCOPE};

/// What the jobs act through. Cheap to clone.
#[derive(Clone)]
pub struct JobPorts {
    pub store: Arc<dyn Store>,
    /// Where notifications (alerts, reminders) are queued.
    pub queue: Arc<dyn Queue>,
    /// The payment provider, when billing is configured: `period-close` reports metered
    /// units to it.
    pub payments: Option<Arc<dyn Payments>>,
    /// The store's backups, where the store has them (the embedded one).
    pub backups: Option<Arc<dyn Backups>>,
    /// Outbound webhooks, where this process sends them: `webhook-retries` needs them.
    pub webhooks: Option<WebhookPorts>,
}

/// How outbound webhook deliveries are sent.
#[derive(Clone)]
pub struct WebhookPorts {
    pub sender: Arc<dyn WebhookSender>,
    /// `ALLOW_INSECURE_WEBHOOK_URLS`: plain HTTP and loopback receivers (development).
    pub allow_insecure: bool,
}

/// What a job did, item by item: its report, and the items that failed (the run is then
/// `failed`; the items are retried by the next run, since nothing marks them done).
#[derive(Debug, Default)]
pub(crate) struct JobOutput {
    pub report: serde_json::Map<String, Value>,
    pub failures: Vec<String>,
}

impl JobOutput {
    /// Sets the report (a JSON object of figures).
    fn set_report(&mut self, report: Value) {
        self.report = report.as_object().cloned().unwrap_or_default();
    }

    /// Notes that one item failed; the first few reasons go into the report.
    fn failed(&mut self, item: impl std::fmt::Display, error: AppError) {
        tracing::warn!(%item, error = %error, "job item failed");
        if self.failures.len() < MAX_REPORTED_FAILURES {
            self.failures.push(format!("{item}: {error}"));
        } else if self.failures.len() == MAX_REPORTED_FAILURES {
            self.failures.push("...".to_string());
        }
    }
}

const MAX_REPORTED_FAILURES: usize = 10;

/// Runs `job` as of `at` (the clock's now, or the CLI's `--at`), recording the run. A
/// scheduled run whose slot was claimed already (by a run that finished, or one still
/// running) does nothing and says so (`skipped`). Returns the finished run; its `report`
/// says what it did.
#[tracing::instrument(skip_all, fields(job = %job, trigger = ?trigger, at = %at))]
pub async fn run_job(
    ports: &JobPorts,
    job: JobName,
    trigger: JobTrigger,
    at: DateTime<Utc>,
    started_at: DateTime<Utc>,
) -> Result<JobRun, AppError> {
    let mut run = JobRun::start(job, trigger, at, started_at);
    let stale_before = started_at - Duration::minutes(JOB_RUN_STALE_AFTER_MINUTES);
    if !ports.store.claim_job_run(&run, stale_before).await? {
        run.report =
            Some(json!({ "skipped": true, "reason": format!("the run of slot {} was claimed already", run.slot) }));
        return Ok(run);
    }
    let outcome = match job {
        JobName::PeriodClose => period_close::run(ports, at).await,
        JobName::QuotaAlerts => quota_alerts::run(ports, at).await,
        JobName::Dunning => dunning::run(ports, at).await,
        JobName::KeyExpiry => key_expiry::run(ports, at).await,
        JobName::Retention => maintenance::retention(ports, at).await,
        JobName::Backup => maintenance::backup(ports, at).await,
        JobName::WebhookRetries => maintenance::webhook_retries(ports, at).await,
    };
    let finished_at = started_at.max(Utc::now());
    run.finished_at = Some(finished_at);
    match outcome {
        Ok(output) => {
            let mut report = output.report;
            if !output.failures.is_empty() {
                report.insert("failures".into(), json!(output.failures));
                run.error = Some(format!("{} item(s) failed", output.failures.len()));
            }
            run.status = if output.failures.is_empty() { JobRunStatus::Succeeded } else { JobRunStatus::Failed };
            run.report = Some(Value::Object(report));
        }
        Err(e) => {
            tracing::error!(error = %e, "job failed");
            run.status = JobRunStatus::Failed;
            run.error = Some(e.to_string());
        }
    }
    ports.store.finish_job_run(&run).await?;
    Ok(run)
}

/// How a run that `run_job` returned ended: `succeeded`, `failed`, or `skipped` (its slot
/// was claimed already), for the answers and the metrics.
pub fn run_outcome(run: &JobRun) -> &'static str {
    match run.status {
        JobRunStatus::Succeeded => "succeeded",
        JobRunStatus::Failed => "failed",
        JobRunStatus::Running => "skipped",
    }
}

/// The run as the API and the CLI answer it: the report's figures with the job, slot,
/// status and timing beside them (`{"job":"quota-alerts","alerts_sent":1,...}`).
pub fn run_summary(run: &JobRun) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("job".into(), json!(run.job));
    out.insert("slot".into(), json!(run.slot));
    out.insert("trigger".into(), json!(run.trigger));
    out.insert("status".into(), json!(run_outcome(run)));
    out.insert("at".into(), json!(run.at));
    out.insert("started_at".into(), json!(run.started_at));
    out.insert("duration_ms".into(), json!(run.duration_ms()));
    if let Some(Value::Object(report)) = &run.report {
        for (k, v) in report {
            out.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(error) = &run.error {
        out.insert("error".into(), json!(error));
    }
    Value::Object(out)
}

/// Every subscription, a page at a time (the jobs visit every organization through it).
pub(crate) struct SubscriptionWalk<'a> {
    store: &'a dyn Store,
    cursor: Option<String>,
    done: bool,
}

/// Subscriptions per page of a walk.
const WALK_PAGE: u32 = 500;

impl<'a> SubscriptionWalk<'a> {
    pub fn new(store: &'a dyn Store) -> Self {
        SubscriptionWalk { store, cursor: None, done: false }
    }

    /// The next page, or None when every subscription was seen.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Subscription>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let query = SubscriptionQuery { limit: WALK_PAGE, cursor: self.cursor.take(), ..Default::default() };
        let (page, next) = self.store.subscriptions_page(&query).await?;
        self.cursor = next;
        self.done = self.cursor.is_none();
        Ok(Some(page))
    }
}

//! `/api/admin/jobs`: the scheduled jobs, their schedules and last runs, and running one by
//! hand (the same code the scheduler runs; see `tollgate_app::jobs`).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::jobs::{run_job, run_outcome, run_summary};
use tollgate_domain::{AuditEvent, JobName, JobRun, JobRunQuery, JobTrigger};
use tollgate_http::{AdminUser, ApiError, AppState, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// One job: when it runs and how its last run went.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// `period-close`, `quota-alerts`, `dunning`, `retention`, `key-expiry`, `backup`,
    /// `webhook-retries`.
    pub name: JobName,
    /// The EventBridge Scheduler expression (UTC); the local server uses the same schedule.
    pub schedule: String,
    /// When the schedule fires next.
    pub next_run_at: chrono::DateTime<chrono::Utc>,
    /// The latest run (scheduled or by hand), if any.
    pub last_run: Option<JobRun>,
}

/// Every job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub data: Vec<JobView>,
}

/// Every scheduled job with its schedule, next run and last run (outcome, duration, report).
#[utoipa::path(get, path = "/api/admin/jobs", operation_id = "admin_list_jobs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "The jobs", body = JobList)))]
pub async fn list_jobs(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<JobList>, ApiError> {
    let now = state.now();
    let mut data = Vec::with_capacity(JobName::ALL.len());
    for name in JobName::ALL {
        let runs = state.store.list_job_runs(&JobRunQuery { job: Some(name), limit: 1 }).await?;
        data.push(JobView {
            name,
            schedule: name.schedule().expression(),
            next_run_at: name.schedule().next_after(now),
            last_run: runs.into_iter().next(),
        });
    }
    Ok(Json(JobList { data }))
}

/// Runs a job now, by hand, and answers with what the run did, e.g.
/// `{"job":"quota-alerts","status":"succeeded","alerts_sent":1,...}`. Safe at any time: every
/// job does each item's work once, however often it runs.
#[utoipa::path(post, path = "/api/admin/jobs/{name}/run", operation_id = "admin_run_job", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "The job's name")),
    responses(
        (status = 200, description = "What the run did (its `status` says whether it succeeded)", body = Object),
        (status = 404, description = "`not_found`: no job of this name", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: jobs cannot run here", body = ErrorBody),
    ))]
pub async fn run_job_now(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let job = JobName::parse(&name).ok_or_else(|| ApiError::NotFound("job".into()))?;
    let ports = state.jobs.as_ref().ok_or_else(|| {
        ApiError::rejected(ErrorCode::ServiceUnavailable, "jobs cannot be run by hand on this deployment")
    })?;
    let now = state.now();
    let run = run_job(ports, job, JobTrigger::Manual, now, now).await?;
    tollgate_http::metrics::record_job_run(job.as_str(), run_outcome(&run), run.duration());
    let summary = run_summary(&run);
    state
        .audit(
            AuditEvent::new("job.run", now)
                .actor(&admin.user.id)
                .target(job.as_str().to_string())
                .details(serde_json::json!({ "status": run.status, "slot": run.slot })),
        )
        .await;
    Ok(Json(summary))
}

//! Job run records and the retention pass. PLACEHOLDER: being implemented.

use super::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{Housekeeping, JobRun, JobRunQuery, JobRunRepository, PruneReport, StoreError};

#[async_trait]
impl JobRunRepository for SqliteStore {
    async fn claim_job_run(&self, _run: &JobRun, _stale_before: DateTime<Utc>) -> Result<bool, StoreError> {
        todo!("claim_job_run")
    }
    async fn finish_job_run(&self, _run: &JobRun) -> Result<(), StoreError> {
        todo!("finish_job_run")
    }
    async fn list_job_runs(&self, _query: &JobRunQuery) -> Result<Vec<JobRun>, StoreError> {
        todo!("list_job_runs")
    }
}

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn prune_expired(&self, _now: DateTime<Utc>, _batch: u32) -> Result<PruneReport, StoreError> {
        todo!("prune_expired")
    }
}

//! `JobRunRepository` (the record of each scheduled job run) and `Housekeeping`.
//!
//! A run is one item per (job, slot), `PK=JOB#<job>`, `SK=RUN#<slot>`: claiming a slot is one
//! conditional PutItem on it. Each job's runs are listed newest first through GSI1
//! (`JOBRUNS#<job>`, `<started_at>#<slot>`): one partition per job, so a filtered listing is
//! one Query however often other jobs run (webhook retries run every minute), and the
//! unfiltered listing is one Query per job, merged. Runs carry `ttl` (their `expires_at`):
//! DynamoDB's TTL removes them, as it removes every other expiring item, so `prune_expired`
//! has nothing to do.

use crate::item::{key, s, time, Item, ItemBuilder, Reader, GSI1};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, UpdateExpr};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use tollgate_domain::{
    Housekeeping, JobName, JobRun, JobRunQuery, JobRunRepository, JobRunStatus, JobTrigger, PruneReport, StoreError,
    StoredEnum,
};

fn run_item(run: &JobRun) -> Result<Item, StoreError> {
    let report = run.report.as_ref().map(serde_json::Value::to_string);
    Ok(ItemBuilder::new(job_pk(run.job), job_run_sk(&run.slot))
        .s("job", run.job.as_str())
        .s("slot", &run.slot)
        .s("trigger", run.trigger.as_str())
        .s("status", run.status.as_str())
        .time("at", run.at)
        .time("started_at", run.started_at)
        .opt_time("finished_at", run.finished_at)
        .opt_s("report", report)
        .opt_s("error", run.error.as_deref())
        .time("expires_at", run.expires_at)
        .ttl(run.expires_at)
        .gsi1(job_runs_gsi_pk(run.job), job_run_gsi_sk(run.started_at, &run.slot))
        .build())
}

fn decode_run(item: &Item) -> Result<JobRun, StoreError> {
    let r = Reader::new(item, "job run");
    Ok(JobRun {
        job: r.parsed("job", JobName::parse)?,
        slot: r.string("slot")?,
        trigger: r.parsed("trigger", JobTrigger::parse)?,
        status: r.parsed("status", JobRunStatus::parse)?,
        at: r.time("at")?,
        started_at: r.time("started_at")?,
        finished_at: r.opt_time("finished_at")?,
        report: r.opt_json("report")?,
        error: r.opt_string("error")?,
        expires_at: r.time("expires_at")?,
    })
}

impl DynamoStore {
    /// The newest `limit` runs of `job`: one Query (a page of at most 100 small items).
    async fn job_runs_of(&self, job: JobName, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let out = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(job_runs_gsi_pk(job)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query(job runs)", e))?;
        out.items().iter().map(decode_run).collect()
    }
}

#[async_trait]
impl JobRunRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(job = %run.job, slot = %run.slot), err(level = "debug"))]
    async fn claim_job_run(&self, run: &JobRun, stale_before: DateTime<Utc>) -> Result<bool, StoreError> {
        // One conditional Put: DynamoDB applies the writes to one item one at a time, so of
        // concurrent claims exactly one finds the slot free (or its run stale).
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run_item(run)?))
            .condition_expression("attribute_not_exists(PK) OR (#status = :running AND started_at < :stale)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(JobRunStatus::Running.as_str()))
            .expression_attribute_values(":stale", time(stale_before))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("PutItem(job run)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(job = %run.job, slot = %run.slot, status = run.status.as_str()), err(level = "debug"))]
    async fn finish_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        // Only the outcome changes: the claim's start (and its GSI1 position) stays.
        let (update, p) = UpdateExpr::new()
            .set("status", s(run.status.as_str()))
            .set_opt("finished_at", run.finished_at.map(time))
            .set_opt("report", run.report.as_ref().map(|r| s(r.to_string())))
            .set_opt("error", run.error.as_deref().map(s))
            .build();
        let run_key = key(job_pk(run.job), job_run_sk(&run.slot));
        if self.update_if("UpdateItem(job run)", run_key, &update, "attribute_exists(PK)", p).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound("job run"))
        }
    }

    #[tracing::instrument(skip_all, fields(job = ?query.job, limit = query.limit), err(level = "debug"))]
    async fn list_job_runs(&self, query: &JobRunQuery) -> Result<Vec<JobRun>, StoreError> {
        let limit = query.page_size();
        if let Some(job) = query.job {
            return self.job_runs_of(job, limit).await;
        }
        // The newest `limit` of all are among the newest `limit` of each job: one Query per
        // job (7, on an admin page), merged newest first, ties by job then slot, descending
        // (as the embedded store orders them).
        let mut runs = Vec::new();
        for job in JobName::ALL {
            runs.extend(self.job_runs_of(job, limit).await?);
        }
        runs.sort_by(|a, b| {
            let key = |r: &JobRun| (r.started_at, r.job.as_str(), r.slot.clone());
            Reverse(key(a)).cmp(&Reverse(key(b)))
        });
        runs.truncate(limit as usize);
        Ok(runs)
    }
}

#[async_trait]
impl Housekeeping for DynamoStore {
    /// Nothing to do: every expiring item carries `ttl` and DynamoDB's TTL removes it
    /// (within a day or two of its expiry; reads skip it meanwhile). See docs/dynamodb.md,
    /// "Retention".
    #[tracing::instrument(skip_all, fields(batch = _batch))]
    async fn prune_expired(&self, _now: DateTime<Utc>, _batch: u32) -> Result<PruneReport, StoreError> {
        Ok(PruneReport { by_ttl: true, ..Default::default() })
    }
}

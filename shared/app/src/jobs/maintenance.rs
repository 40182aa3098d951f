//! The housekeeping jobs: `retention` (daily), `backup` (daily) and `webhook-retries`
//! (every minute).

use super::{JobOutput, JobPorts};
use crate::AppError;
use chrono::{DateTime, Utc};
use serde_json::json;
use tollgate_domain::PruneReport;

/// Items of each kind removed per store call.
const PRUNE_BATCH: u32 = 1_000;
/// At most this many batches per run (a million items of a kind); the next day's run goes on.
const PRUNE_MAX_ROUNDS: u32 = 1_000;

/// `retention`: removes what outlived its retention (usage logs past the plan's retention,
/// expired sessions, one-time tokens, idempotency claims, job records), in batches, until a
/// round removes less than a full batch of every kind. On DynamoDB the table's TTL does it.
pub(super) async fn retention(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let mut total = PruneReport::default();
    let mut rounds = 0;
    loop {
        let round = ports.store.prune_expired(at, PRUNE_BATCH).await?;
        rounds += 1;
        total.add(&round);
        if round.by_ttl || round.most_of_one_kind() < u64::from(PRUNE_BATCH) || rounds >= PRUNE_MAX_ROUNDS {
            break;
        }
    }
    let mut output = JobOutput::default();
    output.set_report(json!({ "removed": total, "rounds": rounds }));
    Ok(output)
}

/// `backup`: an online backup of the embedded store (30 kept); on DynamoDB nothing to do.
pub(super) async fn backup(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let mut output = JobOutput::default();
    match &ports.backups {
        Some(backups) => {
            let written = backups.back_up(at).await?;
            output.set_report(json!({ "file": written.file, "kept": written.kept }));
        }
        None => output.set_report(json!({
            "skipped": true,
            "reason": "this store has no local backups: DynamoDB has point-in-time recovery and an AWS Backup plan",
        })),
    }
    Ok(output)
}

/// Deliveries attempted per `webhook-retries` run (one a minute): each waits at most 10 s
/// for its receiver, so a run of failing receivers still ends within the minute's budget
/// of a Lambda invocation; the rest wait for the next minute.
const WEBHOOK_RETRIES_PER_RUN: u32 = 50;

/// `webhook-retries`: outbound webhook deliveries whose retry is due (see
/// `webhooks::retry_due`: backoff with jitter for 24 hours, then `failed`).
pub(super) async fn webhook_retries(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let mut output = JobOutput::default();
    match &ports.webhooks {
        Some(webhooks) => {
            let report = crate::webhooks::retry_due(
                &*ports.store,
                &*webhooks.sender,
                at,
                WEBHOOK_RETRIES_PER_RUN,
                webhooks.allow_insecure,
            )
            .await?;
            output.set_report(json!(report));
        }
        None => output.set_report(json!({
            "skipped": true,
            "reason": "this process sends no webhooks: the scheduler and the local server do",
        })),
    }
    Ok(output)
}

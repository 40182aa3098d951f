//! The usage worker: turns usage events (one JSON `UsageEvent` per queue message, emitted by
//! the gateway) into usage log entries and hourly/daily aggregates, once per event id.
//!
//! The same code runs in both targets: [`process_batch`] behind the Lambda composition root's
//! SQS glue (`tollgate_lambda::sqs`, with `ReportBatchItemFailures`) and in the local
//! server's in-process drainer of the SQLite queue. A message fails alone: a body that is not a usage
//! event (poison) or a store error reports that message and no other, so the queue retries
//! it and, after its last attempt, moves it to the dead-letter queue.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tollgate_domain::{Id, Store, UsageEvent, UsageRecord};
use tracing::Instrument;

/// Records every message of a batch (`(message id, body)` pairs) and returns the ids of the
/// messages that failed, for the queue to deliver again. A duplicate event (its id already
/// recorded) is a success. Log retention is the organization's plan `retention_days`,
/// counted from the event's timestamp; the plan is read once per organization per batch.
pub async fn process_batch(store: &dyn Store, messages: Vec<(String, String)>, now: DateTime<Utc>) -> Vec<String> {
    let span = tracing::info_span!(
        "usage_batch",
        messages = messages.len(),
        recorded = tracing::field::Empty,
        duplicates = tracing::field::Empty,
        failed = tracing::field::Empty,
    );
    let (recorded, duplicates, failed) = record_all(store, messages, now).instrument(span.clone()).await;
    span.record("recorded", recorded);
    span.record("duplicates", duplicates);
    span.record("failed", failed.len());
    span.in_scope(|| tracing::info!(recorded, duplicates, failed = failed.len(), "usage batch processed"));
    failed
}

/// (recorded, duplicates, failed message ids): the events of the batch are recorded in one
/// store call (`record_usage_batch`: one transaction on SQLite, a few on DynamoDB).
async fn record_all(
    store: &dyn Store,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> (usize, usize, Vec<String>) {
    let mut failed = Vec::new();
    let mut retention: HashMap<Id, Option<u32>> = HashMap::new();
    let (mut ids, mut records) = (Vec::with_capacity(messages.len()), Vec::with_capacity(messages.len()));
    for (message_id, body) in messages {
        let event: UsageEvent = match serde_json::from_str(&body) {
            Ok(e) => e,
            Err(e) => {
                // The body may be anything: its first bytes are not logged, only its size.
                tracing::warn!(message_id = %message_id, body_len = body.len(), error = %e, "usage message is not a usage event");
                failed.push(message_id);
                continue;
            }
        };
        let Some(days) = retention_days(store, &event.org_id, now, &mut retention).await else {
            failed.push(message_id);
            continue;
        };
        let expires_at = event.timestamp + chrono::Duration::days(i64::from(days));
        ids.push(message_id);
        records.push(UsageRecord { event, expires_at });
    }
    if records.is_empty() {
        return (0, 0, failed);
    }
    let recorded = match store.record_usage_batch(&records).await {
        Ok(recorded) => recorded,
        Err(e) => {
            // Nothing of the batch may be assumed recorded: every event is retried (ids
            // make a second recording a duplicate).
            tracing::error!(error = %e, events = records.len(), "recording usage events failed");
            failed.extend(ids);
            return (0, 0, failed);
        }
    };
    let mut last_used: HashMap<(&Id, &Id), DateTime<Utc>> = HashMap::new();
    for (record, _) in records.iter().zip(&recorded).filter(|(_, &new)| new) {
        let e = &record.event;
        let latest = last_used.entry((&e.org_id, &e.key_id)).or_insert(e.timestamp);
        *latest = (*latest).max(e.timestamp);
    }
    // Once per key per batch, off the gateway's hot path. Informational: a failure is
    // logged and does not fail the batch (the events themselves are recorded).
    for ((org_id, key_id), at) in last_used {
        if let Err(e) = store.mark_api_key_used(org_id, key_id, at).await {
            tracing::warn!(key_id = %key_id, error = %e, "could not update the key's last use");
        }
    }
    let new = recorded.iter().filter(|&&new| new).count();
    (new, recorded.len() - new, failed)
}

/// The log retention of `org_id`'s plan, read once per organization per batch. None (logged)
/// when it cannot be read: that organization's events fail and are retried.
async fn retention_days(
    store: &dyn Store,
    org_id: &Id,
    now: DateTime<Utc>,
    cache: &mut HashMap<Id, Option<u32>>,
) -> Option<u32> {
    if let Some(&days) = cache.get(org_id) {
        return days;
    }
    let days = match tollgate_app::current_subscription(store, org_id, now).await {
        Ok((_, plan)) => Some(plan.retention_days),
        Err(e) => {
            tracing::error!(org_id = %org_id, error = %e, "the plan of a usage event's organization could not be read");
            None
        }
    };
    cache.insert(org_id.clone(), days);
    days
}

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
use tollgate_domain::{Id, Store, UsageEvent};
use tracing::Instrument;

/// What happened to one message.
#[derive(Debug)]
enum Outcome {
    /// Recorded now; the key and time, for the key's `last_used_at`.
    Recorded {
        org_id: Id,
        key_id: Id,
        at: DateTime<Utc>,
    },
    Duplicate,
    Poison(serde_json::Error),
    Failed(String),
}

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

/// (recorded, duplicates, failed message ids).
async fn record_all(
    store: &dyn Store,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> (usize, usize, Vec<String>) {
    let (mut recorded, mut duplicates) = (0usize, 0usize);
    let mut failed = Vec::new();
    let mut retention: HashMap<Id, u32> = HashMap::new();
    let mut last_used: HashMap<(Id, Id), DateTime<Utc>> = HashMap::new();
    for (message_id, body) in messages {
        match process_one(store, &body, now, &mut retention).await {
            Outcome::Recorded { org_id, key_id, at } => {
                recorded += 1;
                let latest = last_used.entry((org_id, key_id)).or_insert(at);
                *latest = (*latest).max(at);
            }
            Outcome::Duplicate => duplicates += 1,
            Outcome::Poison(e) => {
                // The body may be anything: its first bytes are not logged, only its size.
                tracing::warn!(message_id = %message_id, body_len = body.len(), error = %e, "usage message is not a usage event");
                failed.push(message_id);
            }
            Outcome::Failed(e) => {
                tracing::error!(message_id = %message_id, error = %e, "recording a usage event failed");
                failed.push(message_id);
            }
        }
    }
    // Once per key per batch, off the gateway's hot path. Informational: a failure is
    // logged and does not fail the batch (the events themselves are recorded).
    for ((org_id, key_id), at) in last_used {
        if let Err(e) = store.mark_api_key_used(&org_id, &key_id, at).await {
            tracing::warn!(key_id = %key_id, error = %e, "could not update the key's last use");
        }
    }
    (recorded, duplicates, failed)
}

async fn process_one(store: &dyn Store, body: &str, now: DateTime<Utc>, retention: &mut HashMap<Id, u32>) -> Outcome {
    let event: UsageEvent = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => return Outcome::Poison(e),
    };
    let days = match retention.get(&event.org_id) {
        Some(&d) => d,
        None => match tollgate_app::current_subscription(store, &event.org_id, now).await {
            Ok((_, plan)) => {
                retention.insert(event.org_id.clone(), plan.retention_days);
                plan.retention_days
            }
            Err(e) => return Outcome::Failed(format!("plan of {}: {e}", event.org_id)),
        },
    };
    let expires_at = event.timestamp + chrono::Duration::days(i64::from(days));
    match store.record_usage(&event, expires_at).await {
        Ok(true) => Outcome::Recorded { org_id: event.org_id, key_id: event.key_id, at: event.timestamp },
        Ok(false) => Outcome::Duplicate,
        Err(e) => Outcome::Failed(format!("event {}: {e}", event.id)),
    }
}

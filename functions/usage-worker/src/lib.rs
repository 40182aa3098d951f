//! The usage worker: turns usage events (one JSON `UsageEvent` per queue message, emitted by
//! the gateway) into usage log entries and hourly/daily aggregates, once per event id.
//!
//! The same code runs in both targets: [`process_batch`] behind the Lambda composition root's
//! SQS glue (`tollgate_lambda::sqs`, with `ReportBatchItemFailures`) and in the local
//! server's in-process drainer of the SQLite queue. On the SQLite store that queue carries
//! only the events whose outcome never came (the process stopped mid-call): the call meter
//! records the others itself (`tollgate_embedded::SqliteCallMeter`). A message fails alone:
//! a body that is not a usage event (poison) or a store error reports that message and no
//! other, so the queue retries it and, after its last attempt, moves it to the dead-letter
//! queue.
//!
//! Metered billing starts here, without a call to Stripe from this worker: after a batch,
//! each organization with new events and a subscription at the payment provider gets a
//! `BillingTask::ReportUsage` on the billing queue (the Stripe events queue), which the
//! webhook worker carries out (`tollgate_app::billing::report_metered_usage`, from the
//! period counter, so a unit goes out once however often it runs). So this high-volume
//! function links no Stripe client and reads no secret. From a call to Stripe takes the
//! batch's delay plus the billing worker's: well under a second locally, the two SQS batching
//! windows on Lambda. A task that cannot be queued is logged and caught up by the
//! organization's next batch (the report is cumulative); the events stay recorded.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::collections::HashMap;
use tollgate_app::billing::BillingTask;
use tollgate_domain::{last_use_per_key, Id, OrgUsageFacts, Queue, QueueName, Store, UsageEvent};
use tracing::Instrument;

/// Records every message of a batch (`(message id, body)` pairs) and returns the ids of the
/// messages that failed, for the queue to deliver again. A duplicate event (its id already
/// recorded) is a success. Log retention is the organization's plan `retention_days`,
/// counted from the event's timestamp; the plan is read once per organization per batch.
/// With `billing` (the queue of billing work; None where billing is not configured), the
/// batch's organizations' metered units are asked to be reported afterwards.
pub async fn process_batch(
    store: &dyn Store,
    billing: Option<&dyn Queue>,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let span = tracing::info_span!(
        "usage_batch",
        messages = messages.len(),
        recorded = tracing::field::Empty,
        duplicates = tracing::field::Empty,
        failed = tracing::field::Empty,
    );
    let (recorded, duplicates, failed, touched) = record_all(store, messages, now).instrument(span.clone()).await;
    if let Some(billing) = billing {
        request_reports(billing, touched, &now.timestamp_micros().to_string()).instrument(span.clone()).await;
    }
    span.record("recorded", recorded);
    span.record("duplicates", duplicates);
    span.record("failed", failed.len());
    span.in_scope(|| tracing::info!(recorded, duplicates, failed = failed.len(), "usage batch processed"));
    failed
}

/// The organizations with a paid subscription at the provider and the periods a batch
/// recorded events of (for the metered report; the others have nothing to report).
pub type Touched = BTreeSet<(Id, tollgate_domain::PeriodKey)>;

/// (recorded, duplicates, failed message ids, organizations and periods with new events):
/// the events of the batch are recorded in one store call (`record_usage_batch`: one
/// transaction on SQLite, a few on DynamoDB).
async fn record_all(
    store: &dyn Store,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> (usize, usize, Vec<String>, Touched) {
    let mut failed = Vec::new();
    let mut orgs: HashMap<Id, Option<OrgUsageFacts>> = HashMap::new();
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
        let Some(facts) = org_facts(store, &event.org_id, now, &mut orgs).await else {
            failed.push(message_id);
            continue;
        };
        ids.push(message_id);
        records.push(facts.record(event));
    }
    if records.is_empty() {
        return (0, 0, failed, Touched::new());
    }
    let recorded = match store.record_usage_batch(&records).await {
        Ok(recorded) => recorded,
        Err(e) => {
            // Nothing of the batch may be assumed recorded: every event is retried (ids
            // make a second recording a duplicate).
            tracing::error!(error = %e, events = records.len(), "recording usage events failed");
            failed.extend(ids);
            return (0, 0, failed, Touched::new());
        }
    };
    let new_events: Vec<&UsageEvent> =
        records.iter().zip(&recorded).filter(|(_, &new)| new).map(|(r, _)| &r.event).collect();
    let mut touched = Touched::new();
    for e in &new_events {
        // Only an organization with a paid subscription at the provider can owe metered units.
        if orgs.get(&e.org_id).copied().flatten().is_some_and(|f| f.paid_at_provider) {
            touched.insert((e.org_id.clone(), e.period.clone()));
        }
    }
    // Once per key per batch, off the gateway's hot path. Informational: a failure is
    // logged and does not fail the batch (the events themselves are recorded).
    for ((org_id, key_id), at) in last_use_per_key(new_events.iter().copied()) {
        if let Err(e) = store.mark_api_key_used(org_id, key_id, at).await {
            tracing::warn!(key_id = %key_id, error = %e, "could not update the key's last use");
        }
    }
    let new = recorded.iter().filter(|&&new| new).count();
    (new, recorded.len() - new, failed, touched)
}

/// Asks the billing worker to report the metered units of each organization and period
/// in `touched`, in one send. A failure is logged: the next request (the report is
/// cumulative) catches up. Also used by the local server for the usage its call meter
/// recorded itself.
pub async fn request_reports(billing: &dyn Queue, touched: Touched, nonce: &str) {
    if touched.is_empty() {
        return;
    }
    let tasks: Vec<_> = touched
        .into_iter()
        .map(|(org_id, period)| BillingTask::ReportUsage { org_id, period }.to_message(nonce))
        .collect();
    if let Err(e) = billing.send(QueueName::StripeEvents, &tasks).await {
        tracing::warn!(tasks = tasks.len(), error = %e, "usage report requests not queued; the next batch's catch up");
    }
}

/// `org_id`'s facts, from its subscription and plan. None (logged) when they cannot be read:
/// that organization's events fail and are retried.
async fn org_facts(
    store: &dyn Store,
    org_id: &Id,
    now: DateTime<Utc>,
    cache: &mut HashMap<Id, Option<OrgUsageFacts>>,
) -> Option<OrgUsageFacts> {
    if let Some(&facts) = cache.get(org_id) {
        return facts;
    }
    let facts = match tollgate_app::current_subscription(store, org_id, now).await {
        Ok((sub, plan)) => Some(OrgUsageFacts::of(&sub, &plan)),
        Err(e) => {
            tracing::error!(org_id = %org_id, error = %e, "the plan of a usage event's organization could not be read");
            None
        }
    };
    cache.insert(org_id.clone(), facts);
    facts
}

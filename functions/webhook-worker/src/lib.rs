//! The webhook worker, the platform's billing worker: applies Stripe events from the Stripe
//! events queue (SQS in AWS, the SQLite queue locally), each once
//! (`tollgate_app::billing::process_stripe_event`), and carries out the billing tasks the
//! platform queues there itself (`BillingTask`: the usage worker's requests to report
//! metered units). It and the billing routes are the only code that calls Stripe.
//!
//! Returns the ids of the messages to retry: a provider or store failure is retried with
//! the queue's backoff and goes to the dead-letter queue after its last attempt; a body that
//! is not a Stripe event can never succeed, so it is reported as failed at once and ends in
//! the dead-letter queue after the retries (where an operator can look at it).

use chrono::{DateTime, Utc};
use tollgate_app::billing::{process_stripe_event, BillingTask, StripeEventEnvelope};
use tollgate_domain::{Payments, Queue, Store};

/// Processes one batch of `(message id, body)` in order; returns the ids that failed.
/// Notifications the events give rise to go to `notifications` (its notifications queue).
pub async fn process_batch(
    store: &dyn Store,
    payments: &dyn Payments,
    notifications: &dyn Queue,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for (message_id, body) in messages {
        if let Ok(task) = serde_json::from_str::<BillingTask>(&body) {
            if let Err(e) = task.run(store, payments, now).await {
                tracing::warn!(message_id = %message_id, ?task, error = %e, "billing task failed; it will be retried");
                failed.push(message_id);
            }
            continue;
        }
        let event: StripeEventEnvelope = match serde_json::from_str(&body) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(message_id = %message_id, error = %e, "a Stripe events message is neither a Stripe event nor a billing task");
                failed.push(message_id);
                continue;
            }
        };
        match process_stripe_event(store, payments, notifications, &event, now).await {
            Ok(outcome) => {
                tracing::info!(event_id = %event.id, event_type = %event.kind, ?outcome, "Stripe event processed")
            }
            Err(e) => {
                tracing::error!(event_id = %event.id, event_type = %event.kind, error = %e, "Stripe event failed");
                failed.push(message_id);
            }
        }
    }
    failed
}

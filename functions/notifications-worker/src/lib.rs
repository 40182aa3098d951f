//! The notifications worker: delivers the events of the notifications queue (quota alerts
//! at 80 % and 100 %, put there by the gateway) to the organization's owner by email, each
//! once (`tollgate_app::notifications::deliver`).
//!
//! The same code runs in both targets: [`process_batch`] behind the Lambda composition
//! root's SQS glue (`ReportBatchItemFailures`) and in the local server's drainer of the
//! SQLite queue. A message fails alone: a body that is not a notification can never succeed
//! and is reported at once (it reaches the dead-letter queue after the retries); a mail or
//! store failure is retried with the queue's backoff.

use chrono::{DateTime, Utc};
use tollgate_app::notifications::{deliver, Delivery};
use tollgate_domain::{Mailer, Notification, Store};

/// Delivers each message of a batch (`(message id, body)` pairs) in order; returns the ids
/// of the messages that failed, for the queue to deliver again.
pub async fn process_batch(
    store: &dyn Store,
    mailer: &dyn Mailer,
    messages: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for (message_id, body) in messages {
        let Some(notification) = Notification::parse(&body) else {
            // The body may be anything: only its size is logged.
            tracing::warn!(message_id = %message_id, body_len = body.len(), "a notifications message is not a notification");
            failed.push(message_id);
            continue;
        };
        match deliver(store, mailer, &notification, now).await {
            Ok(Delivery::Mailed) => tracing::info!(
                notification_id = notification.id(),
                event_type = notification.event_type(),
                org_id = %notification.org_id(),
                "notification mailed"
            ),
            Ok(outcome) => tracing::info!(notification_id = notification.id(), ?outcome, "notification not mailed"),
            Err(e) => {
                tracing::error!(notification_id = notification.id(), error = %e, "notification delivery failed");
                failed.push(message_id);
            }
        }
    }
    failed
}

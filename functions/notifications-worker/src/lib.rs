//! The notifications worker: delivers the events of the notifications queue (quota alerts
//! at 80 % and 100 %, put there by the gateway, and the scheduled jobs' notifications) to
//! the organization's owner by email and to its Slack channel, each once and as the
//! organization's notification settings say (`tollgate_app::notifications::deliver`), then
//! to the organization's webhook endpoints subscribed to the event
//! (`tollgate_app::webhooks::dispatch`, one delivery per endpoint whatever the number of
//! redeliveries).
//!
//! The same code runs in both targets: [`process_batch`] behind the Lambda composition
//! root's SQS glue (`ReportBatchItemFailures`) and in the local server's drainer of the
//! SQLite queue. A message fails alone: a body that is not a notification can never succeed
//! and is reported at once (it reaches the dead-letter queue after the retries); a mail or
//! store failure is retried with the queue's backoff. A webhook or Slack that does not answer
//! is not a failure of the message (the mail must not go again): its retries come from the
//! `webhook-retries` job (`tollgate_app::webhooks::retry_due`).

use chrono::{DateTime, Utc};
use tollgate_app::notifications::{deliver, Delivered, Delivery, SlackOut};
use tollgate_app::webhooks::dispatch;
use tollgate_domain::{Mailer, Notification, Store, WebhookSender};

/// Where the notifications' webhooks and Slack posts go: the sender and the URL policy
/// (`ALLOW_INSECURE_WEBHOOK_URLS`).
#[derive(Clone, Copy)]
pub struct Webhooks<'a> {
    pub sender: &'a dyn WebhookSender,
    pub allow_insecure: bool,
}

/// Delivers each message of a batch (`(message id, body)` pairs) in order; returns the ids
/// of the messages that failed, for the queue to deliver again.
pub async fn process_batch(
    store: &dyn Store,
    mailer: &dyn Mailer,
    webhooks: Webhooks<'_>,
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
        let slack = SlackOut { sender: webhooks.sender, allow_insecure: webhooks.allow_insecure };
        match deliver(store, mailer, slack, &notification, now).await {
            Ok(Delivered { email: Delivery::Mailed, slack }) => tracing::info!(
                notification_id = notification.id(),
                event_type = notification.event_type(),
                org_id = %notification.org_id(),
                ?slack,
                "notification mailed"
            ),
            Ok(Delivered { email, slack }) => {
                tracing::info!(notification_id = notification.id(), ?email, ?slack, "notification not mailed")
            }
            Err(e) => {
                tracing::error!(notification_id = notification.id(), error = %e, "notification delivery failed");
                failed.push(message_id);
                continue;
            }
        }
        // After the mail: a redelivered message is not mailed again, and its webhook
        // deliveries exist already, so retrying the message after a store failure here is safe.
        match dispatch(store, webhooks.sender, &notification, now, webhooks.allow_insecure).await {
            Ok(report) if report.deliveries > 0 => {
                tracing::info!(notification_id = notification.id(), ?report, "notification sent to webhooks")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(notification_id = notification.id(), error = %e, "webhook dispatch failed");
                failed.push(message_id);
            }
        }
    }
    failed
}

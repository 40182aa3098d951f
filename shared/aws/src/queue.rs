//! The `Queue` port on Amazon SQS (`SendMessageBatch`, 10 entries per call).
//!
//! Each message's body is sent as is; its id travels as the message attribute
//! [`ID_ATTRIBUTE`] (consumers deduplicate on the id inside the body, the attribute is for
//! tracing and tooling). The batch entry id is the message id sanitized to what SQS allows
//! (`[A-Za-z0-9_-]`, at most 80 characters), made unique within the batch.

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use std::collections::{HashMap, HashSet};
use tollgate_domain::{PortError, Queue, QueueMessage, QueueName};

/// SQS takes at most 10 entries per `SendMessageBatch`.
pub const SQS_BATCH_SIZE: usize = 10;
/// Batch entry ids: alphanumerics, `-` and `_`, at most 80 characters.
const MAX_ENTRY_ID_LEN: usize = 80;
/// The message attribute carrying the real message id.
pub const ID_ATTRIBUTE: &str = "tollgate_id";
/// Environment variable with the usage queue's URL (set by template.yaml).
pub const USAGE_QUEUE_URL_ENV: &str = "USAGE_QUEUE_URL";
/// Environment variable with the notifications queue's URL (set by template.yaml).
pub const NOTIFICATIONS_QUEUE_URL_ENV: &str = "NOTIFICATIONS_QUEUE_URL";
/// Environment variable with the Stripe events queue's URL (set by template.yaml).
pub const STRIPE_EVENTS_QUEUE_URL_ENV: &str = "STRIPE_EVENTS_QUEUE_URL";

/// Sends to the platform's queues by URL.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    usage_url: String,
    notifications_url: String,
    /// Only the Stripe webhook function sends here.
    stripe_events_url: Option<String>,
}

impl SqsQueue {
    /// Sends with `client` to the queues at `usage_url` and `notifications_url`.
    pub fn new(
        client: aws_sdk_sqs::Client,
        usage_url: impl Into<String>,
        notifications_url: impl Into<String>,
    ) -> Self {
        SqsQueue {
            client,
            usage_url: usage_url.into(),
            notifications_url: notifications_url.into(),
            stripe_events_url: None,
        }
    }

    /// Also sends verified Stripe events to the queue at `url`.
    pub fn with_stripe_events(mut self, url: impl Into<String>) -> Self {
        self.stripe_events_url = Some(url.into());
        self
    }

    /// The URL of `queue`, if this sender was given one.
    pub fn url(&self, queue: QueueName) -> Option<&str> {
        match queue {
            QueueName::Usage => Some(&self.usage_url),
            QueueName::Notifications => Some(&self.notifications_url),
            QueueName::StripeEvents => self.stripe_events_url.as_deref(),
        }
    }

    /// Sends one batch of at most 10; the failed entries are retried once.
    async fn send_chunk(&self, queue: QueueName, chunk: &[QueueMessage]) -> Result<(), PortError> {
        let url = self.url(queue).ok_or_else(|| {
            PortError::new(format!("no SQS queue URL is configured for the {} queue", queue.as_str()))
        })?;
        let ids = entry_ids(chunk);
        let mut pending: HashMap<String, SendMessageBatchRequestEntry> = HashMap::new();
        let mut entries = Vec::with_capacity(chunk.len());
        for (m, entry_id) in chunk.iter().zip(&ids) {
            let entry = SendMessageBatchRequestEntry::builder()
                .id(entry_id)
                .message_body(&m.body)
                .message_attributes(
                    ID_ATTRIBUTE,
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(&m.id)
                        .build()
                        .map_err(|e| PortError::with_source("building an SQS message attribute failed", e))?,
                )
                .build()
                .map_err(|e| PortError::with_source("building an SQS batch entry failed", e))?;
            pending.insert(entry_id.clone(), entry.clone());
            entries.push(entry);
        }
        for attempt in 1..=2 {
            let out = self.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await.map_err(
                |e| {
                    PortError::with_source(
                        format!(
                            "SQS SendMessageBatch to the {} queue failed: {}",
                            queue.as_str(),
                            DisplayErrorContext(&e)
                        ),
                        e,
                    )
                },
            )?;
            if out.failed().is_empty() {
                return Ok(());
            }
            let permanent: Vec<_> = out.failed().iter().filter(|f| f.sender_fault()).collect();
            if attempt == 2 || !permanent.is_empty() {
                let failed: Vec<String> = out
                    .failed()
                    .iter()
                    .map(|f| {
                        format!(
                            "{} ({}{})",
                            f.id(),
                            f.code(),
                            f.message().map(|m| format!(": {m}")).unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(PortError::new(format!(
                    "SQS did not accept {} of the messages sent to the {} queue: {}",
                    failed.len(),
                    queue.as_str(),
                    failed.join(", ")
                )));
            }
            tracing::warn!(
                queue = queue.as_str(),
                failed = out.failed().len(),
                "SQS batch entries failed; retrying them once"
            );
            entries = out.failed().iter().filter_map(|f| pending.get(f.id()).cloned()).collect();
        }
        unreachable!("the second attempt returns")
    }
}

/// A message id as an SQS batch entry id: other characters become `_`, cut to 80.
pub fn sanitize_entry_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(MAX_ENTRY_ID_LEN)
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// Distinct entry ids for a batch: the sanitized id, or, when two sanitize alike, the
/// later one suffixed with its position (or a further number if that is taken too).
fn entry_ids(chunk: &[QueueMessage]) -> Vec<String> {
    let mut seen = HashSet::new();
    chunk
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let base = sanitize_entry_id(&m.id);
            let mut id = base.clone();
            let mut n = i;
            while !seen.insert(id.clone()) {
                let suffix = format!("-{n}");
                id = base.clone();
                id.truncate(MAX_ENTRY_ID_LEN - suffix.len());
                id.push_str(&suffix);
                n += SQS_BATCH_SIZE;
            }
            id
        })
        .collect()
}

#[async_trait]
impl Queue for SqsQueue {
    #[tracing::instrument(skip_all, fields(queue = queue.as_str(), messages = messages.len()), err)]
    async fn send(&self, queue: QueueName, messages: &[QueueMessage]) -> Result<(), PortError> {
        for chunk in messages.chunks(SQS_BATCH_SIZE) {
            self.send_chunk(queue, chunk).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> QueueMessage {
        QueueMessage { id: id.into(), body: "{}".into() }
    }

    #[test]
    fn entry_ids_are_valid_and_distinct() {
        assert_eq!(sanitize_entry_id("req_01H-abc"), "req_01H-abc");
        assert_eq!(sanitize_entry_id("bXk02Zq9vIAMEVA="), "bXk02Zq9vIAMEVA_");
        assert_eq!(sanitize_entry_id("é/x"), "__x");
        assert_eq!(sanitize_entry_id(""), "_");
        assert_eq!(sanitize_entry_id(&"a".repeat(200)).len(), 80);
        let long = "b".repeat(100);
        let ids = entry_ids(&[m("a.b"), m("a:b"), m(&long), m(&format!("{long}x")), m("a_b")]);
        assert_eq!(ids[0], "a_b");
        assert_eq!(ids[1], "a_b-1");
        assert_eq!(ids[2].len(), 80);
        assert!(ids[3].ends_with("-3") && ids[3].len() == 80);
        assert_eq!(ids[4], "a_b-4");
        let ids = entry_ids(&[m("a_b-2"), m("a_b"), m("a.b")]);
        assert_eq!(ids, ["a_b-2", "a_b", "a_b-12"]);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        for id in &ids {
            assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
        }
    }
}

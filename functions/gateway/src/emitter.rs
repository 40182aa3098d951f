//! Sending usage events to the usage queue, in batches.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tollgate_domain::{Queue, QueueMessage, QueueName, UsageEvent};

/// Most events per queue send (SQS's batch limit).
pub const MAX_BATCH: usize = 10;

/// Hands usage events to the queue. The period counter, not these events, is the billing
/// source of truth: a failed send loses log lines and aggregates, never a count.
pub enum UsageEmitter {
    /// A background task batches events (up to 10, or what arrived within `linger`): for a
    /// long-running process.
    Background(mpsc::Sender<QueueMessage>),
    /// Each event is sent before the response returns: for Lambda, which freezes the process
    /// between invocations, so background work would stall.
    Inline(Arc<dyn Queue>),
}

impl UsageEmitter {
    pub fn background(queue: Arc<dyn Queue>, linger: Duration) -> Self {
        let (tx, mut rx) = mpsc::channel::<QueueMessage>(10_000);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + linger;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(m)) => batch.push(m),
                        _ => break,
                    }
                }
                send(queue.as_ref(), &batch).await;
            }
        });
        UsageEmitter::Background(tx)
    }

    pub async fn emit(&self, event: &UsageEvent) {
        let message = QueueMessage { id: event.id.clone(), body: serde_json::to_string(event).expect("serialisable") };
        match self {
            // Waiting for room applies back-pressure instead of dropping events.
            UsageEmitter::Background(tx) => {
                if tx.send(message).await.is_err() {
                    tracing::error!("usage emitter stopped; event not queued");
                }
            }
            UsageEmitter::Inline(queue) => send(queue.as_ref(), &[message]).await,
        }
    }
}

async fn send(queue: &dyn Queue, batch: &[QueueMessage]) {
    if let Err(e) = queue.send(QueueName::Usage, batch).await {
        tracing::error!(error = %e, events = batch.len(), "usage events not queued");
    }
}

//! `QueuedCallMeter`: the `CallMeter` port on any store and queue, for Lambda (DynamoDB + SQS)
//! and for the local server on DynamoDB.
//!
//! The counter write and the event are two services, so they cannot commit together. The
//! event is sent when the outcome is known and before the answer is returned (a Lambda is
//! frozen once it answers, so nothing may wait in the background). The bound, stated in the
//! README: an instance killed between counting and sending (during the upstream call, e.g. by
//! the function's timeout) loses that call's event, at most one per killed instance since an
//! instance serves one request at a time; the period counter, the billing source of truth,
//! still holds the call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tollgate_domain::{
    CallMeter, OrgUsageFacts, Queue, QueueName, RateWindow, Store, StoreError, UsageCharge, UsageEvent, UsageIncrement,
};

/// Counts with the store's conditional write; sends the event once its outcome is known.
pub struct QueuedCallMeter {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
}

impl QueuedCallMeter {
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Self {
        QueuedCallMeter { store, queue }
    }
}

#[async_trait]
impl CallMeter for QueuedCallMeter {
    async fn count(
        &self,
        event: &UsageEvent,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        self.store.charge(&UsageCharge::for_event(event, hard_limit, counter_expires_at, rate)).await
    }

    /// The usage worker records the event, reading the organization's facts itself.
    async fn record_outcome(&self, event: &UsageEvent, _facts: OrgUsageFacts) {
        if let Err(e) = self.queue.send(QueueName::Usage, &[event.to_message()]).await {
            tracing::error!(error = %e, event_id = %event.id, "usage event not queued");
        }
    }

    async fn count_batch(
        &self,
        events: &[UsageEvent],
        _facts: OrgUsageFacts,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        let counted = self.store.charge(&UsageCharge::for_batch(events, hard_limit, counter_expires_at, rate)).await?;
        if let UsageIncrement::Counted { .. } = counted {
            // Sent before the answer, as `record_outcome` (the same bound applies: an
            // instance killed in between loses these events, the counter keeps them).
            let messages: Vec<_> = events.iter().map(UsageEvent::to_message).collect();
            if let Err(e) = self.queue.send(QueueName::Usage, &messages).await {
                tracing::error!(error = %e, events = events.len(), "tracked usage events not queued");
            }
        }
        Ok(counted)
    }
}

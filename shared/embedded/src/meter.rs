//! `SqliteCallMeter`: the `CallMeter` port on the SQLite store and the usage queue in the
//! same file.
//!
//! `count` adds to the period counter and, in the same transaction, puts the call's usage
//! event on the usage queue *held*: invisible to the worker for `hold`, longer than any call
//! can take. `record_outcome` then completes it (final status and latency, visible at once);
//! outcomes are written in batches by a background task, since the event is durable already.
//! If the process dies in between, the held event becomes visible when its hold runs out and
//! is logged with status 0 ("outcome unknown"): the call log and aggregates always match the
//! counter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tollgate_domain::{CallMeter, PortError, QueueMessage, QueueName, StoreError, UsageEvent, UsageIncrement};

use crate::sqlite::HeldMessage;
use crate::{SqliteQueue, SqliteStore};

/// Most outcomes written in one transaction.
const MAX_OUTCOME_BATCH: usize = 256;
/// How long the outcome writer waits for more outcomes to join a batch.
const OUTCOME_LINGER: Duration = Duration::from_millis(10);

enum Outcome {
    Event(QueueMessage),
    /// Answered once every outcome received before it is written.
    Flush(oneshot::Sender<()>),
}

/// The embedded call meter (see the module doc). Needs a tokio runtime: `new` starts the
/// outcome writer.
pub struct SqliteCallMeter {
    store: SqliteStore,
    /// How long a counted call's event waits for its outcome (converted once, here).
    hold: chrono::Duration,
    outcomes: mpsc::Sender<Outcome>,
}

impl SqliteCallMeter {
    /// `store` and `queue` must be on the same database file (their writes share a
    /// transaction). `hold` bounds how long an event waits for its outcome before the worker
    /// takes it as it is: set it above the longest a call can take (the upstream timeout).
    pub fn new(store: SqliteStore, queue: SqliteQueue, hold: Duration) -> Result<Self, PortError> {
        match (store.path(), queue.path()) {
            (Some(s), Some(q)) if s == q => {}
            _ => return Err(PortError::new("the call meter needs the store and the usage queue in one SQLite file")),
        }
        let (outcomes, rx) = mpsc::channel(10_000);
        tokio::spawn(write_outcomes(queue, rx));
        let hold = chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
        Ok(SqliteCallMeter { store, hold, outcomes })
    }

    /// Waits until every outcome recorded so far is written (graceful shutdown, tests).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.outcomes.send(Outcome::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

/// The outcome writer: batches of up to `MAX_OUTCOME_BATCH`, or what arrived within
/// `OUTCOME_LINGER` of the first, completed in one transaction.
async fn write_outcomes(queue: SqliteQueue, mut rx: mpsc::Receiver<Outcome>) {
    while let Some(first) = rx.recv().await {
        let (mut events, mut flushes) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        let deadline = tokio::time::Instant::now() + OUTCOME_LINGER;
        while let Some(outcome) = next.take() {
            match outcome {
                Outcome::Event(m) => events.push(m),
                Outcome::Flush(done) => flushes.push(done),
            }
            if flushes.is_empty() && events.len() < MAX_OUTCOME_BATCH {
                next = tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten();
            }
        }
        if let Err(e) = queue.complete_held(QueueName::Usage, &events).await {
            // The held events stay queued and are delivered when their hold runs out, with
            // status 0: the log still matches the counter.
            tracing::error!(error = %e, events = events.len(), "usage outcomes not written");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[async_trait]
impl CallMeter for SqliteCallMeter {
    async fn count(
        &self,
        event: &UsageEvent,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
    ) -> Result<UsageIncrement, StoreError> {
        // Queue timing follows the wall clock, like the worker's (see `SqliteQueue`).
        let now = Utc::now();
        let held = HeldMessage {
            queue: QueueName::Usage,
            message: event.to_message(),
            visible_at_ms: now.checked_add_signed(self.hold).unwrap_or(now).timestamp_millis(),
            enqueued_at_ms: now.timestamp_millis(),
        };
        let cost = u64::from(event.cost_units);
        self.store.add_usage_holding(&event.org_id, &event.period, cost, hard_limit, counter_expires_at, held).await
    }

    async fn record_outcome(&self, event: &UsageEvent) {
        // Waiting for room applies back-pressure instead of dropping outcomes.
        if self.outcomes.send(Outcome::Event(event.to_message())).await.is_err() {
            tracing::error!(event_id = %event.id, "outcome writer stopped; the event keeps status 0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::{Id, PeriodKey, UsageCounter};

    fn event(id: &str) -> UsageEvent {
        let now = Utc::now();
        UsageEvent {
            id: id.into(),
            org_id: Id::from_string("org_meter"),
            key_id: Id::from_string("key_meter"),
            endpoint_id: Id::from_string("ep_echo"),
            method: "GET".into(),
            path: "/api/v1/echo/x".into(),
            status: 0,
            latency_ms: 0,
            cost_units: 2,
            ip: None,
            timestamp: now,
            period: PeriodKey::from_string("2026-12"),
        }
    }

    async fn meter(hold: Duration) -> (SqliteCallMeter, SqliteStore, SqliteQueue, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("tollgate-meter-{}", Id::generate("t")));
        let db = dir.join("tollgate.db");
        let store = SqliteStore::open(&db).unwrap();
        let queue = SqliteQueue::open(&db).unwrap();
        (SqliteCallMeter::new(store.clone(), queue.clone(), hold).unwrap(), store, queue, dir)
    }

    #[tokio::test]
    async fn a_counted_call_holds_its_event_until_the_outcome_completes_it() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let expires = Utc::now() + chrono::Duration::days(400);
        let counted = meter.count(&event("req_1"), Some(3), expires).await.unwrap();
        assert_eq!(counted, UsageIncrement::Counted { used: 2 });
        // Over the hard limit: nothing counted, nothing queued.
        let refused = meter.count(&event("req_2"), Some(3), expires).await.unwrap();
        assert_eq!(refused, UsageIncrement::LimitReached { used: 2 });
        assert_eq!(store.usage(&Id::from_string("org_meter"), &PeriodKey::from_string("2026-12")).await.unwrap(), 2);
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 1, "the counted call's event, held");
        let visible = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
        assert!(visible.is_empty(), "held until its outcome is known");

        let mut done = event("req_1");
        (done.status, done.latency_ms) = (201, 12);
        meter.record_outcome(&done).await;
        meter.flush().await;
        let got = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
        assert_eq!(got.len(), 1);
        let body: UsageEvent = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!((body.status, body.latency_ms), (201, 12));
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_event_whose_outcome_never_comes_is_delivered_when_its_hold_ends() {
        let (meter, _store, queue, dir) = meter(Duration::from_millis(50)).await;
        meter.count(&event("req_lost"), None, Utc::now() + chrono::Duration::days(1)).await.unwrap();
        // As after a crash: no outcome is recorded.
        let later = Utc::now() + chrono::Duration::milliseconds(100);
        let got = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), later).await.unwrap();
        assert_eq!(got.len(), 1);
        let body: UsageEvent = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(body.status, 0, "outcome unknown");
        // An outcome arriving after delivery does not change what was delivered.
        assert_eq!(queue.complete_held(QueueName::Usage, &[event("req_lost").to_message()]).await.unwrap(), 0);
        drop((meter, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn store_and_queue_must_share_the_file() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = SqliteStore::open_in_memory().unwrap();
            let queue = SqliteQueue::open_in_memory().unwrap();
            assert!(SqliteCallMeter::new(store, queue, Duration::from_secs(1)).is_err());
        });
    }
}

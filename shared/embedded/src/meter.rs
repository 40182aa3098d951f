//! `SqliteCallMeter`: the `CallMeter` port on the SQLite store and the usage queue in the
//! same file, with group commit.
//!
//! `count` adds to the period counter and, in the same transaction, puts the call's usage
//! event on the usage queue *held*: invisible to the worker for `hold`, longer than any call
//! can take. `record_outcome` then completes it (final status and latency, visible at once).
//! If the process dies in between, the held event becomes visible when its hold runs out and
//! is logged with status 0 ("outcome unknown"): the call log and aggregates always match the
//! counter. `count_batch` (calls whose outcome is known already) is one charge whose events,
//! when it is counted, go on the usage queue complete and visible at once, in the same
//! transaction.
//!
//! Group commit: one writer thread owns these writes. Concurrent calls' charges (and the
//! outcomes waiting) are applied in one transaction, each charge with its own exact decision
//! (`used + cost <= limit`, in arrival order), and each call gets its answer only once that
//! transaction has committed. There is no timer on the hot path: the group is whatever
//! arrived while the previous one was committing, so a lone call goes through at once and a
//! busy server commits many calls per transaction. Only a group of nothing but outcomes
//! waits (`OUTCOME_LINGER`) for a charge to ride along with.
//!
//! Why a thread and not a task: as a task the writer waited for a turn on the runtime's
//! workers among every request task, then handed the transaction to the blocking pool and
//! waited again, and under load those waits, not SQLite, set the pace of the groups. On its
//! own thread it is woken by the OS as soon as a call arrives and runs the transaction
//! itself.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tollgate_domain::{
    CallMeter, PortError, QueueMessage, QueueName, RateWindow, StoreError, UsageCharge, UsageEvent, UsageIncrement,
};

use crate::sqlite::{HeldCharge, HeldMessage, VISIBLE_AT_ONCE};
use crate::{SqliteQueue, SqliteStore};

/// Most charges in one group commit.
const MAX_GROUP_CHARGES: usize = 512;
/// Most outcomes in one group commit.
const MAX_GROUP_OUTCOMES: usize = 1024;
/// How long outcomes alone wait for a charge (or more outcomes) to share their transaction:
/// they are durable already (the held event), so only the worker waits for them.
const OUTCOME_LINGER: Duration = Duration::from_millis(10);

/// A write for the group-commit task.
enum Write {
    /// A call (or a batch of calls) to count; the answer goes back once its group committed.
    Charge(HeldCharge, oneshot::Sender<Result<UsageIncrement, StoreError>>),
    /// A counted call's final event.
    Outcome(QueueMessage),
    /// Answered once every write received before it is committed.
    Flush(oneshot::Sender<()>),
}

/// How the call meter's writes were grouped, for the benchmark and operators.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    /// Charges applied (counted or refused).
    pub charges: AtomicU64,
    /// Outcomes applied.
    pub outcomes: AtomicU64,
    /// Transactions committed (or attempted) for them.
    pub transactions: AtomicU64,
}

impl GroupCommitStats {
    /// (charges, outcomes, transactions) so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.charges.load(Ordering::Relaxed),
            self.outcomes.load(Ordering::Relaxed),
            self.transactions.load(Ordering::Relaxed),
        )
    }
}

/// Writes waiting for the writer thread at most: beyond, callers wait for room (back-pressure).
const MAX_WAITING_WRITES: usize = 10_000;

/// The embedded call meter (see the module doc): `new` starts the writer thread, which ends
/// when the meter is dropped.
pub struct SqliteCallMeter {
    /// How long a counted call's event waits for its outcome (converted once, here).
    hold: chrono::Duration,
    /// To the writer thread: a plain channel, since the thread blocks on it; each write
    /// carries a permit of `room`, freed once it is committed.
    writes: mpsc::Sender<(Write, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    stats: Arc<GroupCommitStats>,
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
        let (writes, rx) = mpsc::channel();
        let stats = Arc::new(GroupCommitStats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || commit_groups(store, queue, rx, thread_stats))
            .map_err(|e| PortError::with_source("cannot start the call meter's writer thread", e))?;
        let room = Arc::new(Semaphore::new(MAX_WAITING_WRITES));
        let hold = chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
        Ok(SqliteCallMeter { hold, writes, room, stats })
    }

    /// Waits until every write received so far is committed (graceful shutdown, tests).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.send(Write::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Counts `charge` in the next group commit, adding its messages when it is counted, and
    /// answers once that group committed.
    async fn charge(&self, charge: HeldCharge) -> Result<UsageIncrement, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable { message: "the call meter's writer stopped".into(), source: None };
        self.send(Write::Charge(charge, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Hands `write` to the writer thread once there is room. Err: the thread has stopped.
    async fn send(&self, write: Write) -> Result<(), ()> {
        let permit = self.room.clone().acquire_owned().await.map_err(|_| ())?;
        self.writes.send((write, permit)).map_err(|_| ())
    }

    /// How the writes were grouped so far (shared: the usage worker watches the charges).
    pub fn stats(&self) -> &Arc<GroupCommitStats> {
        &self.stats
    }
}

/// One group: the writes taken from the channel for one transaction.
#[derive(Default)]
struct Group {
    charges: Vec<HeldCharge>,
    replies: Vec<oneshot::Sender<Result<UsageIncrement, StoreError>>>,
    outcomes: Vec<QueueMessage>,
    flushes: Vec<oneshot::Sender<()>>,
    /// Released once the group is committed: room for more waiting writes.
    permits: Vec<OwnedSemaphorePermit>,
}

impl Group {
    fn add(&mut self, (write, permit): (Write, OwnedSemaphorePermit)) {
        self.permits.push(permit);
        match write {
            Write::Charge(charge, reply) => {
                self.charges.push(charge);
                self.replies.push(reply);
            }
            Write::Outcome(m) => self.outcomes.push(m),
            Write::Flush(done) => self.flushes.push(done),
        }
    }

    fn is_full(&self) -> bool {
        self.charges.len() >= MAX_GROUP_CHARGES || self.outcomes.len() >= MAX_GROUP_OUTCOMES
    }
}

/// The writer thread (see the module doc).
fn commit_groups(
    store: SqliteStore,
    queue: SqliteQueue,
    rx: mpsc::Receiver<(Write, OwnedSemaphorePermit)>,
    stats: Arc<GroupCommitStats>,
) {
    while let Ok(first) = rx.recv() {
        let mut group = Group::default();
        group.add(first);
        // Everything already waiting joins the group.
        while !group.is_full() {
            match rx.try_recv() {
                Ok(w) => group.add(w),
                Err(_) => break,
            }
        }
        let deadline = std::time::Instant::now() + OUTCOME_LINGER;
        while group.charges.is_empty() && group.flushes.is_empty() && !group.is_full() {
            match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
                Ok(w) => group.add(w),
                Err(_) => break,
            }
        }
        commit(&store, &queue, group, &stats);
    }
}

fn commit(store: &SqliteStore, queue: &SqliteQueue, group: Group, stats: &GroupCommitStats) {
    let Group { charges, replies, outcomes, flushes, permits: _room } = group;
    let (n_charges, n_outcomes) = (charges.len(), outcomes.len());
    if n_charges + n_outcomes > 0 {
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats.charges.fetch_add(n_charges as u64, Ordering::Relaxed);
        stats.outcomes.fetch_add(n_outcomes as u64, Ordering::Relaxed);
        match store.commit_group(&charges, &outcomes) {
            Ok(results) => {
                let visible_now = charges.iter().zip(&results).any(|(c, r)| {
                    matches!(r, UsageIncrement::Counted { .. })
                        && c.messages.iter().any(HeldMessage::is_visible_at_once)
                });
                if visible_now {
                    queue.sent(QueueName::Usage).notify_one();
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that went away (client disconnect) still had its call counted.
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                // Nothing of the group was written: every call is refused (503); held events
                // whose outcome was in the group are delivered when their hold ends.
                tracing::error!(error = %e, charges = n_charges, outcomes = n_outcomes, "group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable {
                        message: format!("group commit failed: {e}"),
                        source: None,
                    }));
                }
            }
        }
        if n_outcomes > 0 {
            queue.sent(QueueName::Usage).notify_one();
        }
    }
    for done in flushes {
        let _ = done.send(());
    }
}

#[async_trait]
impl CallMeter for SqliteCallMeter {
    async fn count(
        &self,
        event: &UsageEvent,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        // Queue timing follows the wall clock, like the worker's (see `SqliteQueue`).
        let now = Utc::now();
        let held = HeldMessage {
            queue: QueueName::Usage,
            message: event.to_message(),
            visible_at_ms: now.checked_add_signed(self.hold).unwrap_or(now).timestamp_millis(),
            enqueued_at_ms: now.timestamp_millis(),
        };
        let charge = UsageCharge::for_event(event, hard_limit, counter_expires_at, rate);
        self.charge(HeldCharge { charge, messages: vec![held] }).await
    }

    async fn record_outcome(&self, event: &UsageEvent) {
        // Waiting for room applies back-pressure instead of dropping outcomes.
        if self.send(Write::Outcome(event.to_message())).await.is_err() {
            tracing::error!(event_id = %event.id, "call meter's writer stopped; the event keeps status 0");
        }
    }

    async fn count_batch(
        &self,
        events: &[UsageEvent],
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        assert!(!events.is_empty(), "count_batch needs at least one event");
        let enqueued_at_ms = Utc::now().timestamp_millis();
        // Complete already: nothing to hold, the worker may take them at once.
        let messages = events
            .iter()
            .map(|e| HeldMessage {
                queue: QueueName::Usage,
                message: e.to_message(),
                visible_at_ms: VISIBLE_AT_ONCE,
                enqueued_at_ms,
            })
            .collect();
        let charge = UsageCharge::for_batch(events, hard_limit, counter_expires_at, rate);
        self.charge(HeldCharge { charge, messages }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tollgate_domain::{Id, PeriodKey, UsageCounter};

    fn event(id: &str) -> UsageEvent {
        let now = Utc::now();
        UsageEvent {
            id: id.into(),
            org_id: Id::from_string("org_meter"),
            key_id: Id::from_string("key_meter"),
            project_id: None,
            source: tollgate_domain::UsageSource::Proxy,
            endpoint_id: Id::from_string("ep_echo"),
            method: "GET".into(),
            path: "/api/v1/echo/x".into(),
            status: 0,
            latency_ms: 0,
            cost_units: 2,
            ip: None,
            timestamp: now,
            period: PeriodKey::from_string("2026-12"),
            metadata: None,
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
        let counted = meter.count(&event("req_1"), Some(3), expires, None).await.unwrap();
        assert_eq!(counted, UsageIncrement::Counted { used: 2 });
        // Over the hard limit: nothing counted, nothing queued.
        let refused = meter.count(&event("req_2"), Some(3), expires, None).await.unwrap();
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
        meter.count(&event("req_lost"), None, Utc::now() + chrono::Duration::days(1), None).await.unwrap();
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

    #[tokio::test]
    async fn concurrent_calls_share_transactions_and_each_keeps_its_exact_decision() {
        let (meter, _store, queue, dir) = meter(Duration::from_secs(60)).await;
        let meter = Arc::new(meter);
        let db = queue.path().expect("a file").to_path_buf();
        let expires = Utc::now() + chrono::Duration::days(400);
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let (meter, db) = (meter.clone(), db.clone());
                tokio::spawn(async move {
                    let mut e = event(&format!("req_{i}"));
                    e.cost_units = 1;
                    let outcome = meter.count(&e, Some(150), expires, None).await.unwrap();
                    if let UsageIncrement::Counted { used } = outcome {
                        // Answered only once committed: another connection sees the charge.
                        let other = SqliteStore::open(&db).unwrap();
                        let seen = other.usage(&e.org_id, &e.period).await.unwrap();
                        assert!(seen >= used, "answered before its commit: {seen} < {used}");
                    }
                    outcome
                })
            })
            .collect();
        let mut counted = Vec::new();
        for c in calls {
            match c.await.unwrap() {
                UsageIncrement::Counted { used } => counted.push(used),
                UsageIncrement::LimitReached { used } => assert_eq!(used, 150),
                other => panic!("no rate window was given: {other:?}"),
            }
        }
        counted.sort_unstable();
        assert_eq!(counted, (1..=150).collect::<Vec<_>>(), "each counted call saw its own total");
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 150, "one held event per counted call");
        let (charges, _, transactions) = meter.stats().snapshot();
        assert_eq!(charges, 200);
        assert!(transactions < 100, "{transactions} transactions for 200 concurrent calls: not grouped");
        drop((meter, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `n` complete events (tracked calls: status and latency known) of cost `cost` each.
    fn batch(tag: &str, n: usize, cost: u32) -> Vec<UsageEvent> {
        (0..n)
            .map(|i| {
                let mut e = event(&format!("req_{tag}_{i}"));
                (e.status, e.latency_ms, e.cost_units) = (200, 7, cost);
                e.source = tollgate_domain::UsageSource::Track;
                e
            })
            .collect()
    }

    #[tokio::test]
    async fn a_batch_is_counted_all_or_nothing_and_its_events_are_visible_at_once() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let (org, period) = (Id::from_string("org_meter"), PeriodKey::from_string("2026-12"));
        let expires = Utc::now() + chrono::Duration::days(400);
        let first = batch("a", 3, 2);
        assert_eq!(
            meter.count_batch(&first, Some(10), expires, None).await.unwrap(),
            UsageIncrement::Counted { used: 6 }
        );
        // The worker is woken, and takes the complete events at once (none is held).
        let woken = queue.sent(QueueName::Usage).notified();
        tokio::time::timeout(Duration::from_secs(5), woken).await.expect("the usage worker is woken");
        let got = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
        let mut bodies: Vec<UsageEvent> = got.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect();
        bodies.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(bodies, first, "every event of the batch, complete, visible at once");

        // 6 + 6 > 10: none of the second batch is counted or queued.
        let refused = meter.count_batch(&batch("b", 3, 2), Some(10), expires, None).await.unwrap();
        assert_eq!(refused, UsageIncrement::LimitReached { used: 6 });
        assert_eq!(store.usage(&org, &period).await.unwrap(), 6);
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 3, "nothing of a refused batch is queued");

        // An id already queued is skipped, not an error: the batch is counted whole.
        let mut third = batch("c", 2, 2);
        third[1].id = first[0].id.clone();
        assert_eq!(
            meter.count_batch(&third, Some(10), expires, None).await.unwrap(),
            UsageIncrement::Counted { used: 10 }
        );
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 4, "the new id only");

        // A rate window counts the batch as one charge.
        let w = RateWindow::containing("key_meter_batch", Utc::now().timestamp(), 1);
        let counted = meter.count_batch(&batch("d", 5, 1), None, expires, Some(w.clone())).await.unwrap();
        assert_eq!(counted, UsageIncrement::Counted { used: 15 });
        let limited = meter.count_batch(&batch("e", 1, 1), None, expires, Some(w)).await.unwrap();
        assert_eq!(limited, UsageIncrement::RateLimited { used: 15 });
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 9);
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn concurrent_batches_are_each_counted_whole_or_not_at_all() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let meter = Arc::new(meter);
        let expires = Utc::now() + chrono::Duration::days(400);
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let meter = meter.clone();
                tokio::spawn(
                    async move { meter.count_batch(&batch(&i.to_string(), 10, 1), Some(95), expires, None).await },
                )
            })
            .collect();
        let mut counted = Vec::new();
        for c in calls {
            match c.await.unwrap().unwrap() {
                UsageIncrement::Counted { used } => counted.push(used),
                UsageIncrement::LimitReached { used } => assert_eq!(used, 90),
                other => panic!("no rate window was given: {other:?}"),
            }
        }
        counted.sort_unstable();
        assert_eq!(counted, (1..=9).map(|n| n * 10).collect::<Vec<_>>(), "9 batches of 10 fit under 95");
        let (org, period) = (Id::from_string("org_meter"), PeriodKey::from_string("2026-12"));
        assert_eq!(store.usage(&org, &period).await.unwrap(), 90);
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 90, "the events of the counted batches only");
        drop((meter, store, queue));
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

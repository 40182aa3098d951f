//! `SqliteCallMeter`: the `CallMeter` port on the SQLite store and the usage queue in the
//! same file, with group commit, recording the usage events itself.
//!
//! `count` adds to the period counter and, in the same transaction, puts the call's usage
//! event on the usage queue *held*: invisible to the worker for `hold`, longer than any call
//! can take. `record_outcome` then records the final event (log entry, aggregates, the key's
//! last use) and deletes the held one, in one transaction, so a proxied call's event never
//! makes the queue's round trip to the usage worker. If the process dies in between, the
//! held event becomes visible when its hold runs out and the usage worker records it with
//! status 0 ("outcome unknown"): the call log and aggregates always match the counter.
//! `count_batch` (calls whose outcome is known already) is one charge whose events, when it
//! is counted, are recorded in the same transaction.
//!
//! Charges: group commit led by the callers. A call that finds no group being committed
//! leads one: it takes the connection and counts, in one transaction on its own runtime
//! worker, its charge and every charge that arrived meanwhile, each with its own exact
//! decision (`used + cost <= limit`, in arrival order), and answers them once it committed.
//! A call that finds a group being committed waits; if charges are still waiting when the
//! leader is done, the leader hands the lead to the first of them. So a lone call is counted
//! at once, on its own thread, and a busy server counts many calls per transaction.
//!
//! Why no writer thread for the charges: handing each call to a thread and back (a wake-up
//! each way) cost about 27 µs of CPU per call and a third of the throughput at 64
//! connections (BENCHMARKS.md), more than the transaction itself.
//!
//! Outcomes: a writer thread gathers them for a few milliseconds (`OUTCOME_GATHER`) and
//! records each gathered batch in one transaction. Nobody waits for them (the call has been
//! answered and its event is durable, held), and bigger batches make fewer, cheaper
//! transactions. When the usage worker recorded the events, each was written four times to
//! the queue (held, completed, received, acknowledged) and the worker's batches held the
//! store's connection for milliseconds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tollgate_domain::{
    CallMeter, Id, OrgUsageFacts, PeriodKey, PortError, RateWindow, StoreError, UsageCharge, UsageEvent, UsageIncrement,
};

use crate::sqlite::{commit_charges, CallOutcome, ChargedEvents, GroupCommitted, HeldMessage, MeteredCharge};
use crate::{SqliteQueue, SqliteStore};

/// Most charges in one group commit.
const MAX_GROUP_CHARGES: usize = 512;
/// Most outcomes in one transaction.
const MAX_GROUP_OUTCOMES: usize = 1024;
/// How long the writer lets outcomes gather after the first one arrives: they are durable
/// already (the held event), so only the usage log waits for them.
const OUTCOME_GATHER: Duration = Duration::from_millis(5);

/// How the call meter's writes were grouped, for the benchmark and operators.
#[derive(Debug, Default)]
pub struct GroupCommitStats {
    /// Charges applied (counted or refused).
    pub charges: AtomicU64,
    /// Outcomes applied.
    pub outcomes: AtomicU64,
    /// Transactions committed (or attempted) for them.
    pub transactions: AtomicU64,
    /// Usage events recorded (log entries written).
    pub recorded: AtomicU64,
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

/// The organizations at the payment provider, and the periods, whose usage the meter
/// recorded since the last [`SqliteCallMeter::take_billable_usage`].
type BillableUsage = BTreeSet<(Id, PeriodKey)>;

/// Outcomes (and flushes) waiting for the writer thread at most: beyond, callers wait for
/// room (back-pressure).
const MAX_WAITING_WRITES: usize = 10_000;

/// What a call waiting for its charge is told.
enum Turn {
    /// Its group committed: the decision.
    Counted(Result<UsageIncrement, StoreError>),
    /// Its charge (handed back) leads the next group.
    Lead(MeteredCharge),
}

/// Charges waiting for the group being committed to finish.
#[derive(Default)]
struct ChargeLine {
    /// A group is being committed (its leader will hand on or clear this).
    leading: bool,
    waiting: VecDeque<(MeteredCharge, oneshot::Sender<Turn>)>,
    /// Groups of one charge in a row, up to [`LONE_GROUPS_TO_STOP_WAITING`]: while lower,
    /// calls are arriving together and a leader lets them gather (see `Leader::commit`).
    lone_groups: u8,
}

/// After this many groups of one charge in a row, a leader commits at once: calls come one
/// at a time. One group of several calls brings the gathering back.
const LONE_GROUPS_TO_STOP_WAITING: u8 = 8;

/// A write for the writer thread.
// Nearly every write is an outcome: boxing it would add an allocation per call for nothing.
#[allow(clippy::large_enum_variant)]
enum Write {
    /// A counted call's final event.
    Outcome(CallOutcome),
    /// Answered once every outcome received before it is recorded.
    Flush(oneshot::Sender<()>),
}

/// What the meter and its writer thread share.
struct Shared {
    store: SqliteStore,
    stats: GroupCommitStats,
    billable: Mutex<BillableUsage>,
}

impl Shared {
    /// Counts a group's transaction; on success adds its recorded events and billable usage.
    fn committed(&self, charges: usize, outcomes: usize, result: &Result<GroupCommitted, StoreError>) {
        let stats = &self.stats;
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        stats.charges.fetch_add(charges as u64, Ordering::Relaxed);
        stats.outcomes.fetch_add(outcomes as u64, Ordering::Relaxed);
        if let Ok(committed) = result {
            stats.recorded.fetch_add(committed.recorded as u64, Ordering::Relaxed);
            if !committed.billable.is_empty() {
                lock(&self.billable).extend(committed.billable.iter().cloned());
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent: no code holding these locks can panic halfway.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stopped() -> StoreError {
    StoreError::Unavailable { message: "the call meter stopped".into(), source: None }
}

/// The embedded call meter (see the module doc): `new` starts the writer thread, which ends
/// when the meter is dropped.
pub struct SqliteCallMeter {
    /// How long a counted call's event waits for its outcome (converted once, here).
    hold: chrono::Duration,
    shared: Arc<Shared>,
    line: Mutex<ChargeLine>,
    /// To the writer thread: a plain channel, since the thread blocks on it; each write
    /// carries a permit of `room`, freed once it is committed.
    writes: mpsc::Sender<(Write, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
}

impl SqliteCallMeter {
    /// `store` and `queue` (the usage queue, where counted calls' events are held) must be on
    /// the same database file (their writes share a transaction). `hold` bounds how long an
    /// event waits for its outcome before the worker takes it as it is: set it above the
    /// longest a call can take (the upstream timeout).
    pub fn new(store: SqliteStore, queue: SqliteQueue, hold: Duration) -> Result<Self, PortError> {
        match (store.path(), queue.path()) {
            (Some(s), Some(q)) if s == q => {}
            _ => return Err(PortError::new("the call meter needs the store and the usage queue in one SQLite file")),
        }
        let (writes, rx) = mpsc::channel();
        let shared =
            Arc::new(Shared { store, stats: GroupCommitStats::default(), billable: Mutex::new(BillableUsage::new()) });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("usage-recorder".into())
            .spawn(move || record_outcomes(&writer, &rx))
            .map_err(|e| PortError::with_source("cannot start the call meter's writer thread", e))?;
        let room = Arc::new(Semaphore::new(MAX_WAITING_WRITES));
        let hold = chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::MAX);
        Ok(SqliteCallMeter { hold, shared, line: Mutex::new(ChargeLine::default()), writes, room })
    }

    /// Waits until every outcome received so far is recorded (graceful shutdown, tests).
    /// Charges need no flush: each call is answered once its charge committed.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.send(Write::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Hands `write` to the writer thread once there is room. Err: the thread has stopped.
    async fn send(&self, write: Write) -> Result<(), ()> {
        let permit = self.room.clone().acquire_owned().await.map_err(|_| ())?;
        self.writes.send((write, permit)).map_err(|_| ())
    }

    /// How the writes were grouped so far.
    pub fn stats(&self) -> &GroupCommitStats {
        &self.shared.stats
    }

    /// The organizations at the payment provider, and the periods, with usage recorded since
    /// the last call (each once): the usage worker asks for their metered units' report.
    pub fn take_billable_usage(&self) -> BTreeSet<(Id, PeriodKey)> {
        std::mem::take(&mut *lock(&self.shared.billable))
    }

    /// Counts `charge` in a group commit (see the module doc), keeping its events when it is
    /// counted; answers once that group committed.
    async fn charge(&self, charge: MeteredCharge) -> Result<UsageIncrement, StoreError> {
        let waiting = {
            let mut line = lock(&self.line);
            if line.leading {
                let (turn, wait) = oneshot::channel();
                line.waiting.push_back((charge, turn));
                Err(wait)
            } else {
                line.leading = true;
                Ok(charge)
            }
        };
        let own = match waiting {
            Ok(charge) => charge,
            Err(wait) => match wait.await {
                Ok(Turn::Counted(result)) => return result,
                Ok(Turn::Lead(charge)) => charge,
                // The meter was dropped with this call waiting.
                Err(_) => return Err(stopped()),
            },
        };
        let leader = Leader { meter: self, leading: true };
        leader.commit(own).await
    }
}

/// The lead of the group commit, held by one call at a time. If the call is dropped while
/// it leads (its client went away before its group committed), the lead passes on.
struct Leader<'a> {
    meter: &'a SqliteCallMeter,
    leading: bool,
}

impl Leader<'_> {
    /// Counts `own` and the charges waiting, answers them, and hands the lead on.
    async fn commit(mut self, own: MeteredCharge) -> Result<UsageIncrement, StoreError> {
        let shared = &self.meter.shared;
        let mut charges = vec![own];
        let mut turns = Vec::new();
        // While calls arrive together, once to the back of the runtime's queue before taking
        // the connection: the calls already runnable on this thread reach the line meanwhile
        // and join this group. At 8 and 64 connections groups grow, fewer transactions commit
        // the same calls, and the p99 falls (BENCHMARKS.md); calls one at a time do not wait.
        if lock(&self.meter.line).lone_groups < LONE_GROUPS_TO_STOP_WAITING {
            tokio::task::yield_now().await;
        }
        // The group is what is waiting once the connection is free (so a group waiting behind
        // the outcome writer grows meanwhile). Nothing awaits while the lock is held.
        let result = {
            let mut conn = shared.store.lock_inline().await;
            {
                let mut line = lock(&self.meter.line);
                let n = line.waiting.len().min(MAX_GROUP_CHARGES - 1);
                line.lone_groups = if n > 0 { 0 } else { line.lone_groups.saturating_add(1) };
                for (charge, turn) in line.waiting.drain(..n) {
                    charges.push(charge);
                    turns.push(turn);
                }
            }
            commit_charges(&mut conn, &charges)
        };
        shared.committed(charges.len(), 0, &result);
        self.hand_on();
        let mut increments = match result {
            Ok(committed) => committed.increments.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => {
                // Nothing of the group was written: every call is refused (503).
                tracing::error!(error = %e, charges = charges.len(), "group commit failed");
                let failed = || StoreError::Unavailable { message: format!("group commit failed: {e}"), source: None };
                charges.iter().map(|_| Err(failed())).collect()
            }
        }
        .into_iter();
        let own = increments.next().unwrap_or_else(|| Err(stopped()));
        for (turn, result) in turns.into_iter().zip(increments) {
            // A caller that went away (client disconnect) still had its call counted.
            let _ = turn.send(Turn::Counted(result));
        }
        own
    }

    /// Passes the lead to the first waiting call still there, or ends it.
    fn hand_on(&mut self) {
        if !std::mem::replace(&mut self.leading, false) {
            return;
        }
        let mut line = lock(&self.meter.line);
        while let Some((charge, turn)) = line.waiting.pop_front() {
            match turn.send(Turn::Lead(charge)) {
                Ok(()) => return,
                // That call went away while waiting: its charge is not counted, as if it
                // had never arrived (it was not answered).
                Err(_) => continue,
            }
        }
        line.leading = false;
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.hand_on();
    }
}

/// The writer thread: gathers outcomes for `OUTCOME_GATHER`, records them in one
/// transaction, answers flushes; ends when the meter is dropped.
fn record_outcomes(shared: &Shared, rx: &mpsc::Receiver<(Write, OwnedSemaphorePermit)>) {
    while let Ok(first) = rx.recv() {
        if matches!(first.0, Write::Outcome(_)) {
            std::thread::sleep(OUTCOME_GATHER);
        }
        let mut writes = vec![first];
        writes.extend(rx.try_iter());
        let (mut outcomes, mut flushes, mut permits) = (Vec::new(), Vec::new(), Vec::with_capacity(writes.len()));
        for (write, permit) in writes {
            permits.push(permit);
            match write {
                Write::Outcome(o) => outcomes.push(o),
                Write::Flush(done) => flushes.push(done),
            }
        }
        for chunk in outcomes.chunks(MAX_GROUP_OUTCOMES) {
            let result = shared.store.commit_outcomes(chunk);
            shared.committed(0, chunk.len(), &result);
            if let Err(e) = result {
                // Nothing of the chunk was written: its held events are recorded by the usage
                // worker when their hold ends, with status 0.
                tracing::error!(error = %e, outcomes = chunk.len(), "recording call outcomes failed");
            }
        }
        drop(permits);
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
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        // Queue timing follows the wall clock, like the worker's (see `SqliteQueue`).
        let now = Utc::now();
        let held = HeldMessage {
            message: event.to_message(),
            visible_at_ms: now.checked_add_signed(self.hold).unwrap_or(now).timestamp_millis(),
            enqueued_at_ms: now.timestamp_millis(),
        };
        let charge = UsageCharge::for_event(event, hard_limit, counter_expires_at, rate);
        self.charge(MeteredCharge { charge, events: ChargedEvents::Held(held) }).await
    }

    async fn record_outcome(&self, event: &UsageEvent, facts: OrgUsageFacts) {
        let outcome = CallOutcome { record: facts.record(event.clone()), paid_at_provider: facts.paid_at_provider };
        // Waiting for room applies back-pressure instead of dropping outcomes.
        if self.send(Write::Outcome(outcome)).await.is_err() {
            tracing::error!(event_id = %event.id, "call meter's writer stopped; the event keeps status 0");
        }
    }

    async fn count_batch(
        &self,
        events: &[UsageEvent],
        facts: OrgUsageFacts,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError> {
        assert!(!events.is_empty(), "count_batch needs at least one event");
        // Complete already: recorded with the charge, nothing to hold.
        let records = events.iter().map(|e| facts.record(e.clone())).collect();
        let charge = UsageCharge::for_batch(events, hard_limit, counter_expires_at, rate);
        let events = ChargedEvents::Complete { records, paid_at_provider: facts.paid_at_provider };
        self.charge(MeteredCharge { charge, events }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tollgate_domain::{AggregateQuery, Granularity, QueueName, UsageCounter, UsageLog, UsageLogQuery, UsageSource};

    const FREE: OrgUsageFacts = OrgUsageFacts { retention_days: 7, paid_at_provider: false };

    fn event(id: &str) -> UsageEvent {
        // Whole milliseconds, as the store keeps times.
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
        UsageEvent {
            id: id.into(),
            org_id: Id::from_string("org_meter"),
            key_id: Id::from_string("key_meter"),
            project_id: None,
            source: UsageSource::Proxy,
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

    /// The usage log of the test organization, oldest first.
    async fn logged(store: &SqliteStore) -> Vec<UsageEvent> {
        let query = UsageLogQuery { org_id: Some(Id::from_string("org_meter")), limit: 1000, ..Default::default() };
        let (mut events, _) = store.query_usage(&query, Utc::now()).await.unwrap();
        events.reverse();
        events
    }

    #[tokio::test]
    async fn a_counted_call_holds_its_event_until_its_outcome_is_recorded() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let expires = Utc::now() + chrono::Duration::days(400);
        let counted = meter.count(&event("req_1"), Some(3), expires, None).await.unwrap();
        assert_eq!(counted, UsageIncrement::Counted { used: 2 });
        // Over the hard limit: nothing counted, nothing held.
        let refused = meter.count(&event("req_2"), Some(3), expires, None).await.unwrap();
        assert_eq!(refused, UsageIncrement::LimitReached { used: 2 });
        assert_eq!(store.usage(&Id::from_string("org_meter"), &PeriodKey::from_string("2026-12")).await.unwrap(), 2);
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 1, "the counted call's event, held");
        let stats = queue.stats(QueueName::Usage, Utc::now()).await.unwrap();
        assert_eq!((stats.visible, stats.in_flight), (0, 1), "held counts as in flight");
        let visible = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
        assert!(visible.is_empty(), "held until its outcome is known");
        assert!(logged(&store).await.is_empty());

        let mut done = event("req_1");
        (done.status, done.latency_ms) = (201, 12);
        meter.record_outcome(&done, FREE).await;
        meter.flush().await;
        // Recorded by the meter itself: the held event is gone, the log and aggregates have it.
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 0);
        let logged = logged(&store).await;
        assert_eq!(logged, [done.clone()]);
        let day = AggregateQuery {
            org_id: done.org_id.clone(),
            granularity: Granularity::Day,
            from: done.timestamp - chrono::Duration::days(1),
            to: done.timestamp + chrono::Duration::days(1),
        };
        let aggregates = store.usage_aggregates(&day).await.unwrap();
        assert_eq!(aggregates.len(), 1);
        assert_eq!((aggregates[0].count, aggregates[0].cost_units, aggregates[0].status_2xx), (1, 2, 1));
        // A second outcome for the same call records nothing more.
        meter.record_outcome(&done, FREE).await;
        meter.flush().await;
        assert_eq!(store.usage_aggregates(&day).await.unwrap()[0].count, 1);
        assert_eq!(meter.stats().recorded.load(Ordering::Relaxed), 1);
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_event_whose_outcome_never_comes_is_delivered_when_its_hold_ends() {
        let (meter, store, queue, dir) = meter(Duration::from_millis(50)).await;
        meter.count(&event("req_lost"), None, Utc::now() + chrono::Duration::days(1), None).await.unwrap();
        // As after a crash: no outcome is recorded.
        let later = Utc::now() + chrono::Duration::milliseconds(100);
        let got = queue.receive(QueueName::Usage, 10, Duration::from_secs(30), later).await.unwrap();
        assert_eq!(got.len(), 1);
        let body: UsageEvent = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!(body.status, 0, "outcome unknown");
        // An outcome arriving after delivery records nothing: the consumer records the
        // delivered event, and its message stays for the consumer's acknowledgement.
        let mut late = event("req_lost");
        late.status = 200;
        meter.record_outcome(&late, FREE).await;
        meter.flush().await;
        assert!(logged(&store).await.is_empty());
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 1);
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn concurrent_calls_share_transactions_and_each_keeps_its_exact_decision() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let meter = Arc::new(meter);
        let db = queue.path().expect("a file").to_path_buf();
        let expires = Utc::now() + chrono::Duration::days(400);
        // The connection busy (as with the outcome writer's transaction) while 200 calls
        // arrive: the first leads, waiting for it; the others wait for its group.
        let busy = store.lock_inline().await;
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
        while lock(&meter.line).waiting.len() < 199 {
            tokio::task::yield_now().await;
        }
        drop(busy);
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
        assert_eq!(transactions, 1, "200 calls waiting together are counted in one transaction");
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_before_its_group_committed_hands_the_lead_on() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let meter = Arc::new(meter);
        let expires = Utc::now() + chrono::Duration::days(400);
        let busy = store.lock_inline().await;
        let call = |id: &'static str| {
            let meter = meter.clone();
            tokio::spawn(async move { meter.count(&event(id), None, expires, None).await })
        };
        let leader = call("req_leader");
        while !lock(&meter.line).leading {
            tokio::task::yield_now().await;
        }
        let follower = call("req_follower");
        while lock(&meter.line).waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        // The leader's client goes away while it waits for the connection.
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        drop(busy);
        let counted = tokio::time::timeout(Duration::from_secs(5), follower).await.expect("the follower led");
        assert_eq!(counted.unwrap().unwrap(), UsageIncrement::Counted { used: 2 }, "only the follower was counted");
        assert!(!lock(&meter.line).leading, "the lead ended with nobody waiting");
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `n` complete events (tracked calls: status and latency known) of cost `cost` each.
    fn batch(tag: &str, n: usize, cost: u32) -> Vec<UsageEvent> {
        (0..n)
            .map(|i| {
                let mut e = event(&format!("req_{tag}_{i}"));
                (e.status, e.latency_ms, e.cost_units) = (200, 7, cost);
                e.source = UsageSource::Track;
                e
            })
            .collect()
    }

    fn ids(events: &[UsageEvent]) -> BTreeSet<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    #[tokio::test]
    async fn a_batch_is_counted_all_or_nothing_and_recorded_with_its_charge() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let (org, period) = (Id::from_string("org_meter"), PeriodKey::from_string("2026-12"));
        let expires = Utc::now() + chrono::Duration::days(400);
        let first = batch("a", 3, 2);
        assert_eq!(
            meter.count_batch(&first, FREE, Some(10), expires, None).await.unwrap(),
            UsageIncrement::Counted { used: 6 }
        );
        // Recorded when answered, complete; nothing goes through the usage queue.
        let mut recorded = logged(&store).await;
        recorded.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(recorded, first, "every event of the batch, complete");
        assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 0);

        // 6 + 6 > 10: none of the second batch is counted or recorded.
        let refused = meter.count_batch(&batch("b", 3, 2), FREE, Some(10), expires, None).await.unwrap();
        assert_eq!(refused, UsageIncrement::LimitReached { used: 6 });
        assert_eq!(store.usage(&org, &period).await.unwrap(), 6);
        assert_eq!(logged(&store).await.len(), 3, "nothing of a refused batch is recorded");

        // An id recorded already is skipped, not an error: the batch is counted whole.
        let mut third = batch("c", 2, 2);
        third[1].id = first[0].id.clone();
        assert_eq!(
            meter.count_batch(&third, FREE, Some(10), expires, None).await.unwrap(),
            UsageIncrement::Counted { used: 10 }
        );
        assert_eq!(logged(&store).await.len(), 4, "the new id only");

        // A rate window counts the batch as one charge.
        let w = RateWindow::containing("key_meter_batch", Utc::now().timestamp(), 1);
        let counted = meter.count_batch(&batch("d", 5, 1), FREE, None, expires, Some(w.clone())).await.unwrap();
        assert_eq!(counted, UsageIncrement::Counted { used: 15 });
        let limited = meter.count_batch(&batch("e", 1, 1), FREE, None, expires, Some(w)).await.unwrap();
        assert_eq!(limited, UsageIncrement::RateLimited { used: 15 });
        assert_eq!(logged(&store).await.len(), 9);
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
                tokio::spawn(async move {
                    let events = batch(&i.to_string(), 10, 1);
                    let counted = meter.count_batch(&events, FREE, Some(95), expires, None).await;
                    (events, counted)
                })
            })
            .collect();
        let (mut counted, mut counted_events) = (Vec::new(), Vec::new());
        for c in calls {
            let (events, outcome) = c.await.unwrap();
            match outcome.unwrap() {
                UsageIncrement::Counted { used } => {
                    counted.push(used);
                    counted_events.extend(events);
                }
                UsageIncrement::LimitReached { used } => assert_eq!(used, 90),
                other => panic!("no rate window was given: {other:?}"),
            }
        }
        counted.sort_unstable();
        assert_eq!(counted, (1..=9).map(|n| n * 10).collect::<Vec<_>>(), "9 batches of 10 fit under 95");
        let (org, period) = (Id::from_string("org_meter"), PeriodKey::from_string("2026-12"));
        assert_eq!(store.usage(&org, &period).await.unwrap(), 90);
        assert_eq!(ids(&logged(&store).await), ids(&counted_events), "the events of the counted batches only");
        drop((meter, store, queue));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn usage_recorded_for_an_organization_at_the_provider_is_billable_once() {
        let (meter, store, queue, dir) = meter(Duration::from_secs(60)).await;
        let paid = OrgUsageFacts { paid_at_provider: true, ..FREE };
        let expires = Utc::now() + chrono::Duration::days(400);
        let mut other_org = batch("free", 2, 1);
        for e in &mut other_org {
            e.org_id = Id::from_string("org_free");
        }
        meter.count_batch(&other_org, FREE, None, expires, None).await.unwrap();
        assert!(meter.take_billable_usage().is_empty(), "not at the provider: nothing to report");

        meter.count(&event("req_paid"), None, expires, None).await.unwrap();
        assert!(meter.take_billable_usage().is_empty(), "counted, not recorded yet");
        meter.record_outcome(&event("req_paid"), paid).await;
        meter.count_batch(&batch("paid", 2, 1), paid, None, expires, None).await.unwrap();
        meter.flush().await;
        let period = PeriodKey::from_string("2026-12");
        assert_eq!(meter.take_billable_usage(), BTreeSet::from([(Id::from_string("org_meter"), period)]));
        assert!(meter.take_billable_usage().is_empty(), "taken");
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

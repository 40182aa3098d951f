//! `SqliteQueue`: the `Queue` port as a durable table in the store's SQLite file, plus the
//! consumer side the in-process workers drain it with (SQS semantics, scaled down).
//!
//! - Its own connection and its own tables (`queue_messages`, `queue_dead_letters`, and
//!   `queue_held` for messages held until a time, see `INSERT_HELD`), created with `CREATE
//!   TABLE IF NOT EXISTS` when opened: it needs nothing from the store's schema and may live
//!   in the same file (WAL lets both connections work side by side).
//! - At-least-once: `receive` marks messages in flight until `now + visibility` and counts
//!   the attempt; a message not acknowledged in time becomes visible again. Consumers
//!   deduplicate by message id.
//! - A message delivered `max_attempts` times (default 5, like the SQS `maxReceiveCount` in
//!   template.yaml) is not delivered again: it moves to the dead-letter table, where
//!   `dead_letters` shows it and `redrive` can put it back.
//!
//! Times are INTEGER unix milliseconds. `send` makes messages visible at once (visible_at 0),
//! so delivery never depends on the sender's clock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tollgate_domain::{PortError, Queue, QueueMessage, QueueName};

use crate::SqliteStore;

/// Deliveries of one message before it is dead-lettered (SQS `maxReceiveCount`).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    visible_at  INTEGER NOT NULL DEFAULT 0,
    enqueued_at INTEGER NOT NULL,
    UNIQUE (queue, id)
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS queue_dead_letters (
    queue             TEXT    NOT NULL,
    id                TEXT    NOT NULL,
    body              TEXT    NOT NULL,
    attempts          INTEGER NOT NULL,
    enqueued_at       INTEGER NOT NULL,
    dead_lettered_at  INTEGER NOT NULL,
    PRIMARY KEY (queue, id)
);
CREATE TABLE IF NOT EXISTS queue_held (
    queue       TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    visible_at  INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    PRIMARY KEY (queue, id)
) WITHOUT ROWID;
";

/// Adds a message (queue, id, body, visible_at, enqueued_at); an id already queued (visible or
/// in flight) is ignored. Shared with the store, which holds a counted call's usage event in
/// the same transaction as its counter (see `SqliteCallMeter`).
pub(crate) const INSERT_MESSAGE: &str = "INSERT OR IGNORE INTO queue_messages \
     (queue, id, body, attempts, visible_at, enqueued_at) VALUES (?1, ?2, ?3, 0, ?4, ?5)";

/// Deletes a message (queue, id): acknowledged, or moved to the dead letters.
const DELETE_MESSAGE: &str = "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2";

/// Holds a message (queue, id, body, visible_at, enqueued_at) in `queue_held` until
/// `visible_at`; an id already held is ignored. The call meter holds a counted call's usage
/// event this way, in the same transaction as its counter, until the call's outcome is
/// known (see `SqliteCallMeter`).
///
/// Why a table of its own: nearly every held message is deleted unread a few milliseconds
/// later, and `queue_held` is one small b-tree, where `queue_messages` is three (the table,
/// its unique id and its visibility index) plus AUTOINCREMENT's sequence row. On the hot path
/// that is two pages written per transaction instead of five.
pub(crate) const INSERT_HELD: &str = "INSERT OR IGNORE INTO queue_held \
     (queue, id, body, visible_at, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Deletes a held message (queue, id) whose content the call meter records itself. One whose
/// hold ran out was moved onto the queue by `receive` and is no longer here: it stays there,
/// for its consumer.
pub(crate) const DELETE_HELD: &str = "DELETE FROM queue_held WHERE queue = ?1 AND id = ?2";

/// Moves the held messages of a queue (?1) whose hold ran out at ?2 onto the queue, visible
/// (an id already queued is ignored). `queue_held` has only the messages of calls in flight,
/// so the scan is short.
const RELEASE_HELD: [&str; 2] = [
    "INSERT OR IGNORE INTO queue_messages (queue, id, body, attempts, visible_at, enqueued_at)
     SELECT queue, id, body, 0, visible_at, enqueued_at FROM queue_held WHERE queue = ?1 AND visible_at <= ?2",
    "DELETE FROM queue_held WHERE queue = ?1 AND visible_at <= ?2",
];

/// A message handed to a consumer by [`SqliteQueue::receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub id: String,
    pub body: String,
    /// Deliveries so far, this one included (1 on the first delivery).
    pub attempts: u32,
}

/// A message that was delivered `max_attempts` times without being acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
    pub attempts: u32,
    pub enqueued_at: DateTime<Utc>,
    pub dead_lettered_at: DateTime<Utc>,
}

/// What [`SqliteQueue::release_for_retry`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Visible again at this time.
    Scheduled { visible_at: DateTime<Utc> },
    /// It had used up its attempts: moved to the dead-letter table.
    DeadLettered { attempts: u32 },
    /// No such message (already acknowledged or dead-lettered).
    NotFound,
}

/// The durable local queue. Cheap to clone: clones share the connection and the wake-ups.
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    max_attempts: u32,
    usage_sent: Arc<Notify>,
    notifications_sent: Arc<Notify>,
    stripe_events_sent: Arc<Notify>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("path", &self.path)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

fn db_err(context: &'static str) -> impl Fn(rusqlite::Error) -> PortError {
    move |e| PortError::with_source(format!("sqlite queue: {context}"), e)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::UNIX_EPOCH)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    /// Opens (or creates) the database file at `path` (usually the store's own file), with
    /// WAL and a busy timeout, and creates the queue tables if they are missing.
    pub fn open(path: &Path) -> Result<Self, PortError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| PortError::with_source(format!("cannot create {}", parent.display()), e))?;
        }
        let conn =
            Connection::open(path).map_err(|e| PortError::with_source(format!("cannot open {}", path.display()), e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err("busy timeout"))?;
        let mode: String =
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(db_err("cannot enable WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(PortError::new(format!("sqlite queue: journal_mode is {mode}, not wal")));
        }
        Self::setup(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory queue (tests).
    pub fn open_in_memory() -> Result<Self, PortError> {
        let conn = Connection::open_in_memory().map_err(db_err("cannot open"))?;
        Self::setup(conn, None)
    }

    /// The queue on the store's own connection (the server's choice): one writer owns the
    /// file, so the queue, the worker's writes and the gateway's group commits take turns on
    /// one in-process lock, in arrival order, instead of meeting SQLite's busy handler
    /// (which sleeps for milliseconds) on a second connection.
    pub async fn on_store(store: &SqliteStore) -> Result<Self, PortError> {
        let conn = store.connection();
        {
            let guard = conn.lock().await;
            guard.execute_batch(SCHEMA).map_err(db_err("cannot create the queue tables"))?;
        }
        Ok(Self::with_connection(conn, store.path().map(Path::to_path_buf)))
    }

    fn setup(conn: Connection, path: Option<PathBuf>) -> Result<Self, PortError> {
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err("pragma"))?;
        conn.execute_batch(SCHEMA).map_err(db_err("cannot create the queue tables"))?;
        Ok(Self::with_connection(Arc::new(Mutex::new(conn)), path))
    }

    fn with_connection(conn: Arc<Mutex<Connection>>, path: Option<PathBuf>) -> Self {
        SqliteQueue {
            conn,
            path,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            usage_sent: Arc::new(Notify::new()),
            notifications_sent: Arc::new(Notify::new()),
            stripe_events_sent: Arc::new(Notify::new()),
        }
    }

    /// Deliveries of a message before it is dead-lettered (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Signalled after every `send` to `queue` in this process, so a worker can wait on it
    /// instead of polling (`queue.sent(QueueName::Usage).notified().await`). One stored
    /// permit: a send that happens while the worker is busy still wakes its next wait.
    pub fn sent(&self, queue: QueueName) -> &Notify {
        match queue {
            QueueName::Usage => &self.usage_sent,
            QueueName::Notifications => &self.notifications_sent,
            QueueName::StripeEvents => &self.stripe_events_sent,
        }
    }

    async fn call<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
        match tokio::task::spawn_blocking(move || f(&mut conn)).await {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Err(PortError::with_source("sqlite queue task cancelled", join)),
        }
    }

    /// Up to `max` visible messages of `queue`, oldest first, each marked in flight until
    /// `now + visibility` with its attempt counted, in one transaction. Messages whose
    /// attempts are used up (a consumer that crashed or timed out on their last delivery) are
    /// moved to the dead-letter table instead of being delivered. Held messages whose hold ran
    /// out are moved onto the queue first, so they are among those delivered.
    pub async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReceivedMessage>, PortError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max_attempts = self.max_attempts;
        let (messages, dead) = self
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
                let (q, now_ms) = (queue.as_str(), ms(now));
                let until = now_ms.saturating_add(duration_ms(visibility));
                for release in RELEASE_HELD {
                    tx.prepare_cached(release)
                        .and_then(|mut s| s.execute(params![q, now_ms]))
                        .map_err(db_err("release held"))?;
                }
                // One statement walks the (queue, visible_at, seq) index to the first `max`
                // visible messages and marks them in flight: the cost follows the batch, not
                // the backlog.
                let mut taken: Vec<(i64, ReceivedMessage)> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "UPDATE queue_messages SET attempts = attempts + 1, visible_at = ?3
                             WHERE seq IN (SELECT seq FROM queue_messages
                                           WHERE queue = ?1 AND visible_at <= ?2
                                           ORDER BY visible_at, seq LIMIT ?4)
                             RETURNING seq, id, body, attempts",
                        )
                        .map_err(db_err("receive"))?;
                    let rows = stmt
                        .query_map(params![q, now_ms, until, i64::try_from(max).unwrap_or(i64::MAX)], |r| {
                            Ok((r.get(0)?, ReceivedMessage { id: r.get(1)?, body: r.get(2)?, attempts: r.get(3)? }))
                        })
                        .map_err(db_err("receive"))?;
                    rows.collect::<Result<_, _>>().map_err(db_err("receive"))?
                };
                // RETURNING gives no order: the batch goes out oldest sent first.
                taken.sort_by_key(|(seq, _)| *seq);
                // A message past its last attempt (its consumer crashed or timed out every
                // time) is dead-lettered instead of delivered; only the batch is looked at.
                let (dead, out): (Vec<_>, Vec<_>) = taken.into_iter().partition(|(_, m)| m.attempts > max_attempts);
                let dead: Vec<(String, u32)> = dead.into_iter().map(|(_, m)| (m.id, m.attempts - 1)).collect();
                for (id, _) in &dead {
                    move_to_dead_letters(&tx, queue, id, now, true)?;
                }
                tx.commit().map_err(db_err("commit"))?;
                Ok((out.into_iter().map(|(_, m)| m).collect::<Vec<_>>(), dead))
            })
            .await?;
        for (id, attempts) in dead {
            tracing::warn!(queue = queue.as_str(), message_id = %id, attempts, "message dead-lettered: attempts used up");
        }
        Ok(messages)
    }

    /// Deletes delivered messages (processed). Returns how many existed.
    pub async fn ack(&self, queue: QueueName, ids: &[String]) -> Result<usize, PortError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
            let mut n = 0;
            {
                let mut stmt = tx.prepare_cached(DELETE_MESSAGE).map_err(db_err("ack"))?;
                for id in &ids {
                    n += stmt.execute(params![queue.as_str(), id]).map_err(db_err("ack"))?;
                }
            }
            tx.commit().map_err(db_err("commit"))?;
            Ok(n)
        })
        .await
    }

    /// A delivery failed: the message becomes visible again at `now + delay`, or, if it has
    /// been delivered `max_attempts` times, moves to the dead-letter table now.
    pub async fn release_for_retry(
        &self,
        queue: QueueName,
        id: &str,
        delay: Duration,
        now: DateTime<Utc>,
    ) -> Result<RetryOutcome, PortError> {
        let owned = id.to_string();
        let max_attempts = self.max_attempts;
        let outcome = self
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
                let attempts: Option<u32> = tx
                    .query_row(
                        "SELECT attempts FROM queue_messages WHERE queue = ?1 AND id = ?2",
                        params![queue.as_str(), owned],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db_err("select"))?;
                let outcome = match attempts {
                    None => RetryOutcome::NotFound,
                    Some(attempts) if attempts >= max_attempts => {
                        move_to_dead_letters(&tx, queue, &owned, now, false)?;
                        RetryOutcome::DeadLettered { attempts }
                    }
                    Some(_) => {
                        let visible_at = now + chrono::Duration::milliseconds(duration_ms(delay));
                        tx.execute(
                            "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND id = ?2",
                            params![queue.as_str(), owned, ms(visible_at)],
                        )
                        .map_err(db_err("release"))?;
                        RetryOutcome::Scheduled { visible_at }
                    }
                };
                tx.commit().map_err(db_err("commit"))?;
                Ok(outcome)
            })
            .await?;
        if let RetryOutcome::DeadLettered { attempts } = outcome {
            tracing::warn!(queue = queue.as_str(), message_id = %id, attempts, "message dead-lettered: attempts used up");
        }
        Ok(outcome)
    }

    /// The dead-lettered messages of `queue`, oldest dead-lettering first.
    pub async fn dead_letters(&self, queue: QueueName) -> Result<Vec<DeadLetter>, PortError> {
        self.call(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, body, attempts, enqueued_at, dead_lettered_at FROM queue_dead_letters
                     WHERE queue = ?1 ORDER BY dead_lettered_at, id",
                )
                .map_err(db_err("dead letters"))?;
            let rows = stmt
                .query_map(params![queue.as_str()], |r| {
                    Ok(DeadLetter {
                        id: r.get(0)?,
                        body: r.get(1)?,
                        attempts: r.get(2)?,
                        enqueued_at: from_ms(r.get(3)?),
                        dead_lettered_at: from_ms(r.get(4)?),
                    })
                })
                .map_err(db_err("dead letters"))?;
            rows.collect::<Result<_, _>>().map_err(db_err("dead letters"))
        })
        .await
    }

    /// Puts a dead-lettered message back on its queue with its attempts reset (after the
    /// cause was fixed). False if there is no such dead letter or the id is queued again.
    pub async fn redrive(&self, queue: QueueName, id: &str) -> Result<bool, PortError> {
        let id = id.to_string();
        let moved = self
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
                let n = tx
                    .execute(
                        "INSERT OR IGNORE INTO queue_messages (queue, id, body, attempts, visible_at, enqueued_at)
                         SELECT queue, id, body, 0, 0, enqueued_at FROM queue_dead_letters WHERE queue = ?1 AND id = ?2",
                        params![queue.as_str(), id],
                    )
                    .map_err(db_err("redrive"))?;
                if n > 0 {
                    tx.execute("DELETE FROM queue_dead_letters WHERE queue = ?1 AND id = ?2", params![queue.as_str(), id])
                        .map_err(db_err("redrive"))?;
                }
                tx.commit().map_err(db_err("commit"))?;
                Ok(n > 0)
            })
            .await?;
        if moved {
            self.sent(queue).notify_one();
        }
        Ok(moved)
    }

    /// What `queue` holds at `now`: visible and in-flight messages, the oldest one's send
    /// time, and the dead letters, read in one go (for a metrics scrape). It reads every
    /// queued message's row, as `depth` counts them: cheap while the workers keep up.
    pub async fn stats(&self, queue: QueueName, now: DateTime<Utc>) -> Result<QueueStats, PortError> {
        self.call(move |c| {
            // A held message whose hold ran out is visible: the next `receive` moves it.
            let (visible, in_flight, oldest): (i64, i64, Option<i64>) = c
                .query_row(
                    "SELECT COALESCE(SUM(visible_at <= ?2), 0), COALESCE(SUM(visible_at > ?2), 0), MIN(enqueued_at)
                     FROM (SELECT visible_at, enqueued_at FROM queue_messages WHERE queue = ?1
                           UNION ALL SELECT visible_at, enqueued_at FROM queue_held WHERE queue = ?1)",
                    params![queue.as_str(), ms(now)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(db_err("stats"))?;
            let dead_letters: i64 = c
                .query_row("SELECT COUNT(*) FROM queue_dead_letters WHERE queue = ?1", params![queue.as_str()], |r| {
                    r.get(0)
                })
                .map_err(db_err("stats"))?;
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(QueueStats {
                visible: count(visible),
                in_flight: count(in_flight),
                oldest_enqueued_at: oldest.map(from_ms),
                dead_letters: count(dead_letters),
            })
        })
        .await
    }

    /// Messages of `queue` not yet acknowledged (visible, in flight or held), dead letters
    /// excluded.
    pub async fn depth(&self, queue: QueueName) -> Result<u64, PortError> {
        self.call(move |c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM queue_messages WHERE queue = ?1)
                      + (SELECT COUNT(*) FROM queue_held WHERE queue = ?1)",
                params![queue.as_str()],
                |r| r.get(0),
            )
            .map_err(db_err("depth"))
        })
        .await
    }
}

/// What a queue holds at one moment ([`SqliteQueue::stats`]), for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages a receive would hand out now.
    pub visible: u64,
    /// Messages received and not yet acknowledged, waiting for a retry, or held by the call
    /// meter until their outcome is known.
    pub in_flight: u64,
    /// When the oldest message still queued was first sent (`None`: the queue is empty).
    pub oldest_enqueued_at: Option<DateTime<Utc>>,
    /// Messages in the dead-letter table.
    pub dead_letters: u64,
}

impl QueueStats {
    /// Messages not yet acknowledged: visible + in flight (as [`SqliteQueue::depth`]).
    pub fn depth(&self) -> u64 {
        self.visible + self.in_flight
    }

    /// Seconds since the oldest queued message was sent, at `now` (0 when empty), like
    /// SQS's `ApproximateAgeOfOldestMessage`.
    pub fn oldest_age_secs(&self, now: DateTime<Utc>) -> f64 {
        self.oldest_enqueued_at.map_or(0.0, |t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0)
    }
}

/// Moves message `id` to the dead-letter table. `just_received`: its attempt counter already
/// counts a delivery that did not happen (`receive` found it exhausted), so one is taken off.
fn move_to_dead_letters(
    tx: &rusqlite::Transaction<'_>,
    queue: QueueName,
    id: &str,
    now: DateTime<Utc>,
    just_received: bool,
) -> Result<(), PortError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO queue_dead_letters (queue, id, body, attempts, enqueued_at, dead_lettered_at)
         SELECT queue, id, body, attempts - ?4, enqueued_at, ?3 FROM queue_messages WHERE queue = ?1 AND id = ?2",
    )
    .and_then(|mut s| s.execute(params![queue.as_str(), id, ms(now), i64::from(just_received)]))
    .map_err(db_err("dead-letter"))?;
    tx.prepare_cached(DELETE_MESSAGE)
        .and_then(|mut s| s.execute(params![queue.as_str(), id]))
        .map_err(db_err("dead-letter"))?;
    Ok(())
}

#[async_trait]
impl Queue for SqliteQueue {
    /// All messages in one transaction; an id already queued (visible or in flight) is ignored.
    async fn send(&self, queue: QueueName, messages: &[QueueMessage]) -> Result<(), PortError> {
        if messages.is_empty() {
            return Ok(());
        }
        let messages = messages.to_vec();
        // Informational only (dead-letter inspection): delivery order and visibility do not
        // depend on it.
        let enqueued_at = ms(Utc::now());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err("begin"))?;
            {
                let mut stmt = tx.prepare_cached(INSERT_MESSAGE).map_err(db_err("send"))?;
                for m in &messages {
                    stmt.execute(params![queue.as_str(), m.id, m.body, 0, enqueued_at]).map_err(db_err("send"))?;
                }
            }
            tx.commit().map_err(db_err("commit"))
        })
        .await?;
        self.sent(queue).notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> QueueMessage {
        QueueMessage { id: id.into(), body: format!("body of {id}") }
    }

    fn ids(v: &[ReceivedMessage]) -> Vec<&str> {
        v.iter().map(|m| m.id.as_str()).collect()
    }

    #[tokio::test]
    async fn send_receive_ack_with_dedup_and_visibility() {
        let q = SqliteQueue::open_in_memory().unwrap();
        let now = Utc::now();
        q.send(QueueName::Usage, &[msg("a"), msg("b"), msg("a")]).await.unwrap();
        q.send(QueueName::Usage, &[msg("b"), msg("c")]).await.unwrap();
        q.send(QueueName::Notifications, &[msg("a")]).await.unwrap();
        assert_eq!(q.depth(QueueName::Usage).await.unwrap(), 3);

        let got = q.receive(QueueName::Usage, 2, Duration::from_secs(30), now).await.unwrap();
        assert_eq!(ids(&got), ["a", "b"]);
        assert_eq!(got[0].attempts, 1);
        assert_eq!(got[0].body, "body of a");
        // In flight: not delivered again before the visibility timeout.
        let got = q.receive(QueueName::Usage, 10, Duration::from_secs(30), now).await.unwrap();
        assert_eq!(ids(&got), ["c"]);
        assert_eq!(q.ack(QueueName::Usage, &["a".into(), "c".into()]).await.unwrap(), 2);
        // b was not acknowledged: back after the timeout, second attempt.
        let later = now + chrono::Duration::seconds(31);
        let got = q.receive(QueueName::Usage, 10, Duration::from_secs(30), later).await.unwrap();
        assert_eq!((ids(&got), got[0].attempts), (vec!["b"], 2));
        // Queues are separate.
        assert_eq!(q.depth(QueueName::Notifications).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn retries_then_dead_letters_and_redrives() {
        let q = SqliteQueue::open_in_memory().unwrap().with_max_attempts(3);
        let mut now = Utc::now();
        q.send(QueueName::Usage, &[msg("poison")]).await.unwrap();
        for attempt in 1..=3 {
            let got = q.receive(QueueName::Usage, 10, Duration::from_secs(30), now).await.unwrap();
            assert_eq!(got[0].attempts, attempt);
            let outcome = q.release_for_retry(QueueName::Usage, "poison", Duration::from_secs(1), now).await.unwrap();
            if attempt < 3 {
                assert!(matches!(outcome, RetryOutcome::Scheduled { .. }));
                assert!(q.receive(QueueName::Usage, 10, Duration::from_secs(30), now).await.unwrap().is_empty());
            } else {
                assert_eq!(outcome, RetryOutcome::DeadLettered { attempts: 3 });
            }
            now += chrono::Duration::seconds(2);
        }
        assert!(q.receive(QueueName::Usage, 10, Duration::from_secs(30), now).await.unwrap().is_empty());
        assert_eq!(q.depth(QueueName::Usage).await.unwrap(), 0);
        let dead = q.dead_letters(QueueName::Usage).await.unwrap();
        assert_eq!((dead.len(), dead[0].id.as_str(), dead[0].attempts), (1, "poison", 3));
        assert!(q.dead_letters(QueueName::Notifications).await.unwrap().is_empty());

        assert!(q.redrive(QueueName::Usage, "poison").await.unwrap());
        assert!(q.dead_letters(QueueName::Usage).await.unwrap().is_empty());
        let got = q.receive(QueueName::Usage, 10, Duration::from_secs(30), now).await.unwrap();
        assert_eq!(got[0].attempts, 1);
    }

    #[tokio::test]
    async fn a_consumer_that_never_answers_exhausts_attempts_on_receive() {
        let q = SqliteQueue::open_in_memory().unwrap().with_max_attempts(2);
        let mut now = Utc::now();
        q.send(QueueName::Usage, &[msg("x")]).await.unwrap();
        for _ in 0..2 {
            assert_eq!(q.receive(QueueName::Usage, 10, Duration::from_secs(1), now).await.unwrap().len(), 1);
            now += chrono::Duration::seconds(2);
        }
        assert!(q.receive(QueueName::Usage, 10, Duration::from_secs(1), now).await.unwrap().is_empty());
        assert_eq!(q.dead_letters(QueueName::Usage).await.unwrap()[0].attempts, 2);
        assert_eq!(
            q.release_for_retry(QueueName::Usage, "x", Duration::ZERO, now).await.unwrap(),
            RetryOutcome::NotFound
        );
    }

    /// SQLite VM instructions (in hundreds) that one `receive` of 10 runs with `backlog`
    /// visible messages waiting.
    async fn receive_work(backlog: usize) -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        let q = SqliteQueue::open_in_memory().unwrap();
        let messages: Vec<QueueMessage> = (0..backlog).map(|i| msg(&format!("m{i:06}"))).collect();
        for chunk in messages.chunks(1000) {
            q.send(QueueName::Usage, chunk).await.unwrap();
        }
        let steps = Arc::new(AtomicU64::new(0));
        let counter = steps.clone();
        q.call(move |c| {
            c.progress_handler(
                100,
                Some(move || {
                    counter.fetch_add(1, Ordering::Relaxed);
                    false
                }),
            );
            Ok(())
        })
        .await
        .unwrap();
        let got = q.receive(QueueName::Usage, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
        q.call(|c| {
            c.progress_handler(0, None::<fn() -> bool>);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(
            ids(&got),
            [
                "m000000", "m000001", "m000002", "m000003", "m000004", "m000005", "m000006", "m000007", "m000008",
                "m000009"
            ]
        );
        steps.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_receive_costs_the_same_whatever_the_backlog() {
        let small = receive_work(100).await;
        let large = receive_work(20_000).await;
        // Counted in SQLite VM instructions, not time: a scan of the backlog (what a
        // dead-letter SELECT over every visible message did) would be hundreds of times more.
        assert!(large <= small * 2 + 10, "receive work grew with the backlog: {small} -> {large} (x100 VM ops)");
    }

    #[tokio::test]
    async fn stats_count_visible_in_flight_and_dead_letters_and_age_the_oldest() {
        let q = SqliteQueue::open_in_memory().unwrap().with_max_attempts(1);
        let empty = q.stats(QueueName::Usage, Utc::now()).await.unwrap();
        assert_eq!(empty, QueueStats::default());
        assert_eq!(empty.oldest_age_secs(Utc::now()), 0.0);

        let sent = Utc::now();
        q.send(QueueName::Usage, &[msg("a"), msg("b"), msg("c")]).await.unwrap();
        q.send(QueueName::Notifications, &[msg("n")]).await.unwrap();
        let now = Utc::now();
        let got = q.receive(QueueName::Usage, 2, Duration::from_secs(30), now).await.unwrap();
        assert_eq!(got.len(), 2);
        // One attempt allowed: a failed delivery goes straight to the dead letters.
        q.release_for_retry(QueueName::Usage, &got[0].id, Duration::ZERO, now).await.unwrap();

        let stats = q.stats(QueueName::Usage, now).await.unwrap();
        assert_eq!((stats.visible, stats.in_flight, stats.dead_letters, stats.depth()), (1, 1, 1, 2));
        assert_eq!(stats.depth(), q.depth(QueueName::Usage).await.unwrap());
        let oldest = stats.oldest_enqueued_at.expect("queued messages");
        assert!(oldest >= sent - chrono::Duration::milliseconds(1) && oldest <= now);
        let later = oldest + chrono::Duration::milliseconds(2500);
        assert_eq!(stats.oldest_age_secs(later), 2.5);

        let other = q.stats(QueueName::Notifications, now).await.unwrap();
        assert_eq!((other.visible, other.in_flight, other.dead_letters), (1, 0, 0));
    }

    #[tokio::test]
    async fn survives_reopen_next_to_other_tables() {
        let dir = std::env::temp_dir().join(format!("tollgate-queue-{}", tollgate_domain::id::random_base62(8)));
        let path = dir.join("tollgate.db");
        {
            let q = SqliteQueue::open(&path).unwrap();
            q.send(QueueName::Usage, &[msg("kept")]).await.unwrap();
        }
        let q = SqliteQueue::open(&path).unwrap();
        assert_eq!(q.depth(QueueName::Usage).await.unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}

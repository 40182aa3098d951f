//! `SqliteStore`: the store ports on one SQLite file.
//!
//! One connection behind an async mutex serialises every statement of this process: callers
//! queue on the mutex without holding a thread, and the holder runs its blocking SQLite calls
//! on tokio's blocking pool so they never stall the async workers. Every multi-statement
//! write runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock up front: checks
//! made inside it (limits, uniqueness, "not yet rotated") stay true until the commit even if
//! another process opens the same file (`busy_timeout` makes it wait).
//!
//! Encoding: times are INTEGER unix milliseconds (UTC), enums snake_case TEXT (their
//! `StoredEnum` text, the serde name), ids TEXT, and
//! secrets only as their hex SHA-256 (`TokenHash`).

mod api_keys;
mod catalog;
mod checkpoint;
mod invoices;
mod jobs;
mod management_tokens;
mod metrics;
mod mfa;
mod misc;
mod notification_settings;
mod organizations;
mod projects;
mod schema;
mod sessions;
mod usage;
mod users;
mod webhooks;

use chrono::{DateTime, Utc};
use rusqlite::{types::Type, Connection, ErrorCode, Row};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tollgate_domain::{Id, StoreError};

pub(crate) use schema::MIGRATIONS;
pub(crate) use usage::{commit_charges, CallOutcome, ChargedEvents, GroupCommitted, HeldMessage, MeteredCharge};

/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded store: implements every repository port of `tollgate_domain::Store` on a
/// SQLite database (WAL mode). Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
    /// A file's background WAL checkpoints (see `checkpoint`), stopped with the last clone.
    _checkpoints: Option<Arc<checkpoint::CheckpointThread>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, creating its parent directory, sets
    /// WAL mode, `synchronous=NORMAL`, foreign keys and a busy timeout, runs any pending
    /// schema migrations, and starts the file's background checkpoints (`checkpoint`).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::unavailable(format!("cannot create {}", parent.display()), e))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::unavailable(format!("cannot open {}", path.display()), e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| StoreError::unavailable("cannot enable WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable { message: format!("journal_mode is {mode}, not wal"), source: None });
        }
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_CHECKPOINT_PAGES)
            .map_err(|e| StoreError::unavailable("cannot configure sqlite", e))?;
        let store = Self::setup(conn, Some(path.to_path_buf()))?;
        let checkpoints = checkpoint::CheckpointThread::start(path)
            .map_err(|e| StoreError::unavailable("cannot start the checkpoint thread", e))?;
        Ok(SqliteStore { _checkpoints: Some(Arc::new(checkpoints)), ..store })
    }

    /// A private in-memory database with the full schema: for tests that need a store but no
    /// file. Everything is lost when the last clone is dropped.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::unavailable("cannot open sqlite", e))?;
        Self::setup(conn, None)
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The one connection, for the queue on the same file (`SqliteQueue::on_store`).
    pub(crate) fn connection(&self) -> Arc<Mutex<Connection>> {
        Arc::clone(&self.conn)
    }

    /// The schema version of the open database (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<u32, StoreError> {
        self.call(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))?)).await
    }

    fn setup(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        let init = |c: &Connection| -> rusqlite::Result<()> {
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.busy_timeout(BUSY_TIMEOUT)
        };
        init(&conn).map_err(|e| StoreError::unavailable("cannot configure sqlite", e))?;
        migrate(&mut conn).map_err(|e| e.0)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), path, _checkpoints: None })
    }

    /// Runs `f` with the connection on the blocking pool.
    ///
    /// If the caller's future is dropped once `f` has started, `f` still runs to the end, so
    /// a transaction is never left half done. A panic inside `f` is resumed in the caller (it
    /// is a bug); the open transaction rolls back as it unwinds, so the connection stays usable.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DbError> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.conn).lock_owned().await;
        let joined = tokio::task::spawn_blocking(move || f(&mut conn)).await;
        match joined {
            Ok(result) => result.map_err(DbError::logged),
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => Err(StoreError::unavailable("sqlite task cancelled", join)),
        }
    }
}

impl SqliteStore {
    /// Runs `f` with the connection on the calling thread, which it blocks: for a dedicated
    /// writer thread (the call meter's group commit), never for a runtime worker (tokio panics
    /// if `blocking_lock` is called there). Waits its turn with the async callers, in order.
    pub(crate) fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.blocking_lock();
        f(&mut conn).map_err(DbError::logged)
    }

    /// The connection, once its turn comes, for work on the calling runtime worker: the hot
    /// path's few-statement writes (the call meter's charges), where a hop to another thread
    /// and back costs more than the write itself. The work blocks the worker, so it must
    /// stay short, and nothing may await while the guard is held.
    pub(crate) async fn lock_inline(&self) -> tokio::sync::MutexGuard<'_, Connection> {
        self.conn.lock().await
    }
}

/// Brings the schema up to date, one transaction per migration.
fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as u32;
    if current > known {
        return Err(DbError(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this build knows ({known})"
        ))));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "sqlite schema migrated");
    }
    Ok(())
}

/// An error inside a store closure: rusqlite errors convert into it with `?`, classified as
/// `Corrupt` (a stored value that does not decode) or `Unavailable` (anything else).
pub(crate) struct DbError(pub(crate) StoreError);

impl DbError {
    /// The store error, logged first if it is a failure of the store itself (not a
    /// refusal such as `NotFound` or `AlreadyExists`).
    fn logged(self) -> StoreError {
        if matches!(self.0, StoreError::Unavailable { .. } | StoreError::Corrupt(_)) {
            tracing::error!(error = ?self.0, "sqlite store failure");
        }
        self.0
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        DbError(e)
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        DbError(match e {
            E::FromSqlConversionFailure(..)
            | E::InvalidColumnType(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..) => StoreError::Corrupt(e.to_string()),
            other => StoreError::unavailable("sqlite error", other),
        })
    }
}

/// Maps a constraint violation (a primary key or unique index) to `AlreadyExists(what)`.
pub(crate) fn exists_on_conflict(what: &'static str) -> impl Fn(rusqlite::Error) -> DbError {
    move |e| {
        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
            DbError(StoreError::AlreadyExists(what))
        } else {
            DbError::from(e)
        }
    }
}

/// The value in a column could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadValue(String);

fn bad_value(idx: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(BadValue(msg)))
}

/// The cursor of a page ordered by (time, id) after the entry at `at` with `id`:
/// `<timestamp ms>:<id>` (opaque to callers).
pub(crate) fn time_id_cursor(at: DateTime<Utc>, id: &str) -> String {
    format!("{}:{id}", ms(at))
}

/// `(timestamp ms, id)` of the last entry of the previous page. An unparsable cursor is
/// `InvalidCursor`: the caller sent something no page ever returned.
pub(crate) fn decode_time_id_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let (ts, id) = cursor.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let ts: i64 = ts.parse().map_err(|_| StoreError::InvalidCursor)?;
    if id.is_empty() {
        return Err(StoreError::InvalidCursor);
    }
    Ok((ts, id.to_string()))
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

fn decode_ms(idx: usize, v: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| bad_value(idx, format!("timestamp {v} out of range")))
}

pub(crate) fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    decode_ms(idx, row.get(idx)?)
}

pub(crate) fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<i64>>(idx)?.map(|v| decode_ms(idx, v)).transpose()
}

pub(crate) fn get_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<Id> {
    Ok(Id::from_string(row.get::<_, String>(idx)?))
}

pub(crate) fn get_opt_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Id>> {
    Ok(row.get::<_, Option<String>>(idx)?.map(Id::from_string))
}

/// Decodes an enum column with `parse` (a `StoredEnum::parse`); unknown text is corrupt.
pub(crate) fn get_enum<T>(row: &Row<'_>, idx: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    parse(&s).ok_or_else(|| bad_value(idx, format!("unknown value {s:?}")))
}

/// Decodes a column with a fallible conversion, reporting failure as a corrupt value.
pub(crate) fn get_with<T, E: std::fmt::Display>(
    row: &Row<'_>,
    idx: usize,
    conv: impl FnOnce(String) -> Result<T, E>,
) -> rusqlite::Result<T> {
    let s: String = row.get(idx)?;
    conv(s).map_err(|e| bad_value(idx, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_counter_keeps_the_latest_expiry_it_was_charged_with() {
        use tollgate_domain::{PeriodKey, UsageCounter, UsageIncrement};
        let store = SqliteStore::open_in_memory().unwrap();
        let (org, period) = (Id::from_string("org_exp"), PeriodKey::from_string("2026-12"));
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        // Read through the expiry index: its entry must follow the row.
        let expiry = |store: SqliteStore| async move {
            store
                .call(|c| {
                    Ok(c.query_row(
                        "SELECT expires_at FROM usage_counters INDEXED BY usage_counters_expiry WHERE expires_at > 0",
                        [],
                        |r| r.get::<_, i64>(0),
                    )?)
                })
                .await
        };
        for (cost, expires_ms, kept_ms) in [(1, 2_000, 2_000), (1, 1_000, 2_000), (1, 3_000, 3_000)] {
            let counted = store.add_usage(&org, &period, cost, None, at(expires_ms)).await.unwrap();
            assert!(matches!(counted, UsageIncrement::Counted { .. }));
            assert_eq!(expiry(store.clone()).await.unwrap(), kept_ms);
        }
        // A charge refused at its limit moves nothing.
        let refused = store.add_usage(&org, &period, 1, Some(3), at(9_000)).await.unwrap();
        assert_eq!(refused, UsageIncrement::LimitReached { used: 3 });
        assert_eq!(expiry(store.clone()).await.unwrap(), 3_000);
    }

    #[tokio::test]
    async fn open_creates_file_in_wal_mode_and_migrates_once() {
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-sqlite-{}", Id::generate("t")));
        let path = dir.join("nested").join("tollgate.db");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().await.unwrap() as usize, MIGRATIONS.len());
        let (mode, fk): (String, bool) = store
            .call(|c| {
                let mode = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let fk = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                Ok((mode, fk))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(fk);
        drop(store);
        // Reopening an up-to-date file runs nothing and keeps the version.
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.schema_version().await.unwrap() as usize, MIGRATIONS.len());
        assert_eq!(again.path(), Some(path.as_path()));
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_json_latency_histograms_of_version_2_become_columns() {
        use tollgate_domain::{AggregateQuery, Granularity, UsageLog};
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-sqlite-{}", Id::generate("t")));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tollgate.db");
        {
            // A database as version 2 left it, with one aggregate.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute_batch(MIGRATIONS[1]).unwrap();
            c.pragma_update(None, "user_version", 2).unwrap();
            c.execute(
                "INSERT INTO usage_aggregates VALUES ('org_1', 'hour', 3600000, 'key_1', 'ep_1', 7, 9, 5, 1, 1, 700, \
                 '[1,0,0,0,0,2,0,0,0,0,0,0,4]')",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().await.unwrap() as usize, MIGRATIONS.len());
        let query = AggregateQuery {
            org_id: Id::from_string("org_1"),
            granularity: Granularity::Hour,
            from: DateTime::from_timestamp(0, 0).unwrap(),
            to: DateTime::from_timestamp(7200, 0).unwrap(),
        };
        let aggs = store.usage_aggregates(&query).await.unwrap();
        assert_eq!(aggs.len(), 1);
        assert_eq!((aggs[0].count, aggs[0].cost_units, aggs[0].status_2xx, aggs[0].latency_sum_ms), (7, 9, 5, 700));
        assert_eq!(aggs[0].latency_buckets, [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4]);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn rows_from_before_projects_read_as_the_default_project() {
        use tollgate_domain::{ApiKeyRepository, PlanRepository, Project, UsageLog, UsageLogQuery, UsageSource};
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-sqlite-{}", Id::generate("t")));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tollgate.db");
        {
            // A database as version 4 left it, with a key, two plans and a usage log entry.
            let c = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..4] {
                c.execute_batch(m).unwrap();
            }
            c.pragma_update(None, "user_version", 4).unwrap();
            c.execute_batch(
                "INSERT INTO api_keys VALUES ('key_1', 'org_1', 'usr_1', 'k', 'sk_live_abcd', 'wxyz', 1000, NULL, \
                 NULL, NULL, NULL);
                 INSERT INTO plans (id, name, description, billing_type, price, currency, rate_limit, burst, \
                 monthly_limit, overage_price, retention_days, max_api_keys, features, status, created_at, updated_at) \
                 VALUES ('plan_pro', 'Pro', NULL, 'subscription', 2900, 'usd', 600, NULL, 100000, NULL, 30, 10, '{}', \
                 'active', 1000, 1000), ('plan_custom', 'Custom', NULL, 'subscription', 0, 'usd', 60, NULL, 1000, \
                 NULL, 7, 2, '{}', 'active', 1000, 1000);
                 INSERT INTO usage_logs VALUES ('req_1', 'org_1', 'key_1', 'ep_1', 'GET', '/api/v1/x', 200, 5, 1, \
                 NULL, 1000, '2026-11', 9000000000000);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().await.unwrap() as usize, MIGRATIONS.len());
        let org = Id::from_string("org_1");
        let key = store.get_api_key(&org, &Id::from_string("key_1")).await.unwrap().unwrap();
        assert_eq!(key.project_id, Project::default_id(&org), "a key without a project is in the default one");
        assert_eq!(key.scopes, None, "a key from before scopes calls every endpoint");
        let max_projects = |id: &str| {
            let store = store.clone();
            let id = Id::from_string(id);
            async move { store.get_plan(&id).await.unwrap().unwrap().max_projects }
        };
        assert_eq!(max_projects("plan_pro").await, 5);
        assert_eq!(max_projects("plan_custom").await, 1);
        let q = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };
        let (logged, _) = store.query_usage(&q, DateTime::from_timestamp(0, 0).unwrap()).await.unwrap();
        assert_eq!(logged.len(), 1);
        assert_eq!((&logged[0].project_id, logged[0].source, &logged[0].metadata), (&None, UsageSource::Proxy, &None));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn the_metrics_rollup_is_backfilled_from_the_users_and_daily_aggregates() {
        use chrono::Duration;
        use tollgate_domain::{
            platform_org_id, AggregateQuery, DayCount, Granularity, MetricsRollup, OrgCalls, Role, UsageEvent,
            UsageLog, UsageRecord, UserRepository,
        };
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-sqlite-{}", Id::generate("t")));
        let path = dir.join("tollgate.db");
        let day = DateTime::from_timestamp(86_400 * 20_000, 0).unwrap();
        let (org_a, org_b) = (Id::from_string("org_a"), Id::from_string("org_b"));
        {
            // Users and usage recorded, then the database taken back to version 12: as if
            // they had been written before the rollup existed.
            let store = SqliteStore::open(&path).unwrap();
            let (user, org, owner) = tollgate_store_contract::new_user(Role::User, day + Duration::hours(3));
            store.create_user(&user, &org, &owner).await.unwrap();
            let event = |org: &Id, status: u16| UsageEvent {
                status,
                ..tollgate_store_contract::new_event(org, &Id::from_string("key_1"), &Id::from_string("ep_1"), day)
            };
            let records: Vec<UsageRecord> = [event(&org_a, 200), event(&org_a, 500), event(&org_b, 200)]
                .into_iter()
                .map(|event| UsageRecord { event, expires_at: day + Duration::days(1) })
                .collect();
            store.record_usage_batch(&records).await.unwrap();
            store
                .call(|c| {
                    Ok(c.execute_batch(
                        "DROP TABLE daily_signups; DROP TABLE org_daily_usage; \
                         DELETE FROM usage_aggregates WHERE org_id = '*'; PRAGMA user_version = 12;",
                    )?)
                })
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let to = day + Duration::days(1);
        assert_eq!(store.signups_per_day(day, to).await.unwrap(), [DayCount { day, count: 1 }]);
        assert_eq!(store.active_orgs_per_day(day, to).await.unwrap(), [DayCount { day, count: 2 }]);
        assert_eq!(
            store.top_orgs_by_calls(day, to, 5).await.unwrap(),
            [OrgCalls { org_id: org_a, calls: 2, cost_units: 2 }, OrgCalls { org_id: org_b, calls: 1, cost_units: 1 }]
        );
        let query = AggregateQuery { org_id: platform_org_id(), granularity: Granularity::Day, from: day, to };
        let platform = store.usage_aggregates(&query).await.unwrap();
        assert_eq!(platform.len(), 1);
        assert_eq!((platform[0].count, platform[0].status_2xx, platform[0].status_5xx), (3, 2, 1));
        assert_eq!(platform[0].latency_buckets.iter().sum::<u64>(), 3, "the histogram is summed too");
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_histogram_has_a_column_per_latency_bucket() {
        let c = Connection::open_in_memory().unwrap();
        for m in MIGRATIONS {
            c.execute_batch(m).unwrap();
        }
        let columns: Vec<String> = c
            .prepare("SELECT name FROM pragma_table_info('usage_aggregates') WHERE name GLOB 'lb[0-9]*'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(columns.len(), tollgate_domain::usage::LATENCY_BOUNDS_MS.len());
    }

    #[tokio::test]
    async fn refuses_a_database_from_a_newer_build() {
        let dir = std::env::temp_dir().join(format!("tollgate-embedded-sqlite-{}", Id::generate("t")));
        let path = dir.join("tollgate.db");
        let store = SqliteStore::open(&path).unwrap();
        store.call(|c| Ok(c.pragma_update(None, "user_version", 9999)?)).await.unwrap();
        drop(store);
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::Corrupt(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

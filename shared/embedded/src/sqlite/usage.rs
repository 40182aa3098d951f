//! `UsageCounter` and `UsageLog`.

use super::{get_enum, get_id, get_ts, get_with, ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Transaction, TransactionBehavior};
use tollgate_domain::usage::LATENCY_BOUNDS_MS;
use tollgate_domain::{
    AggregateQuery, Granularity, Id, PeriodKey, QueueMessage, QueueName, StoreError, StoredEnum, UsageAggregate,
    UsageCounter, UsageEvent, UsageIncrement, UsageLog, UsageLogQuery,
};

/// Counts do not go past `i64::MAX` in SQLite; a u64 above it saturates.
fn sat_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get_u64(r: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    r.get(idx)
}

/// The cursor of the page after `last`: `<timestamp ms>:<id>` (opaque to callers).
fn encode_cursor(last: &UsageEvent) -> String {
    format!("{}:{}", ms(last.timestamp), last.id)
}

/// `(timestamp ms, id)` of the last entry of the previous page. An unparsable cursor is
/// `InvalidCursor`: the caller sent something no page ever returned.
fn decode_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let (ts, id) = cursor.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let ts: i64 = ts.parse().map_err(|_| StoreError::InvalidCursor)?;
    if id.is_empty() {
        return Err(StoreError::InvalidCursor);
    }
    Ok((ts, id.to_string()))
}

const LOG_COLS: &str = "id, org_id, key_id, endpoint_id, method, path, status, latency_ms, cost_units, ip, ts, period";

/// Columns 0..=11 as in `LOG_COLS`.
fn event_from_row(r: &Row<'_>) -> rusqlite::Result<UsageEvent> {
    Ok(UsageEvent {
        id: r.get(0)?,
        org_id: get_id(r, 1)?,
        key_id: get_id(r, 2)?,
        endpoint_id: get_id(r, 3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        status: r.get(6)?,
        latency_ms: r.get(7)?,
        cost_units: r.get(8)?,
        ip: r.get(9)?,
        timestamp: get_ts(r, 10)?,
        period: PeriodKey::from_string(r.get::<_, String>(11)?),
    })
}

const AGG_COLS: &str = "org_id, key_id, endpoint_id, granularity, bucket_start, count, cost_units, \
                        status_2xx, status_4xx, status_5xx, latency_sum_ms, latency_buckets";

fn decode_buckets(s: String) -> Result<Vec<u64>, String> {
    let v: Vec<u64> = serde_json::from_str(&s).map_err(|e| e.to_string())?;
    if v.len() != LATENCY_BOUNDS_MS.len() {
        return Err(format!("{} latency buckets, expected {}", v.len(), LATENCY_BOUNDS_MS.len()));
    }
    Ok(v)
}

/// Columns 0..=11 as in `AGG_COLS`.
fn aggregate_from_row(r: &Row<'_>) -> rusqlite::Result<UsageAggregate> {
    Ok(UsageAggregate {
        org_id: get_id(r, 0)?,
        key_id: get_id(r, 1)?,
        endpoint_id: get_id(r, 2)?,
        granularity: get_enum(r, 3, Granularity::parse)?,
        bucket_start: get_ts(r, 4)?,
        count: get_u64(r, 5)?,
        cost_units: get_u64(r, 6)?,
        status_2xx: get_u64(r, 7)?,
        status_4xx: get_u64(r, 8)?,
        status_5xx: get_u64(r, 9)?,
        latency_sum_ms: get_u64(r, 10)?,
        latency_buckets: get_with(r, 11, decode_buckets)?,
    })
}

/// Adds `event` to its aggregate of `granularity` (read-modify-write: the caller holds the
/// write lock of an IMMEDIATE transaction).
fn add_to_aggregate(tx: &Transaction<'_>, event: &UsageEvent, granularity: Granularity) -> Result<(), DbError> {
    let empty = UsageAggregate::empty_for(event, granularity);
    let mut agg = tx
        .query_row(
            &format!(
                "SELECT {AGG_COLS} FROM usage_aggregates WHERE org_id = ?1 AND granularity = ?2 \
                 AND bucket_start = ?3 AND key_id = ?4 AND endpoint_id = ?5"
            ),
            params![
                empty.org_id.as_str(),
                granularity.as_str(),
                ms(empty.bucket_start),
                empty.key_id.as_str(),
                empty.endpoint_id.as_str(),
            ],
            aggregate_from_row,
        )
        .optional()?
        .unwrap_or(empty);
    agg.add(event);
    let buckets = serde_json::to_string(&agg.latency_buckets)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode latency buckets: {e}")))?;
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO usage_aggregates ({AGG_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ),
        params![
            agg.org_id.as_str(),
            agg.key_id.as_str(),
            agg.endpoint_id.as_str(),
            granularity.as_str(),
            ms(agg.bucket_start),
            sat_i64(agg.count),
            sat_i64(agg.cost_units),
            sat_i64(agg.status_2xx),
            sat_i64(agg.status_4xx),
            sat_i64(agg.status_5xx),
            sat_i64(agg.latency_sum_ms),
            buckets,
        ],
    )?;
    Ok(())
}

/// The counter's value (0 if none).
fn counter_value(c: &rusqlite::Connection, org_id: &Id, period: &PeriodKey) -> Result<u64, DbError> {
    let used: Option<u64> = c
        .query_row(
            "SELECT used FROM usage_counters WHERE org_id = ?1 AND period = ?2",
            params![org_id.as_str(), period.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(used.unwrap_or(0))
}

/// The conditional increment behind `add_usage`: create the counter at `cost`, or add `cost`
/// if the new total stays within `hard_limit`, in one statement.
fn increment_usage(
    c: &rusqlite::Connection,
    org_id: &Id,
    period: &PeriodKey,
    cost: u64,
    hard_limit: Option<u64>,
    expires_at: DateTime<Utc>,
) -> Result<UsageIncrement, DbError> {
    let current = |c: &rusqlite::Connection| counter_value(c, org_id, period);
    // The insert of a new counter is not covered by the conditional update below.
    if hard_limit.is_some_and(|limit| cost > limit) {
        return Ok(UsageIncrement::LimitReached { used: current(c)? });
    }
    // One statement: create at `cost`, or add `cost` if the new total stays within the
    // limit. No row comes back when the condition fails.
    let used: Option<u64> = c
        .query_row(
            "INSERT INTO usage_counters (org_id, period, used, expires_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (org_id, period) DO UPDATE SET used = used + excluded.used, \
             expires_at = max(expires_at, excluded.expires_at) \
             WHERE ?5 IS NULL OR usage_counters.used + excluded.used <= ?5 RETURNING used",
            params![org_id.as_str(), period.as_str(), sat_i64(cost), ms(expires_at), hard_limit.map(sat_i64)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(match used {
        Some(used) => UsageIncrement::Counted { used },
        None => UsageIncrement::LimitReached { used: current(c)? },
    })
}

/// A queue message to add in the same transaction as a counter increment.
pub(crate) struct HeldMessage {
    pub queue: QueueName,
    pub message: QueueMessage,
    /// When it becomes visible if nobody completes it first (unix ms).
    pub visible_at_ms: i64,
    pub enqueued_at_ms: i64,
}

impl SqliteStore {
    /// `add_usage`, and when the call is counted, `held` added to the queue table of this file,
    /// in one transaction: both or neither survive a crash. The queue's tables must exist in
    /// this file (`SqliteQueue::open` on the same path creates them).
    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    pub(crate) async fn add_usage_holding(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        cost: u64,
        hard_limit: Option<u64>,
        expires_at: DateTime<Utc>,
        held: HeldMessage,
    ) -> Result<UsageIncrement, StoreError> {
        let (org_id, period) = (org_id.clone(), period.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = increment_usage(&tx, &org_id, &period, cost, hard_limit, expires_at)?;
            if let UsageIncrement::Counted { .. } = outcome {
                let m = &held.message;
                tx.execute(
                    crate::queue::INSERT_MESSAGE,
                    params![held.queue.as_str(), m.id, m.body, held.visible_at_ms, held.enqueued_at_ms],
                )?;
            }
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }
}

#[async_trait]
impl UsageCounter for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period, cost = cost, hard_limit = ?hard_limit), err(level = "debug"))]
    async fn add_usage(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        cost: u64,
        hard_limit: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> Result<UsageIncrement, StoreError> {
        let (org_id, period) = (org_id.clone(), period.clone());
        self.call(move |c| increment_usage(c, &org_id, &period, cost, hard_limit, expires_at)).await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage(&self, org_id: &Id, period: &PeriodKey) -> Result<u64, StoreError> {
        let (org_id, period) = (org_id.clone(), period.clone());
        self.call(move |c| counter_value(c, &org_id, &period)).await
    }
}

#[async_trait]
impl UsageLog for SqliteStore {
    // The event's IP stays out of the span.
    #[tracing::instrument(skip_all, fields(event_id = %event.id, org_id = %event.org_id), err(level = "debug"))]
    async fn record_usage(&self, event: &UsageEvent, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let event = event.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO usage_logs ({LOG_COLS}, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    event.id,
                    event.org_id.as_str(),
                    event.key_id.as_str(),
                    event.endpoint_id.as_str(),
                    event.method,
                    event.path,
                    event.status,
                    event.latency_ms,
                    event.cost_units,
                    event.ip,
                    ms(event.timestamp),
                    event.period.as_str(),
                    ms(expires_at),
                ],
            )?;
            if inserted == 0 {
                return Ok(false);
            }
            add_to_aggregate(&tx, &event, Granularity::Hour)?;
            add_to_aggregate(&tx, &event, Granularity::Day)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn query_usage(
        &self,
        query: &UsageLogQuery,
        now: DateTime<Utc>,
    ) -> Result<(Vec<UsageEvent>, Option<String>), StoreError> {
        let query = query.clone();
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.page_size();
        self.call(move |c| {
            // Only the filters given go into the SQL, so SQLite can use the (org_id, ts, id)
            // and (ts, id) indexes.
            let mut sql = format!("SELECT {LOG_COLS} FROM usage_logs WHERE expires_at > ?");
            let mut args: Vec<Value> = vec![Value::Integer(ms(now))];
            let mut filter = |clause: &str, v: Value| {
                sql.push_str(" AND ");
                sql.push_str(clause);
                args.push(v);
            };
            if let Some(id) = &query.org_id {
                filter("org_id = ?", Value::Text(id.as_str().to_string()));
            }
            if let Some(id) = &query.key_id {
                filter("key_id = ?", Value::Text(id.as_str().to_string()));
            }
            if let Some(id) = &query.endpoint_id {
                filter("endpoint_id = ?", Value::Text(id.as_str().to_string()));
            }
            if let Some(status) = query.status {
                filter("status = ?", Value::Integer(i64::from(status)));
            }
            if let Some(from) = query.from {
                filter("ts >= ?", Value::Integer(ms(from)));
            }
            if let Some(to) = query.to {
                filter("ts < ?", Value::Integer(ms(to)));
            }
            if let Some((ts, id)) = after {
                // Row-value comparison: strictly after the previous page's last (ts, id).
                filter("(ts, id) < (?, ?)", Value::Integer(ts));
                args.push(Value::Text(id));
            }
            // One more than the page: whether it exists says if there is a next page.
            sql.push_str(" ORDER BY ts DESC, id DESC LIMIT ?");
            args.push(Value::Integer(i64::from(limit) + 1));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), event_from_row)?;
            let mut page = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() > limit as usize {
                page.truncate(limit as usize);
                page.last().map(encode_cursor)
            } else {
                None
            };
            Ok((page, next))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %query.org_id, granularity = query.granularity.as_str()), err(level = "debug"))]
    async fn usage_aggregates(&self, query: &AggregateQuery) -> Result<Vec<UsageAggregate>, StoreError> {
        let query = query.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {AGG_COLS} FROM usage_aggregates WHERE org_id = ?1 AND granularity = ?2 \
                 AND bucket_start >= ?3 AND bucket_start < ?4 ORDER BY bucket_start, key_id, endpoint_id"
            ))?;
            let rows = stmt.query_map(
                params![query.org_id.as_str(), query.granularity.as_str(), ms(query.from), ms(query.to)],
                aggregate_from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

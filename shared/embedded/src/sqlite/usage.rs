//! `UsageCounter` and `UsageLog`.

use super::{
    decode_time_id_cursor, get_enum, get_id, get_opt_id, get_ts, get_with, ms, time_id_cursor, DbError, SqliteStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Transaction, TransactionBehavior};
use std::collections::BTreeSet;
use tollgate_domain::usage::LATENCY_BOUNDS_MS;
use tollgate_domain::{
    aggregates_of, last_use_per_key, AggregateQuery, Granularity, Id, PeriodKey, QueueMessage, QueueName, StoreError,
    StoredEnum, UsageAggregate, UsageCharge, UsageCounter, UsageEvent, UsageIncrement, UsageLog, UsageLogQuery,
    UsageRecord, UsageRollup, UsageSource,
};

/// Counts do not go past `i64::MAX` in SQLite; a u64 above it saturates.
pub(super) fn sat_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get_u64(r: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    r.get(idx)
}

/// The cursor of the page after `last`.
fn encode_cursor(last: &UsageEvent) -> String {
    time_id_cursor(last.timestamp, &last.id)
}

const LOG_COLS: &str =
    "id, org_id, key_id, endpoint_id, method, path, status, latency_ms, cost_units, ip, ts, period, \
                        project_id, source, metadata";

/// Columns 0..=14 as in `LOG_COLS`. `metadata` is JSON text.
fn event_from_row(r: &Row<'_>) -> rusqlite::Result<UsageEvent> {
    let metadata: Option<String> = r.get(14)?;
    Ok(UsageEvent {
        id: r.get(0)?,
        org_id: get_id(r, 1)?,
        key_id: get_id(r, 2)?,
        project_id: get_opt_id(r, 12)?,
        source: get_enum(r, 13, UsageSource::parse)?,
        endpoint_id: get_id(r, 3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        status: r.get(6)?,
        latency_ms: r.get(7)?,
        cost_units: r.get(8)?,
        ip: r.get(9)?,
        timestamp: get_ts(r, 10)?,
        period: PeriodKey::from_string(r.get::<_, String>(11)?),
        metadata: match metadata {
            Some(_) => Some(get_with(r, 14, |s| serde_json::from_str(&s))?),
            None => None,
        },
    })
}

/// The aggregate columns, the latency histogram as one column per bucket (`lb0`..`lb12`).
const AGG_COLS: &str = "org_id, key_id, endpoint_id, granularity, bucket_start, count, cost_units, \
                        status_2xx, status_4xx, status_5xx, latency_sum_ms, \
                        lb0, lb1, lb2, lb3, lb4, lb5, lb6, lb7, lb8, lb9, lb10, lb11, lb12";

/// The first histogram column in `AGG_COLS`.
const FIRST_BUCKET_COL: usize = 11;

/// Columns as in `AGG_COLS`.
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
        latency_buckets: (0..LATENCY_BOUNDS_MS.len())
            .map(|i| get_u64(r, FIRST_BUCKET_COL + i))
            .collect::<rusqlite::Result<_>>()?,
    })
}

/// Adds `agg` (a batch's merged counts) to the stored aggregate of its bucket, creating it:
/// one upsert, the histogram added column by column.
pub(super) fn add_aggregate(tx: &Transaction<'_>, agg: &UsageAggregate) -> Result<(), DbError> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO usage_aggregates ({AGG_COLS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24) \
         ON CONFLICT (org_id, granularity, bucket_start, key_id, endpoint_id) DO UPDATE SET \
         count = count + excluded.count, cost_units = cost_units + excluded.cost_units, \
         status_2xx = status_2xx + excluded.status_2xx, status_4xx = status_4xx + excluded.status_4xx, \
         status_5xx = status_5xx + excluded.status_5xx, latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, \
         lb0 = lb0 + excluded.lb0, lb1 = lb1 + excluded.lb1, lb2 = lb2 + excluded.lb2, lb3 = lb3 + excluded.lb3, \
         lb4 = lb4 + excluded.lb4, lb5 = lb5 + excluded.lb5, lb6 = lb6 + excluded.lb6, lb7 = lb7 + excluded.lb7, \
         lb8 = lb8 + excluded.lb8, lb9 = lb9 + excluded.lb9, lb10 = lb10 + excluded.lb10, \
         lb11 = lb11 + excluded.lb11, lb12 = lb12 + excluded.lb12"
    ))?;
    let mut values: Vec<Value> = vec![
        Value::Text(agg.org_id.as_str().to_string()),
        Value::Text(agg.key_id.as_str().to_string()),
        Value::Text(agg.endpoint_id.as_str().to_string()),
        Value::Text(agg.granularity.as_str().to_string()),
        Value::Integer(ms(agg.bucket_start)),
    ];
    let counts = [agg.count, agg.cost_units, agg.status_2xx, agg.status_4xx, agg.status_5xx, agg.latency_sum_ms];
    values.extend(counts.iter().chain(&agg.latency_buckets).map(|&v| Value::Integer(sat_i64(v))));
    stmt.execute(params_from_iter(values))?;
    Ok(())
}

/// Inserts each event's log entry unless its id is there already; adds the new ones, merged
/// in memory, to their aggregates. The caller holds the write transaction.
fn record_batch(tx: &Transaction<'_>, records: &[&UsageRecord]) -> Result<Vec<bool>, DbError> {
    let mut inserted = Vec::with_capacity(records.len());
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT OR IGNORE INTO usage_logs ({LOG_COLS}, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
        ))?;
        for UsageRecord { event, expires_at } in records.iter().copied() {
            let n = insert.execute(params![
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
                event.project_id.as_ref().map(Id::as_str),
                event.source.as_str(),
                event.metadata.as_ref().map(serde_json::Value::to_string),
                ms(*expires_at),
            ])?;
            inserted.push(n > 0);
        }
    }
    let new_events: Vec<&UsageEvent> =
        records.iter().zip(&inserted).filter(|(_, &new)| new).map(|(r, _)| &r.event).collect();
    for agg in aggregates_of(new_events.iter().copied()) {
        add_aggregate(tx, &agg)?;
    }
    super::metrics::add_rollup(tx, &UsageRollup::of(new_events))?;
    Ok(inserted)
}

/// The counter's value (0 if none).
fn counter_value(c: &rusqlite::Connection, org_id: &Id, period: &PeriodKey) -> Result<u64, DbError> {
    Ok(stored_counter(c, org_id, period)?.unwrap_or(0))
}

/// The counter's value, if it exists.
fn stored_counter(c: &rusqlite::Connection, org_id: &Id, period: &PeriodKey) -> Result<Option<u64>, DbError> {
    Ok(c.prepare_cached("SELECT used FROM usage_counters WHERE org_id = ?1 AND period = ?2")?
        .query_row(params![org_id.as_str(), period.as_str()], |r| r.get(0))
        .optional()?)
}

/// A quota counter as a write transaction has charged it so far.
struct CounterEntry {
    org_id: Id,
    period: PeriodKey,
    /// Its value: stored, plus what this transaction counted.
    used: u64,
    /// Its row exists (else it is inserted when written).
    stored: bool,
    /// Set once a charge was counted on it: the latest expiry the counted charges asked for.
    charged_until: Option<DateTime<Utc>>,
}

/// A rate window as a write transaction has counted it so far.
struct WindowEntry {
    bucket: String,
    /// The stored or counted window: (start, calls in it); `None` while the bucket has none.
    window: Option<(i64, u64)>,
    /// A call was counted in it: it is to be written.
    counted: bool,
}

/// The quota counters and rate windows one write transaction charges, each read once and
/// decided in memory, then written once ([`ChargeBook::write`]): a group commit of many calls
/// on one key costs two reads and a few writes, not four statements per call. Each charge
/// keeps its own exact decision, in order: the caller holds the write transaction from the
/// first read to the write, so nothing else moves these rows meanwhile.
///
/// A transaction charges few distinct counters and windows (the calls that arrived together),
/// so they are kept in short lists, searched in order.
#[derive(Default)]
struct ChargeBook {
    counters: Vec<CounterEntry>,
    windows: Vec<WindowEntry>,
}

impl ChargeBook {
    /// `charge`'s decision, after the charges before it: the rate window first (a full window
    /// changes nothing), then the quota (`used + cost <= hard_limit`), then the window counts
    /// the call.
    fn charge(&mut self, tx: &rusqlite::Connection, charge: &UsageCharge) -> Result<UsageIncrement, DbError> {
        let UsageCharge { org_id, period, cost, hard_limit, expires_at, rate } = charge;
        if let Some(rate) = rate {
            // A window that is already newer (another call's clock read a later minute) is the
            // one this call counts in: windows only move forward, as on DynamoDB.
            let in_window = match self.window(tx, &rate.bucket)?.window {
                Some((start, calls)) if start >= rate.window_start => calls,
                _ => 0,
            };
            if in_window >= u64::from(rate.limit) {
                return Ok(UsageIncrement::RateLimited { used: self.counter(tx, org_id, period)?.used });
            }
        }
        let counter = self.counter(tx, org_id, period)?;
        if hard_limit.is_some_and(|limit| counter.used.saturating_add(*cost) > limit) {
            return Ok(UsageIncrement::LimitReached { used: counter.used });
        }
        counter.used = counter.used.saturating_add(*cost);
        counter.charged_until = Some(counter.charged_until.map_or(*expires_at, |until| until.max(*expires_at)));
        let used = counter.used;
        if let Some(rate) = rate {
            let entry = self.window(tx, &rate.bucket)?;
            entry.window = Some(match entry.window {
                Some((start, calls)) if start >= rate.window_start => (start, calls + 1),
                // An older window is replaced: only the newest is kept per bucket.
                _ => (rate.window_start, 1),
            });
            entry.counted = true;
        }
        Ok(UsageIncrement::Counted { used })
    }

    /// Writes the counters and windows that counted a call.
    fn write(self, tx: &rusqlite::Connection) -> Result<(), DbError> {
        for counter in self.counters {
            let Some(until) = counter.charged_until else { continue };
            let (org_id, period, used) = (counter.org_id.as_str(), counter.period.as_str(), sat_i64(counter.used));
            if !counter.stored {
                tx.prepare_cached(
                    "INSERT INTO usage_counters (org_id, period, used, expires_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![org_id, period, used, ms(until)])?;
                continue;
            }
            tx.prepare_cached("UPDATE usage_counters SET used = ?3 WHERE org_id = ?1 AND period = ?2")?
                .execute(params![org_id, period, used])?;
            // A later expiry moves the counter's forward. Not in the statement above: setting
            // `expires_at` there rewrites its index entry, one more page written.
            tx.prepare_cached(
                "UPDATE usage_counters SET expires_at = ?3 WHERE org_id = ?1 AND period = ?2 AND expires_at < ?3",
            )?
            .execute(params![org_id, period, ms(until)])?;
        }
        for entry in self.windows {
            let (true, Some((start, calls))) = (entry.counted, entry.window) else { continue };
            tx.prepare_cached(
                "INSERT INTO rate_windows (bucket, window_start, used) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (bucket) DO UPDATE SET window_start = excluded.window_start, used = excluded.used",
            )?
            .execute(params![entry.bucket, start, sat_i64(calls)])?;
        }
        Ok(())
    }

    /// The counter of `org_id` and `period`, read on first use.
    fn counter(
        &mut self,
        tx: &rusqlite::Connection,
        org_id: &Id,
        period: &PeriodKey,
    ) -> Result<&mut CounterEntry, DbError> {
        find_or_read(
            &mut self.counters,
            |c| c.org_id == *org_id && c.period == *period,
            || {
                let stored = stored_counter(tx, org_id, period)?;
                Ok(CounterEntry {
                    org_id: org_id.clone(),
                    period: period.clone(),
                    used: stored.unwrap_or(0),
                    stored: stored.is_some(),
                    charged_until: None,
                })
            },
        )
    }

    /// The rate window of `bucket`, read on first use.
    fn window(&mut self, tx: &rusqlite::Connection, bucket: &str) -> Result<&mut WindowEntry, DbError> {
        find_or_read(
            &mut self.windows,
            |w| w.bucket == bucket,
            || {
                let window = tx
                    .prepare_cached("SELECT window_start, used FROM rate_windows WHERE bucket = ?1")?
                    .query_row(params![bucket], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                Ok(WindowEntry { bucket: bucket.to_string(), window, counted: false })
            },
        )
    }
}

/// The entry of `entries` that `is` picks, or else the one `read` makes, appended.
fn find_or_read<T>(
    entries: &mut Vec<T>,
    is: impl Fn(&T) -> bool,
    read: impl FnOnce() -> Result<T, DbError>,
) -> Result<&mut T, DbError> {
    let index = match entries.iter().position(is) {
        Some(index) => index,
        None => {
            entries.push(read()?);
            entries.len() - 1
        }
    };
    Ok(&mut entries[index])
}

/// A proxied call's usage event, outcome not known yet, held on the usage queue in the same
/// transaction as its charge: its outcome's recording deletes it; if that never comes (the
/// process stopped mid-call), it becomes visible at `visible_at_ms` and the usage worker
/// records it as it is (status 0).
pub(crate) struct HeldMessage {
    pub message: QueueMessage,
    /// When it becomes visible if its outcome is not recorded first (unix ms).
    pub visible_at_ms: i64,
    pub enqueued_at_ms: i64,
}

/// What a counted charge keeps of its calls.
pub(crate) enum ChargedEvents {
    /// A proxied call whose outcome is not known yet (`CallMeter::count`).
    Held(HeldMessage),
    /// Calls reported with their outcome (`CallMeter::count_batch`): recorded with the
    /// charge.
    Complete { records: Vec<UsageRecord>, paid_at_provider: bool },
}

/// One charge in a group commit, with the events it keeps when it is counted.
pub(crate) struct MeteredCharge {
    pub charge: UsageCharge,
    pub events: ChargedEvents,
}

/// A counted call's outcome in a group commit: its final event, recorded in place of the
/// held one (`CallMeter::record_outcome`).
pub(crate) struct CallOutcome {
    pub record: UsageRecord,
    pub paid_at_provider: bool,
}

/// What a group commit did.
pub(crate) struct GroupCommitted {
    /// Each charge's decision, in order.
    pub increments: Vec<UsageIncrement>,
    /// Events recorded now (log entries and aggregates).
    pub recorded: usize,
    /// The organizations at the payment provider and the periods with events recorded now
    /// (their metered units are to be reported).
    pub billable: BTreeSet<(Id, PeriodKey)>,
}

/// Marks a key used at a time (org_id, key_id, unix ms), unless it was used later already.
/// Shared with `ApiKeyRepository::mark_api_key_used`.
pub(super) const MARK_KEY_USED: &str = "UPDATE api_keys SET last_used_at = ?3 \
     WHERE org_id = ?1 AND id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)";

impl SqliteStore {
    /// Records `outcomes` in one transaction, blocking the calling thread: run it on the
    /// meter's writer thread (`call_blocking`). As [`commit_group`] without charges.
    #[tracing::instrument(level = "debug", skip_all, fields(outcomes = outcomes.len()), err(level = "debug"))]
    pub(crate) fn commit_outcomes(&self, outcomes: &[CallOutcome]) -> Result<GroupCommitted, StoreError> {
        self.call_blocking(|c| commit_group(c, &[], outcomes))
    }
}

/// Counts `charges` in one transaction on `conn` (taken with [`SqliteStore::lock_inline`]):
/// the call meter's group of calls waiting to be counted. As [`commit_group`] without
/// outcomes.
#[tracing::instrument(level = "debug", skip_all, fields(charges = charges.len()), err(level = "debug"))]
pub(crate) fn commit_charges(
    conn: &mut rusqlite::Connection,
    charges: &[MeteredCharge],
) -> Result<GroupCommitted, StoreError> {
    commit_group(conn, charges, &[]).map_err(DbError::logged)
}

/// A group commit of the call meter, in one write transaction:
/// 1. `outcomes`: each held event still waiting is deleted from the usage queue and its final
///    event recorded (one whose hold ran out first was delivered to the usage worker as it
///    was, which records it: nothing is recorded twice);
/// 2. each charge in order, with its own exact decision; a counted one's held event goes on
///    the usage queue (an id already queued is skipped, not an error), a counted batch's
///    complete events are recorded;
/// 3. the recording: log entries (once per id), aggregates and the metrics rollup merged in
///    memory, and each key's last use.
///
/// All or nothing: on an error no charge is counted and nothing is recorded. The queue's
/// tables must exist in this file (`SqliteQueue` on the same file creates them).
fn commit_group(
    c: &mut rusqlite::Connection,
    charges: &[MeteredCharge],
    outcomes: &[CallOutcome],
) -> Result<GroupCommitted, DbError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // (record, paid at the provider) of every event to record.
    let mut to_record: Vec<(&UsageRecord, bool)> = Vec::with_capacity(outcomes.len());
    if !outcomes.is_empty() {
        let mut release = tx.prepare_cached(crate::queue::DELETE_HELD)?;
        for CallOutcome { record, paid_at_provider } in outcomes {
            if release.execute(params![QueueName::Usage.as_str(), record.event.id])? > 0 {
                to_record.push((record, *paid_at_provider));
            }
        }
    }
    let mut increments = Vec::with_capacity(charges.len());
    let mut book = ChargeBook::default();
    for MeteredCharge { charge, events } in charges {
        let outcome = book.charge(&tx, charge)?;
        if let UsageIncrement::Counted { .. } = outcome {
            match events {
                ChargedEvents::Held(held) => {
                    let m = &held.message;
                    tx.prepare_cached(crate::queue::INSERT_HELD)?.execute(params![
                        QueueName::Usage.as_str(),
                        m.id,
                        m.body,
                        held.visible_at_ms,
                        held.enqueued_at_ms
                    ])?;
                }
                ChargedEvents::Complete { records, paid_at_provider } => {
                    to_record.extend(records.iter().map(|r| (r, *paid_at_provider)));
                }
            }
        }
        increments.push(outcome);
    }
    book.write(&tx)?;
    let records: Vec<&UsageRecord> = to_record.iter().map(|(r, _)| *r).collect();
    let inserted = record_batch(&tx, &records)?;
    let recorded_now: Vec<(&UsageEvent, bool)> =
        to_record.iter().zip(&inserted).filter(|(_, &new)| new).map(|((r, paid), _)| (&r.event, *paid)).collect();
    let billable =
        recorded_now.iter().filter(|(_, paid)| *paid).map(|(e, _)| (e.org_id.clone(), e.period.clone())).collect();
    let last_used = last_use_per_key(recorded_now.iter().map(|(e, _)| *e));
    if !last_used.is_empty() {
        let mut mark = tx.prepare_cached(MARK_KEY_USED)?;
        for ((org_id, key_id), at) in last_used {
            mark.execute(params![org_id.as_str(), key_id.as_str(), ms(at)])?;
        }
    }
    tx.commit()?;
    Ok(GroupCommitted { increments, recorded: recorded_now.len(), billable })
}

#[async_trait]
impl UsageCounter for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %charge.org_id, period = %charge.period, cost = charge.cost, hard_limit = ?charge.hard_limit), err(level = "debug"))]
    async fn charge(&self, charge: &UsageCharge) -> Result<UsageIncrement, StoreError> {
        let charge = charge.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut book = ChargeBook::default();
            let outcome = book.charge(&tx, &charge)?;
            book.write(&tx)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period), err(level = "debug"))]
    async fn usage(&self, org_id: &Id, period: &PeriodKey) -> Result<u64, StoreError> {
        let (org_id, period) = (org_id.clone(), period.clone());
        self.call(move |c| counter_value(c, &org_id, &period)).await
    }
}

#[async_trait]
impl UsageLog for SqliteStore {
    #[tracing::instrument(skip_all, fields(events = records.len()), err(level = "debug"))]
    async fn record_usage_batch(&self, records: &[UsageRecord]) -> Result<Vec<bool>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let records = records.to_vec();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = record_batch(&tx, &records.iter().collect::<Vec<_>>())?;
            tx.commit()?;
            Ok(inserted)
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
        let after = query.cursor.as_deref().map(decode_time_id_cursor).transpose()?;
        let limit = query.page_size();
        self.call(move |c| {
            // Only the filters given go into the SQL, so SQLite can use the (org_id, ts, id),
            // (org_id, project_id, ts, id) and (ts, id) indexes.
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
            if let Some(id) = &query.project_id {
                filter("project_id = ?", Value::Text(id.as_str().to_string()));
            }
            if let Some(source) = query.source {
                filter("source = ?", Value::Text(source.as_str().to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::RateWindow;
    use UsageIncrement::{Counted, LimitReached, RateLimited};

    /// (org, cost, hard limit, rate window (bucket, start, limit), expiry in ms) of each
    /// charge, and its decision.
    type Step = (&'static str, u64, Option<u64>, Option<(&'static str, i64, u32)>, i64, UsageIncrement);

    const STEPS: [Step; 12] = [
        ("org_a", 2, Some(5), Some(("key_a", 600, 3)), 2_000, Counted { used: 2 }),
        ("org_a", 2, Some(5), Some(("key_a", 600, 3)), 1_000, Counted { used: 4 }),
        ("org_b", 7, None, None, 2_000, Counted { used: 7 }),
        // Over the quota: refused, and the window does not count it.
        ("org_a", 2, Some(5), Some(("key_a", 600, 3)), 9_000, LimitReached { used: 4 }),
        ("org_a", 1, Some(5), Some(("key_a", 600, 3)), 3_000, Counted { used: 5 }),
        // The window is full (3 calls).
        ("org_a", 0, Some(5), Some(("key_a", 600, 3)), 9_000, RateLimited { used: 5 }),
        ("org_b", 1, None, Some(("key_b", 600, 1)), 2_000, Counted { used: 8 }),
        ("org_b", 1, None, Some(("key_b", 600, 1)), 2_000, RateLimited { used: 8 }),
        // A newer minute replaces the window; a call whose clock reads the older one then
        // counts in the newer.
        ("org_b", 1, None, Some(("key_b", 660, 1)), 2_000, Counted { used: 9 }),
        ("org_b", 1, None, Some(("key_b", 600, 1)), 2_000, RateLimited { used: 9 }),
        // Over the limit on its own: no counter is created.
        ("org_c", 6, Some(5), None, 2_000, LimitReached { used: 0 }),
        ("org_c", 5, Some(5), None, 4_000, Counted { used: 5 }),
    ];

    fn charge_of(step: &Step) -> UsageCharge {
        let (org, cost, hard_limit, rate, expires_ms, _) = *step;
        UsageCharge {
            org_id: Id::from_string(org),
            period: PeriodKey::from_string("2026-12"),
            cost,
            hard_limit,
            expires_at: DateTime::from_timestamp_millis(expires_ms).unwrap(),
            rate: rate.map(|(bucket, window_start, limit)| RateWindow { bucket: bucket.into(), window_start, limit }),
        }
    }

    /// The counters (org, used, expiry) and the rate windows (bucket, start, calls).
    async fn rows(store: &SqliteStore) -> (Vec<(String, i64, i64)>, Vec<(String, i64, i64)>) {
        store
            .call(|c| {
                let read = |sql: &str| -> rusqlite::Result<Vec<(String, i64, i64)>> {
                    c.prepare(sql)?.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect()
                };
                Ok((
                    read("SELECT org_id, used, expires_at FROM usage_counters ORDER BY org_id")?,
                    read("SELECT bucket, window_start, used FROM rate_windows ORDER BY bucket")?,
                ))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_group_decides_each_charge_in_order_as_one_transaction_per_charge_would() {
        let grouped = SqliteStore::open_in_memory().unwrap();
        let charges: Vec<MeteredCharge> = STEPS
            .iter()
            .map(|step| MeteredCharge {
                charge: charge_of(step),
                events: ChargedEvents::Complete { records: Vec::new(), paid_at_provider: false },
            })
            .collect();
        let committed = grouped.call(move |c| commit_group(c, &charges, &[])).await.unwrap();
        let expected: Vec<UsageIncrement> = STEPS.iter().map(|step| step.5).collect();
        assert_eq!(committed.increments, expected);

        let one_by_one = SqliteStore::open_in_memory().unwrap();
        for step in &STEPS {
            assert_eq!(one_by_one.charge(&charge_of(step)).await.unwrap(), step.5, "{step:?}");
        }
        let stored = rows(&grouped).await;
        assert_eq!(stored, rows(&one_by_one).await);
        assert_eq!(
            stored,
            (
                // Each counter keeps the latest expiry of its counted charges.
                vec![("org_a".into(), 5, 3_000), ("org_b".into(), 9, 2_000), ("org_c".into(), 5, 4_000)],
                vec![("key_a".into(), 600, 3), ("key_b".into(), 660, 1)],
            )
        );
    }
}

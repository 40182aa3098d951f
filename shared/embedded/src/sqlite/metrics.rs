//! `MetricsRollup`: the daily metrics rollup (`daily_signups`, `org_daily_usage`, and the
//! platform's own rows of `usage_aggregates`), written inside the transactions of
//! `record_usage_batch` and `create_user`.

use super::usage::{add_aggregate, sat_i64};
use super::{get_id, get_ts, ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row, Transaction};
use tollgate_domain::{DayCount, Granularity, MetricsRollup, OrgCalls, StoreError, UsageRollup};

/// Adds a batch's rollup: the platform's aggregates and the organizations' days. The caller
/// holds the write transaction that records the batch.
pub(super) fn add_rollup(tx: &Transaction<'_>, rollup: &UsageRollup) -> Result<(), DbError> {
    for agg in &rollup.platform {
        add_aggregate(tx, agg)?;
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO org_daily_usage (day, org_id, calls, cost_units) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (day, org_id) DO UPDATE SET calls = calls + excluded.calls, \
         cost_units = cost_units + excluded.cost_units",
    )?;
    for day in &rollup.org_days {
        upsert.execute(params![ms(day.day), day.org_id.as_str(), sat_i64(day.calls), sat_i64(day.cost_units)])?;
    }
    Ok(())
}

/// Counts one signup on the day of `at`. The caller holds the transaction creating the user.
pub(super) fn count_signup(tx: &Transaction<'_>, at: DateTime<Utc>) -> Result<(), DbError> {
    tx.prepare_cached(
        "INSERT INTO daily_signups (day, count) VALUES (?1, 1) ON CONFLICT (day) DO UPDATE SET count = count + 1",
    )?
    .execute([ms(Granularity::Day.bucket_start(at))])?;
    Ok(())
}

fn day_count(r: &Row<'_>) -> rusqlite::Result<DayCount> {
    Ok(DayCount { day: get_ts(r, 0)?, count: r.get(1)? })
}

#[async_trait]
impl MetricsRollup for SqliteStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn signups_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT day, count FROM daily_signups WHERE day >= ?1 AND day < ?2 ORDER BY day")?;
            let rows = stmt.query_map(params![ms(from), ms(to)], day_count)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn active_orgs_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT day, COUNT(*) FROM org_daily_usage WHERE day >= ?1 AND day < ?2 AND calls > 0 \
                 GROUP BY day ORDER BY day",
            )?;
            let rows = stmt.query_map(params![ms(from), ms(to)], day_count)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
    async fn top_orgs_by_calls(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrgCalls>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT org_id, SUM(calls) AS total, SUM(cost_units) FROM org_daily_usage \
                 WHERE day >= ?1 AND day < ?2 GROUP BY org_id ORDER BY total DESC, org_id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![ms(from), ms(to), limit], |r| {
                Ok(OrgCalls { org_id: get_id(r, 0)?, calls: r.get(1)?, cost_units: r.get(2)? })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

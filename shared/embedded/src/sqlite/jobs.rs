//! `JobRunRepository` (the record of each scheduled job run) and `Housekeeping` (the
//! retention pass that deletes what has expired).

use super::{get_enum, get_opt_ts, get_ts, get_with, ms, opt_ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Row, Transaction, TransactionBehavior};
use tollgate_domain::{
    Housekeeping, JobName, JobRun, JobRunQuery, JobRunRepository, JobRunStatus, JobTrigger, PruneReport, StoreError,
    StoredEnum,
};

const RUN_COLS: &str = "job, slot, trigger, status, at, started_at, finished_at, report, error, expires_at";

/// Columns 0..=9 as in `RUN_COLS`.
fn run_from_row(r: &Row<'_>) -> rusqlite::Result<JobRun> {
    Ok(JobRun {
        job: get_with(r, 0, |s| JobName::parse(&s).ok_or_else(|| format!("unknown job {s:?}")))?,
        slot: r.get(1)?,
        trigger: get_enum(r, 2, JobTrigger::parse)?,
        status: get_enum(r, 3, JobRunStatus::parse)?,
        at: get_ts(r, 4)?,
        started_at: get_ts(r, 5)?,
        finished_at: get_opt_ts(r, 6)?,
        report: r
            .get::<_, Option<String>>(7)?
            .map(|s| serde_json::from_str(&s).map_err(|e| super::bad_value(7, format!("report is not JSON ({e})"))))
            .transpose()?,
        error: r.get(8)?,
        expires_at: get_ts(r, 9)?,
    })
}

fn report_json(run: &JobRun) -> Option<String> {
    run.report.as_ref().map(serde_json::Value::to_string)
}

#[async_trait]
impl JobRunRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(job = %run.job, slot = %run.slot), err(level = "debug"))]
    async fn claim_job_run(&self, run: &JobRun, stale_before: DateTime<Utc>) -> Result<bool, StoreError> {
        let run = run.clone();
        self.call(move |c| {
            // One statement: insert, or take over a run of the slot that is still `running`
            // but started before `stale_before` (it crashed); otherwise change nothing.
            let changed = c.execute(
                &format!(
                    "INSERT INTO job_runs ({RUN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                     ON CONFLICT (job, slot) DO UPDATE SET trigger = excluded.trigger, status = excluded.status, \
                     at = excluded.at, started_at = excluded.started_at, finished_at = excluded.finished_at, \
                     report = excluded.report, error = excluded.error, expires_at = excluded.expires_at \
                     WHERE job_runs.status = ?11 AND job_runs.started_at < ?12"
                ),
                params![
                    run.job.as_str(),
                    run.slot,
                    run.trigger.as_str(),
                    run.status.as_str(),
                    ms(run.at),
                    ms(run.started_at),
                    opt_ms(run.finished_at),
                    report_json(&run),
                    run.error,
                    ms(run.expires_at),
                    JobRunStatus::Running.as_str(),
                    ms(stale_before),
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(job = %run.job, slot = %run.slot, status = run.status.as_str()), err(level = "debug"))]
    async fn finish_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        let run = run.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE job_runs SET status = ?3, finished_at = ?4, report = ?5, error = ?6 \
                 WHERE job = ?1 AND slot = ?2",
                params![
                    run.job.as_str(),
                    run.slot,
                    run.status.as_str(),
                    opt_ms(run.finished_at),
                    report_json(&run),
                    run.error,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("job run").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(job = ?query.job, limit = query.limit), err(level = "debug"))]
    async fn list_job_runs(&self, query: &JobRunQuery) -> Result<Vec<JobRun>, StoreError> {
        let limit = query.page_size();
        let job = query.job.map(JobName::as_str);
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RUN_COLS} FROM job_runs WHERE (?1 IS NULL OR job = ?1) \
                 ORDER BY started_at DESC, job DESC, slot DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![job, i64::from(limit)], run_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

/// Deletes up to `batch` rows of `table` (a rowid table) matching `expired` (with `?1` = now)
/// and returns how many went. The inner SELECT walks the expiry index, so a pass costs the
/// rows it deletes, not the table.
fn delete_batch(tx: &Transaction<'_>, table: &str, expired: &str, now: i64, batch: i64) -> Result<u64, DbError> {
    let n = tx.execute(
        &format!("DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {expired} LIMIT ?2)"),
        params![now, batch],
    )?;
    Ok(n as u64)
}

/// Expired refresh tokens, and each family whose last token that was. A family lives as
/// long as one of its tokens (the rotated ones too, kept for reuse detection until they
/// expire), so a revoked family goes when its tokens have expired. Returns the tokens removed.
fn prune_sessions(tx: &Transaction<'_>, now: i64, batch: i64) -> Result<u64, DbError> {
    let families: Vec<String> = tx
        .prepare(
            "DELETE FROM refresh_tokens WHERE rowid IN \
             (SELECT rowid FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2) RETURNING family_id",
        )?
        .query_map(params![now, batch], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut drop_family = tx.prepare_cached(
        "DELETE FROM refresh_families WHERE id = ?1 \
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?1)",
    )?;
    for family in &families {
        drop_family.execute([family])?;
    }
    Ok(families.len() as u64)
}

#[async_trait]
impl Housekeeping for SqliteStore {
    /// One write transaction per call, at most `batch` rows per kind: a pass holds the write
    /// lock briefly, and the `retention` job calls again while a kind removed a full batch.
    /// `sessions` counts refresh tokens (each family goes with its last one); usage
    /// aggregates carry no expiry here, so `usage_aggregates` is always 0.
    #[tracing::instrument(skip_all, fields(batch), err(level = "debug"))]
    async fn prune_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<PruneReport, StoreError> {
        let (now, batch) = (ms(now), i64::from(batch));
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // An item is expired once `expires_at <= now`: the reads treat it as gone then.
            let report = PruneReport {
                usage_logs: delete_batch(&tx, "usage_logs", "expires_at <= ?1", now, batch)?,
                usage_aggregates: 0,
                sessions: prune_sessions(&tx, now, batch)?,
                // A used token is never read again. Two index walks (an OR of the two would
                // scan the table).
                action_tokens: tx.execute(
                    "DELETE FROM action_tokens WHERE rowid IN \
                     (SELECT rowid FROM action_tokens WHERE expires_at <= ?1 \
                      UNION SELECT rowid FROM action_tokens WHERE used_at IS NOT NULL LIMIT ?2)",
                    params![now, batch],
                )? as u64,
                // WITHOUT ROWID tables: by primary key.
                claims: tx.execute(
                    "DELETE FROM idempotency WHERE (scope, key) IN \
                     (SELECT scope, key FROM idempotency WHERE expires_at <= ?1 LIMIT ?2)",
                    params![now, batch],
                )? as u64,
                attempt_counters: tx.execute(
                    "DELETE FROM attempt_counters WHERE (bucket, window_start) IN \
                     (SELECT bucket, window_start FROM attempt_counters WHERE expires_at <= ?1 LIMIT ?2)",
                    params![now, batch],
                )? as u64,
                job_runs: delete_batch(&tx, "job_runs", "expires_at <= ?1", now, batch)?,
                by_ttl: false,
            };
            tx.commit()?;
            Ok(report)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::MIGRATIONS;
    use rusqlite::Connection;

    /// Every delete of the retention pass finds its rows through an index, not a table scan.
    #[test]
    fn the_retention_deletes_use_an_index() {
        let c = Connection::open_in_memory().unwrap();
        for m in MIGRATIONS {
            c.execute_batch(m).unwrap();
        }
        let selects = [
            "SELECT rowid FROM usage_logs WHERE expires_at <= ?1 LIMIT ?2",
            "SELECT rowid FROM refresh_tokens WHERE expires_at <= ?1 LIMIT ?2",
            "SELECT rowid FROM action_tokens WHERE expires_at <= ?1 \
             UNION SELECT rowid FROM action_tokens WHERE used_at IS NOT NULL LIMIT ?2",
            "SELECT scope, key FROM idempotency WHERE expires_at <= ?1 LIMIT ?2",
            "SELECT bucket, window_start FROM attempt_counters WHERE expires_at <= ?1 LIMIT ?2",
            "SELECT rowid FROM job_runs WHERE expires_at <= ?1 LIMIT ?2",
            "SELECT 1 FROM refresh_tokens WHERE family_id = ?1",
        ];
        for sql in selects {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let args = vec![1_i64; stmt.parameter_count()];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(plan.iter().all(|step| !step.starts_with("SCAN")), "{sql}: {plan:?}");
        }
    }
}

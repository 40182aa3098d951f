//! `AttemptCounter`, `AuditLog` and `IdempotencyStore`.

use super::{get_id, get_opt_id, get_ts, get_with, ms, opt_ms, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use tollgate_domain::{AttemptCounter, AuditEvent, AuditLog, AuditQuery, IdempotencyStore, StoreError};

#[async_trait]
impl AttemptCounter for SqliteStore {
    // Buckets contain IPs and account ids: kept out of the span.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn add_attempt(
        &self,
        bucket: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let bucket = bucket.to_string();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Housekeeping with no clock: a counter that expired before this window started has
            // expired now too (windows start in the past), so it may go.
            tx.execute("DELETE FROM attempt_counters WHERE expires_at < ?1", [ms(window_start)])?;
            let count: i64 = tx.query_row(
                "INSERT INTO attempt_counters (bucket, window_start, count, expires_at) VALUES (?1, ?2, 1, ?3) \
                 ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1, \
                 expires_at = max(expires_at, excluded.expires_at) RETURNING count",
                params![bucket, ms(window_start), ms(expires_at)],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<u32, StoreError> {
        let bucket = bucket.to_string();
        self.call(move |c| {
            let count: Option<i64> = c
                .query_row(
                    "SELECT count FROM attempt_counters WHERE bucket = ?1 AND window_start = ?2",
                    params![bucket, ms(window_start)],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(count.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)))
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn release_attempt(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError> {
        let bucket = bucket.to_string();
        self.call(move |c| {
            c.execute(
                "UPDATE attempt_counters SET count = count - 1 WHERE bucket = ?1 AND window_start = ?2 AND count > 0",
                params![bucket, ms(window_start)],
            )?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn clear_attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError> {
        let bucket = bucket.to_string();
        self.call(move |c| {
            c.execute(
                "DELETE FROM attempt_counters WHERE bucket = ?1 AND window_start = ?2",
                params![bucket, ms(window_start)],
            )?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    #[tracing::instrument(skip_all, fields(action = %event.action, audit_id = %event.id), err(level = "debug"))]
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let event = event.clone();
        self.call(move |c| {
            c.execute(
                "INSERT INTO audit_log (id, at, actor_id, org_id, action, target, ip, details) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    event.id.as_str(),
                    ms(event.at),
                    event.actor_id.as_ref().map(|i| i.as_str()),
                    event.org_id.as_ref().map(|i| i.as_str()),
                    event.action,
                    event.target,
                    event.ip,
                    event.details.to_string(),
                ],
            )
            .map_err(super::exists_on_conflict("audit event"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let query = query.clone();
        let limit = query.page_size();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at, actor_id, org_id, action, target, ip, details FROM audit_log \
                 WHERE (?1 IS NULL OR org_id = ?1) AND (?2 IS NULL OR at < ?2) \
                 ORDER BY at DESC, rowid DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![query.org_id.as_ref().map(|i| i.as_str()), opt_ms(query.before), i64::from(limit)],
                |r| {
                    Ok(AuditEvent {
                        id: get_id(r, 0)?,
                        at: get_ts(r, 1)?,
                        actor_id: get_opt_id(r, 2)?,
                        org_id: get_opt_id(r, 3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        ip: r.get(6)?,
                        details: get_with(r, 7, |s| serde_json::from_str(&s))?,
                    })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    #[tracing::instrument(skip_all, fields(scope = %scope, key = %key), err(level = "debug"))]
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.call(move |c| {
            // One statement: insert, or take over a claim that has expired; otherwise change nothing.
            let changed = c.execute(
                "INSERT INTO idempotency (scope, key, claimed_at, expires_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (scope, key) DO UPDATE SET claimed_at = excluded.claimed_at, expires_at = excluded.expires_at \
                 WHERE idempotency.expires_at <= excluded.claimed_at",
                params![scope, key, ms(now), ms(expires_at)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(scope = %scope, key = %key), err(level = "debug"))]
    async fn is_claimed(&self, scope: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (scope, key) = (scope.to_string(), key.to_string());
        self.call(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM idempotency WHERE scope = ?1 AND key = ?2 AND expires_at > ?3)",
                params![scope, key, ms(now)],
                |r| r.get(0),
            )?)
        })
        .await
    }
}

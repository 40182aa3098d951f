//! `AttemptCounter`, `AuditLog` and `IdempotencyStore`.

use super::{decode_time_id_cursor, get_id, get_opt_id, get_ts, get_with, ms, time_id_cursor, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};
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
                "INSERT INTO audit_log (id, at, actor_id, org_id, action, target, ip, user_agent, details) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    event.id.as_str(),
                    ms(event.at),
                    event.actor_id.as_ref().map(|i| i.as_str()),
                    event.org_id.as_ref().map(|i| i.as_str()),
                    event.action,
                    event.target,
                    event.ip,
                    event.user_agent,
                    event.details.to_string(),
                ],
            )
            .map_err(super::exists_on_conflict("audit event"))?;
            Ok(())
        })
        .await
    }

    /// Only the filters given go into the SQL, so SQLite can pick the (org_id, at, id),
    /// (actor_id, at, id), (action, at, id) or (at, id) index. The cursor is the last
    /// event's `<at ms>:<id>`.
    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn audit_page(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
        let query = query.clone();
        let after = query.cursor.as_deref().map(decode_time_id_cursor).transpose()?;
        let limit = query.page_size() as usize;
        self.call(move |c| {
            let mut sql = String::from(
                "SELECT id, at, actor_id, org_id, action, target, ip, user_agent, details FROM audit_log WHERE 1",
            );
            let mut args: Vec<Value> = Vec::new();
            let mut filter = |clause: &str, values: Vec<Value>| {
                sql.push_str(" AND ");
                sql.push_str(clause);
                args.extend(values);
            };
            let text = |s: &str| Value::Text(s.to_string());
            if let Some(org) = &query.org_id {
                filter("org_id = ?", vec![text(org.as_str())]);
            }
            if let Some(actor) = &query.actor_id {
                filter("actor_id = ?", vec![text(actor.as_str())]);
            }
            match query.action.as_deref().map(|a| (a, a.strip_suffix('*'))) {
                None => {}
                // A prefix: compared as text, so `%` or `_` in it mean nothing special.
                Some((_, Some(prefix))) => filter("substr(action, 1, length(?)) = ?", vec![text(prefix), text(prefix)]),
                Some((exact, None)) => filter("action = ?", vec![text(exact)]),
            }
            if let Some(kind) = &query.resource_type {
                // `AuditEvent::resource_type`: the part before the last dot, or the whole
                // action when it has none.
                filter(
                    "((substr(action, 1, length(?) + 1) = ? || '.' AND instr(substr(action, length(?) + 2), '.') = 0) \
                     OR (action = ? AND instr(action, '.') = 0))",
                    vec![text(kind), text(kind), text(kind), text(kind)],
                );
            }
            if let Some(target) = &query.target {
                filter("target = ?", vec![text(target)]);
            }
            if let Some(from) = query.from {
                filter("at >= ?", vec![Value::Integer(ms(from))]);
            }
            if let Some(before) = query.before {
                filter("at < ?", vec![Value::Integer(ms(before))]);
            }
            if let Some((at, id)) = after {
                // Row-value comparison: strictly after the previous page's last (at, id).
                filter("(at, id) < (?, ?)", vec![Value::Integer(at), Value::Text(id)]);
            }
            // One more than the page: whether it exists says if there is a next page.
            sql.push_str(" ORDER BY at DESC, id DESC LIMIT ?");
            args.push(Value::Integer(limit as i64 + 1));
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(AuditEvent {
                    id: get_id(r, 0)?,
                    at: get_ts(r, 1)?,
                    actor_id: get_opt_id(r, 2)?,
                    org_id: get_opt_id(r, 3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    ip: r.get(6)?,
                    user_agent: r.get(7)?,
                    details: get_with(r, 8, |s| serde_json::from_str(&s))?,
                })
            })?;
            let mut page = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|e| time_id_cursor(e.at, e.id.as_str()))
            } else {
                None
            };
            Ok((page, next))
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

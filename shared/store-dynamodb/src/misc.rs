//! `AttemptCounter`, `AuditLog` and `IdempotencyStore`.

use crate::item::{key, n, s, time, time_str, ttl, Item, ItemBuilder, Reader, GSI1, TTL};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::{AttemptCounter, AuditEvent, AuditLog, AuditQuery, IdempotencyStore, StoreError};

/// Listing the audit log without an organization walks back this many day partitions at most.
pub(crate) const AUDIT_DAYS_SCANNED: i64 = 90;

fn audit_item(e: &AuditEvent) -> Item {
    let b = ItemBuilder::new(audit_day_pk(&audit_day(e.at)), audit_sk(e.at, &e.id))
        .s("id", e.id.as_str())
        .time("at", e.at)
        .opt_s("actor_id", e.actor_id.as_ref().map(|i| i.as_str()))
        .opt_s("org_id", e.org_id.as_ref().map(|i| i.as_str()))
        .s("action", &e.action)
        .opt_s("target", e.target.as_deref())
        .opt_s("ip", e.ip.as_deref())
        .opt_s("user_agent", e.user_agent.as_deref())
        .s("details", e.details.to_string());
    match &e.org_id {
        Some(org) => b.gsi1(org_audit_gsi_pk(org), audit_sk(e.at, &e.id)).build(),
        None => b.build(),
    }
}

fn decode_audit(item: &Item) -> Result<AuditEvent, StoreError> {
    let r = Reader::new(item, "audit event");
    Ok(AuditEvent {
        id: r.id("id")?,
        at: r.time("at")?,
        actor_id: r.opt_id("actor_id")?,
        org_id: r.opt_id("org_id")?,
        action: r.string("action")?,
        target: r.opt_string("target")?,
        ip: r.opt_string("ip")?,
        user_agent: r.opt_string("user_agent")?,
        details: serde_json::from_str(r.s("details")?)
            .map_err(|e| StoreError::Corrupt(format!("audit event item: `details` is not JSON ({e})")))?,
    })
}

/// Which partition an audit listing reads: an organization's (on GSI1) or one UTC day's.
enum AuditPartition {
    Org(String),
    Day(String),
}

/// A cursor this store issued: an audit event's sort key, `<RFC 3339 time>#<id>`.
fn check_audit_cursor(cursor: &str) -> Result<(&str, DateTime<Utc>), StoreError> {
    match cursor.split_once('#') {
        Some((at, id)) if !id.is_empty() => match DateTime::parse_from_rfc3339(at) {
            Ok(t) => Ok((cursor, t.with_timezone(&Utc))),
            Err(_) => Err(StoreError::InvalidCursor),
        },
        _ => Err(StoreError::InvalidCursor),
    }
}

/// What one audit listing reads: its sort-key range and filters, and what it has found.
struct AuditWalk<'a> {
    query: &'a AuditQuery,
    /// Sort keys strictly below this (the cursor, or `before`).
    hi: Option<String>,
    /// Sort keys at or above this (`from`).
    lo: Option<String>,
    /// Whether filters beyond the key range apply: then Queries read ahead.
    filtered: bool,
    /// One more than the page.
    want: usize,
    found: Vec<(String, AuditEvent)>,
}

impl DynamoStore {
    /// Reads one partition newest first within the walk's key range, keeping the events that
    /// match, until the walk has what it wants or the partition ends.
    async fn audit_partition(&self, partition: AuditPartition, walk: &mut AuditWalk<'_>) -> Result<(), StoreError> {
        /// Events read per Query when filters may skip most of them.
        const READ_AHEAD: usize = 200;
        let (index, pk_attr, sk_attr, pk) = match partition {
            AuditPartition::Org(pk) => (Some(GSI1), "GSI1PK", "GSI1SK", pk),
            AuditPartition::Day(pk) => (None, "PK", "SK", pk),
        };
        let condition = match walk.hi {
            Some(_) => format!("{pk_attr} = :pk AND {sk_attr} < :hi"),
            None => format!("{pk_attr} = :pk"),
        };
        let mut start = None;
        while walk.found.len() < walk.want {
            let remaining = walk.want - walk.found.len();
            let per_query = if walk.filtered { remaining.max(READ_AHEAD) } else { remaining };
            let mut q = self
                .query()
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(&condition)
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
                .limit(i32::try_from(per_query.min(1000)).unwrap_or(1000))
                .set_exclusive_start_key(start.take());
            if let Some(hi) = &walk.hi {
                q = q.expression_attribute_values(":hi", s(hi));
            }
            let page = q.send().await.map_err(|e| sdk_error("Query(audit)", e))?;
            for item in page.items() {
                let event = decode_audit(item)?;
                let sk = audit_sk(event.at, &event.id);
                // Newest first: once below `from`, so is everything after it.
                if walk.lo.as_ref().is_some_and(|lo| &sk < lo) {
                    return Ok(());
                }
                if walk.query.matches(&event) {
                    walk.found.push((sk, event));
                    if walk.found.len() >= walk.want {
                        return Ok(());
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl AttemptCounter for DynamoStore {
    #[tracing::instrument(skip_all, fields(bucket = %bucket, window_start = %window_start), err(level = "debug"))]
    async fn add_attempt(
        &self,
        bucket: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let (pk, sk) = attempt_key(bucket, window_start);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression("ADD #n :one SET expires_at = :exp, #ttl = :ttl")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", time(expires_at))
            .expression_attribute_values(":ttl", ttl(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem(attempts)", e))?;
        let item = out.attributes.unwrap_or_default();
        let count = Reader::new(&item, "attempt counter").u64_or_zero("n")?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(skip_all, fields(bucket = %bucket, window_start = %window_start), err(level = "debug"))]
    async fn attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<u32, StoreError> {
        let (pk, sk) = attempt_key(bucket, window_start);
        let Some(item) = self.get("GetItem(attempts)", key(pk, sk)).await? else {
            return Ok(0);
        };
        let count = Reader::new(&item, "attempt counter").u64_or_zero("n")?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    #[tracing::instrument(skip_all, fields(bucket = %bucket, window_start = %window_start), err(level = "debug"))]
    async fn release_attempt(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError> {
        let (pk, sk) = attempt_key(bucket, window_start);
        // Only an existing counter above zero (ADD on a missing item would create it at -1);
        // otherwise there is nothing to release.
        self.update_if(
            "UpdateItem(release attempt)",
            key(pk, sk),
            "ADD #n :minus_one",
            "#n > :zero",
            Params::new().name("#n", "n").value(":minus_one", n(-1)).value(":zero", n(0)),
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(bucket = %bucket, window_start = %window_start), err(level = "debug"))]
    async fn clear_attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError> {
        let (pk, sk) = attempt_key(bucket, window_start);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem(attempts)", e))?;
        Ok(())
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    #[tracing::instrument(skip_all, fields(audit_id = %event.id, action = %event.action), err(level = "debug"))]
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(audit_item(event)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem(audit)", e))?;
        Ok(())
    }

    /// With an organization: its GSI1 partition. Without: day partitions newest first, from
    /// the cursor's or `before`'s day (or tomorrow by the wall clock, which tolerates clock
    /// skew between writers) back to `from`'s day, at most [`AUDIT_DAYS_SCANNED`] of them.
    /// The key range is `[from, min(before, cursor))` on `<at>#<id>` sort keys (fixed-width
    /// times, so the string order is the time order and ties go by id); the other filters
    /// are `AuditQuery::matches` in code, reading ahead until the page is full. The cursor
    /// is the last event's sort key.
    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn audit_page(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
        let limit = query.page_size() as usize;
        let cursor = query.cursor.as_deref().map(check_audit_cursor).transpose()?;
        // `<at>#<id>` < `<before>` exactly when at < before, and >= `<from>` when at >= from.
        let hi = match (query.before.map(time_str), cursor.map(|(c, _)| c.to_string())) {
            (Some(b), Some(c)) => Some(b.min(c)),
            (b, c) => b.or(c),
        };
        let lo = query.from.map(time_str);
        if let (Some(lo), Some(hi)) = (&lo, &hi) {
            if lo >= hi {
                return Ok((Vec::new(), None));
            }
        }
        let filtered = query.actor_id.is_some()
            || query.action.is_some()
            || query.resource_type.is_some()
            || query.target.is_some()
            || (query.org_id.is_none() && query.from.is_some());
        let mut walk = AuditWalk { query, hi, lo, filtered, want: limit + 1, found: Vec::new() };
        if let Some(org) = &query.org_id {
            self.audit_partition(AuditPartition::Org(org_audit_gsi_pk(org)), &mut walk).await?;
        } else {
            let newest = match (query.before, cursor.map(|(_, at)| at)) {
                (Some(b), Some(c)) => b.min(c),
                (b, c) => b.or(c).unwrap_or_else(|| Utc::now() + Duration::days(1)),
            };
            let oldest_day = query.from.map(audit_day);
            for days_back in 0..AUDIT_DAYS_SCANNED {
                let day = audit_day(newest - Duration::days(days_back));
                if walk.found.len() >= walk.want || oldest_day.as_ref().is_some_and(|oldest| &day < oldest) {
                    break;
                }
                self.audit_partition(AuditPartition::Day(audit_day_pk(&day)), &mut walk).await?;
            }
        }
        let mut found = walk.found;
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|(sk, _)| sk.clone())
        } else {
            None
        };
        Ok((found.into_iter().map(|(_, e)| e).collect(), next))
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(scope = %scope, key = %key), err(level = "debug"))]
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = idempotency_key(scope, key);
        let item =
            ItemBuilder::new(pk, sk).time("claimed_at", now).time("expires_at", expires_at).ttl(expires_at).build();
        // An expired claim may still be there (TTL deletes late): it counts as absent.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR expires_at <= :now")
            .expression_attribute_values(":now", time(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("PutItem(idempotency)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(scope = %scope, key = %claim_key), err(level = "debug"))]
    async fn is_claimed(&self, scope: &str, claim_key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (pk, sk) = idempotency_key(scope, claim_key);
        let Some(item) = self.get("GetItem(idempotency)", key(pk, sk)).await? else {
            return Ok(false);
        };
        Ok(Reader::new(&item, "idempotency").time("expires_at")? > now)
    }
}

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
        details: serde_json::from_str(r.s("details")?)
            .map_err(|e| StoreError::Corrupt(format!("audit event item: `details` is not JSON ({e})")))?,
    })
}

/// Which partition an audit listing reads: an organization's (on GSI1) or one UTC day's.
enum AuditPartition {
    Org(String),
    Day(String),
}

impl DynamoStore {
    /// Newest-first events of one Query (table or GSI1), following pages until `limit`.
    async fn audit_page(
        &self,
        partition: AuditPartition,
        before: Option<DateTime<Utc>>,
        limit: usize,
        out: &mut Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        let (index, pk_attr, sk_attr, pk) = match partition {
            AuditPartition::Org(pk) => (Some(GSI1), "GSI1PK", "GSI1SK", pk),
            AuditPartition::Day(pk) => (None, "PK", "SK", pk),
        };
        let condition = match before {
            Some(_) => format!("{pk_attr} = :pk AND {sk_attr} < :before"),
            None => format!("{pk_attr} = :pk"),
        };
        let mut start = None;
        while out.len() < limit {
            let remaining = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let mut q = self
                .query()
                .set_index_name(index.map(str::to_string))
                .key_condition_expression(&condition)
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
                .limit(remaining)
                .set_exclusive_start_key(start.take());
            if let Some(b) = before {
                // `<ts>#<id>` < `<before>` exactly when ts < before: same-width time strings.
                q = q.expression_attribute_values(":before", s(time_str(b)));
            }
            let page = q.send().await.map_err(|e| sdk_error("Query(audit)", e))?;
            for item in page.items() {
                out.push(decode_audit(item)?);
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

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, limit = query.limit), err(level = "debug"))]
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let limit = query.page_size() as usize;
        let mut out = Vec::new();
        if let Some(org) = &query.org_id {
            self.audit_page(AuditPartition::Org(org_audit_gsi_pk(org)), query.before, limit, &mut out).await?;
            return Ok(out);
        }
        // Day partitions, newest first. Without a cursor the walk starts tomorrow (wall
        // clock), which tolerates clock skew between writers; see docs/dynamodb.md.
        let start = query.before.unwrap_or_else(|| Utc::now() + Duration::days(1));
        for days_back in 0..AUDIT_DAYS_SCANNED {
            if out.len() >= limit {
                break;
            }
            let day = audit_day(start - Duration::days(days_back));
            self.audit_page(AuditPartition::Day(audit_day_pk(&day)), query.before, limit, &mut out).await?;
        }
        Ok(out)
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

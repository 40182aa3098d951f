//! `WebhookRepository`: endpoints (`webhook_endpoints`) and deliveries
//! (`webhook_deliveries`). The endpoint limit is a count and an insert in one `BEGIN
//! IMMEDIATE` transaction; a delivery's insert is `INSERT OR IGNORE` on its derived id; an
//! attempt is recorded by an `UPDATE ... WHERE attempts = <as read>`.

use super::{exists_on_conflict, get_enum, get_id, get_opt_ts, get_ts, get_with, ms, opt_ms, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{
    DeliveryAttempt, DeliveryStatus, Id, StoreError, StoredEnum, WebhookDelivery, WebhookEndpoint, WebhookRepository,
};

const ENDPOINT_COLS: &str = "id, org_id, url, events, description, secret, created_at, updated_at";
const DELIVERY_COLS: &str = "id, endpoint_id, org_id, event_id, event_type, body, status, attempts, \
    last_status_code, last_error, last_latency_ms, next_attempt_at, created_at, updated_at, attempt_log";

fn endpoint_from_row(r: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: get_id(r, 0)?,
        org_id: get_id(r, 1)?,
        url: r.get(2)?,
        events: get_with(r, 3, |s| serde_json::from_str::<Vec<String>>(&s))?,
        description: r.get(4)?,
        secret: r.get(5)?,
        created_at: get_ts(r, 6)?,
        updated_at: get_ts(r, 7)?,
    })
}

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: get_id(r, 0)?,
        endpoint_id: get_id(r, 1)?,
        org_id: get_id(r, 2)?,
        event_id: r.get(3)?,
        event_type: r.get(4)?,
        body: r.get(5)?,
        status: get_enum(r, 6, DeliveryStatus::parse)?,
        attempts: r.get(7)?,
        last_status_code: r.get(8)?,
        last_error: r.get(9)?,
        last_latency_ms: r.get(10)?,
        next_attempt_at: get_opt_ts(r, 11)?,
        created_at: get_ts(r, 12)?,
        updated_at: get_ts(r, 13)?,
        attempt_log: get_with(r, 14, |s| serde_json::from_str::<Vec<DeliveryAttempt>>(&s))?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

#[async_trait]
impl WebhookRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %endpoint.org_id, webhook_id = %endpoint.id, max_endpoints), err(level = "debug"))]
    async fn create_webhook(&self, endpoint: &WebhookEndpoint, max_endpoints: u32) -> Result<(), StoreError> {
        let e = endpoint.clone();
        self.call(move |c| {
            // The count and the insert share one write transaction: the limit is exact.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let count: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = ?1")?
                .query_row([e.org_id.as_str()], |r| r.get(0))?;
            if count >= i64::from(max_endpoints) {
                return Err(StoreError::LimitReached("webhooks").into());
            }
            tx.prepare_cached(&format!(
                "INSERT INTO webhook_endpoints ({ENDPOINT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                e.id.as_str(),
                e.org_id.as_str(),
                e.url,
                json(&e.events),
                e.description,
                e.secret,
                ms(e.created_at),
                ms(e.updated_at),
            ])
            .map_err(exists_on_conflict("webhook"))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_webhooks(&self, org_id: &Id) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE org_id = ?1 ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([org_id.as_str()], endpoint_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %id), err(level = "debug"))]
    async fn get_webhook(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookEndpoint>, StoreError> {
        let (org_id, id) = (org_id.clone(), id.clone());
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE org_id = ?1 AND id = ?2"
            ))?
            .query_row([org_id.as_str(), id.as_str()], endpoint_from_row)
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %endpoint.org_id, webhook_id = %endpoint.id), err(level = "debug"))]
    async fn update_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let e = endpoint.clone();
        self.call(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE webhook_endpoints SET url = ?3, events = ?4, description = ?5, secret = ?6, \
                     updated_at = ?7 WHERE org_id = ?1 AND id = ?2",
                )?
                .execute(params![
                    e.org_id.as_str(),
                    e.id.as_str(),
                    e.url,
                    json(&e.events),
                    e.description,
                    e.secret,
                    ms(e.updated_at),
                ])?;
            if n == 0 {
                return Err(StoreError::NotFound("webhook").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %id), err(level = "debug"))]
    async fn delete_webhook(&self, org_id: &Id, id: &Id) -> Result<(), StoreError> {
        let (org_id, id) = (org_id.clone(), id.clone());
        self.call(move |c| {
            let n = c
                .prepare_cached("DELETE FROM webhook_endpoints WHERE org_id = ?1 AND id = ?2")?
                .execute([org_id.as_str(), id.as_str()])?;
            if n == 0 {
                return Err(StoreError::NotFound("webhook").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %delivery.org_id, webhook_id = %delivery.endpoint_id, delivery_id = %delivery.id), err(level = "debug"))]
    async fn create_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<bool, StoreError> {
        let d = delivery.clone();
        self.call(move |c| {
            let n = c
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO webhook_deliveries ({DELIVERY_COLS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ))?
                .execute(params![
                    d.id.as_str(),
                    d.endpoint_id.as_str(),
                    d.org_id.as_str(),
                    d.event_id,
                    d.event_type,
                    d.body,
                    d.status.as_str(),
                    d.attempts,
                    d.last_status_code,
                    d.last_error,
                    d.last_latency_ms,
                    opt_ms(d.next_attempt_at),
                    ms(d.created_at),
                    ms(d.updated_at),
                    json(&d.attempt_log),
                ])?;
            Ok(n == 1)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, delivery_id = %id), err(level = "debug"))]
    async fn get_webhook_delivery(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookDelivery>, StoreError> {
        let (org_id, id) = (org_id.clone(), id.clone());
        self.call(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE org_id = ?1 AND id = ?2"
            ))?
            .query_row([org_id.as_str(), id.as_str()], delivery_from_row)
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %endpoint_id, limit), err(level = "debug"))]
    async fn list_webhook_deliveries(
        &self,
        org_id: &Id,
        endpoint_id: &Id,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let (org_id, endpoint_id) = (org_id.clone(), endpoint_id.clone());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE endpoint_id = ?1 AND org_id = ?2 \
                 ORDER BY created_at DESC, id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![endpoint_id.as_str(), org_id.as_str(), limit], delivery_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
    async fn due_webhook_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 \
                 ORDER BY next_attempt_at, id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![ms(now), limit], delivery_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %delivery.id, attempts = delivery.attempts, read_attempts), err(level = "debug"))]
    async fn record_webhook_attempt(&self, delivery: &WebhookDelivery, read_attempts: u32) -> Result<(), StoreError> {
        let d = delivery.clone();
        self.call(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE webhook_deliveries SET status = ?3, attempts = ?4, last_status_code = ?5, \
                     last_error = ?6, last_latency_ms = ?7, next_attempt_at = ?8, updated_at = ?9, attempt_log = ?10 \
                     WHERE id = ?1 AND attempts = ?2",
                )?
                .execute(params![
                    d.id.as_str(),
                    read_attempts,
                    d.status.as_str(),
                    d.attempts,
                    d.last_status_code,
                    d.last_error,
                    d.last_latency_ms,
                    opt_ms(d.next_attempt_at),
                    ms(d.updated_at),
                    json(&d.attempt_log),
                ])?;
            if n == 1 {
                return Ok(());
            }
            let exists: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = ?1)")?
                .query_row([d.id.as_str()], |r| r.get(0))?;
            Err(if exists {
                StoreError::Conflict("webhook delivery")
            } else {
                StoreError::NotFound("webhook delivery")
            }
            .into())
        })
        .await
    }
}

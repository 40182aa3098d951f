//! `WebhookRepository` (see docs/dynamodb.md, "Webhooks").
//!
//! - An **endpoint** lives in its organization's partition (`ORG#<org>` / `WEBHOOK#<id>`),
//!   next to a count of the organization's endpoints (`WEBHOOKS`, attribute `n`): creation
//!   and deletion change the count in the same transaction, so the limit is exact with no
//!   read.
//! - A **delivery** lives in its endpoint's partition (`WEBHOOK#<endpoint>` /
//!   `DELIVERY#<created_at>#<id>`), so the endpoint's deliveries are one Query, newest first.
//!   Its id is claimed by a small item (`WHDELIVERY#<id>` / `CLAIM`, holding the delivery's
//!   sort key) written in the same transaction: a second delivery with the id (a
//!   redelivered event, created at another time) is refused by the claim.
//! - A **pending** delivery carries GSI1 keys `WHPENDING` / `<next_attempt_at>#<id>`, a
//!   sparse index partition of the deliveries waiting for an attempt: the retry job's Query
//!   reads only the due ones, oldest first. A finished delivery's GSI1 keys are removed.
//! - Deliveries and claims carry `ttl` (30 days after creation).

use crate::item::{key, n, s, time, time_str, ttl, Item, ItemBuilder, Reader, GSI1, GSI1PK, GSI1SK};
use crate::keys::org_pk;
use crate::ops::{backoff, sdk_error, Cancelled, Params, UpdateExpr, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::webhook::DELIVERY_RETENTION_DAYS;
use tollgate_domain::{
    DeliveryAttempt, DeliveryStatus, Id, StoreError, StoredEnum, WebhookDelivery, WebhookEndpoint, WebhookRepository,
};

/// Rounds of a transaction lost against concurrent ones.
const MAX_ATTEMPTS: u32 = 40;
/// Sort-key prefix of endpoint items in their organization's partition.
const WEBHOOK_PREFIX: &str = "WEBHOOK#";
/// The organization's count of endpoints (attribute `n`).
const WEBHOOK_COUNT_SK: &str = "WEBHOOKS";
/// Sort-key prefix of delivery items in their endpoint's partition.
const DELIVERY_PREFIX: &str = "DELIVERY#";
const CLAIM_SK: &str = "CLAIM";
/// GSI1 partition of the pending deliveries.
const PENDING_GSI_PK: &str = "WHPENDING";

fn endpoint_key(org_id: &Id, id: &Id) -> Item {
    key(org_pk(org_id), format!("{WEBHOOK_PREFIX}{id}"))
}
fn count_key(org_id: &Id) -> Item {
    key(org_pk(org_id), WEBHOOK_COUNT_SK)
}
fn deliveries_pk(endpoint_id: &Id) -> String {
    format!("{WEBHOOK_PREFIX}{endpoint_id}")
}
fn delivery_sk(d: &WebhookDelivery) -> String {
    format!("{DELIVERY_PREFIX}{}#{}", time_str(d.created_at), d.id)
}
fn claim_key(id: &Id) -> Item {
    key(format!("WHDELIVERY#{id}"), CLAIM_SK)
}
fn pending_gsi_sk(at: DateTime<Utc>, id: &Id) -> String {
    format!("{}#{id}", time_str(at))
}
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn endpoint_item(e: &WebhookEndpoint) -> Item {
    let (pk, sk) = (org_pk(&e.org_id), format!("{WEBHOOK_PREFIX}{}", e.id));
    ItemBuilder::new(pk, sk)
        .s("id", e.id.as_str())
        .s("org_id", e.org_id.as_str())
        .s("url", &e.url)
        .s("events", json(&e.events))
        .opt_s("description", e.description.as_deref())
        .s("secret", &e.secret)
        .time("created_at", e.created_at)
        .time("updated_at", e.updated_at)
        .build()
}

fn decode_endpoint(item: &Item) -> Result<WebhookEndpoint, StoreError> {
    let r = Reader::new(item, "webhook");
    Ok(WebhookEndpoint {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        url: r.string("url")?,
        events: r.opt_json("events")?.ok_or_else(|| StoreError::Corrupt("webhook item: no events".into()))?,
        description: r.opt_string("description")?,
        secret: r.string("secret")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn delivery_item(d: &WebhookDelivery) -> Item {
    let mut b = ItemBuilder::new(deliveries_pk(&d.endpoint_id), delivery_sk(d))
        .s("id", d.id.as_str())
        .s("endpoint_id", d.endpoint_id.as_str())
        .s("org_id", d.org_id.as_str())
        .s("event_id", &d.event_id)
        .s("event_type", &d.event_type)
        .s("body", &d.body)
        .s("status", d.status.as_str())
        .n("attempts", d.attempts)
        .opt_time("next_attempt_at", d.next_attempt_at)
        .time("created_at", d.created_at)
        .time("updated_at", d.updated_at)
        .s("attempt_log", json(&d.attempt_log))
        .ttl(d.created_at + Duration::days(DELIVERY_RETENTION_DAYS));
    if let Some(v) = d.last_status_code {
        b = b.n("last_status_code", v);
    }
    if let Some(v) = d.last_latency_ms {
        b = b.n("last_latency_ms", v);
    }
    b = b.opt_s("last_error", d.last_error.as_deref());
    if let (DeliveryStatus::Pending, Some(at)) = (d.status, d.next_attempt_at) {
        b = b.gsi1(PENDING_GSI_PK, pending_gsi_sk(at, &d.id));
    }
    b.build()
}

fn decode_delivery(item: &Item) -> Result<WebhookDelivery, StoreError> {
    let r = Reader::new(item, "webhook delivery");
    Ok(WebhookDelivery {
        id: r.id("id")?,
        endpoint_id: r.id("endpoint_id")?,
        org_id: r.id("org_id")?,
        event_id: r.string("event_id")?,
        event_type: r.string("event_type")?,
        body: r.string("body")?,
        status: r.parsed("status", DeliveryStatus::parse)?,
        attempts: r.num("attempts")?,
        last_status_code: r.opt_num("last_status_code")?,
        last_error: r.opt_string("last_error")?,
        last_latency_ms: r.opt_num("last_latency_ms")?,
        next_attempt_at: r.opt_time("next_attempt_at")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        attempt_log: r.opt_json::<Vec<DeliveryAttempt>>("attempt_log")?.unwrap_or_default(),
    })
}

#[async_trait]
impl WebhookRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %endpoint.org_id, webhook_id = %endpoint.id, max_endpoints), err(level = "debug"))]
    async fn create_webhook(&self, endpoint: &WebhookEndpoint, max_endpoints: u32) -> Result<(), StoreError> {
        if max_endpoints == 0 {
            return Err(StoreError::LimitReached("webhooks"));
        }
        for attempt in 0..MAX_ATTEMPTS {
            let count = self.tx_update(
                count_key(&endpoint.org_id),
                "ADD #n :one",
                Some("attribute_not_exists(#n) OR #n < :max"),
                Params::new().name("#n", "n").value(":one", n(1)).value(":max", n(max_endpoints)),
            )?;
            let put = self.tx_put(endpoint_item(endpoint), Some(NEW_ITEM), Params::new())?;
            match self.transact("TransactWriteItems(create_webhook)", vec![count, put]).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) => return Err(StoreError::LimitReached("webhooks")),
                Err(c) if c.failed(1) => return Err(StoreError::AlreadyExists("webhook")),
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("webhooks changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_webhooks(&self, org_id: &Id) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let items = self.query_prefix("Query(webhooks)", org_pk(org_id), WEBHOOK_PREFIX).await?;
        let mut out = items.iter().map(decode_endpoint).collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %id), err(level = "debug"))]
    async fn get_webhook(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.get("GetItem(webhook)", endpoint_key(org_id, id)).await?.as_ref().map(decode_endpoint).transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %endpoint.org_id, webhook_id = %endpoint.id), err(level = "debug"))]
    async fn update_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let (expr, p) = UpdateExpr::new()
            .set("url", s(&endpoint.url))
            .set("events", s(json(&endpoint.events)))
            .set_opt("description", endpoint.description.as_deref().map(s))
            .set("secret", s(&endpoint.secret))
            .set("updated_at", time(endpoint.updated_at))
            .build();
        let key = endpoint_key(&endpoint.org_id, &endpoint.id);
        if self.update_if("UpdateItem(webhook)", key, &expr, "attribute_exists(PK)", p).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound("webhook"))
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %id), err(level = "debug"))]
    async fn delete_webhook(&self, org_id: &Id, id: &Id) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let delete = self.tx_delete(endpoint_key(org_id, id), Some("attribute_exists(PK)"), Params::new())?;
            let count = self.tx_update(
                count_key(org_id),
                "ADD #n :minus",
                None,
                Params::new().name("#n", "n").value(":minus", n(-1)),
            )?;
            match self.transact("TransactWriteItems(delete_webhook)", vec![delete, count]).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) => return Err(StoreError::NotFound("webhook")),
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("webhooks changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %delivery.org_id, webhook_id = %delivery.endpoint_id, delivery_id = %delivery.id), err(level = "debug"))]
    async fn create_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<bool, StoreError> {
        let expires = delivery.created_at + Duration::days(DELIVERY_RETENTION_DAYS);
        let mut claim = claim_key(&delivery.id);
        claim.insert("org_id".into(), s(delivery.org_id.as_str()));
        claim.insert("endpoint_id".into(), s(delivery.endpoint_id.as_str()));
        claim.insert("delivery_sk".into(), s(delivery_sk(delivery)));
        claim.insert("ttl".into(), ttl(expires));
        for attempt in 0..MAX_ATTEMPTS {
            let items = vec![
                self.tx_put(claim.clone(), Some(NEW_ITEM), Params::new())?,
                self.tx_put(delivery_item(delivery), Some(NEW_ITEM), Params::new())?,
            ];
            match self.transact("TransactWriteItems(create_webhook_delivery)", items).await? {
                Ok(()) => return Ok(true),
                // The id is claimed: the delivery exists (created now or at another time).
                Err(c) if c.failed(0) || c.failed(1) => return Ok(false),
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("webhook delivery created concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, delivery_id = %id), err(level = "debug"))]
    async fn get_webhook_delivery(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookDelivery>, StoreError> {
        let Some(claim) = self.get("GetItem(webhook delivery claim)", claim_key(id)).await? else {
            return Ok(None);
        };
        let r = Reader::new(&claim, "webhook delivery claim");
        if r.s("org_id")? != org_id.as_str() {
            return Ok(None);
        }
        let key = key(deliveries_pk(&r.id("endpoint_id")?), r.string("delivery_sk")?);
        self.get("GetItem(webhook delivery)", key).await?.as_ref().map(decode_delivery).transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, webhook_id = %endpoint_id, limit), err(level = "debug"))]
    async fn list_webhook_deliveries(
        &self,
        org_id: &Id,
        endpoint_id: &Id,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(deliveries_pk(endpoint_id)))
            .expression_attribute_values(":prefix", s(DELIVERY_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query(webhook deliveries)", e))?;
        let mut deliveries = Vec::new();
        for item in out.items() {
            let d = decode_delivery(item)?;
            // Endpoint ids are unique: another organization's endpoint id has no deliveries
            // of this one, but the organization is checked all the same.
            if &d.org_id == org_id {
                deliveries.push(d);
            }
        }
        Ok(deliveries)
    }

    #[tracing::instrument(skip_all, fields(limit), err(level = "debug"))]
    async fn due_webhook_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // `<now>#~` sorts after every `<now>#<id>`: deliveries due at `now` exactly are in.
        let out = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk AND #sk <= :upto")
            .expression_attribute_names("#pk", GSI1PK)
            .expression_attribute_names("#sk", GSI1SK)
            .expression_attribute_values(":pk", s(PENDING_GSI_PK))
            .expression_attribute_values(":upto", s(format!("{}#~", time_str(now))))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query(due webhook deliveries)", e))?;
        let mut due = Vec::new();
        for item in out.items() {
            let d = decode_delivery(item)?;
            // The index is eventually consistent: a delivery finished a moment ago may still
            // be listed; the conditional record refuses a second attempt of it anyway.
            if d.status == DeliveryStatus::Pending && d.next_attempt_at.is_some_and(|t| t <= now) {
                due.push(d);
            }
        }
        Ok(due)
    }

    #[tracing::instrument(skip_all, fields(delivery_id = %delivery.id, attempts = delivery.attempts, read_attempts), err(level = "debug"))]
    async fn record_webhook_attempt(&self, delivery: &WebhookDelivery, read_attempts: u32) -> Result<(), StoreError> {
        let d = delivery;
        let mut update = UpdateExpr::new()
            .set("status", s(d.status.as_str()))
            .set("attempts", n(d.attempts))
            .set_opt("last_status_code", d.last_status_code.map(n))
            .set_opt("last_error", d.last_error.as_deref().map(s))
            .set_opt("last_latency_ms", d.last_latency_ms.map(n))
            .set_opt("next_attempt_at", d.next_attempt_at.map(time))
            .set("updated_at", time(d.updated_at))
            .set("attempt_log", s(json(&d.attempt_log)));
        update = match (d.status, d.next_attempt_at) {
            (DeliveryStatus::Pending, Some(at)) => {
                update.set(GSI1PK, s(PENDING_GSI_PK)).set(GSI1SK, s(pending_gsi_sk(at, &d.id)))
            }
            _ => update.remove(GSI1PK).remove(GSI1SK),
        };
        let (expr, p) = update.build();
        let p = p.name("#attempts", "attempts").value(":read", n(read_attempts));
        let key = key(deliveries_pk(&d.endpoint_id), delivery_sk(d));
        let condition = "attribute_exists(PK) AND #attempts = :read";
        if self.update_if("UpdateItem(webhook attempt)", key.clone(), &expr, condition, p).await? {
            return Ok(());
        }
        match self.get("GetItem(webhook delivery)", key).await? {
            Some(_) => Err(StoreError::Conflict("webhook delivery")),
            None => Err(StoreError::NotFound("webhook delivery")),
        }
    }
}

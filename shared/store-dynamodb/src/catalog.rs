//! `PlanRepository`, `SubscriptionRepository` and `EndpointRepository`: the catalog.
//!
//! - A plan is one item, listed through GSI1 (`PLANS`). Next to it, a counter item
//!   (`SUBSCRIBERS`, attribute `n`) counts the subscriptions that refer to the plan; every
//!   subscription write that adds or moves a reference updates it in the same transaction, so
//!   `delete_plan_if_unused` is one exact transaction (no scan, no race).
//! - A subscription is stored twice, always written together in one transaction: in its
//!   organization's partition (`SUBSCRIPTION`, the one-per-org constraint, listed through
//!   GSI1 `SUBS`) and under its id (`SUB#<id>`), so both lookups are one GetItem.
//! - An endpoint item plus a route item per (method, path), the uniqueness claim.

use crate::item::{key, n, s, time, time_str, Item, ItemBuilder, Reader, GSI1};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params, UpdateExpr, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tollgate_domain::{
    BillingType, Endpoint, EndpointRepository, Id, Period, PeriodKey, Plan, PlanRepository, PlanStatus, RevenueChange,
    StoreError, StoredEnum, Subscription, SubscriptionQuery, SubscriptionRepository, SubscriptionStatus,
};

/// Optimistic-concurrency rounds of the read-then-conditional-write operations.
const MAX_ATTEMPTS: u32 = 10;

// ---- plans ----

/// The mutable fields of a plan (everything but `id` and `created_at`), `None` = absent.
fn plan_fields(p: &Plan) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("name", Some(s(&p.name))),
        ("description", p.description.as_ref().map(s)),
        ("billing_type", Some(s(p.billing_type.as_str()))),
        ("price", Some(n(p.price))),
        ("currency", Some(s(&p.currency))),
        ("rate_limit", Some(n(p.rate_limit))),
        ("burst", p.burst.map(n)),
        ("monthly_limit", p.monthly_limit.map(n)),
        ("overage_price", p.overage_price.map(n)),
        ("retention_days", Some(n(p.retention_days))),
        ("max_api_keys", Some(n(p.max_api_keys))),
        ("max_projects", Some(n(p.max_projects))),
        ("features", Some(s(p.features.to_string()))),
        ("status", Some(s(p.status.as_str()))),
        ("billing", p.billing.as_ref().map(|b| s(json(b)))),
        ("updated_at", Some(time(p.updated_at))),
    ]
}

/// A small nested record as a JSON string attribute.
fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("plain records serialise")
}

fn plan_item(p: &Plan) -> Item {
    let mut b = ItemBuilder::new(plan_pk(&p.id), PLAN_SK)
        .s("id", p.id.as_str())
        .time("created_at", p.created_at)
        .gsi1(PLANS_GSI_PK, p.id.as_str());
    for (name, v) in plan_fields(p) {
        if let Some(v) = v {
            b = b.attr(name, v);
        }
    }
    b.build()
}

fn decode_plan(item: &Item) -> Result<Plan, StoreError> {
    let r = Reader::new(item, "plan");
    let id = r.id("id")?;
    let price = r.num("price")?;
    Ok(Plan {
        // Plans stored before projects existed have no `max_projects`.
        max_projects: match r.opt_num("max_projects")? {
            Some(max) => max,
            None => Plan::default_max_projects(&id, price),
        },
        id,
        name: r.string("name")?,
        description: r.opt_string("description")?,
        billing_type: r.parsed("billing_type", BillingType::parse)?,
        price,
        currency: r.string("currency")?,
        rate_limit: r.num("rate_limit")?,
        burst: r.opt_num("burst")?,
        monthly_limit: r.opt_num("monthly_limit")?,
        overage_price: r.opt_num("overage_price")?,
        retention_days: r.num("retention_days")?,
        max_api_keys: r.num("max_api_keys")?,
        features: serde_json::from_str(r.s("features")?)
            .map_err(|e| StoreError::Corrupt(format!("plan item: `features` is not JSON ({e})")))?,
        status: r.parsed("status", PlanStatus::parse)?,
        billing: r.opt_json("billing")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

// ---- subscriptions ----

fn with_sub_fields(b: ItemBuilder, sub: &Subscription) -> ItemBuilder {
    b.s("id", sub.id.as_str())
        .s("org_id", sub.org_id.as_str())
        .s("plan_id", sub.plan_id.as_str())
        .s("status", sub.status.as_str())
        .bool("cancel_at_period_end", sub.cancel_at_period_end)
        .opt_time("canceled_at", sub.canceled_at)
        .s("billing", json(&sub.billing))
        .time("created_at", sub.created_at)
        .time("updated_at", sub.updated_at)
}

/// The copy in the organization's partition (the one-per-org constraint; listed on GSI1).
fn org_sub_item(sub: &Subscription) -> Item {
    with_sub_fields(ItemBuilder::new(org_pk(&sub.org_id), SUBSCRIPTION_SK), sub)
        .gsi1(SUBS_GSI_PK, sub_gsi_sk(sub.created_at, &sub.id))
        .build()
}

/// A cursor this store issued: a `SUBS` sort key, `<RFC 3339 time>#<id>`.
fn check_sub_cursor(cursor: &str) -> Result<&str, StoreError> {
    let valid = cursor
        .split_once('#')
        .is_some_and(|(at, id)| !id.is_empty() && chrono::DateTime::parse_from_rfc3339(at).is_ok());
    if valid {
        Ok(cursor)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// The copy under the subscription's id.
fn id_sub_item(sub: &Subscription) -> Item {
    with_sub_fields(ItemBuilder::new(sub_pk(&sub.id), SUB_SK), sub).build()
}

fn decode_sub(item: &Item) -> Result<Subscription, StoreError> {
    let r = Reader::new(item, "subscription");
    Ok(Subscription {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        plan_id: r.id("plan_id")?,
        status: r.parsed("status", SubscriptionStatus::parse)?,
        cancel_at_period_end: r.bool("cancel_at_period_end")?,
        canceled_at: r.opt_time("canceled_at")?,
        billing: r.opt_json("billing")?.unwrap_or_default(),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

// ---- the revenue ledger ----

fn revenue_item(row: &RevenueChange) -> Item {
    ItemBuilder::new(revenue_pk(&PeriodKey::containing(row.at)), revenue_sk(row.at, &row.org_id))
        .s("org_id", row.org_id.as_str())
        .time("at", row.at)
        .n("mrr_before", row.mrr_before)
        .n("mrr_after", row.mrr_after)
        .s("currency", &row.currency)
        .opt_s("plan_before", row.plan_before.as_ref().map(|p| p.as_str()))
        .s("plan_after", row.plan_after.as_str())
        .build()
}

fn decode_revenue(item: &Item) -> Result<RevenueChange, StoreError> {
    let r = Reader::new(item, "revenue change");
    Ok(RevenueChange {
        org_id: r.id("org_id")?,
        at: r.time("at")?,
        mrr_before: r.num("mrr_before")?,
        mrr_after: r.num("mrr_after")?,
        currency: r.string("currency")?,
        plan_before: r.opt_id("plan_before")?,
        plan_after: r.id("plan_after")?,
    })
}

// ---- endpoints ----

fn endpoint_fields(e: &Endpoint) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("name", Some(s(&e.name))),
        ("description", e.description.as_ref().map(s)),
        ("method", Some(s(&e.method))),
        ("path", Some(s(&e.path))),
        ("upstream_url", Some(s(&e.upstream_url))),
        ("cost_units", Some(n(e.cost_units))),
        ("rate_limit", e.rate_limit.map(n)),
        ("public", Some(AttributeValue::Bool(e.public))),
        ("scope", e.scope.as_ref().map(s)),
        ("updated_at", Some(time(e.updated_at))),
    ]
}

fn endpoint_item(e: &Endpoint) -> Item {
    let mut b = ItemBuilder::new(endpoint_pk(&e.id), ENDPOINT_SK)
        .s("id", e.id.as_str())
        .time("created_at", e.created_at)
        .gsi1(ENDPOINTS_GSI_PK, e.id.as_str());
    for (name, v) in endpoint_fields(e) {
        if let Some(v) = v {
            b = b.attr(name, v);
        }
    }
    b.build()
}

fn decode_endpoint(item: &Item) -> Result<Endpoint, StoreError> {
    let r = Reader::new(item, "endpoint");
    Ok(Endpoint {
        id: r.id("id")?,
        name: r.string("name")?,
        description: r.opt_string("description")?,
        method: r.string("method")?,
        path: r.string("path")?,
        upstream_url: r.string("upstream_url")?,
        cost_units: r.num("cost_units")?,
        rate_limit: r.opt_num("rate_limit")?,
        public: r.bool("public")?,
        scope: r.opt_string("scope")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn route_item(e: &Endpoint) -> Item {
    ItemBuilder::new(route_pk(&e.method, &e.path), ROUTE_SK).s("endpoint_id", e.id.as_str()).build()
}

/// An UpdateItem expression writing `fields` (absent ones removed).
fn update_of(fields: Vec<(&'static str, Option<AttributeValue>)>) -> (String, Params) {
    fields.into_iter().fold(UpdateExpr::new(), |u, (name, v)| u.set_opt(name, v)).build()
}

impl DynamoStore {
    /// `ADD n :delta` on a plan's subscriber counter (created at 0 if needed).
    /// The writes of a ledger row (`RevenueChange::of_write`) for a subscription write, to go
    /// into the same transaction, or none. The plans are read first: a plan's price changing
    /// in between is a race we accept (the row then holds the price read a moment earlier).
    async fn tx_revenue_change(
        &self,
        before: Option<&Subscription>,
        after: &Subscription,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let old_plan = match before {
            Some(b) => self.get_plan(&b.plan_id).await?,
            None => None,
        };
        let new_plan = match (before, &old_plan) {
            (Some(b), Some(p)) if b.plan_id == after.plan_id => Some(p.clone()),
            _ => self.get_plan(&after.plan_id).await?,
        };
        let Some(row) = RevenueChange::of_write(before.map(|b| (b, old_plan.as_ref())), (after, new_plan.as_ref()))
        else {
            return Ok(Vec::new());
        };
        let month = PeriodKey::containing(row.at);
        Ok(vec![
            self.tx_put(revenue_item(&row), Some(NEW_ITEM), Params::new())?,
            self.tx_update(
                key(REVENUE_MONTHS_PK, REVENUE_MONTHS_SK),
                "ADD months :m",
                None,
                Params::new().value(":m", AttributeValue::Ss(vec![month.as_str().to_string()])),
            )?,
        ])
    }

    /// The ledger rows of one month partition with `at` in `[from, to)`, oldest first.
    async fn revenue_month(
        &self,
        month: &PeriodKey,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<RevenueChange>, StoreError> {
        // `<at>#...` sorts by time: the range is a key condition (`to` is exclusive, and
        // every key at `to` is greater than the bare time string).
        let q = self
            .query()
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(revenue_pk(month)))
            .expression_attribute_values(":from", s(time_str(from)))
            .expression_attribute_values(":to", s(time_str(to)));
        let rows = self.query_all("Query(revenue month)", q).await?;
        let mut out = rows.iter().map(decode_revenue).collect::<Result<Vec<_>, _>>()?;
        out.retain(|r| r.at >= from && r.at < to);
        Ok(out)
    }

    fn tx_subscribers(&self, plan_id: &Id, delta: i64) -> Result<TransactWriteItem, StoreError> {
        self.tx_update(
            key(plan_pk(plan_id), SUBSCRIBERS_SK),
            "ADD #n :delta",
            None,
            Params::new().name("#n", "n").value(":delta", n(delta)),
        )
    }

    async fn get_endpoint_item(&self, id: &Id) -> Result<Option<Endpoint>, StoreError> {
        self.get("GetItem(endpoint)", key(endpoint_pk(id), ENDPOINT_SK))
            .await?
            .as_ref()
            .map(decode_endpoint)
            .transpose()
    }
}

#[async_trait]
impl PlanRepository for DynamoStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(PLANS_GSI_PK));
        let mut plans =
            self.query_all("Query(plans)", q).await?.iter().map(decode_plan).collect::<Result<Vec<_>, _>>()?;
        plans.sort_by(|a, b| (a.price, &a.name, &a.id).cmp(&(b.price, &b.name, &b.id)));
        Ok(plans)
    }

    #[tracing::instrument(skip_all, fields(plan_id = %id), err(level = "debug"))]
    async fn get_plan(&self, id: &Id) -> Result<Option<Plan>, StoreError> {
        self.get("GetItem(plan)", key(plan_pk(id), PLAN_SK)).await?.as_ref().map(decode_plan).transpose()
    }

    #[tracing::instrument(skip_all, fields(plan_id = %plan.id), err(level = "debug"))]
    async fn create_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(plan_item(plan)))
            .condition_expression(NEW_ITEM)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::AlreadyExists("plan")),
            Err(e) => Err(sdk_error("PutItem(plan)", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(plan_id = %plan.id), err(level = "debug"))]
    async fn update_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        // UpdateItem rather than Put: `created_at` and the GSI keys stay as stored.
        let (expr, p) = update_of(plan_fields(plan));
        let key = key(plan_pk(&plan.id), PLAN_SK);
        if self.update_if("UpdateItem(plan)", key, &expr, "attribute_exists(PK)", p).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound("plan"))
        }
    }

    #[tracing::instrument(skip_all, fields(plan_id = %id), err(level = "debug"))]
    async fn delete_plan_if_unused(&self, id: &Id) -> Result<bool, StoreError> {
        // The counter is maintained in the same transactions as the subscriptions, so this
        // one transaction is exact: a subscription committed before it makes the counter
        // positive, one committed after it finds the plan gone (see docs/dynamodb.md).
        let items = vec![
            self.tx_delete(key(plan_pk(id), PLAN_SK), Some("attribute_exists(PK)"), Params::new())?,
            self.tx_delete(
                key(plan_pk(id), SUBSCRIBERS_SK),
                Some("attribute_not_exists(PK) OR #n <= :zero"),
                Params::new().name("#n", "n").value(":zero", n(0)),
            )?,
        ];
        match self.transact("TransactWriteItems(delete_plan)", items).await? {
            Ok(()) => Ok(true),
            Err(c) if c.failed(0) => Err(StoreError::NotFound("plan")),
            Err(c) if c.failed(1) => Ok(false),
            Err(_) => Err(StoreError::Conflict("plan changed concurrently")),
        }
    }
}

#[async_trait]
impl SubscriptionRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %sub.org_id, subscription_id = %sub.id), err(level = "debug"))]
    async fn ensure_subscription(&self, sub: &Subscription) -> Result<Subscription, StoreError> {
        // Read once: the new subscription's ledger row depends only on its plan.
        let revenue = self.tx_revenue_change(None, sub).await?;
        for _ in 0..MAX_ATTEMPTS {
            let mut items = vec![
                self.tx_put(org_sub_item(sub), Some(NEW_ITEM), Params::new())?,
                self.tx_put(id_sub_item(sub), Some(NEW_ITEM), Params::new())?,
                self.tx_subscribers(&sub.plan_id, 1)?,
            ];
            items.extend(revenue.iter().cloned());
            match self.transact("TransactWriteItems(ensure_subscription)", items).await? {
                Ok(()) => return Ok(sub.clone()),
                // The organization has one: the cancellation reason carries it.
                Err(c) if c.failed(0) => {
                    return match c.old_item(0) {
                        Some(item) => decode_sub(item),
                        None => self
                            .subscription_of_org(&sub.org_id)
                            .await?
                            .ok_or(StoreError::Conflict("subscription changed concurrently")),
                    };
                }
                Err(c) if c.failed(1) => return Err(StoreError::AlreadyExists("subscription")),
                // Lost against concurrent transactions (after the helper's retries): whoever
                // won may have created the organization's subscription.
                Err(_) => {
                    if let Some(existing) = self.subscription_of_org(&sub.org_id).await? {
                        return Ok(existing);
                    }
                }
            }
        }
        Err(StoreError::Conflict("subscription changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %id), err(level = "debug"))]
    async fn get_subscription(&self, id: &Id) -> Result<Option<Subscription>, StoreError> {
        self.get("GetItem(subscription)", key(sub_pk(id), SUB_SK)).await?.as_ref().map(decode_sub).transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn subscription_of_org(&self, org_id: &Id) -> Result<Option<Subscription>, StoreError> {
        self.get("GetItem(org subscription)", key(org_pk(org_id), SUBSCRIPTION_SK))
            .await?
            .as_ref()
            .map(decode_sub)
            .transpose()
    }

    /// Oldest first along GSI1 `SUBS` (`<created_at>#<id>`, which never changes), so the
    /// order is stable while pages are read. The cursor is the last subscription's GSI1
    /// sort key, and the next page a key range after it (`GSI1SK > :after`), so a page may
    /// stop anywhere, also in the middle of a filtered DynamoDB page.
    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, plan_id = ?query.plan_id, limit = query.limit), err(level = "debug"))]
    async fn subscriptions_page(
        &self,
        query: &SubscriptionQuery,
    ) -> Result<(Vec<Subscription>, Option<String>), StoreError> {
        let limit = query.page_size() as usize;
        let after = query.cursor.as_deref().map(check_sub_cursor).transpose()?;
        let plan_id = query.plan_id.as_ref();
        // One per organization: with an org filter it is a GetItem, and one page.
        if let Some(org) = &query.org_id {
            let sub = self.subscription_of_org(org).await?.filter(|s| {
                plan_id.is_none_or(|p| &s.plan_id == p)
                    && after.is_none_or(|a| sub_gsi_sk(s.created_at, &s.id).as_str() > a)
            });
            return Ok((sub.into_iter().collect(), None));
        }
        let key_condition = if after.is_some() { "GSI1PK = :pk AND GSI1SK > :after" } else { "GSI1PK = :pk" };
        // One more than the page: whether it exists says if there is a next page.
        let mut out = Vec::new();
        let mut start = None;
        while out.len() <= limit {
            let mut q = self
                .query()
                .index_name(GSI1)
                .key_condition_expression(key_condition)
                .expression_attribute_values(":pk", s(SUBS_GSI_PK))
                .set_exclusive_start_key(start.take());
            if let Some(a) = after {
                q = q.expression_attribute_values(":after", s(a));
            }
            q = match plan_id {
                // The filter applies after `Limit`, so read full pages when filtering.
                Some(p) => q.filter_expression("plan_id = :plan").expression_attribute_values(":plan", s(p.as_str())),
                None => q.limit(i32::try_from(limit + 1 - out.len()).unwrap_or(i32::MAX).min(1000)),
            };
            let page = q.send().await.map_err(|e| sdk_error("Query(subscriptions page)", e))?;
            for item in page.items() {
                if out.len() <= limit {
                    out.push(decode_sub(item)?);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|s| sub_gsi_sk(s.created_at, &s.id))
        } else {
            None
        };
        Ok((out, next))
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, plan_id = ?query.plan_id, limit = query.limit), err(level = "debug"))]
    async fn list_subscriptions(&self, query: &SubscriptionQuery) -> Result<Vec<Subscription>, StoreError> {
        let limit = query.page_size() as usize;
        let (org_id, plan_id) = (query.org_id.as_ref(), query.plan_id.as_ref());
        // One per organization: with an org filter it is a GetItem.
        if let Some(org) = org_id {
            let sub = self.subscription_of_org(org).await?;
            return Ok(sub.filter(|s| plan_id.is_none_or(|p| &s.plan_id == p)).into_iter().collect());
        }
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < limit {
            let remaining = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let mut q = self
                .query()
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(SUBS_GSI_PK))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take());
            q = match plan_id {
                // The filter applies after `Limit`, so read full pages when filtering.
                Some(p) => q.filter_expression("plan_id = :plan").expression_attribute_values(":plan", s(p.as_str())),
                None => q.limit(remaining),
            };
            let page = q.send().await.map_err(|e| sdk_error("Query(subscriptions)", e))?;
            for item in page.items() {
                if out.len() < limit {
                    out.push(decode_sub(item)?);
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %sub.id), err(level = "debug"))]
    async fn update_subscription(&self, sub: &Subscription) -> Result<(), StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.get_subscription(&sub.id).await? else {
                return Err(StoreError::NotFound("subscription"));
            };
            let new = Subscription {
                plan_id: sub.plan_id.clone(),
                status: sub.status,
                cancel_at_period_end: sub.cancel_at_period_end,
                canceled_at: sub.canceled_at,
                billing: sub.billing.clone(),
                updated_at: sub.updated_at,
                ..stored.clone()
            };
            // Both copies are written together; the condition on the plan keeps the
            // subscriber counters right when two updates race, and with the one on the
            // status the ledger row's `mrr_before` is the MRR of what is replaced.
            const SAME: &str = "attribute_exists(PK) AND plan_id = :plan AND #status = :status";
            let same = || {
                Params::new()
                    .name("#status", "status")
                    .value(":plan", s(stored.plan_id.as_str()))
                    .value(":status", s(stored.status.as_str()))
            };
            let mut items = vec![
                self.tx_put(id_sub_item(&new), Some(SAME), same())?,
                self.tx_put(org_sub_item(&new), Some(SAME), same())?,
            ];
            if stored.plan_id != new.plan_id {
                items.push(self.tx_subscribers(&stored.plan_id, -1)?);
                items.push(self.tx_subscribers(&new.plan_id, 1)?);
            }
            items.extend(self.tx_revenue_change(Some(&stored), &new).await?);
            match self.transact("TransactWriteItems(update_subscription)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) && c.old_item(0).is_none() => return Err(StoreError::NotFound("subscription")),
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict("subscription changed concurrently"))
    }

    /// One Query per month of the range.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn revenue_changes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError> {
        let mut out = Vec::new();
        let mut month = Period::containing(from);
        while month.start < to {
            out.extend(self.revenue_month(&month.key, from, to).await?);
            month = Period::containing(month.end);
        }
        Ok(out)
    }

    /// The months item (GetItem), then one Query per month with rows before `at`; the latest
    /// row of each organization wins. The ledger holds one row per change of a subscription's
    /// price or plan, so this stays small.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn revenue_positions(&self, at: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError> {
        let months = match self.get("GetItem(revenue months)", key(REVENUE_MONTHS_PK, REVENUE_MONTHS_SK)).await? {
            Some(item) => match item.get("months") {
                Some(AttributeValue::Ss(m)) => m.clone(),
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let mut latest: HashMap<Id, RevenueChange> = HashMap::new();
        let mut months: Vec<PeriodKey> = months.into_iter().map(PeriodKey::from_string).collect();
        months.sort();
        for month in months.iter().filter(|m| m.as_str() <= PeriodKey::containing(at).as_str()) {
            let Some(period) = Period::from_key(month) else { continue };
            // Oldest first, so a later row of an organization replaces its earlier one.
            for row in self.revenue_month(month, period.start, period.end.min(at)).await? {
                latest.insert(row.org_id.clone(), row);
            }
        }
        Ok(latest.into_values().collect())
    }
}

#[async_trait]
impl EndpointRepository for DynamoStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(ENDPOINTS_GSI_PK));
        let mut endpoints =
            self.query_all("Query(endpoints)", q).await?.iter().map(decode_endpoint).collect::<Result<Vec<_>, _>>()?;
        endpoints.sort_by(|a, b| (&a.path, &a.method, &a.id).cmp(&(&b.path, &b.method, &b.id)));
        Ok(endpoints)
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    async fn get_endpoint(&self, id: &Id) -> Result<Option<Endpoint>, StoreError> {
        self.get_endpoint_item(id).await
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint.id, method = %endpoint.method, path = %endpoint.path), err(level = "debug"))]
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let items = vec![
            self.tx_put(endpoint_item(endpoint), Some(NEW_ITEM), Params::new())?,
            self.tx_put(route_item(endpoint), Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create_endpoint)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) || c.failed(1) => Err(StoreError::AlreadyExists("endpoint")),
            Err(_) => Err(StoreError::Conflict("endpoint changed concurrently")),
        }
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint.id, method = %endpoint.method, path = %endpoint.path), err(level = "debug"))]
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.get_endpoint_item(&endpoint.id).await? else {
                return Err(StoreError::NotFound("endpoint"));
            };
            // Guarded by the stored route: the route items stay in step with the endpoint.
            let (expr, p) = update_of(endpoint_fields(endpoint));
            let p = p
                .name("#old_m", "method")
                .name("#old_p", "path")
                .value(":old_m", s(&stored.method))
                .value(":old_p", s(&stored.path));
            let mut items = vec![self.tx_update(
                key(endpoint_pk(&endpoint.id), ENDPOINT_SK),
                &expr,
                Some("attribute_exists(PK) AND #old_m = :old_m AND #old_p = :old_p"),
                p,
            )?];
            let moved = stored.method != endpoint.method || stored.path != endpoint.path;
            if moved {
                items.push(self.tx_put(route_item(endpoint), Some(NEW_ITEM), Params::new())?);
                items.push(self.tx_delete(
                    key(route_pk(&stored.method, &stored.path), ROUTE_SK),
                    Some("attribute_not_exists(PK) OR endpoint_id = :id"),
                    Params::new().value(":id", s(endpoint.id.as_str())),
                )?);
            }
            match self.transact("TransactWriteItems(update_endpoint)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) && c.old_item(0).is_none() => return Err(StoreError::NotFound("endpoint")),
                Err(c) if c.failed(0) => continue,
                Err(c) if moved && c.failed(1) => return Err(StoreError::AlreadyExists("endpoint")),
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict("endpoint changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    async fn delete_endpoint(&self, id: &Id) -> Result<(), StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(stored) = self.get_endpoint_item(id).await? else {
                return Err(StoreError::NotFound("endpoint"));
            };
            let items = vec![
                self.tx_delete(
                    key(endpoint_pk(id), ENDPOINT_SK),
                    Some("attribute_exists(PK) AND #m = :m AND #p = :p"),
                    Params::new()
                        .name("#m", "method")
                        .name("#p", "path")
                        .value(":m", s(&stored.method))
                        .value(":p", s(&stored.path)),
                )?,
                self.tx_delete(
                    key(route_pk(&stored.method, &stored.path), ROUTE_SK),
                    Some("attribute_not_exists(PK) OR endpoint_id = :id"),
                    Params::new().value(":id", s(id.as_str())),
                )?,
            ];
            match self.transact("TransactWriteItems(delete_endpoint)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) && c.old_item(0).is_none() => return Err(StoreError::NotFound("endpoint")),
                Err(_) => continue,
            }
        }
        Err(StoreError::Conflict("endpoint changed concurrently"))
    }
}

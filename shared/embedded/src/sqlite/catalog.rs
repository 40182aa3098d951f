//! `PlanRepository`, `SubscriptionRepository` and `EndpointRepository`.

use super::{
    decode_time_id_cursor, exists_on_conflict, get_enum, get_id, get_opt_id, get_opt_ts, get_ts, get_with, ms, opt_ms,
    time_id_cursor, DbError, SqliteStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{
    BillingType, Endpoint, EndpointRepository, Id, Plan, PlanRepository, PlanStatus, RevenueChange, StoreError,
    StoredEnum, Subscription, SubscriptionQuery, SubscriptionRepository, SubscriptionStatus,
};

const PLAN_COLS: &str = "id, name, description, billing_type, price, currency, rate_limit, burst, \
                         monthly_limit, overage_price, retention_days, max_api_keys, features, status, \
                         created_at, updated_at, billing, max_projects";

/// Columns 0..=17 as in `PLAN_COLS`. A plan from before projects (no `max_projects`) allows
/// `Plan::default_max_projects`.
fn plan_from_row(r: &Row<'_>) -> rusqlite::Result<Plan> {
    let id = get_id(r, 0)?;
    let price: i64 = r.get(4)?;
    let max_projects: Option<u32> = r.get(17)?;
    Ok(Plan {
        max_projects: max_projects.unwrap_or_else(|| Plan::default_max_projects(&id, price)),
        id,
        name: r.get(1)?,
        description: r.get(2)?,
        billing_type: get_enum(r, 3, BillingType::parse)?,
        price,
        currency: r.get(5)?,
        rate_limit: r.get(6)?,
        burst: r.get(7)?,
        monthly_limit: r.get(8)?,
        overage_price: r.get(9)?,
        retention_days: r.get(10)?,
        max_api_keys: r.get(11)?,
        features: get_with(r, 12, |s| serde_json::from_str(&s))?,
        status: get_enum(r, 13, PlanStatus::parse)?,
        created_at: get_ts(r, 14)?,
        updated_at: get_ts(r, 15)?,
        billing: get_json(r, 16)?,
    })
}

const SUB_COLS: &str =
    "id, org_id, plan_id, status, cancel_at_period_end, canceled_at, created_at, updated_at, billing";

/// Columns 0..=8 as in `SUB_COLS`.
fn sub_from_row(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: get_id(r, 0)?,
        org_id: get_id(r, 1)?,
        plan_id: get_id(r, 2)?,
        status: get_enum(r, 3, SubscriptionStatus::parse)?,
        cancel_at_period_end: r.get(4)?,
        canceled_at: get_opt_ts(r, 5)?,
        created_at: get_ts(r, 6)?,
        updated_at: get_ts(r, 7)?,
        billing: get_json(r, 8)?.unwrap_or_default(),
    })
}

/// An optional column holding a small record as JSON.
pub(super) fn get_json<T: serde::de::DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    r.get::<_, Option<String>>(idx)?
        .map(|s| {
            serde_json::from_str(&s)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
        })
        .transpose()
}

/// A small record as JSON text.
pub(super) fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("plain records serialise")
}

const REVENUE_COLS: &str = "org_id, at, mrr_before, mrr_after, currency, plan_before, plan_after";

/// Columns 0..=6 as in `REVENUE_COLS`.
fn revenue_from_row(r: &Row<'_>) -> rusqlite::Result<RevenueChange> {
    Ok(RevenueChange {
        org_id: get_id(r, 0)?,
        at: get_ts(r, 1)?,
        mrr_before: r.get(2)?,
        mrr_after: r.get(3)?,
        currency: r.get(4)?,
        plan_before: get_opt_id(r, 5)?,
        plan_after: get_id(r, 6)?,
    })
}

/// Writes the ledger row of a subscription write (`RevenueChange::of_write`), if it makes
/// one, inside the caller's transaction: `before` is the stored subscription (None for a new
/// one), `after` what was written. The plans are read in the same transaction.
fn record_revenue_change(
    tx: &rusqlite::Transaction<'_>,
    before: Option<&Subscription>,
    after: &Subscription,
) -> Result<(), DbError> {
    let plan = |id: &Id| -> rusqlite::Result<Option<Plan>> {
        tx.query_row(&format!("SELECT {PLAN_COLS} FROM plans WHERE id = ?1"), [id.as_str()], plan_from_row).optional()
    };
    let old_plan = before.map(|b| plan(&b.plan_id)).transpose()?.flatten();
    let new_plan = match (before, &old_plan) {
        (Some(b), Some(p)) if b.plan_id == after.plan_id => Some(p.clone()),
        _ => plan(&after.plan_id)?,
    };
    let Some(row) = RevenueChange::of_write(before.map(|b| (b, old_plan.as_ref())), (after, new_plan.as_ref())) else {
        return Ok(());
    };
    tx.execute(
        &format!("INSERT INTO revenue_changes ({REVENUE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            row.org_id.as_str(),
            ms(row.at),
            row.mrr_before,
            row.mrr_after,
            row.currency,
            row.plan_before.as_ref().map(|p| p.as_str()),
            row.plan_after.as_str(),
        ],
    )?;
    Ok(())
}

const ENDPOINT_COLS: &str = "id, name, description, method, path, upstream_url, cost_units, rate_limit, \
                             public, created_at, updated_at, scope";

/// Columns 0..=11 as in `ENDPOINT_COLS`.
fn endpoint_from_row(r: &Row<'_>) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: get_id(r, 0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        method: r.get(3)?,
        path: r.get(4)?,
        upstream_url: r.get(5)?,
        cost_units: r.get(6)?,
        rate_limit: r.get(7)?,
        public: r.get(8)?,
        created_at: get_ts(r, 9)?,
        updated_at: get_ts(r, 10)?,
        scope: r.get(11)?,
    })
}

/// A `monthly_limit` that does not fit an INTEGER column cannot be stored.
fn limit_i64(v: Option<u64>) -> Result<Option<i64>, DbError> {
    v.map(|n| {
        i64::try_from(n).map_err(|_| {
            DbError(StoreError::Unavailable {
                message: format!("monthly_limit {n} is too large to store"),
                source: None,
            })
        })
    })
    .transpose()
}

#[async_trait]
impl PlanRepository for SqliteStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {PLAN_COLS} FROM plans ORDER BY price, name, id"))?;
            let rows = stmt.query_map([], plan_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(plan_id = %id), err(level = "debug"))]
    async fn get_plan(&self, id: &Id) -> Result<Option<Plan>, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {PLAN_COLS} FROM plans WHERE id = ?1"), [id.as_str()], plan_from_row)
                .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(plan_id = %plan.id), err(level = "debug"))]
    async fn create_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        let plan = plan.clone();
        self.call(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO plans ({PLAN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
                     ?13, ?14, ?15, ?16, ?17, ?18)"
                ),
                params![
                    plan.id.as_str(),
                    plan.name,
                    plan.description,
                    plan.billing_type.as_str(),
                    plan.price,
                    plan.currency,
                    plan.rate_limit,
                    plan.burst,
                    limit_i64(plan.monthly_limit)?,
                    plan.overage_price,
                    plan.retention_days,
                    plan.max_api_keys,
                    plan.features.to_string(),
                    plan.status.as_str(),
                    ms(plan.created_at),
                    ms(plan.updated_at),
                    plan.billing.as_ref().map(json),
                    plan.max_projects,
                ],
            )
            .map_err(exists_on_conflict("plan"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(plan_id = %plan.id), err(level = "debug"))]
    async fn update_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        let plan = plan.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE plans SET name = ?2, description = ?3, billing_type = ?4, price = ?5, currency = ?6, \
                 rate_limit = ?7, burst = ?8, monthly_limit = ?9, overage_price = ?10, retention_days = ?11, \
                 max_api_keys = ?12, features = ?13, status = ?14, updated_at = ?15, billing = ?16, \
                 max_projects = ?17 WHERE id = ?1",
                params![
                    plan.id.as_str(),
                    plan.name,
                    plan.description,
                    plan.billing_type.as_str(),
                    plan.price,
                    plan.currency,
                    plan.rate_limit,
                    plan.burst,
                    limit_i64(plan.monthly_limit)?,
                    plan.overage_price,
                    plan.retention_days,
                    plan.max_api_keys,
                    plan.features.to_string(),
                    plan.status.as_str(),
                    ms(plan.updated_at),
                    plan.billing.as_ref().map(json),
                    plan.max_projects,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("plan").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(plan_id = %id), err(level = "debug"))]
    async fn delete_plan_if_unused(&self, id: &Id) -> Result<bool, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            // The check and the delete share one write transaction: no subscription can start
            // referring to the plan in between.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM plans WHERE id = ?1)", [id.as_str()], |r| r.get(0))?;
            if !exists {
                return Err(StoreError::NotFound("plan").into());
            }
            let used: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM subscriptions WHERE plan_id = ?1)", [id.as_str()], |r| {
                    r.get(0)
                })?;
            if used {
                return Ok(false);
            }
            tx.execute("DELETE FROM plans WHERE id = ?1", [id.as_str()])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl SubscriptionRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %sub.org_id, subscription_id = %sub.id), err(level = "debug"))]
    async fn ensure_subscription(&self, sub: &Subscription) -> Result<Subscription, StoreError> {
        let sub = sub.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only a conflict on org_id is "already subscribed"; a clash of ids is an error.
            let inserted = tx
                .execute(
                    &format!(
                        "INSERT INTO subscriptions ({SUB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                     ON CONFLICT (org_id) DO NOTHING"
                    ),
                    params![
                        sub.id.as_str(),
                        sub.org_id.as_str(),
                        sub.plan_id.as_str(),
                        sub.status.as_str(),
                        sub.cancel_at_period_end,
                        opt_ms(sub.canceled_at),
                        ms(sub.created_at),
                        ms(sub.updated_at),
                        json(&sub.billing),
                    ],
                )
                .map_err(exists_on_conflict("subscription"))?;
            if inserted == 1 {
                record_revenue_change(&tx, None, &sub)?;
            }
            let current = tx.query_row(
                &format!("SELECT {SUB_COLS} FROM subscriptions WHERE org_id = ?1"),
                [sub.org_id.as_str()],
                sub_from_row,
            )?;
            tx.commit()?;
            Ok(current)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %id), err(level = "debug"))]
    async fn get_subscription(&self, id: &Id) -> Result<Option<Subscription>, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            Ok(c.query_row(&format!("SELECT {SUB_COLS} FROM subscriptions WHERE id = ?1"), [id.as_str()], sub_from_row)
                .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn subscription_of_org(&self, org_id: &Id) -> Result<Option<Subscription>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {SUB_COLS} FROM subscriptions WHERE org_id = ?1"),
                [org_id.as_str()],
                sub_from_row,
            )
            .optional()?)
        })
        .await
    }

    /// Ordered by (`created_at`, id), oldest first: neither changes after the subscription
    /// is stored, so the order is stable while pages are read. The cursor is the last
    /// subscription's `<created_at ms>:<id>`.
    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, plan_id = ?query.plan_id, limit = query.limit), err(level = "debug"))]
    async fn subscriptions_page(
        &self,
        query: &SubscriptionQuery,
    ) -> Result<(Vec<Subscription>, Option<String>), StoreError> {
        let limit = query.page_size() as usize;
        let after = query.cursor.as_deref().map(decode_time_id_cursor).transpose()?;
        let (org_id, plan_id) = (query.org_id.clone(), query.plan_id.clone());
        self.call(move |c| {
            // Only the filters in use go into the statement, so SQLite picks the index that
            // serves them: the org's unique index, (plan_id, created_at, id) or (created_at, id).
            let mut conditions = Vec::new();
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(org) = org_id {
                args.push(org.as_str().to_string().into());
                conditions.push(format!("org_id = ?{}", args.len()));
            }
            if let Some(plan) = plan_id {
                args.push(plan.as_str().to_string().into());
                conditions.push(format!("plan_id = ?{}", args.len()));
            }
            if let Some((at, id)) = after {
                args.push(at.into());
                args.push(id.into());
                conditions.push(format!("(created_at, id) > (?{}, ?{})", args.len() - 1, args.len()));
            }
            let filter =
                if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
            // One more than the page: whether it exists says if there is a next page.
            args.push(((limit + 1) as i64).into());
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SUB_COLS} FROM subscriptions {filter} ORDER BY created_at, id LIMIT ?{}",
                args.len()
            ))?;
            let mut page = stmt
                .query_map(rusqlite::params_from_iter(args), sub_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let next = if page.len() > limit {
                page.truncate(limit);
                page.last().map(|s| time_id_cursor(s.created_at, s.id.as_str()))
            } else {
                None
            };
            Ok((page, next))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = ?query.org_id, plan_id = ?query.plan_id, limit = query.limit), err(level = "debug"))]
    async fn list_subscriptions(&self, query: &SubscriptionQuery) -> Result<Vec<Subscription>, StoreError> {
        let limit = query.page_size();
        let (org_id, plan_id) = (query.org_id.clone(), query.plan_id.clone());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SUB_COLS} FROM subscriptions WHERE (?1 IS NULL OR org_id = ?1) \
                 AND (?2 IS NULL OR plan_id = ?2) ORDER BY created_at DESC, rowid DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                params![org_id.as_ref().map(|i| i.as_str()), plan_id.as_ref().map(|i| i.as_str()), i64::from(limit)],
                sub_from_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %sub.id), err(level = "debug"))]
    async fn update_subscription(&self, sub: &Subscription) -> Result<(), StoreError> {
        let sub = sub.clone();
        self.call(move |c| {
            // Immediate: the stored subscription read for the ledger row is the one replaced.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = tx
                .query_row(
                    &format!("SELECT {SUB_COLS} FROM subscriptions WHERE id = ?1"),
                    [sub.id.as_str()],
                    sub_from_row,
                )
                .optional()?
                .ok_or(StoreError::NotFound("subscription"))?;
            tx.execute(
                "UPDATE subscriptions SET plan_id = ?2, status = ?3, cancel_at_period_end = ?4, \
                 canceled_at = ?5, updated_at = ?6, billing = ?7 WHERE id = ?1",
                params![
                    sub.id.as_str(),
                    sub.plan_id.as_str(),
                    sub.status.as_str(),
                    sub.cancel_at_period_end,
                    opt_ms(sub.canceled_at),
                    ms(sub.updated_at),
                    json(&sub.billing),
                ],
            )?;
            // The organization and creation time are the stored ones, whatever `sub` says.
            let written = Subscription { org_id: stored.org_id.clone(), created_at: stored.created_at, ..sub };
            record_revenue_change(&tx, Some(&stored), &written)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn revenue_changes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REVENUE_COLS} FROM revenue_changes WHERE at >= ?1 AND at < ?2 ORDER BY at, seq"
            ))?;
            let rows = stmt.query_map(params![ms(from), ms(to)], revenue_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn revenue_positions(&self, at: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REVENUE_COLS} FROM (SELECT *, ROW_NUMBER() OVER \
                 (PARTITION BY org_id ORDER BY at DESC, seq DESC) AS latest FROM revenue_changes WHERE at < ?1) \
                 WHERE latest = 1"
            ))?;
            let rows = stmt.query_map(params![ms(at)], revenue_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[async_trait]
impl EndpointRepository for SqliteStore {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.call(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY path, method"))?;
            let rows = stmt.query_map([], endpoint_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    async fn get_endpoint(&self, id: &Id) -> Result<Option<Endpoint>, StoreError> {
        let id = id.clone();
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = ?1"),
                [id.as_str()],
                endpoint_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint.id, method = %endpoint.method, path = %endpoint.path), err(level = "debug"))]
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let e = endpoint.clone();
        self.call(move |c| {
            // The primary key and UNIQUE (method, path) both map to AlreadyExists.
            c.execute(
                &format!(
                    "INSERT INTO endpoints ({ENDPOINT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ),
                params![
                    e.id.as_str(),
                    e.name,
                    e.description,
                    e.method,
                    e.path,
                    e.upstream_url,
                    e.cost_units,
                    e.rate_limit,
                    e.public,
                    ms(e.created_at),
                    ms(e.updated_at),
                    e.scope,
                ],
            )
            .map_err(exists_on_conflict("endpoint"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %endpoint.id, method = %endpoint.method, path = %endpoint.path), err(level = "debug"))]
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let e = endpoint.clone();
        self.call(move |c| {
            let n = c
                .execute(
                    "UPDATE endpoints SET name = ?2, description = ?3, method = ?4, path = ?5, upstream_url = ?6, \
                     cost_units = ?7, rate_limit = ?8, public = ?9, updated_at = ?10, scope = ?11 WHERE id = ?1",
                    params![
                        e.id.as_str(),
                        e.name,
                        e.description,
                        e.method,
                        e.path,
                        e.upstream_url,
                        e.cost_units,
                        e.rate_limit,
                        e.public,
                        ms(e.updated_at),
                        e.scope,
                    ],
                )
                .map_err(exists_on_conflict("endpoint"))?;
            if n == 0 {
                return Err(StoreError::NotFound("endpoint").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(endpoint_id = %id), err(level = "debug"))]
    async fn delete_endpoint(&self, id: &Id) -> Result<(), StoreError> {
        let id = id.clone();
        self.call(move |c| {
            let n = c.execute("DELETE FROM endpoints WHERE id = ?1", [id.as_str()])?;
            if n == 0 {
                return Err(StoreError::NotFound("endpoint").into());
            }
            Ok(())
        })
        .await
    }
}

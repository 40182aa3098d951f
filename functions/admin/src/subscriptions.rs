//! `/api/admin/subscriptions`: every organization's subscription.

use crate::path_id;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tollgate_app::subscriptions::SUBSCRIPTION_PREFIX;
use tollgate_domain::{AuditEvent, Id, PlanStatus, Subscription, SubscriptionQuery, SubscriptionStatus};
use tollgate_http::{page_limit, AdminUser, ApiError, ApiJson, ApiQuery, AppState, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// A subscription with its plan's name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `null` only if the plan record is missing.
    pub plan_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionList {
    /// Newest first.
    pub data: Vec<SubscriptionView>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionFilter {
    /// Only the subscription of this user's organization (an unknown user gives none).
    pub user_id: Option<String>,
    /// Only this organization's subscription.
    pub org_id: Option<String>,
    /// Only subscriptions to this plan.
    pub plan_id: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// What to change; at least one field that is not `null` (422 `invalid_body` otherwise).
// No `#[schema(min_properties = 1)]`: utoipa 5.5 writes it out as `maxProperties`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionRequest {
    /// Move to this plan: it must exist and be active (keeping an archived plan is allowed).
    pub plan_id: Option<String>,
    /// `canceled` sets `canceled_at`; leaving `canceled` clears it.
    pub status: Option<SubscriptionStatus>,
    pub cancel_at_period_end: Option<bool>,
}

/// Each subscription with the name of its plan.
async fn views(state: &AppState, subs: Vec<Subscription>) -> Result<Vec<SubscriptionView>, ApiError> {
    let names: HashMap<Id, String> = state.store.list_plans().await?.into_iter().map(|p| (p.id, p.name)).collect();
    Ok(subs
        .into_iter()
        .map(|s| SubscriptionView { plan_name: names.get(&s.plan_id).cloned(), subscription: s })
        .collect())
}

/// The subscription as stored (timestamps at the store's precision) with its plan's name.
async fn view(state: &AppState, sub: Subscription) -> Result<SubscriptionView, ApiError> {
    let sub = state.store.get_subscription(&sub.id).await?.unwrap_or(sub);
    let plan_name = state.store.get_plan(&sub.plan_id).await?.map(|p| p.name);
    Ok(SubscriptionView { subscription: sub, plan_name })
}

async fn existing(state: &AppState, raw: &str) -> Result<Subscription, ApiError> {
    let id = path_id(raw, SUBSCRIPTION_PREFIX, "subscription")?;
    state.store.get_subscription(&id).await?.ok_or_else(|| ApiError::NotFound("subscription".into()))
}

fn set_status(sub: &mut Subscription, status: SubscriptionStatus, now: chrono::DateTime<chrono::Utc>) {
    if status == SubscriptionStatus::Canceled {
        if sub.status != SubscriptionStatus::Canceled {
            sub.canceled_at = Some(now);
        }
    } else {
        sub.canceled_at = None;
    }
    sub.status = status;
}

/// Subscriptions, newest first, optionally of one user or organization or plan.
#[utoipa::path(get, path = "/api/admin/subscriptions", operation_id = "admin_list_subscriptions", tag = "admin", security(("bearer" = [])),
    params(SubscriptionFilter),
    responses(
        (status = 200, description = "The subscriptions", body = SubscriptionList),
    ))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<SubscriptionFilter>,
) -> Result<Json<SubscriptionList>, ApiError> {
    let limit = page_limit(q.limit, SubscriptionQuery::PAGE)?;
    let mut org = q.org_id.filter(|s| !s.is_empty()).map(Id::from_string);
    if let Some(user_id) = q.user_id.filter(|s| !s.is_empty()) {
        let Some(user) = state.store.get_user(&Id::from_string(user_id)).await? else {
            return Ok(Json(SubscriptionList { data: vec![] }));
        };
        if org.as_ref().is_some_and(|o| *o != user.default_org_id) {
            return Ok(Json(SubscriptionList { data: vec![] }));
        }
        org = Some(user.default_org_id);
    }
    let plan = q.plan_id.filter(|s| !s.is_empty()).map(Id::from_string);
    let subs =
        state.store.list_subscriptions(&SubscriptionQuery { org_id: org, plan_id: plan, limit, cursor: None }).await?;
    Ok(Json(SubscriptionList { data: views(&state, subs).await? }))
}

/// Changes a subscription's plan and/or status (takes effect at once; the gateway within
/// its cache time).
#[utoipa::path(put, path = "/api/admin/subscriptions/{id}", operation_id = "admin_update_subscription", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    request_body = UpdateSubscriptionRequest,
    responses(
        (status = 200, description = "The updated subscription", body = SubscriptionView),
        (status = 422, description = "`invalid_body`: no field given; `invalid_field`: the plan is unknown or archived", body = ErrorBody),
    ))]
pub async fn update_subscription(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateSubscriptionRequest>,
) -> Result<Json<SubscriptionView>, ApiError> {
    if req.plan_id.is_none() && req.status.is_none() && req.cancel_at_period_end.is_none() {
        return Err(ApiError::InvalidBody("give at least one of plan_id, status, cancel_at_period_end".into()));
    }
    let now = state.now();
    let mut sub = existing(&state, &id).await?;
    let before = sub.clone();
    if let Some(plan_id) = req.plan_id {
        let plan_id = Id::from_string(plan_id.trim());
        if plan_id != sub.plan_id {
            let plan = state
                .store
                .get_plan(&plan_id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("plan_id", "no such plan"))?;
            if plan.status != PlanStatus::Active {
                return Err(ApiError::invalid_field("plan_id", "the plan is archived"));
            }
            sub.plan_id = plan.id;
        }
    }
    if let Some(status) = req.status {
        set_status(&mut sub, status, now);
    }
    if let Some(flag) = req.cancel_at_period_end {
        sub.cancel_at_period_end = flag;
    }
    sub.updated_at = now;
    state.store.update_subscription(&sub).await?;
    state
        .audit(
            AuditEvent::new("subscription.update", now)
                .actor(&admin.user.id)
                .org(&sub.org_id)
                .target(sub.id.to_string())
                .ip(admin.ip)
                .details(serde_json::json!({
                    "plan_id": { "from": before.plan_id, "to": sub.plan_id },
                    "status": { "from": before.status, "to": sub.status },
                    "cancel_at_period_end": { "from": before.cancel_at_period_end, "to": sub.cancel_at_period_end },
                })),
        )
        .await;
    Ok(Json(view(&state, sub).await?))
}

/// Cancels a subscription at once: the gateway then refuses the organization's keys (403).
/// Canceling twice is harmless.
#[utoipa::path(post, path = "/api/admin/subscriptions/{id}/cancel", operation_id = "admin_cancel_subscription", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The canceled subscription", body = SubscriptionView),
    ))]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let now = state.now();
    let mut sub = existing(&state, &id).await?;
    if sub.status != SubscriptionStatus::Canceled {
        set_status(&mut sub, SubscriptionStatus::Canceled, now);
        sub.updated_at = now;
        state.store.update_subscription(&sub).await?;
        state
            .audit(
                AuditEvent::new("subscription.cancel", now)
                    .actor(&admin.user.id)
                    .org(&sub.org_id)
                    .target(sub.id.to_string())
                    .ip(admin.ip)
                    .details(serde_json::json!({ "plan_id": sub.plan_id })),
            )
            .await;
    }
    Ok(Json(view(&state, sub).await?))
}

//! Handlers of the billing route group.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::{current_subscription, PeriodUsage};
use tollgate_domain::{Period, Plan, PlanStatus, Subscription};
use tollgate_http::{ApiError, AppState, AuthUser};
use utoipa::ToSchema;

/// The plans open to new subscriptions, cheapest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<Plan>,
}

/// The organization's subscription, its plan and the current period's usage.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionDetails {
    pub subscription: Subscription,
    pub plan: Plan,
    /// The current billing period (calendar month, UTC); `end` is exclusive.
    pub period: Period,
    pub usage: PeriodUsage,
}

/// The active plans, for a pricing page. No authentication.
#[utoipa::path(get, path = "/api/plans", tag = "billing",
    responses(
        (status = 200, description = "Active plans, cheapest first", body = PlanList),
    ))]
pub async fn list_plans(State(state): State<AppState>) -> Result<Json<PlanList>, ApiError> {
    let data = state.store.list_plans().await?.into_iter().filter(|p| p.status == PlanStatus::Active).collect();
    Ok(Json(PlanList { data }))
}

/// The signed-in user's subscription (a new organization is on the Free plan), its plan,
/// and the usage of the current period against it.
#[utoipa::path(get, path = "/api/user/subscription", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Subscription, plan and usage", body = SubscriptionDetails),
    ))]
pub async fn get_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<SubscriptionDetails>, ApiError> {
    let now = state.now();
    let (subscription, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    let period = Period::containing(now);
    let usage = PeriodUsage::load(state.store.as_ref(), &auth.org_id, &period, &plan).await?;
    Ok(Json(SubscriptionDetails { subscription, plan, period, usage }))
}

//! Plans, subscriptions and the catalog, as the route groups, the gateway and the workers
//! need them.

use crate::AppError;
use chrono::{DateTime, Utc};
use tollgate_domain::{Endpoint, Id, Plan, Store, StoreError, Subscription, SubscriptionStatus, FREE_PLAN_ID};

/// Prefix of subscription ids.
pub const SUBSCRIPTION_PREFIX: &str = "sub";
/// Prefix of plan ids created through the admin API.
pub const PLAN_PREFIX: &str = "plan";
/// Prefix of endpoint ids created through the admin API.
pub const ENDPOINT_PREFIX: &str = "ep";

/// The organization's subscription and the plan whose limits apply to it now: its own, or the
/// Free plan while it is past due beyond the grace period (`Subscription::grace_is_over`).
/// An organization without a subscription (every new organization) is put on the Free plan
/// here, exactly once even under concurrency.
pub async fn current_subscription(
    store: &dyn Store,
    org_id: &Id,
    now: DateTime<Utc>,
) -> Result<(Subscription, Plan), AppError> {
    let sub = match store.subscription_of_org(org_id).await? {
        Some(s) => s,
        None => {
            let new = Subscription {
                id: Id::generate(SUBSCRIPTION_PREFIX),
                org_id: org_id.clone(),
                plan_id: Id::from_string(FREE_PLAN_ID),
                status: SubscriptionStatus::Active,
                cancel_at_period_end: false,
                canceled_at: None,
                billing: Default::default(),
                created_at: now,
                updated_at: now,
            };
            store.ensure_subscription(&new).await?
        }
    };
    let plan = plan_in_effect(store, &sub, now).await?;
    Ok((sub, plan))
}

/// The plan whose limits apply to `sub` at `now`: its own, or the Free plan while it is past
/// due beyond the grace period (`Subscription::grace_is_over`).
pub async fn plan_in_effect(store: &dyn Store, sub: &Subscription, now: DateTime<Utc>) -> Result<Plan, AppError> {
    let plan_id = if sub.grace_is_over(now) { Id::from_string(FREE_PLAN_ID) } else { sub.plan_id.clone() };
    store
        .get_plan(&plan_id)
        .await?
        .ok_or_else(|| AppError::Inconsistent(format!("subscription {} refers to missing plan {plan_id}", sub.id)))
}

/// On an empty catalog: the default plans (Free, Pro, Business) and the echo endpoint.
/// Idempotent and safe to run from several processes at once.
pub async fn seed_catalog(store: &dyn Store, now: DateTime<Utc>) -> Result<(), StoreError> {
    // Both checks at once: on Lambda this runs in every cold start.
    let (plans, endpoints) = tokio::try_join!(store.list_plans(), store.list_endpoints())?;
    if plans.is_empty() {
        for plan in Plan::defaults(now) {
            ignore_existing(store.create_plan(&plan).await)?;
        }
    }
    if endpoints.is_empty() {
        ignore_existing(store.create_endpoint(&Endpoint::default_echo(now)).await)?;
    }
    Ok(())
}

fn ignore_existing(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Err(StoreError::AlreadyExists(_)) => Ok(()),
        r => r,
    }
}

//! The subscription revenue ledger: every change of an organization's monthly recurring
//! revenue (MRR), recorded when it happens. MRR history cannot be rebuilt from the current
//! subscriptions, so the revenue analytics (MRR movements, churn, revenue per plan) are
//! answered from this ledger.

use crate::{Id, Plan, Subscription};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The monthly recurring revenue of `sub` on `plan`, in minor units of `plan.currency`: the
/// plan's recurring `price` while the subscription is serving (active or past due), 0 once
/// it is canceled. Plans are billed monthly, so the price is already a monthly figure; a
/// free or usage-only plan (pay-as-you-go at price 0) has none (metered overage is revenue,
/// but not recurring). A subscription an admin assigned without the payment provider counts
/// at its plan's price like any other.
pub fn monthly_recurring_revenue(sub: &Subscription, plan: &Plan) -> i64 {
    if sub.is_serving() {
        plan.price
    } else {
        0
    }
}

/// One change of an organization's recurring revenue, or of its plan: a row of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueChange {
    pub org_id: Id,
    /// When the subscription changed (its `updated_at`; `created_at` for a new one).
    pub at: DateTime<Utc>,
    /// MRR before the change, minor units (0 for a new subscription).
    pub mrr_before: i64,
    /// MRR from `at` on, minor units.
    pub mrr_after: i64,
    /// The currency of `plan_after` (ISO 4217, lower case).
    pub currency: String,
    /// The plan before the change; None for a new subscription.
    pub plan_before: Option<Id>,
    pub plan_after: Id,
}

impl RevenueChange {
    /// The ledger row for a subscription write: `before` is the stored subscription and its
    /// plan (None when the subscription is new), `after` what is written. A plan the store
    /// does not hold counts at 0. None when the write changes neither the MRR nor the plan
    /// (a status change within serving, new billing ids, a cancel flag), and for a new
    /// subscription at MRR 0 (every registration starts on Free: a row each would only say
    /// "nothing"; until its first row an organization's plan is its subscription's).
    pub fn of_write(
        before: Option<(&Subscription, Option<&Plan>)>,
        after: (&Subscription, Option<&Plan>),
    ) -> Option<RevenueChange> {
        let mrr = |sub: &Subscription, plan: Option<&Plan>| plan.map_or(0, |p| monthly_recurring_revenue(sub, p));
        let (sub, plan) = after;
        let mrr_after = mrr(sub, plan);
        let (mrr_before, plan_before, at) = match before {
            Some((old, old_plan)) => (mrr(old, old_plan), Some(old.plan_id.clone()), sub.updated_at),
            None => (0, None, sub.created_at),
        };
        let unchanged = match &plan_before {
            Some(p) => mrr_before == mrr_after && *p == sub.plan_id,
            None => mrr_after == 0,
        };
        let currency = plan.or(before.and_then(|(_, p)| p)).map(|p| p.currency.clone()).unwrap_or_default();
        (!unchanged).then(|| RevenueChange {
            org_id: sub.org_id.clone(),
            at,
            mrr_before,
            mrr_after,
            currency,
            plan_before,
            plan_after: sub.plan_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubscriptionStatus;
    use chrono::TimeZone;

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap()
    }

    fn plans() -> (Plan, Plan) {
        let plans = Plan::defaults(at(1));
        (plans[0].clone(), plans[1].clone())
    }

    fn sub(plan: &Plan, status: SubscriptionStatus, updated: u32) -> Subscription {
        Subscription {
            id: Id::from_string("sub_1"),
            org_id: Id::from_string("org_1"),
            plan_id: plan.id.clone(),
            status,
            cancel_at_period_end: false,
            canceled_at: None,
            billing: Default::default(),
            created_at: at(1),
            updated_at: at(updated),
        }
    }

    #[test]
    fn mrr_is_the_price_while_serving() {
        let (_, pro) = plans();
        assert_eq!(monthly_recurring_revenue(&sub(&pro, SubscriptionStatus::Active, 1), &pro), 900);
        assert_eq!(monthly_recurring_revenue(&sub(&pro, SubscriptionStatus::PastDue, 1), &pro), 900);
        assert_eq!(monthly_recurring_revenue(&sub(&pro, SubscriptionStatus::Canceled, 1), &pro), 0);
    }

    #[test]
    fn rows_only_for_revenue_or_plan_changes() {
        let (free, pro) = plans();
        let on_free = sub(&free, SubscriptionStatus::Active, 1);
        // A new subscription on Free: nothing to record.
        assert_eq!(RevenueChange::of_write(None, (&on_free, Some(&free))), None);
        // Upgrade: 0 -> 900 at the update's time.
        let on_pro = sub(&pro, SubscriptionStatus::Active, 5);
        let row = RevenueChange::of_write(Some((&on_free, Some(&free))), (&on_pro, Some(&pro))).unwrap();
        assert_eq!((row.mrr_before, row.mrr_after, row.at), (0, 900, at(5)));
        assert_eq!(
            (row.plan_before.as_ref(), &row.plan_after, row.currency.as_str()),
            (Some(&free.id), &pro.id, "usd")
        );
        // Past due keeps the plan and the MRR: no row.
        let past_due = sub(&pro, SubscriptionStatus::PastDue, 6);
        assert_eq!(RevenueChange::of_write(Some((&on_pro, Some(&pro))), (&past_due, Some(&pro))), None);
        // Canceled: 900 -> 0.
        let canceled = sub(&pro, SubscriptionStatus::Canceled, 7);
        let row = RevenueChange::of_write(Some((&past_due, Some(&pro))), (&canceled, Some(&pro))).unwrap();
        assert_eq!((row.mrr_before, row.mrr_after), (900, 0));
        // A new paid subscription is recorded at its creation.
        let row = RevenueChange::of_write(None, (&on_pro, Some(&pro))).unwrap();
        assert_eq!((row.mrr_before, row.mrr_after, row.at, row.plan_before), (0, 900, at(1), None));
    }
}

//! The period's usage measured against the plan: shared by the usage summary and the
//! billing group's subscription view.

use crate::AppError;
use serde::{Deserialize, Serialize};
use tollgate_domain::{Id, Period, Plan, Store};
use utoipa::ToSchema;

/// Usage of one period against a plan. `used` comes from the period counter, the billing
/// source of truth (the call log and the statistics may lag it by a few seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodUsage {
    /// Cost units counted this period.
    pub used: u64,
    /// Units included per period; `null` = unlimited.
    pub limit: Option<u64>,
    /// `used` as a percentage of `limit` (two decimals, may pass 100 on hybrid plans);
    /// `null` when unlimited.
    pub percent: Option<f64>,
    /// Units billed as overage (hybrid: past the limit; pay-as-you-go: all of them).
    pub overage_units: u64,
    /// Base price plus overage so far, in minor units of `currency`.
    pub projected_cost: i64,
    #[schema(example = "usd")]
    pub currency: String,
}

impl PeriodUsage {
    pub fn new(plan: &Plan, used: u64) -> Self {
        let limit = plan.monthly_limit;
        let percent = limit.map(|l| if l == 0 { 100.0 } else { (used as f64 * 10_000.0 / l as f64).round() / 100.0 });
        PeriodUsage {
            used,
            limit,
            percent,
            overage_units: plan.overage_units(used),
            projected_cost: plan.projected_cost(used),
            currency: plan.currency.clone(),
        }
    }

    /// The organization's usage in `period` against `plan`.
    pub async fn load(store: &dyn Store, org_id: &Id, period: &Period, plan: &Plan) -> Result<Self, AppError> {
        let used = store.usage(org_id, &period.key).await?;
        Ok(PeriodUsage::new(plan, used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use tollgate_domain::BillingType;

    #[test]
    fn percent_and_costs() {
        let mut plan = Plan::defaults(Utc::now()).remove(0);
        let u = PeriodUsage::new(&plan, 250);
        assert_eq!((u.limit, u.percent, u.overage_units, u.projected_cost), (Some(1000), Some(25.0), 0, 0));
        assert_eq!(PeriodUsage::new(&plan, 1).percent, Some(0.1));
        plan.billing_type = BillingType::Hybrid;
        plan.overage_price = Some(50);
        let u = PeriodUsage::new(&plan, 2500);
        assert_eq!((u.percent, u.overage_units, u.projected_cost), (Some(250.0), 1500, 100));
        plan.monthly_limit = None;
        assert_eq!(PeriodUsage::new(&plan, 5).percent, None);
    }
}

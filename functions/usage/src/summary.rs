//! The current period's usage of the caller's organization, as the summary route shows it.

use serde::{Deserialize, Serialize};
use tollgate_app::PeriodUsage;
use tollgate_domain::{Id, Period};
use utoipa::ToSchema;

/// The current period's usage of the caller's organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageSummary {
    /// The billing period (calendar month, UTC); `end` is exclusive.
    pub period: Period,
    pub plan_id: Id,
    pub plan_name: String,
    #[serde(flatten)]
    pub usage: PeriodUsage,
}

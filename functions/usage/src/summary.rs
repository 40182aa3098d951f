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
    /// The organization's usage against its quota (whatever project was asked for).
    #[serde(flatten)]
    pub usage: PeriodUsage,
    /// The project asked for with `project_id`; absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectUsage>,
}

/// One project's own share of the period's usage. The quota is its organization's: these
/// calls are counted in the summary's `used` with every other project's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectUsage {
    pub project_id: Id,
    /// Calls made with the project's keys this period, as aggregated so far (the usage
    /// worker records calls shortly after they are made, so this may trail `used`).
    pub calls: u64,
    /// The cost units of those calls.
    pub cost_units: u64,
}

//! The `usage` route group (`/api/user/usage/...`): the period's usage against the plan,
//! the call log, per-endpoint statistics, a time series and the analytics that combine
//! them. Every query is scoped to the caller's organization, and optionally to one of its
//! projects (`project_id`).

mod handlers;
pub mod summary;

use tollgate_http::{routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use handlers::{
    AnalyticsQuery, DetailedQuery, EndpointUsageList, RangeQuery, SummaryQuery, TimeseriesQuery, UsageLogPage,
    UsageTimeseries,
};
pub use summary::{ProjectUsage, UsageSummary};
pub use tollgate_app::usage_stats::{CallsBySource, EndpointUsage, TimeseriesPoint, UsageAnalytics};

#[derive(OpenApi)]
#[openapi(tags((name = "usage", description = "Usage of the signed-in user's organization")))]
struct UsageApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(UsageApi::openapi)
        .routes(routes!(handlers::summary))
        .routes(routes!(handlers::detailed))
        .routes(routes!(handlers::by_endpoint))
        .routes(routes!(handlers::timeseries))
        .routes(routes!(handlers::analytics))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

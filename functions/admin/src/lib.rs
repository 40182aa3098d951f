//! The `admin` route group (`/api/admin/...`): users, the plan catalog, subscriptions, the
//! endpoint catalog, invoices, the scheduled jobs, the audit log, revenue analytics and
//! reports, and management tokens. Every route requires the admin role (or a management token
//! with the route's scope, see `AdminUser`); every change is audited with the admin as actor.

mod analytics;
mod audit;
mod endpoints;
mod invoices;
mod jobs;
mod plans;
mod subscriptions;
mod tokens;
mod users;

use tollgate_http::{path_id, routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use analytics::{ChurnAnalytics, MrrAnalytics, RevenueAnalytics, RevenueReport};
pub use endpoints::{CreateEndpointRequest, EndpointList, UpdateEndpointRequest};
pub use invoices::{AdminInvoicePage, CreateInvoiceRequest, Reconciliation};
pub use jobs::{JobList, JobView};
pub use plans::{CreatePlanRequest, DeletedPlan, PlanList, UpdatePlanRequest};
pub use subscriptions::{SubscriptionList, SubscriptionView, UpdateSubscriptionRequest};
pub use tokens::{CreateManagementTokenRequest, CreatedManagementToken, ManagementTokenList, ManagementTokenView};
pub use users::{
    AdminUserPage, CreateUserRequest, DeletedUserView, SuspendUserRequest, UpdateUserRequest, UserDetail,
    UserOrganization, UserUsage,
};

#[derive(OpenApi)]
#[openapi(tags((name = "admin", description = "Operator administration: users, plans, subscriptions, endpoints, billing, jobs, the audit log (admin role)")))]
struct AdminApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AdminApi::openapi)
        .routes(routes!(plans::list_plans, plans::create_plan))
        .routes(routes!(plans::update_plan, plans::delete_plan))
        .routes(routes!(subscriptions::list_subscriptions))
        .routes(routes!(subscriptions::update_subscription))
        .routes(routes!(subscriptions::cancel_subscription))
        .routes(routes!(endpoints::list_endpoints, endpoints::create_endpoint))
        .routes(routes!(endpoints::update_endpoint, endpoints::delete_endpoint))
        .routes(routes!(invoices::list_invoices, invoices::create_invoice))
        .routes(routes!(invoices::mark_paid))
        .routes(routes!(invoices::reconciliation))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::run_job_now))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::suspend))
        .routes(routes!(users::unsuspend))
        .routes(routes!(audit::list_audit_logs))
        .routes(routes!(analytics::mrr))
        .routes(routes!(analytics::churn))
        .routes(routes!(analytics::revenue))
        .routes(routes!(analytics::users))
        .routes(routes!(analytics::usage))
        .routes(routes!(analytics::top_customers))
        .routes(routes!(analytics::revenue_report))
        .routes(routes!(tokens::list_tokens, tokens::create_token))
        .routes(routes!(tokens::revoke_token))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

/// For partial updates: an absent field is `None` (keep), `null` is `Some(None)` (clear).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

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
/// `OpenApiRouter` (the spec, the single-process server), without building it as an
/// `axum::Router` (see [`RouteTable`]). Three Lambda functions serve it in AWS: `admin`
/// ([`operations_routes`]), `admin-billing` ([`billing_routes`]) and `admin-jobs`
/// ([`jobs_routes`]), so that no binary passes 8 MiB.
pub fn routes<T: RouteTable<AppState>>() -> T {
    operations_routes::<T>().merge(billing_routes()).merge(jobs_routes())
}

/// The admin routes that never call the payment provider: users, subscriptions, the endpoint
/// catalog, the audit log, analytics and management tokens (the `admin` function).
pub fn operations_routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AdminApi::openapi)
        .routes(routes!(subscriptions::list_subscriptions))
        .routes(routes!(subscriptions::update_subscription))
        .routes(routes!(subscriptions::cancel_subscription))
        .routes(routes!(endpoints::list_endpoints, endpoints::create_endpoint))
        .routes(routes!(endpoints::update_endpoint, endpoints::delete_endpoint))
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

/// The admin routes that call the payment provider (the `admin-billing` function, which
/// links the Stripe client so that `admin` need not): the plan catalog (synced to Stripe's
/// products and prices) and invoices.
pub fn billing_routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AdminApi::openapi)
        .routes(routes!(plans::list_plans, plans::create_plan))
        .routes(routes!(plans::update_plan, plans::delete_plan))
        .routes(routes!(invoices::list_invoices, invoices::create_invoice))
        .routes(routes!(invoices::mark_paid))
        .routes(routes!(invoices::reconciliation))
}

/// The scheduled jobs' runs and a run by hand (the `admin-jobs` function: every job's code,
/// Stripe's included for closing a period, and a longer timeout, since a job may walk every
/// organization).
pub fn jobs_routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AdminApi::openapi).routes(routes!(jobs::list_jobs)).routes(routes!(jobs::run_job_now))
}

/// The finished router (common layers included) of the `admin` Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(operations_routes(), state)
}

/// The finished router (common layers included) of the `admin-billing` Lambda function.
pub fn billing_router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(billing_routes(), state)
}

/// The finished router (common layers included) of the `admin-jobs` Lambda function.
pub fn jobs_router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(jobs_routes(), state)
}

/// For partial updates: an absent field is `None` (keep), `null` is `Some(None)` (clear).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa_axum::router::OpenApiRouter;

    fn paths(table: OpenApiRouter<AppState>) -> BTreeSet<String> {
        table.into_openapi().paths.paths.keys().cloned().collect()
    }

    /// The `Path:` of every HttpApi event of the resource `function` in template.yaml.
    fn template_routes(function: &str) -> Vec<String> {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let start =
            template.find(&format!("\n  {function}:\n")).unwrap_or_else(|| panic!("{function} in the template"));
        template[start + 1..]
            .lines()
            .skip(1)
            // The next resource (or its comment) starts at two spaces.
            .take_while(|line| line.trim().is_empty() || line.starts_with("   "))
            .filter_map(|line| line.trim().strip_prefix("Path: ").map(str::to_string))
            .collect()
    }

    /// Whether API Gateway's route `route` takes requests for the OpenAPI path `path`: a
    /// greedy `{proxy+}` takes everything under its prefix, `{name}` one segment.
    fn takes(route: &str, path: &str) -> bool {
        if let Some(prefix) = route.strip_suffix("{proxy+}") {
            return path.starts_with(prefix) && path.len() > prefix.len();
        }
        let (route, path): (Vec<_>, Vec<_>) = (route.split('/').collect(), path.split('/').collect());
        route.len() == path.len() && route.iter().zip(&path).all(|(r, p)| r == p || r.starts_with('{'))
    }

    /// The three functions serve the whole group between them, each route once, and API
    /// Gateway sends each path to the one that serves it: admin-billing's and admin-jobs'
    /// routes are more specific than admin's `/api/admin/{proxy+}`, so they must take their
    /// own paths and no other.
    #[test]
    fn the_admin_functions_split_the_group_as_the_template_routes_it() {
        let parts = [
            ("AdminFunction", paths(operations_routes())),
            ("AdminBillingFunction", paths(billing_routes())),
            ("AdminJobsFunction", paths(jobs_routes())),
        ];
        let all: Vec<&String> = parts.iter().flat_map(|(_, p)| p).collect();
        assert_eq!(all.len(), all.iter().collect::<BTreeSet<_>>().len(), "a path in two functions: {all:?}");
        assert_eq!(all.into_iter().cloned().collect::<BTreeSet<_>>(), paths(routes()));
        assert_eq!(template_routes("AdminFunction"), ["/api/admin/{proxy+}"]);
        let specific = ["AdminBillingFunction", "AdminJobsFunction"].map(|f| (f, template_routes(f)));
        for (function, function_paths) in &parts {
            for path in function_paths {
                assert!(takes("/api/admin/{proxy+}", path), "{path}");
                for (other, routes) in &specific {
                    let taken: Vec<_> = routes.iter().filter(|r| takes(r, path)).collect();
                    assert_eq!(!taken.is_empty(), other == function, "{path} ({function}) and {other}'s {taken:?}");
                }
            }
        }
    }
}

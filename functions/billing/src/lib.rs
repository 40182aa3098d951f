//! The `billing` route group: the public price list (`GET /api/plans`) and the signed-in
//! user's subscription with the current period's usage (`GET /api/user/subscription`).

mod handlers;

use tollgate_http::AppState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use handlers::{PlanList, SubscriptionDetails};

#[derive(OpenApi)]
#[openapi(tags((name = "billing", description = "Plans and the signed-in user's subscription")))]
struct BillingApi;

/// The route group with its OpenAPI description, at the production paths.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(BillingApi::openapi())
        .routes(routes!(handlers::list_plans))
        .routes(routes!(handlers::get_subscription))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    tollgate_http::finish_router(router.with_state(state))
}

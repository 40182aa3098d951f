//! The `account` route group (`/api/user/account/...`): profile, password change and
//! account deletion.

mod handlers;

use tollgate_http::AppState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use handlers::{ChangePasswordRequest, DeleteAccountRequest, UpdateProfileRequest};

#[derive(OpenApi)]
#[openapi(tags((name = "account", description = "The signed-in user's account")))]
struct AccountApi;

/// The route group with its OpenAPI description, at the production paths.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(AccountApi::openapi())
        .routes(routes!(handlers::get_profile, handlers::update_profile))
        .routes(routes!(handlers::change_password))
        .routes(routes!(handlers::delete_account))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    tollgate_http::finish_router(router.with_state(state))
}

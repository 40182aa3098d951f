//! The `api-keys` route group (`/api/user/api-keys`): list, create, show, revoke and rotate
//! the API keys of the signed-in user's organization.

mod handlers;

use tollgate_http::AppState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use handlers::{ApiKeyView, CreateApiKeyRequest, CreatedApiKey, RotateApiKeyRequest};

#[derive(OpenApi)]
#[openapi(tags((name = "api-keys", description = "API keys of the signed-in user's organization")))]
struct ApiKeysApi;

/// The route group with its OpenAPI description, at the production paths.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiKeysApi::openapi())
        .routes(routes!(handlers::list_keys, handlers::create_key))
        .routes(routes!(handlers::get_key, handlers::revoke_key))
        .routes(routes!(handlers::rotate_key))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    tollgate_http::finish_router(router.with_state(state))
}

//! The `public` route group: `GET /health` and `GET /api/openapi.json`, the OpenAPI spec of
//! every route group, assembled from the handlers' annotations.

use axum::Json;
use serde::Serialize;
use std::sync::OnceLock;
use tollgate_http::openapi::{BearerAuth, CommonErrors};
use tollgate_http::AppState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "tollgate", description = "Sell your API: keys, metering, quotas and billing."),
    modifiers(&BearerAuth),
    tags((name = "public", description = "Health and this specification"))
)]
struct PublicApi;

/// Liveness answer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
    pub version: String,
}

/// Liveness probe: answers when the process serves requests.
#[utoipa::path(get, path = "/health", tag = "public", responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() })
}

/// The OpenAPI 3.1 specification of every route.
#[utoipa::path(get, path = "/api/openapi.json", tag = "public", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    static SPEC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    Json(SPEC.get_or_init(openapi))
}

/// This route group alone. It needs no state, so its Lambda function needs no store or
/// secret access.
pub fn routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::with_openapi(PublicApi::openapi()).routes(routes!(health)).routes(routes!(openapi_json))
}

/// Every route group of the platform, for the single-process server and the spec. New
/// route groups are added here.
pub fn all_routes() -> OpenApiRouter<AppState> {
    routes()
        .merge(auth::routes())
        .merge(account::routes())
        .merge(api_keys::routes())
        .merge(usage::routes())
        .merge(billing::routes())
        .merge(admin::routes())
}

/// The full specification, with the error answers every operation gets from its kind.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = all_routes().into_openapi();
    // The gateway has its own state (not `AppState`), so it joins the spec here.
    api.merge(gateway::openapi());
    utoipa::Modify::modify(&CommonErrors, &mut api);
    api
}

/// The finished router of this group for its Lambda function.
pub fn router() -> axum::Router {
    let (router, _) = routes::<()>().split_for_parts();
    tollgate_http::finish_router(router)
}

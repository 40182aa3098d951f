//! The `public` route group: `GET /health` and `GET /api/openapi.json`, the OpenAPI spec of
//! every route group. It lives beside the registry because the spec is built from it.

use axum::Json;
use serde::Serialize;
use std::sync::OnceLock;
use tollgate_http::openapi::BearerAuth;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "tollgate", description = "Sell your API: keys, metering, quotas and billing. Routes under /api/user/ that work on an organization's data (keys, projects, usage, subscription, billing, webhooks, notification settings, activity) use the organization named by the `X-Org-Id` header, the caller's personal one without it: a non-member gets 404, a member whose role lacks the permission 403 `permission_denied`."),
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
    Json(SPEC.get_or_init(crate::openapi))
}

/// This route group alone. It needs no state, so its Lambda function needs no store or
/// secret access.
pub fn routes<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::with_openapi(PublicApi::openapi()).routes(routes!(health)).routes(routes!(openapi_json))
}

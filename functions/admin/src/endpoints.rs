//! `/api/admin/endpoints`: the catalog the gateway serves under `/api/v1`.

use crate::{double_option, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::subscriptions::ENDPOINT_PREFIX;
use tollgate_domain::endpoint::{METHODS, SCOPE_PATTERN};
use tollgate_domain::{AuditEvent, Endpoint, Id, StoreError, BUILTIN_ECHO};
use tollgate_http::openapi::fields;
use tollgate_http::views::{optional_text_field, text_field, DESCRIPTION_MAX, NAME_MAX};
use tollgate_http::{AdminUser, ApiError, ApiJson, AppState, ErrorBody, ErrorCode};
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

/// Every endpoint, by path then method.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<Endpoint>,
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpointRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
    #[schema(schema_with = method)]
    pub method: String,
    #[schema(schema_with = path)]
    pub path: String,
    #[schema(schema_with = upstream_url)]
    pub upstream_url: String,
    /// Cost units per call, 1 to 1000000 (default 1).
    #[schema(minimum = 1, maximum = 1000000)]
    pub cost_units: Option<u32>,
    /// Requests per minute per key on top of the plan's; default none.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub rate_limit: Option<u32>,
    /// Served without a key, limited per client IP (default false).
    pub public: Option<bool>,
    /// The endpoint's group: API keys with `scopes` call it only if it is one of them.
    /// Absent or null: no group, every key calls it.
    #[schema(schema_with = scope)]
    pub scope: Option<String>,
}

/// A partial update: fields left out keep their value; `null` clears `description`,
/// `rate_limit` and `scope`. The result is validated as on creation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    #[schema(schema_with = fields::name_update)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::description)]
    pub description: Option<Option<String>>,
    #[schema(schema_with = method_update)]
    pub method: Option<String>,
    #[schema(schema_with = path_update)]
    pub path: Option<String>,
    #[schema(schema_with = upstream_url_update)]
    pub upstream_url: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub cost_units: Option<u32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub rate_limit: Option<Option<u32>>,
    pub public: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = scope)]
    pub scope: Option<Option<String>>,
}

/// The schemas of `method`, `path` and `upstream_url`: what `Endpoint::validate` accepts
/// (after trimming), as JSON Schema. The update variants also take `null` (= unchanged).
fn method() -> Object {
    method_schema(false)
}
fn method_update() -> Object {
    method_schema(true)
}
fn path() -> Object {
    path_schema(false)
}
fn path_update() -> Object {
    path_schema(true)
}
fn upstream_url() -> Object {
    upstream_url_schema(false)
}
fn upstream_url_update() -> Object {
    upstream_url_schema(true)
}

/// `scope`: an endpoint group name or null (no group).
fn scope() -> Object {
    fields::string(true)
        .pattern(Some(SCOPE_PATTERN))
        .max_length(Some(tollgate_domain::endpoint::SCOPE_MAX_LEN))
        .description(Some(
            "The endpoint's group (`^[a-z0-9][a-z0-9_.:-]{0,49}$`): API keys with `scopes` call it only if \
             the group is one of them; null: no group, callable by every key",
        ))
        .examples(["weather"])
        .build()
}

fn method_schema(nullable: bool) -> Object {
    // Case-insensitive: `get` is `GET`.
    fields::string(nullable)
        .pattern(Some(format!(r"^\s*(?:{})\s*$", METHODS.iter().map(|m| any_case(m)).collect::<Vec<_>>().join("|"))))
        .description(Some(format!("One of {} (case-insensitive)", METHODS.join(", "))))
        .examples(["GET"])
        .build()
}

/// `GET` as `[Gg][Ee][Tt]`: a JSON Schema pattern has no case-insensitive flag.
fn any_case(word: &str) -> String {
    word.chars().map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())).collect()
}

fn path_schema(nullable: bool) -> Object {
    const SEGMENT: &str = r"(?:[A-Za-z0-9._~-]+|\{[A-Za-z0-9_]+\})";
    const REST: &str = r"\{\*[A-Za-z0-9_]+\}";
    fields::string(nullable)
        .pattern(Some(format!(r"^\s*/(?:{SEGMENT}(?:/{SEGMENT})*(?:/(?:{REST})?)?|{REST})?\s*$")))
        .max_length(Some(200))
        .description(Some(
            "Path under `/api/v1`, at most 200 characters: literal segments (letters, digits, `-._~`), \
             `{name}` segments and an optional final `{*rest}`",
        ))
        .examples(["/weather/{city}"])
        .build()
}

fn upstream_url_schema(nullable: bool) -> Object {
    fields::string(nullable)
        .pattern(Some(format!(r"^\s*(?:{BUILTIN_ECHO}|https?://\S*)\s*$")))
        .max_length(Some(500))
        .description(Some("An `http(s)://` base URL (at most 500 characters, no white space) or `builtin:echo`"))
        .examples(["https://weather.internal.example.com"])
        .build()
}

/// Normalizes and validates the human fields, then the domain's rules.
fn validated(mut e: Endpoint) -> Result<Endpoint, ApiError> {
    e.name = text_field("name", &e.name, NAME_MAX)?;
    e.description = optional_text_field("description", e.description.as_deref(), DESCRIPTION_MAX)?;
    e.method = e.method.trim().to_ascii_uppercase();
    e.path = e.path.trim().to_string();
    e.upstream_url = e.upstream_url.trim().to_string();
    e.validate()?;
    Ok(e)
}

fn collision(e: StoreError) -> ApiError {
    match e {
        StoreError::AlreadyExists(_) => {
            ApiError::rejected(ErrorCode::EndpointExists, "an endpoint with this method and path already exists")
        }
        e => e.into(),
    }
}

/// The endpoint as stored (timestamps at the store's precision).
async fn stored(state: &AppState, e: Endpoint) -> Result<Endpoint, ApiError> {
    Ok(state.store.get_endpoint(&e.id).await?.unwrap_or(e))
}

async fn existing(state: &AppState, raw: &str) -> Result<Endpoint, ApiError> {
    let id = path_id(raw, ENDPOINT_PREFIX, "endpoint")?;
    state.store.get_endpoint(&id).await?.ok_or_else(|| ApiError::NotFound("endpoint".into()))
}

/// Every endpoint.
#[utoipa::path(get, path = "/api/admin/endpoints", operation_id = "admin_list_endpoints", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
    ))]
pub async fn list_endpoints(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<EndpointList>, ApiError> {
    Ok(Json(EndpointList { data: state.store.list_endpoints().await? }))
}

/// Adds an endpoint (id `ep_<random>`). The gateway serves it within its cache time.
#[utoipa::path(post, path = "/api/admin/endpoints", operation_id = "admin_create_endpoint", tag = "admin", security(("bearer" = [])),
    request_body = CreateEndpointRequest,
    responses(
        (status = 201, description = "The new endpoint", body = Endpoint),
        (status = 409, description = "`endpoint_exists`: an endpoint with this method and path exists", body = ErrorBody),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(req): ApiJson<CreateEndpointRequest>,
) -> Result<(StatusCode, Json<Endpoint>), ApiError> {
    let now = state.now();
    let endpoint = validated(Endpoint {
        id: Id::generate(ENDPOINT_PREFIX),
        name: req.name,
        description: req.description,
        method: req.method,
        path: req.path,
        upstream_url: req.upstream_url,
        cost_units: req.cost_units.unwrap_or(1),
        rate_limit: req.rate_limit,
        public: req.public.unwrap_or(false),
        scope: req.scope,
        created_at: now,
        updated_at: now,
    })?;
    state.store.create_endpoint(&endpoint).await.map_err(collision)?;
    state
        .audit(
            AuditEvent::new("endpoint.create", now)
                .actor(&admin.user.id)
                .target(endpoint.id.to_string())
                .ip(admin.ip)
                .details(serde_json::json!({ "method": endpoint.method, "path": endpoint.path })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(stored(&state, endpoint).await?)))
}

/// Updates an endpoint: a partial update (see `UpdateEndpointRequest`).
#[utoipa::path(put, path = "/api/admin/endpoints/{id}", operation_id = "admin_update_endpoint", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateEndpointRequest,
    responses(
        (status = 200, description = "The updated endpoint", body = Endpoint),
        (status = 409, description = "`endpoint_exists`: another endpoint has this method and path", body = ErrorBody),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateEndpointRequest>,
) -> Result<Json<Endpoint>, ApiError> {
    let now = state.now();
    let mut e = existing(&state, &id).await?;
    let mut changed: Vec<&str> = Vec::new();
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = req.$field {
                e.$field = v;
                changed.push(stringify!($field));
            }
        };
    }
    set!(name);
    set!(description);
    set!(method);
    set!(path);
    set!(upstream_url);
    set!(cost_units);
    set!(rate_limit);
    set!(public);
    set!(scope);
    e.updated_at = now;
    let endpoint = validated(e)?;
    state.store.update_endpoint(&endpoint).await.map_err(collision)?;
    state
        .audit(
            AuditEvent::new("endpoint.update", now)
                .actor(&admin.user.id)
                .target(endpoint.id.to_string())
                .ip(admin.ip)
                .details(serde_json::json!({ "fields": changed })),
        )
        .await;
    Ok(Json(stored(&state, endpoint).await?))
}

/// Deletes an endpoint: the gateway stops serving it within its cache time. Its usage
/// history stays (statistics then show it without a name).
#[utoipa::path(delete, path = "/api/admin/endpoints/{id}", operation_id = "admin_delete_endpoint", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
    ))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.now();
    let endpoint = existing(&state, &id).await?;
    state.store.delete_endpoint(&endpoint.id).await?;
    state
        .audit(
            AuditEvent::new("endpoint.delete", now)
                .actor(&admin.user.id)
                .target(endpoint.id.to_string())
                .ip(admin.ip)
                .details(serde_json::json!({ "method": endpoint.method, "path": endpoint.path })),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

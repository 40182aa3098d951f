//! Handlers of the api-keys route group. Every query is scoped to the caller's organization,
//! so another tenant's key id is simply "not found".

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tollgate_app::{current_subscription, default_project, project_of};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    fold_leap_second, key_scopes, ApiKey, ApiKeyStatus, AuditEvent, Id, KeyRotation, NewApiKey, StoreError,
};
use tollgate_http::openapi::fields;
pub use tollgate_http::views::ApiKeyView;
use tollgate_http::views::{text_field, NAME_MAX};
use tollgate_http::{
    can, ApiError, ApiJson, ApiQuery, AppState, AuthUser, Authorized, ErrorBody, ErrorCode, OptionalJson,
};
use utoipa::{IntoParams, ToSchema};

/// Longest lifetime a key may be created with.
const MAX_KEY_LIFETIME_DAYS: i64 = 3 * 366;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeyView>,
    /// Keys that are usable now (neither revoked nor expired).
    pub active: u32,
    /// How many usable keys the organization's plan allows.
    pub limit: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// Optional expiry (RFC 3339), in the future and at most 3 years away.
    pub expires_at: Option<DateTime<Utc>>,
    /// The project of the key (default: the organization's default project).
    pub project_id: Option<Id>,
    /// The endpoint groups the key may call: 1 to 20 names (duplicates dropped). Endpoints
    /// without a group stay callable. Absent or null: every endpoint.
    #[schema(schema_with = scopes)]
    pub scopes: Option<Vec<String>>,
}

/// `scopes`: null, or 1 to 20 endpoint group names.
fn scopes() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            fields::string(false)
                .pattern(Some(tollgate_domain::endpoint::SCOPE_PATTERN))
                .max_length(Some(tollgate_domain::endpoint::SCOPE_MAX_LEN)),
        )
        .min_items(Some(1))
        .max_items(Some(tollgate_domain::api_key::MAX_KEY_SCOPES))
        .description(Some("Endpoint groups the key may call (1 to 20); null: every endpoint"))
        .examples([serde_json::json!(["weather"])])
        .build()
}

/// Filter of the key listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Only the keys of this project.
    pub project_id: Option<String>,
}

/// A new secret: shown once, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    pub key: ApiKeyView,
    /// The full key. Store it now: only its hash is kept.
    #[schema(example = "sk_live_4f9K2mZq8TfW1pLx0aB3cD_0x7Qa2")]
    pub secret: String,
    /// For a rotation: until when the previous secret keeps working.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateApiKeyRequest {
    /// How long the old secret keeps working, 0 (default) to 604800 seconds (7 days).
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_period_seconds: Option<u32>,
}

/// The audit event of `action` by the signed-in user on `key`.
fn key_event(action: &str, now: DateTime<Utc>, auth: &AuthUser, key: &ApiKey) -> AuditEvent {
    auth.audit_event(action, now).target(key.id.to_string())
}

/// Ids that cannot be ours are 404 without touching the store.
fn key_id(raw: &str) -> Result<Id, ApiError> {
    if Id::is_plausible(raw, prefix::API_KEY) {
        Ok(Id::from_string(raw))
    } else {
        Err(ApiError::NotFound("api key".into()))
    }
}

/// The organization's keys, newest first, revoked and expired ones included.
#[utoipa::path(get, path = "/api/user/api-keys", tag = "api-keys", security(("bearer" = [])),
    params(KeyListQuery),
    responses(
        (status = 200, description = "The keys", body = ApiKeyList),
        (status = 404, description = "`not_found`: no such project in the organization", body = ErrorBody),
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<KeyListQuery>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let project = match q.project_id.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => {
            let id = crate::projects::project_id(raw)?;
            Some(project_of(state.store.as_ref(), &auth.org_id, &id, state.now()).await?.id)
        }
        None => None,
    };
    keys_view(&state, &auth, project.as_ref()).await.map(Json)
}

/// The organization's keys (of `project` only, when given), newest first, with the count of
/// usable ones against the plan's limit (which counts every project's keys).
pub(crate) async fn keys_view(state: &AppState, auth: &AuthUser, project: Option<&Id>) -> Result<ApiKeyList, ApiError> {
    let now = state.now();
    let keys = state.store.list_api_keys(&auth.org_id).await?;
    let active = keys.iter().filter(|k| k.status(now) == ApiKeyStatus::Active).count() as u32;
    let data: Vec<ApiKeyView> =
        keys.iter().filter(|k| project.is_none_or(|p| k.project_id == *p)).map(|k| ApiKeyView::new(k, now)).collect();
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    Ok(ApiKeyList { data, active, limit: plan.max_api_keys })
}

/// Creates a key. The secret is in this response only.
#[utoipa::path(post, path = "/api/user/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Key created; the secret is shown once", body = CreatedApiKey),
        (status = 404, description = "`not_found`: no such project in the organization", body = ErrorBody),
        (status = 409, description = "`key_limit_reached`: the organization has its plan's maximum of usable keys", body = ErrorBody),
        (status = 422, description = "`invalid_field`: invalid name or scopes, or an expiry not in the future or more than 3 years away", body = ErrorBody),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let project = req.project_id.clone();
    create_key_in(&state, &auth, req, project).await
}

/// Creates a key in `project` (default: the organization's default project), within the
/// plan's number of usable keys.
pub(crate) async fn create_key_in(
    state: &AppState,
    auth: &AuthUser,
    req: CreateApiKeyRequest,
    project: Option<Id>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let now = state.now();
    let project = match project {
        Some(id) => project_of(state.store.as_ref(), &auth.org_id, &id, now).await?,
        None => default_project(state.store.as_ref(), &auth.org_id, now).await?,
    };
    let name = text_field("name", &req.name, NAME_MAX)?;
    let expires_at = req.expires_at.map(fold_leap_second);
    if let Some(exp) = expires_at {
        if exp <= now + Duration::minutes(1) {
            return Err(ApiError::invalid_field("expires_at", "must be in the future"));
        }
        if exp > now + Duration::days(MAX_KEY_LIFETIME_DAYS) {
            return Err(ApiError::invalid_field("expires_at", "must be at most 3 years away"));
        }
    }
    let scopes = req.scopes.map(key_scopes).transpose()?;
    let new = NewApiKey::generate();
    let key = ApiKey {
        id: Id::generate(prefix::API_KEY),
        org_id: auth.org_id.clone(),
        project_id: project.id.clone(),
        created_by: auth.user.id.clone(),
        name,
        display_prefix: new.display_prefix.clone(),
        last4: new.last4.clone(),
        created_at: now,
        last_used_at: None,
        expires_at,
        revoked_at: None,
        rotated_at: None,
        scopes,
    };
    let secret = new.current_secret(&key.id, &key.org_id, now);
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    let limit = plan.max_api_keys;
    state.store.create_api_key(&key, &secret, limit, now).await.map_err(|e| match e {
        StoreError::LimitReached(_) => ApiError::rejected(
            ErrorCode::KeyLimitReached,
            format!("your plan ({}) allows {limit} active keys; revoke one before creating another", plan.name),
        ),
        e => e.into(),
    })?;
    let event = key_event("api_key.create", now, auth, &key);
    let event = match &key.scopes {
        Some(scopes) => event.details(serde_json::json!({ "scopes": scopes })),
        None => event,
    };
    state.audit(event).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: ApiKeyView::new(&key, now),
            secret: new.plaintext,
            previous_secret_valid_until: None,
        }),
    ))
}

/// One key.
#[utoipa::path(get, path = "/api/user/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key", body = ApiKeyView),
    ))]
pub async fn get_key(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = state
        .store
        .get_api_key(&auth.org_id, &key_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound("api key".into()))?;
    Ok(Json(ApiKeyView::new(&key, state.now())))
}

/// Revokes a key at once (the gateway refuses it within 5 seconds). Revoking twice is harmless.
#[utoipa::path(delete, path = "/api/user/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyView),
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let now = state.now();
    let key = state.store.revoke_api_key(&auth.org_id, &key_id(&id)?, now).await?;
    state.audit(key_event("api_key.revoke", now, &auth, &key)).await;
    Ok(Json(ApiKeyView::new(&key, now)))
}

/// Gives the key a new secret. The old secret keeps working for the grace period, if any.
#[utoipa::path(post, path = "/api/user/api-keys/{id}/rotate", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<RotateApiKeyRequest>, description = "Optional: the grace period"),
    responses(
        (status = 200, description = "New secret; shown once", body = CreatedApiKey),
        (status = 409, description = "`key_not_active`: the key is revoked or expired", body = ErrorBody),
        (status = 422, description = "`invalid_field`: grace period over 604800 seconds", body = ErrorBody),
    ))]
pub async fn rotate_key(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<RotateApiKeyRequest>,
) -> Result<Json<CreatedApiKey>, ApiError> {
    let now = state.now();
    let id = key_id(&id)?;
    let grace = Duration::seconds(i64::from(req.unwrap_or_default().grace_period_seconds.unwrap_or(0)));
    if grace > state.settings.max_key_rotation_grace {
        return Err(ApiError::invalid_field("grace_period_seconds", "must be at most 604800 (7 days)"));
    }
    let current =
        state.store.get_api_key(&auth.org_id, &id).await?.ok_or_else(|| ApiError::NotFound("api key".into()))?;
    if current.status(now) != ApiKeyStatus::Active {
        return Err(ApiError::rejected(ErrorCode::KeyNotActive, "only an active key can be rotated"));
    }
    let new = NewApiKey::generate();
    let rotation = KeyRotation::new(&id, &auth.org_id, &new, now, now + grace);
    let key = state.store.rotate_api_key(&auth.org_id, &id, &rotation, now).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::rejected(ErrorCode::KeyNotActive, "only an active key can be rotated"),
        e => e.into(),
    })?;
    let event = key_event("api_key.rotate", now, &auth, &key);
    state.audit(event.details(serde_json::json!({ "grace_period_seconds": grace.num_seconds() }))).await;
    Ok(Json(CreatedApiKey {
        key: ApiKeyView::new(&key, now),
        secret: new.plaintext,
        previous_secret_valid_until: (grace > Duration::zero()).then_some(rotation.old_valid_until),
    }))
}

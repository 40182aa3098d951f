//! `/api/admin/tokens`: management tokens for the operator's own back end. Only an admin
//! signed in with a JWT manages them (`AdminUser` refuses every token on these routes).

use crate::path_id;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    fold_leap_second, management_scopes, Id, ManagementScope, ManagementToken, ManagementTokenStatus,
    NewManagementToken,
};
use tollgate_http::openapi::fields;
use tollgate_http::views::{text_field, NAME_MAX};
use tollgate_http::{AdminUser, ApiError, ApiJson, AppState, ErrorBody};
use utoipa::ToSchema;

/// Longest lifetime a token may be created with.
const MAX_TOKEN_LIFETIME_DAYS: i64 = 3 * 366;

/// A new management token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateManagementTokenRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
    /// What the token may do, 1 to 8 of the scopes (`write:` implies `read:`).
    #[schema(value_type = Vec<ManagementScope>, min_items = 1, max_items = 8)]
    pub scopes: Vec<String>,
    /// Optional expiry (RFC 3339), in the future and at most 3 years away.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A management token as listed: never the secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ManagementTokenView {
    pub id: Id,
    pub name: String,
    /// `tgm_` and the first 4 characters of the secret.
    #[schema(example = "tgm_4f9K")]
    pub prefix: String,
    pub scopes: Vec<ManagementScope>,
    pub status: ManagementTokenStatus,
    /// The admin who created it: the actor of what it does.
    pub created_by: Id,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ManagementTokenView {
    fn new(t: &ManagementToken, now: DateTime<Utc>) -> Self {
        ManagementTokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            prefix: t.display_prefix.clone(),
            scopes: t.scopes.clone(),
            status: t.status(now),
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token and its secret: shown once, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedManagementToken {
    pub token: ManagementTokenView,
    /// The full token, for `Authorization: Bearer`. Store it now: only its hash is kept.
    #[schema(example = "tgm_4f9K2mZq8TfW1pLx0aB3cDe5Gh7Jk9Lm1Np3Qr5St7Uv")]
    pub secret: String,
}

/// Every management token, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ManagementTokenList {
    pub data: Vec<ManagementTokenView>,
}

/// The audit event of `action` on `token` by the signed-in admin.
fn token_event(
    action: &str,
    now: DateTime<Utc>,
    admin: &AdminUser,
    token: &ManagementToken,
) -> tollgate_domain::AuditEvent {
    admin.0.audit_event(action, now).target(token.id.to_string()).details(serde_json::json!({
        "name": token.name,
        "scopes": token.scopes,
        "expires_at": token.expires_at,
    }))
}

/// Creates a management token. The secret is in this response only.
#[utoipa::path(post, path = "/api/admin/tokens", operation_id = "admin_create_token", tag = "admin", security(("bearer" = [])),
    request_body = CreateManagementTokenRequest,
    responses(
        (status = 201, description = "Token created; the secret is shown once", body = CreatedManagementToken),
        (status = 422, description = "`invalid_field`: invalid name or scopes, or an expiry not in the future or more than 3 years away", body = ErrorBody),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(req): ApiJson<CreateManagementTokenRequest>,
) -> Result<(StatusCode, Json<CreatedManagementToken>), ApiError> {
    let now = state.now();
    let name = text_field("name", &req.name, NAME_MAX)?;
    let scopes = management_scopes(&req.scopes)?;
    let expires_at = req.expires_at.map(fold_leap_second);
    if let Some(exp) = expires_at {
        if exp <= now + Duration::minutes(1) {
            return Err(ApiError::invalid_field("expires_at", "must be in the future"));
        }
        if exp > now + Duration::days(MAX_TOKEN_LIFETIME_DAYS) {
            return Err(ApiError::invalid_field("expires_at", "must be at most 3 years away"));
        }
    }
    let secret = NewManagementToken::generate();
    let token = ManagementToken {
        id: Id::generate(prefix::MANAGEMENT_TOKEN),
        name,
        display_prefix: secret.display_prefix.clone(),
        scopes,
        created_by: admin.0.user.id.clone(),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    state.store.create_management_token(&token, &secret.hash).await?;
    state.audit(token_event("management_token.create", now, &admin, &token)).await;
    let token = ManagementTokenView::new(&token, now);
    Ok((StatusCode::CREATED, Json(CreatedManagementToken { token, secret: secret.plaintext })))
}

/// Every management token, newest first, revoked and expired ones included (never a secret).
#[utoipa::path(get, path = "/api/admin/tokens", operation_id = "admin_list_tokens", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The tokens", body = ManagementTokenList),
    ))]
pub async fn list_tokens(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ManagementTokenList>, ApiError> {
    let now = state.now();
    let tokens = state.store.list_management_tokens().await?;
    Ok(Json(ManagementTokenList { data: tokens.iter().map(|t| ManagementTokenView::new(t, now)).collect() }))
}

/// Revokes a management token: it is refused (401 `invalid_token`) from now on. Revoking a
/// revoked token changes nothing.
#[utoipa::path(delete, path = "/api/admin/tokens/{id}", operation_id = "admin_revoke_token", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 200, description = "The revoked token", body = ManagementTokenView),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ManagementTokenView>, ApiError> {
    let now = state.now();
    let id = path_id(&id, prefix::MANAGEMENT_TOKEN, "management token")?;
    let token = state.store.revoke_management_token(&id, now).await?;
    // Audited once: a repeated revocation finds it revoked earlier. (Stores keep times to
    // the millisecond, so "now" comes back rounded down.)
    if token.revoked_at.is_some_and(|at| now - at < Duration::milliseconds(1)) {
        state.audit(token_event("management_token.revoke", now, &admin, &token)).await;
    }
    Ok(Json(ManagementTokenView::new(&token, now)))
}

//! Handlers of the account route group.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::{AuditEvent, PasswordPolicy};
use tollgate_http::openapi::fields;
use tollgate_http::views::{optional_text_field, text_field, Message, UserProfile, COMPANY_MAX, NAME_MAX};
use tollgate_http::{ApiError, ApiJson, AppState, AuthUser, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// Fields to change; absent fields stay as they are, an empty `company_name` clears it.
/// The email address cannot be changed here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    #[schema(schema_with = fields::name_update)]
    pub first_name: Option<String>,
    #[schema(schema_with = fields::name_update)]
    pub last_name: Option<String>,
    #[schema(schema_with = fields::company)]
    pub company_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(schema_with = fields::new_password)]
    pub new_password: String,
}

/// The password, to confirm the deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// 401 `invalid_credentials` unless `password` is the user's.
async fn confirm_password(state: &AppState, auth: &AuthUser, password: String) -> Result<(), ApiError> {
    if !state.passwords.verify(password, auth.user.password_hash.clone()).await? {
        return Err(ApiError::rejected(ErrorCode::InvalidCredentials, "the password is wrong"));
    }
    Ok(())
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/api/user/account/profile", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = UserProfile),
    ))]
pub async fn get_profile(auth: AuthUser) -> Json<UserProfile> {
    Json(UserProfile::from(&auth.user))
}

/// Updates names and company.
#[utoipa::path(put, path = "/api/user/account/profile", tag = "account", security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "The updated profile", body = UserProfile),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn update_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<UpdateProfileRequest>,
) -> Result<Json<UserProfile>, ApiError> {
    let mut user = auth.user;
    if let Some(v) = req.first_name {
        user.first_name = text_field("first_name", &v, NAME_MAX)?;
    }
    if let Some(v) = req.last_name {
        user.last_name = text_field("last_name", &v, NAME_MAX)?;
    }
    if req.company_name.is_some() {
        user.company_name = optional_text_field("company_name", req.company_name.as_deref(), COMPANY_MAX)?;
    }
    user.updated_at = state.now();
    state.store.update_user(&user).await?;
    state
        .audit(
            AuditEvent::new("user.profile_updated", user.updated_at)
                .actor(&user.id)
                .org(&user.default_org_id)
                .ip(auth.ip),
        )
        .await;
    Ok(Json(UserProfile::from(&user)))
}

/// Changes the password (the current one is required) and ends every other session; the
/// session making the change stays signed in.
#[utoipa::path(put, path = "/api/user/account/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; other sessions revoked", body = Message),
        (status = 401, description = "`invalid_credentials`: the current password is wrong", body = ErrorBody),
        (status = 422, description = "`weak_password`: the new password breaks the policy", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<Json<Message>, ApiError> {
    PasswordPolicy::check(&req.new_password, Some(&auth.user.email))?;
    confirm_password(&state, &auth, req.current_password).await?;
    let mut user = auth.user;
    user.password_hash = state.passwords.hash(req.new_password).await?;
    user.updated_at = state.now();
    state.store.update_user(&user).await?;
    let revoked =
        state.store.revoke_user_families(&user.id, Some(&auth.session_id), "password_changed", user.updated_at).await?;
    state
        .audit(
            AuditEvent::new("user.password_changed", user.updated_at)
                .actor(&user.id)
                .org(&user.default_org_id)
                .ip(auth.ip)
                .details(serde_json::json!({ "sessions_revoked": revoked })),
        )
        .await;
    Ok(Message::new(format!("password changed; {revoked} other session(s) signed out")))
}

/// Deletes the account (soft delete): the password is required; every API key of the
/// user's personal organization is revoked and every session ends. The email address can be
/// registered again at once; the deleted record is kept for the audit trail.
#[utoipa::path(delete, path = "/api/user/account", tag = "account", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 200, description = "Account deleted", body = Message),
        (status = 401, description = "`invalid_credentials`: the password is wrong", body = ErrorBody),
    ))]
pub async fn delete_account(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<DeleteAccountRequest>,
) -> Result<Json<Message>, ApiError> {
    confirm_password(&state, &auth, req.password).await?;
    let now = state.now();
    let deleted = tollgate_app::delete_user(state.store.as_ref(), &auth.user, now).await?;
    state
        .audit(
            AuditEvent::new("user.deleted", now)
                .actor(&auth.user.id)
                .org(&auth.user.default_org_id)
                .ip(auth.ip.clone())
                .user_agent(auth.user_agent.clone())
                .details(serde_json::json!({
                    "api_keys_revoked": deleted.api_keys_revoked,
                    "sessions_revoked": deleted.sessions_revoked,
                })),
        )
        .await;
    Ok(Message::new("account deleted"))
}

//! Refresh-token rotation and logout.

use crate::login::{new_refresh_token, token_response, TokenResponse};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use serde::Deserialize;
use tollgate_domain::{AuditEvent, RotateOutcome, TokenHash};
use tollgate_http::cookies::{clear_refresh_cookie, refresh_cookie};
use tollgate_http::extract::ClientIp;
use tollgate_http::ErrorCode;
use tollgate_http::{ApiError, AppState, ErrorBody, OptionalJson};
use utoipa::ToSchema;

/// The refresh token, for clients that do not keep cookies. Browsers send an empty body and
/// the cookie.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

fn presented_token(headers: &HeaderMap, body: Option<RefreshRequest>) -> Option<String> {
    body.and_then(|b| b.refresh_token).filter(|t| !t.trim().is_empty()).or_else(|| refresh_cookie(headers))
}

/// Exchanges a refresh token for a new access token and a new refresh token (rotation).
/// Presenting a token that was already exchanged is treated as theft: the whole session
/// (token family) is revoked and 401 `refresh_token_reused` is returned.
#[utoipa::path(post, path = "/api/user/auth/refresh", tag = "auth", request_body(content = Option<RefreshRequest>, description = "Optional when the refresh cookie is sent"),
    responses(
        (status = 200, description = "New tokens; refresh cookie replaced", body = TokenResponse),
        (status = 401, description = "`missing_refresh_token`, `invalid_refresh_token`, `refresh_token_expired`, `refresh_token_revoked`, `refresh_token_reused`", body = ErrorBody),
        (status = 403, description = "`account_suspended`", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let token = presented_token(&headers, body).ok_or_else(|| {
        ApiError::rejected(ErrorCode::MissingRefreshToken, "send the refresh token in the body or cookie")
    })?;
    let now = state.now();
    let hash = TokenHash::of(&token);
    let (old, family) = state
        .store
        .find_refresh_token(&hash)
        .await?
        .ok_or_else(|| ApiError::rejected(ErrorCode::InvalidRefreshToken, "the refresh token is not valid"))?;
    if family.revoked_at.is_some() {
        return Err(ApiError::rejected(ErrorCode::RefreshTokenRevoked, "this session has ended; log in again"));
    }
    if old.expires_at <= now {
        return Err(ApiError::rejected(ErrorCode::RefreshTokenExpired, "the refresh token has expired; log in again"));
    }
    let reused = || async {
        state.store.revoke_family(&family.id, "reuse_detected", now).await?;
        state
            .audit(
                AuditEvent::new("session.refresh_reuse_detected", now)
                    .actor(&family.user_id)
                    .target(family.id.to_string())
                    .ip(ip.clone()),
            )
            .await;
        Err::<(), _>(ApiError::rejected(
            ErrorCode::RefreshTokenReused,
            "this refresh token was already used; the session has been revoked for safety",
        ))
    };
    if old.rotated_at.is_some() {
        reused().await?;
    }
    let user = state
        .store
        .get_user(&old.user_id)
        .await?
        .filter(|u| u.status != tollgate_domain::UserStatus::Deleted)
        .ok_or_else(|| ApiError::rejected(ErrorCode::InvalidRefreshToken, "the account no longer exists"))?;
    if !user.is_active() {
        return Err(ApiError::account_suspended());
    }
    let (secret, new_row) = new_refresh_token(&state, &family.id, &user.id, now);
    // The rotation is conditional: if another request rotated the same token in between,
    // this one is the reuse.
    if state.store.rotate_refresh_token(&hash, &new_row, now).await? == RotateOutcome::AlreadyRotated {
        reused().await?;
    }
    token_response(&state, &user, &family.id, secret, new_row.expires_at)
}

/// Ends the session of the presented refresh token (body or cookie) and clears the cookie.
/// Always 204, so that logging out twice or with a stale cookie is harmless.
#[utoipa::path(post, path = "/api/user/auth/logout", tag = "auth", request_body(content = Option<RefreshRequest>, description = "Optional when the refresh cookie is sent"),
    responses((status = 204, description = "Logged out; cookie cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    end_session(state, ip, headers, body, "user.logout").await
}

/// Admin logout: the same as the user logout.
#[utoipa::path(post, path = "/api/admin/auth/logout", tag = "auth", request_body(content = Option<RefreshRequest>, description = "Optional when the refresh cookie is sent"),
    responses((status = 204, description = "Logged out; cookie cleared")))]
pub async fn admin_logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshRequest>,
) -> Result<impl IntoResponse, ApiError> {
    end_session(state, ip, headers, body, "admin.logout").await
}

async fn end_session(
    state: AppState,
    ip: Option<String>,
    headers: HeaderMap,
    body: Option<RefreshRequest>,
    action: &str,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = presented_token(&headers, body) {
        if let Some((_, family)) = state.store.find_refresh_token(&TokenHash::of(&token)).await? {
            let now = state.now();
            state.store.revoke_family(&family.id, "logout", now).await?;
            state.audit(AuditEvent::new(action, now).actor(&family.user_id).target(family.id.to_string()).ip(ip)).await;
        }
    }
    Ok((StatusCode::NO_CONTENT, AppendHeaders([(SET_COOKIE, clear_refresh_cookie(&state.settings))])))
}

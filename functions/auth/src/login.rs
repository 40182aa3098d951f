//! `POST /api/user/auth/login` and `POST /api/admin/auth/login`.

use crate::mfa;
use crate::throttle::LoginThrottle;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_domain::id::prefix;
use tollgate_domain::token::generate_secret_token;
use tollgate_domain::{AuditEvent, Email, Id, RefreshFamily, RefreshToken, Role, TokenHash, User};
use tollgate_http::cookies::set_refresh_cookie;
use tollgate_http::extract::ClientIp;
use tollgate_http::openapi::fields;
use tollgate_http::views::UserProfile;
use tollgate_http::{ApiError, ApiJson, AppState, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// Email and password. An address that is not well formed is simply wrong (401
/// `invalid_credentials`); the password is not checked against the policy here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(example = "correct-horse-42")]
    pub password: String,
}

/// Tokens of a session. The refresh token is also set as an HttpOnly cookie; browsers should
/// rely on the cookie, other clients send `refresh_token` in the body of `/refresh`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires (900).
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_token_expires_at: DateTime<Utc>,
    pub user: UserProfile,
}

/// Logs a user in with email and password. Failed attempts are limited per IP and per
/// account (429 `too_many_attempts` with `Retry-After`).
#[utoipa::path(post, path = "/api/user/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; refresh cookie set", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password", body = ErrorBody),
        (status = 403, description = "`account_suspended`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins from this IP or to this account", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let (user, throttle) = authenticate(&state, &req, ip.clone()).await?;
    throttle.succeeded(&state).await?;
    ensure_active(&user)?;
    start_session(&state, user, ip, "user.login").await
}

/// The answer of an admin login: the session's tokens, or, for an admin with two-factor
/// authentication, the challenge `POST /api/admin/auth/login/2fa` completes. (The schema of
/// the answer, and a type for clients; the handler writes each variant's body directly.)
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AdminLoginResponse {
    /// Logged in.
    Tokens(Box<TokenResponse>),
    /// A second factor is required.
    MfaRequired(MfaChallengeResponse),
}

/// The password was right; a second factor is needed. No session exists yet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MfaChallengeResponse {
    /// Always true.
    pub mfa_required: bool,
    /// One-time, valid 5 minutes: send it with a code to `/api/admin/auth/login/2fa`.
    pub mfa_token: String,
    /// Seconds until `mfa_token` expires (300).
    pub expires_in: i64,
}

/// Logs an admin in. Same checks as the user login, and the account must have the `admin`
/// role (403 `admin_required` otherwise). An admin with two-factor authentication gets
/// `{"mfa_required": true, "mfa_token": ...}` instead of tokens, and finishes at
/// `POST /api/admin/auth/login/2fa`.
#[utoipa::path(post, path = "/api/admin/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in (refresh cookie set), or a second factor is required", body = AdminLoginResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins from this IP or to this account", body = ErrorBody),
    ))]
pub async fn admin_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, throttle) = authenticate(&state, &req, ip.clone()).await?;
    let needs_second_factor = user.role == Role::Admin && mfa::is_enabled(&state, &user.id).await?;
    if needs_second_factor {
        throttle.give_back(&state).await?;
    } else {
        throttle.succeeded(&state).await?;
    }
    ensure_active(&user)?;
    if user.role != Role::Admin {
        state
            .audit(AuditEvent::new("admin.login_denied", state.now()).actor(&user.id).org(&user.default_org_id).ip(ip))
            .await;
        return Err(ApiError::rejected(ErrorCode::AdminRequired, "this account is not an admin"));
    }
    if needs_second_factor {
        return Ok(Json(mfa::challenge(&state, &user).await?).into_response());
    }
    Ok(start_session(&state, user, ip, "admin.login").await?.into_response())
}

/// 403 `account_suspended` unless the account is active.
pub(crate) fn ensure_active(user: &User) -> Result<(), ApiError> {
    if user.is_active() {
        Ok(())
    } else {
        Err(ApiError::account_suspended())
    }
}

/// Counts the attempt against both throttles, then checks the password. The same answer
/// (401 `invalid_credentials`) and about the same time whether the email is unknown or the
/// password wrong.
///
/// The attempt is counted *before* the password check, which takes tens of milliseconds:
/// checking the count first and adding failures afterwards would let a burst of parallel
/// guesses all pass the check. The attempt stays counted when the password is right: the
/// caller settles it (`LoginThrottle::succeeded` for a complete login, `give_back` when a
/// second factor follows), so the limits count failures and guesses in flight.
async fn authenticate(
    state: &AppState,
    req: &LoginRequest,
    ip: Option<String>,
) -> Result<(User, LoginThrottle), ApiError> {
    let invalid = || ApiError::rejected(ErrorCode::InvalidCredentials, "wrong email or password");
    let email = Email::parse(&req.email).map_err(|_| invalid())?;
    let throttle = LoginThrottle::new(state, &email, ip.as_deref());
    throttle.hit(state).await?;

    let user = state.store.find_user_by_email(&email).await?;
    let ok = match &user {
        Some(u) => state.passwords.verify(req.password.clone(), u.password_hash.clone()).await?,
        None => {
            state.passwords.verify_nothing(req.password.clone()).await;
            false
        }
    };
    match (ok, user) {
        (true, Some(u)) => Ok((u, throttle)),
        (_, user) => {
            let mut event = AuditEvent::new("user.login_failed", state.now()).target(email.to_string()).ip(ip);
            if let Some(u) = &user {
                event = event.actor(&u.id).org(&u.default_org_id);
            }
            state.audit(event).await;
            Err(invalid())
        }
    }
}

/// Starts a session: a refresh family with its first token, and an access token.
pub(crate) async fn start_session(
    state: &AppState,
    user: User,
    ip: Option<String>,
    action: &str,
) -> Result<impl IntoResponse, ApiError> {
    start_session_with(state, user, ip, action, serde_json::json!({})).await
}

/// `start_session` with `details` in its audit event (`{"method": "oidc"}`).
pub(crate) async fn start_session_with(
    state: &AppState,
    user: User,
    ip: Option<String>,
    action: &str,
    details: serde_json::Value,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.now();
    let family = RefreshFamily {
        id: Id::generate(prefix::REFRESH_FAMILY),
        user_id: user.id.clone(),
        created_at: now,
        revoked_at: None,
        revoked_reason: None,
    };
    let (refresh, refresh_row) = new_refresh_token(state, &family.id, &user.id, now);
    state.store.create_family(&family, &refresh_row).await?;
    state
        .audit(
            AuditEvent::new(action, now)
                .actor(&user.id)
                .org(&user.default_org_id)
                .target(family.id.to_string())
                .ip(ip)
                .details(details),
        )
        .await;
    token_response(state, &user, &family.id, refresh, refresh_row.expires_at)
}

/// A new refresh token of a family: the secret (for the client) and the row (for the store).
pub fn new_refresh_token(state: &AppState, family: &Id, user: &Id, now: DateTime<Utc>) -> (String, RefreshToken) {
    let secret = generate_secret_token();
    let row = RefreshToken {
        hash: TokenHash::of(&secret),
        family_id: family.clone(),
        user_id: user.clone(),
        created_at: now,
        expires_at: now + state.settings.refresh_token_ttl,
        rotated_at: None,
    };
    (secret, row)
}

/// The 200 answer of login and refresh: tokens in the body and the refresh cookie.
pub fn token_response(
    state: &AppState,
    user: &User,
    family: &Id,
    refresh: String,
    refresh_expires_at: DateTime<Utc>,
) -> Result<impl IntoResponse, ApiError> {
    let ttl = state.settings.access_token_ttl;
    let access_token = state.jwt.issue(&user.id, &user.default_org_id, user.role, family, state.now(), ttl)?;
    let cookie = set_refresh_cookie(&state.settings, &refresh);
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Json(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl.num_seconds(),
            refresh_token: refresh,
            refresh_token_expires_at: refresh_expires_at,
            user: UserProfile::from(user),
        }),
    ))
}

//! `POST /api/user/auth/login` and `POST /api/admin/auth/login`.

use crate::throttle::Throttle;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse};
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
    let user = authenticate(&state, &req, ip.clone()).await?;
    start_session(&state, user, ip, "user.login").await
}

/// Logs an admin in. Same checks as the user login, and the account must have the `admin`
/// role (403 `admin_required` otherwise).
#[utoipa::path(post, path = "/api/admin/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; refresh cookie set", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: wrong email or password", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many failed logins from this IP or to this account", body = ErrorBody),
    ))]
pub async fn admin_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = authenticate(&state, &req, ip.clone()).await?;
    if user.role != Role::Admin {
        state
            .audit(AuditEvent::new("admin.login_denied", state.now()).actor(&user.id).org(&user.default_org_id).ip(ip))
            .await;
        return Err(ApiError::rejected(ErrorCode::AdminRequired, "this account is not an admin"));
    }
    start_session(&state, user, ip, "admin.login").await
}

/// Counts the attempt against both throttles, then checks the password. The same answer
/// (401 `invalid_credentials`) and about the same time whether the email is unknown or the
/// password wrong.
///
/// The attempt is counted *before* the password check, which takes tens of milliseconds:
/// checking the count first and adding failures afterwards would let a burst of parallel
/// guesses all pass the check. A successful login gives its per-IP attempt back and clears
/// the account's failures, so the limits count failures and guesses in flight.
async fn authenticate(state: &AppState, req: &LoginRequest, ip: Option<String>) -> Result<User, ApiError> {
    let invalid = || ApiError::rejected(ErrorCode::InvalidCredentials, "wrong email or password");
    let email = Email::parse(&req.email).map_err(|_| invalid())?;
    let per_ip = Throttle::new(
        state,
        format!("login:ip:{}", ip.as_deref().unwrap_or("unknown")),
        state.settings.login_max_failures_per_ip,
    );
    let per_account =
        Throttle::new(state, format!("login:acct:{email}"), state.settings.login_max_failures_per_account);
    Throttle::hit_all(state, &[&per_ip, &per_account]).await?;

    let user = state.store.find_user_by_email(&email).await?;
    let ok = match &user {
        Some(u) => state.passwords.verify(req.password.clone(), u.password_hash.clone()).await?,
        None => {
            state.passwords.verify_nothing(req.password.clone()).await;
            false
        }
    };
    let user = match (ok, user) {
        (true, Some(u)) => u,
        (_, user) => {
            let mut event = AuditEvent::new("user.login_failed", state.now()).target(email.to_string()).ip(ip);
            if let Some(u) = &user {
                event = event.actor(&u.id).org(&u.default_org_id);
            }
            state.audit(event).await;
            return Err(invalid());
        }
    };
    // Independent writes: one round trip, not two, on every successful login.
    tokio::try_join!(per_ip.release(state), per_account.clear(state))?;
    if !user.is_active() {
        return Err(ApiError::account_suspended());
    }
    Ok(user)
}

/// Starts a session: a refresh family with its first token, and an access token.
async fn start_session(
    state: &AppState,
    user: User,
    ip: Option<String>,
    action: &str,
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
            AuditEvent::new(action, now).actor(&user.id).org(&user.default_org_id).target(family.id.to_string()).ip(ip),
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

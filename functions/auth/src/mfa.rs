//! Admin two-factor authentication: enrolment (`/api/admin/auth/2fa/enroll`, `/confirm`),
//! `/disable`, and the second step of the admin login (`/api/admin/auth/login/2fa`).
//!
//! A code is a TOTP code of the enrolment's secret or one of its recovery codes. Every code
//! check counts against the login throttle (per IP and per account), as a password does, so
//! a stolen password or access token does not buy unlimited guesses at six digits.

use crate::login::{ensure_active, start_session, MfaChallengeResponse, TokenResponse};
use crate::throttle::LoginThrottle;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use tollgate_domain::token::generate_secret_token;
use tollgate_domain::totp::{
    generate_recovery_codes, is_recovery_code_shaped, otpauth_uri, recovery_code_hash, RECOVERY_CODE_COUNT,
};
use tollgate_domain::{ActionToken, ActionTokenKind, AuditEvent, Id, MfaEnrollment, Role, StoreError, TokenHash, User};
use tollgate_http::extract::{AdminUser, ClientIp};
use tollgate_http::{ApiError, ApiJson, AppState, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// How long the `mfa_token` of a login's first step is valid.
const CHALLENGE_TTL_MINUTES: i64 = 5;

/// A new secret for the authenticator app. Shown once: it is not readable through the API
/// afterwards.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    /// The TOTP secret, base32 (RFC 4648, no padding), for typing into an app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://totp/...` URI, for a QR code.
    #[schema(
        example = "otpauth://totp/tollgate:ops@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=tollgate&algorithm=SHA1&digits=6&period=30"
    )]
    pub otpauth_uri: String,
}

/// A code: the 6 digits of the authenticator app, or a recovery code (`XXXXX-XXXXX`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    #[schema(example = "123456", min_length = 1, max_length = 64)]
    pub code: String,
}

/// The recovery codes of a confirmed enrolment: shown this once (only their hashes are
/// stored). Each works once, in place of a TOTP code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesResponse {
    #[schema(example = json!(["ABCDE-FGHIJ"]))]
    pub recovery_codes: Vec<String>,
}

/// The second step of an admin login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the answer of `POST /api/admin/auth/login`.
    #[schema(min_length = 1, max_length = 256)]
    pub mfa_token: String,
    /// A TOTP code or a recovery code.
    #[schema(example = "123456", min_length = 1, max_length = 64)]
    pub code: String,
}

/// Starts (or restarts) the caller's 2FA enrolment: a new secret, unconfirmed until
/// `/confirm` receives a code of it. An unconfirmed earlier secret is replaced.
#[utoipa::path(post, path = "/api/admin/auth/2fa/enroll", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret and its otpauth URI", body = EnrollResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, `token_expired`", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`", body = ErrorBody),
        (status = 409, description = "`conflict`: two-factor authentication is already enabled", body = ErrorBody),
    ))]
pub async fn enroll(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<EnrollResponse>, ApiError> {
    let enrollment = MfaEnrollment::new(&admin.user.id, state.now());
    state.store.start_mfa_enrollment(&enrollment).await.map_err(already_enabled)?;
    let otpauth_uri = otpauth_uri(admin.user.email.as_str(), &enrollment.secret);
    Ok(Json(EnrollResponse { secret: enrollment.secret, otpauth_uri }))
}

/// Confirms the enrolment with a code of the new secret: two-factor authentication is on from
/// now, and the answer holds the ten recovery codes (shown once).
#[utoipa::path(post, path = "/api/admin/auth/2fa/confirm", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 200, description = "2FA enabled; the recovery codes, shown once", body = RecoveryCodesResponse),
        (status = 401, description = "`invalid_mfa_code`; `missing_token`, `invalid_token`, `token_expired`", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`", body = ErrorBody),
        (status = 409, description = "`conflict`: no enrolment started, or 2FA is already enabled", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords or codes", body = ErrorBody),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let user = &admin.user;
    let enrollment = match state.store.get_mfa(&user.id).await? {
        Some(e) if e.is_confirmed() => return Err(already_enabled(StoreError::Conflict("2fa already enabled"))),
        Some(e) => e,
        None => {
            return Err(ApiError::rejected(ErrorCode::Conflict, "start an enrolment at /api/admin/auth/2fa/enroll"))
        }
    };
    let throttle = LoginThrottle::new(&state, &user.email, admin.ip.as_deref());
    throttle.hit(&state).await?;
    let now = state.now();
    // Only a TOTP code confirms: there are no recovery codes yet.
    let Some(step) = enrollment.verify(&req.code, now) else {
        return Err(wrong_code());
    };
    throttle.succeeded(&state).await?;
    let codes = generate_recovery_codes();
    let hashes: Vec<TokenHash> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    state.store.confirm_mfa(&user.id, &enrollment.secret, step, &hashes, now).await?;
    state.audit(admin.audit_event("user.2fa_enrolled", now).target(user.id.to_string())).await;
    Ok(Json(RecoveryCodesResponse { recovery_codes: codes }))
}

/// Turns two-factor authentication off, with a TOTP or a recovery code. Its secret and
/// recovery codes are deleted; enrolling again makes new ones.
#[utoipa::path(post, path = "/api/admin/auth/2fa/disable", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses(
        (status = 204, description = "2FA disabled"),
        (status = 401, description = "`invalid_mfa_code`; `missing_token`, `invalid_token`, `token_expired`", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`, `mfa_enrollment_required`", body = ErrorBody),
        (status = 409, description = "`conflict`: two-factor authentication is not enabled", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords or codes", body = ErrorBody),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = &admin.user;
    let enrollment = confirmed_enrollment(&state, &user.id)
        .await?
        .ok_or_else(|| ApiError::rejected(ErrorCode::Conflict, "two-factor authentication is not enabled"))?;
    let throttle = LoginThrottle::new(&state, &user.email, admin.ip.as_deref());
    if !second_factor(&state, &throttle, user, &enrollment, &req.code, admin.ip.clone()).await? {
        return Err(wrong_code());
    }
    state.store.delete_mfa(&user.id).await?;
    state.audit(admin.audit_event("user.2fa_disabled", state.now()).target(user.id.to_string())).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Finishes an admin login with two-factor authentication: the `mfa_token` of the first step
/// and a TOTP or recovery code. The `mfa_token` works once: after a wrong code, log in again.
#[utoipa::path(post, path = "/api/admin/auth/login/2fa", tag = "auth", request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Logged in; refresh cookie set", body = TokenResponse),
        (status = 401, description = "`invalid_mfa_token`: unknown, expired or used; `invalid_mfa_code`", body = ErrorBody),
        (status = 403, description = "`admin_required`, `account_suspended`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords or codes from this IP or to this account", body = ErrorBody),
    ))]
pub async fn login_2fa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<MfaLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.now();
    let expired = || ApiError::rejected(ErrorCode::InvalidMfaToken, "the login has expired or was used; log in again");
    let challenge = state
        .store
        .consume_action_token(&TokenHash::of(&req.mfa_token), ActionTokenKind::MfaChallenge, now)
        .await?
        .ok_or_else(expired)?;
    let user = state
        .store
        .get_user(&challenge.user_id)
        .await?
        .filter(|u| u.status != tollgate_domain::UserStatus::Deleted)
        .ok_or_else(expired)?;
    // 2FA turned off since the password step: that login is void, the next one needs none.
    let enrollment = confirmed_enrollment(&state, &user.id).await?.ok_or_else(expired)?;
    let throttle = LoginThrottle::new(&state, &user.email, ip.as_deref());
    if !second_factor(&state, &throttle, &user, &enrollment, &req.code, ip.clone()).await? {
        state
            .audit(AuditEvent::new("user.login_2fa_failed", now).actor(&user.id).org(&user.default_org_id).ip(ip))
            .await;
        return Err(wrong_code());
    }
    ensure_active(&user)?;
    if user.role != Role::Admin {
        return Err(ApiError::rejected(ErrorCode::AdminRequired, "this account is not an admin"));
    }
    start_session(&state, user, ip, "admin.login").await
}

/// Whether the user has confirmed 2FA (their login needs a second step).
pub async fn is_enabled(state: &AppState, user_id: &Id) -> Result<bool, ApiError> {
    Ok(confirmed_enrollment(state, user_id).await?.is_some())
}

/// The first step's answer for an admin with 2FA: a one-time challenge, stored as a hash.
pub async fn challenge(state: &AppState, user: &User) -> Result<MfaChallengeResponse, ApiError> {
    let now = state.now();
    let ttl = Duration::minutes(CHALLENGE_TTL_MINUTES);
    let secret = generate_secret_token();
    let token = ActionToken {
        hash: TokenHash::of(&secret),
        kind: ActionTokenKind::MfaChallenge,
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    state.store.create_action_token(&token).await?;
    Ok(MfaChallengeResponse { mfa_required: true, mfa_token: secret, expires_in: ttl.num_seconds() })
}

async fn confirmed_enrollment(state: &AppState, user_id: &Id) -> Result<Option<MfaEnrollment>, ApiError> {
    Ok(state.store.get_mfa(user_id).await?.filter(MfaEnrollment::is_confirmed))
}

/// Checks a TOTP or recovery code, counted against the login throttle (429 past it). A TOTP
/// code passes only if the store's conditional write moves the last used step forward, so a
/// code works once even when two requests bring it at the same moment; a recovery code is
/// consumed. A right code settles the throttle as a successful login does.
async fn second_factor(
    state: &AppState,
    throttle: &LoginThrottle,
    user: &User,
    enrollment: &MfaEnrollment,
    code: &str,
    ip: Option<String>,
) -> Result<bool, ApiError> {
    throttle.hit(state).await?;
    let now = state.now();
    let ok = if let Some(step) = enrollment.verify(code, now) {
        state.store.use_totp_step(&user.id, step).await?
    } else if is_recovery_code_shaped(code)
        && state.store.consume_recovery_code(&user.id, &recovery_code_hash(code)).await?
    {
        let left = state.store.recovery_codes_left(&user.id).await?;
        state
            .audit(
                AuditEvent::new("user.recovery_code_used", now)
                    .actor(&user.id)
                    .org(&user.default_org_id)
                    .ip(ip)
                    .details(serde_json::json!({ "remaining": left, "of": RECOVERY_CODE_COUNT })),
            )
            .await;
        true
    } else {
        false
    };
    if ok {
        throttle.succeeded(state).await?;
    }
    Ok(ok)
}

fn wrong_code() -> ApiError {
    ApiError::rejected(ErrorCode::InvalidMfaCode, "the code is wrong or was already used")
}

fn already_enabled(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::rejected(ErrorCode::Conflict, "two-factor authentication is already enabled; disable it first")
        }
        other => other.into(),
    }
}

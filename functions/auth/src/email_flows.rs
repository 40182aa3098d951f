//! Email verification and password reset.

use crate::mail::send_action_mail;
use crate::throttle::Throttle;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::{ActionTokenKind, AuditEvent, Email, PasswordPolicy, TokenHash};
use tollgate_http::extract::ClientIp;
use tollgate_http::openapi::fields;
use tollgate_http::views::Message;
use tollgate_http::{ApiError, ApiJson, AppState, AuthUser, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// A one-time token from a mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[schema(schema_with = fields::mail_token)]
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(schema_with = fields::email)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(schema_with = fields::mail_token)]
    pub token: String,
    #[schema(schema_with = fields::new_password)]
    pub password: String,
}

fn invalid_token() -> ApiError {
    ApiError::invalid_field("token", "is invalid, already used or expired")
}

/// Consumes a token only if it looks like one of ours, so junk input costs no store write.
async fn consume(
    state: &AppState,
    token: &str,
    kind: ActionTokenKind,
) -> Result<tollgate_domain::ActionToken, ApiError> {
    let token = token.trim();
    if !tollgate_domain::token::is_plausible_secret_token(token) {
        return Err(invalid_token());
    }
    state.store.consume_action_token(&TokenHash::of(token), kind, state.now()).await?.ok_or_else(invalid_token)
}

/// Confirms the email address with the token from the verification mail.
#[utoipa::path(post, path = "/api/user/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 200, description = "Email verified", body = Message),
        (status = 422, description = "`invalid_field`: the token is invalid, used or expired", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Json<Message>, ApiError> {
    let token = consume(&state, &req.token, ActionTokenKind::VerifyEmail).await?;
    let mut user = state.store.get_user(&token.user_id).await?.ok_or_else(invalid_token)?;
    user.email_verified = true;
    user.updated_at = state.now();
    state.store.update_user(&user).await?;
    state
        .audit(AuditEvent::new("user.email_verified", user.updated_at).actor(&user.id).org(&user.default_org_id).ip(ip))
        .await;
    Ok(Message::new("email address verified"))
}

/// Sends the verification mail again (at most 5 per window).
#[utoipa::path(post, path = "/api/user/auth/resend-verification", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "Mail sent", body = Message),
        (status = 409, description = "`already_verified`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: more than 5 mails in the window", body = ErrorBody),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    if auth.user.email_verified {
        return Err(ApiError::rejected(ErrorCode::AlreadyVerified, "this email address is already verified"));
    }
    Throttle::new(&state, format!("mail:verify:{}", auth.user.id), 5).hit(&state).await?;
    send_action_mail(&state, &auth.user, ActionTokenKind::VerifyEmail).await?;
    Ok((StatusCode::ACCEPTED, Message::new("verification mail sent")))
}

/// Mails a password-reset link if an active account has this email. The answer is the same
/// whether or not it does, so it cannot be used to discover accounts.
#[utoipa::path(post, path = "/api/user/auth/forgot-password", tag = "auth", request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "If the account exists, a mail was sent", body = Message),
        (status = 422, description = "`invalid_email`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`: too many requests from this IP or for this account", body = ErrorBody),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ForgotPasswordRequest>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let email = Email::parse(&req.email)?;
    let per_ip = Throttle::new(
        &state,
        format!("mail:reset:ip:{}", ip.as_deref().unwrap_or("unknown")),
        state.settings.login_max_failures_per_ip,
    );
    let per_account = Throttle::new(&state, format!("mail:reset:acct:{email}"), 3);
    Throttle::hit_all(&state, &[&per_ip, &per_account]).await?;
    if let Some(user) = state.store.find_user_by_email(&email).await?.filter(|u| u.is_active()) {
        send_action_mail(&state, &user, ActionTokenKind::ResetPassword).await?;
        state
            .audit(
                AuditEvent::new("user.password_reset_requested", state.now())
                    .actor(&user.id)
                    .org(&user.default_org_id)
                    .ip(ip),
            )
            .await;
    }
    Ok((StatusCode::ACCEPTED, Message::new("if an account exists for this email, a reset link has been sent")))
}

/// Sets a new password with the token from the reset mail and ends every session.
#[utoipa::path(post, path = "/api/user/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password changed; all sessions revoked", body = Message),
        (status = 422, description = "`invalid_field`: the token is invalid, used or expired; `weak_password`", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> Result<Json<Message>, ApiError> {
    // Check the new password before consuming the token, so a weak choice can be retried.
    PasswordPolicy::check(&req.password, None)?;
    let token = consume(&state, &req.token, ActionTokenKind::ResetPassword).await?;
    let mut user = state.store.get_user(&token.user_id).await?.filter(|u| u.is_active()).ok_or_else(invalid_token)?;
    PasswordPolicy::check(&req.password, Some(&user.email))?;
    user.password_hash = state.passwords.hash(req.password).await?;
    user.updated_at = state.now();
    state.store.update_user(&user).await?;
    let revoked = state.store.revoke_user_families(&user.id, None, "password_reset", user.updated_at).await?;
    state
        .audit(
            AuditEvent::new("user.password_reset", user.updated_at)
                .actor(&user.id)
                .org(&user.default_org_id)
                .ip(ip)
                .details(serde_json::json!({ "sessions_revoked": revoked })),
        )
        .await;
    Ok(Message::new("password changed; log in with the new password"))
}

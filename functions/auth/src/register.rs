//! `POST /api/user/auth/register`.

use crate::mail::send_action_mail;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::{create_user, new_user, AppError, NewUser};
use tollgate_domain::{ActionTokenKind, AuditEvent, Email, PasswordPolicy, Role, StoreError};
use tollgate_http::extract::ClientIp;
use tollgate_http::openapi::fields;
use tollgate_http::views::{optional_text_field, text_field, UserProfile, COMPANY_MAX, NAME_MAX};
use tollgate_http::{ApiError, ApiJson, AppState, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// A new account. The password policy: 10-128 characters, a letter and a digit or symbol,
/// not one repeated character, not containing the email's local part.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = fields::new_password)]
    pub password: String,
    #[schema(schema_with = fields::name)]
    pub first_name: String,
    #[schema(schema_with = fields::name)]
    pub last_name: String,
    #[schema(schema_with = fields::company)]
    pub company_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    pub user: UserProfile,
    pub message: String,
}

/// Creates a user, their personal organization (owned by them) and sends a verification mail.
#[utoipa::path(post, path = "/api/user/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = RegisterResponse),
        (status = 409, description = "`email_taken`: the email is already registered", body = ErrorBody),
        (status = 422, description = "`invalid_email`, `weak_password`, `invalid_field`", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let email = Email::parse(&req.email)?;
    let first_name = text_field("first_name", &req.first_name, NAME_MAX)?;
    let last_name = text_field("last_name", &req.last_name, NAME_MAX)?;
    let company_name = optional_text_field("company_name", req.company_name.as_deref(), COMPANY_MAX)?;
    PasswordPolicy::check(&req.password, Some(&email))?;

    let password_hash = state.passwords.hash(req.password).await?;
    let new = NewUser { email, password_hash, first_name, last_name, company_name, role: Role::User };
    let user = new_user(new, state.now());
    create_user(state.store.as_ref(), &user).await.map_err(|e| match e {
        AppError::Store(StoreError::AlreadyExists(_)) => {
            ApiError::rejected(ErrorCode::EmailTaken, "an account with this email already exists")
        }
        e => e.into(),
    })?;
    state
        .audit(AuditEvent::new("user.register", user.created_at).actor(&user.id).org(&user.default_org_id).ip(ip))
        .await;
    // The account exists either way; a mail failure is logged and the user can ask again.
    if let Err(e) = send_action_mail(&state, &user, ActionTokenKind::VerifyEmail).await {
        tracing::error!(error = %e, user_id = %user.id, "verification mail not sent");
    }
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            user: UserProfile::from(&user),
            message: "account created; check your mail to verify your email address".into(),
        }),
    ))
}

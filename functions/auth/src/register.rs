//! `POST /api/user/auth/register`.

use crate::mail::send_action_mail;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::{ActionTokenKind, AuditEvent, Role};
use tollgate_http::accounts::{create_account, new_account, AccountFields};
use tollgate_http::extract::ClientIp;
use tollgate_http::openapi::fields;
use tollgate_http::views::UserProfile;
use tollgate_http::{ApiError, ApiJson, AppState, ErrorBody};
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
    let fields = AccountFields {
        email: req.email,
        password: req.password,
        first_name: req.first_name,
        last_name: req.last_name,
        company_name: req.company_name,
    };
    let user = new_account(&state, fields, Role::User).await?;
    create_account(&state, &user).await?;
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

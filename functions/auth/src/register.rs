//! `POST /api/user/auth/register`.

use crate::mail::send_action_mail;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    ActionTokenKind, AuditEvent, Email, Id, Membership, OrgRole, Organization, PasswordPolicy, Role, StoreError, User,
    UserStatus,
};
use tollgate_http::extract::ClientIp;
use tollgate_http::openapi::fields;
use tollgate_http::password::hash_password;
use tollgate_http::views::{optional_text_field, text_field, UserProfile, COMPANY_MAX, NAME_MAX};
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
    let email = Email::parse(&req.email)?;
    let first_name = text_field("first_name", &req.first_name, NAME_MAX)?;
    let last_name = text_field("last_name", &req.last_name, NAME_MAX)?;
    let company_name = optional_text_field("company_name", req.company_name.as_deref(), COMPANY_MAX)?;
    PasswordPolicy::check(&req.password, Some(&email))?;

    let user = new_user(
        email,
        hash_password(req.password).await?,
        first_name,
        last_name,
        company_name,
        Role::User,
        state.now(),
    );
    create_user(&state, &user).await.map_err(|e| match e {
        ApiError::Conflict { code: "already_exists", .. } => {
            ApiError::conflict("email_taken", "an account with this email already exists")
        }
        e => e,
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

/// A user who has not been stored yet, with a personal organization id.
pub fn new_user(
    email: Email,
    password_hash: String,
    first_name: String,
    last_name: String,
    company_name: Option<String>,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> User {
    User {
        id: Id::generate(prefix::USER),
        email,
        password_hash,
        first_name,
        last_name,
        company_name,
        role,
        status: UserStatus::Active,
        email_verified: false,
        default_org_id: Id::generate(prefix::ORG),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

/// Stores the user with their personal organization and owner membership, and starts the
/// organization on the Free plan.
pub async fn create_user(state: &AppState, user: &User) -> Result<(), ApiError> {
    let org = Organization {
        id: user.default_org_id.clone(),
        name: user.company_name.clone().unwrap_or_else(|| format!("{} {}", user.first_name, user.last_name)),
        owner_id: user.id.clone(),
        personal: true,
        created_at: user.created_at,
    };
    let owner = Membership {
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: OrgRole::Owner,
        created_at: user.created_at,
    };
    state.store.create_user(user, &org, &owner).await.map_err(|e: StoreError| ApiError::from(e))?;
    // Idempotent: if this fails, the first metered call or subscription read creates it.
    tollgate_http::metering::current_subscription(state.store.as_ref(), &org.id, user.created_at).await?;
    Ok(())
}

//! Response shapes shared by several route groups.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tollgate_domain::{Id, Role, User, UserStatus};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserProfile {
    pub id: Id,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified: bool,
    /// The organization that owns this user's keys, subscription and usage.
    pub organization_id: Id,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserProfile {
    fn from(u: &User) -> Self {
        UserProfile {
            id: u.id.clone(),
            email: u.email.to_string(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            company_name: u.company_name.clone(),
            role: u.role,
            status: u.status,
            email_verified: u.email_verified,
            organization_id: u.default_org_id.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A plain confirmation.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(m: impl Into<String>) -> axum::Json<Message> {
        axum::Json(Message { message: m.into() })
    }
}

pub use tollgate_domain::text::{COMPANY_MAX, DESCRIPTION_MAX, NAME_MAX};

/// Validates a human-entered text field: trimmed, 1..=max characters, no control characters
/// (the domain's rule, as an `ApiError`).
pub fn text_field(field: &'static str, value: &str, max: usize) -> Result<String, crate::ApiError> {
    Ok(tollgate_domain::text::required_text(field, value, max)?)
}

/// Like `text_field` for an optional field; an empty string clears it.
pub fn optional_text_field(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, crate::ApiError> {
    Ok(tollgate_domain::text::optional_text(field, value, max)?)
}

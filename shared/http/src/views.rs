//! Response shapes shared by several route groups.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tollgate_domain::{ApiKey, ApiKeyStatus, Id, Role, User, UserStatus};

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

/// An API key as listed: never the secret, only enough to recognise it.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Id,
    /// The project the key belongs to.
    pub project_id: Id,
    pub name: String,
    /// `sk_live_` and the first 4 characters of the secret.
    #[schema(example = "sk_live_4f9K")]
    pub prefix: String,
    /// The last 4 characters of the secret.
    #[schema(example = "x7Qa")]
    pub last4: String,
    pub status: ApiKeyStatus,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// The endpoint groups the key may call (and every endpoint without a group); null:
    /// every endpoint.
    #[schema(example = json!(["weather"]))]
    pub scopes: Option<Vec<String>>,
}

impl ApiKeyView {
    /// The key as listed at `now` (its status depends on the time).
    pub fn new(k: &ApiKey, now: DateTime<Utc>) -> Self {
        ApiKeyView {
            id: k.id.clone(),
            project_id: k.project_id.clone(),
            name: k.name.clone(),
            prefix: k.display_prefix.clone(),
            last4: k.last4.clone(),
            status: k.status(now),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            rotated_at: k.rotated_at,
            scopes: k.scopes.clone(),
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

/// One page of the audit log, newest first.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuditEventPage {
    pub events: Vec<tollgate_domain::AuditEvent>,
    /// Pass as `cursor` for the next page (with the same filters); `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The audit filters every audit listing shares, from a query string: `action` (exact, or a
/// prefix ending in `*` such as `user.*`), `from` (inclusive) and `to` (exclusive) as
/// [`crate::extract::parse_time`] reads them, `limit` and `cursor`. 400 `bad_request` for a
/// `*` anywhere but at the end, `from` after `to`, or a bad limit.
pub fn audit_query(
    action: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<tollgate_domain::AuditQuery, crate::ApiError> {
    use crate::ApiError;
    let action = action.map(str::trim).filter(|a| !a.is_empty());
    if action.is_some_and(|a| a.trim_end_matches('*').contains('*') || a.matches('*').count() > 1) {
        return Err(ApiError::BadRequest("action: an action, or a prefix followed by one `*` (user.*)".into()));
    }
    let from = crate::extract::parse_time("from", from)?;
    let before = crate::extract::parse_time("to", to)?;
    if let (Some(f), Some(t)) = (from, before) {
        if f > t {
            return Err(ApiError::BadRequest("from must not be after to".into()));
        }
    }
    Ok(tollgate_domain::AuditQuery {
        action: action.map(str::to_string),
        from,
        before,
        cursor: cursor.filter(|c| !c.is_empty()),
        limit: crate::page_limit(limit, tollgate_domain::AuditQuery::PAGE)?,
        ..Default::default()
    })
}

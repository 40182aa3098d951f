//! Users, organizations and memberships.
//!
//! Keys, the subscription and usage belong to an organization. Registering creates a personal
//! organization owned by the user; invitations and more members arrive later without a
//! migration because memberships exist from the start.

use crate::stored_enum::stored_enum;
use crate::{Email, Id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Platform-wide role: `admin` may use `/api/admin/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

stored_enum!(Role { User => "user", Admin => "admin" });

/// Lifecycle of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    /// Blocked by an admin: cannot log in, keys are refused (HTTP 403).
    Suspended,
    /// Soft-deleted by the user: sessions and keys revoked, email released.
    Deleted,
}

stored_enum!(UserStatus { Active => "active", Suspended => "suspended", Deleted => "deleted" });

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Id,
    pub email: Email,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: Option<String>,
    pub role: Role,
    pub status: UserStatus,
    pub email_verified: bool,
    /// The personal organization created at registration.
    pub default_org_id: Id,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether the user may log in and use their keys.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

/// An organization: the owner of keys, subscription and usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Organization {
    pub id: Id,
    pub name: String,
    pub owner_id: Id,
    /// Created automatically for one user at registration.
    pub personal: bool,
    pub created_at: DateTime<Utc>,
}

/// Role of a user inside an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Owner,
    Admin,
    Member,
}

stored_enum!(OrgRole { Owner => "owner", Admin => "admin", Member => "member" });

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    pub org_id: Id,
    pub user_id: Id,
    pub role: OrgRole,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_text_is_serde_name;

    #[test]
    fn role_text_is_its_serde_name() {
        assert_text_is_serde_name::<Role>();
    }

    #[test]
    fn user_status_text_is_its_serde_name() {
        assert_text_is_serde_name::<UserStatus>();
    }

    #[test]
    fn org_role_text_is_its_serde_name() {
        assert_text_is_serde_name::<OrgRole>();
    }
}

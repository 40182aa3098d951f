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

/// Role of a user inside an organization; what each may do is [`OrgRole::can`]
/// (the permission table, `crate::team`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Everything, deleting and exporting the organization and making owners included.
    /// An organization always keeps at least one.
    Owner,
    /// Everything but deleting or exporting the organization and making or removing owners.
    Admin,
    /// Billing and usage; not keys, members or webhooks.
    Manager,
    /// Keys and projects, reading usage; not billing, members or webhooks.
    Member,
    /// Reads usage, keys (without secrets) and members; changes nothing.
    Viewer,
}

stored_enum!(OrgRole {
    Owner => "owner",
    Admin => "admin",
    Manager => "manager",
    Member => "member",
    Viewer => "viewer",
});

/// Filter and order for the admins' user listing (`UserRepository::users_page`).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// A case-insensitive fragment of the email, first or last name, or company name.
    pub q: Option<String>,
    /// Only users in this state. Deleted users are listed only when asked for here.
    pub status: Option<UserStatus>,
    /// Only users with this platform role.
    pub role: Option<Role>,
    /// Only users whose personal organization's subscription is to this plan.
    pub plan_id: Option<Id>,
    pub sort: UserSort,
    /// At most this many; see [`UserQuery::PAGE`].
    pub limit: u32,
    /// Where the page starts: the cursor a previous page returned; None for the first page.
    pub cursor: Option<String>,
}

impl UserQuery {
    /// 0 means 100; at most 1000.
    pub const PAGE: crate::PageLimits = crate::page::LISTING;

    /// The number of users to return for this query's `limit`.
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

/// The order of the admins' user listing; ties are broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum UserSort {
    /// `-created_at` (the default).
    #[default]
    #[serde(rename = "-created_at")]
    NewestFirst,
    /// `created_at`.
    #[serde(rename = "created_at")]
    OldestFirst,
    /// `email`, A to Z.
    #[serde(rename = "email")]
    EmailAsc,
}

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

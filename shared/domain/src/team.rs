//! Teams: what each role of an organization may do, and invitations to join one.
//!
//! The permission table below is the one the README shows (a test keeps them equal) and the
//! one every organization-scoped route checks through `AuthUser::require`.

use crate::{Email, Id, OrgRole, StoredEnum, TokenHash};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Something a member may or may not do in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the organization, its members, keys (never secrets), projects, subscription and
    /// usage.
    Read,
    /// Create, rotate and revoke keys; create, change and delete projects.
    ManageKeys,
    /// Change the plan, payment methods; read invoices.
    ManageBilling,
    /// Customer webhooks and the organization's notification settings.
    ManageWebhooks,
    /// Invite, change the role of and remove members (owners only by an owner).
    ManageMembers,
    /// Rename the organization.
    ManageOrganization,
    /// Delete the organization or export all of its data.
    OwnOrganization,
}

impl Permission {
    /// Every permission, in the README table's order.
    pub const ALL: [Permission; 7] = [
        Permission::Read,
        Permission::ManageKeys,
        Permission::ManageBilling,
        Permission::ManageWebhooks,
        Permission::ManageMembers,
        Permission::ManageOrganization,
        Permission::OwnOrganization,
    ];

    /// What the README's table calls it.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read the organization, members, keys (no secrets), projects, subscription, usage",
            Permission::ManageKeys => "create, rotate and revoke keys; create, change and delete projects",
            Permission::ManageBilling => "change the plan and payment methods; read invoices",
            Permission::ManageWebhooks => "manage webhooks and notification settings",
            Permission::ManageMembers => "invite members, change roles, remove members",
            Permission::ManageOrganization => "rename the organization",
            Permission::OwnOrganization => "delete or export the organization; make or remove owners",
        }
    }
}

impl OrgRole {
    /// The permission table.
    pub fn can(self, permission: Permission) -> bool {
        use OrgRole::*;
        use Permission::*;
        match permission {
            Read => true,
            ManageKeys => matches!(self, Owner | Admin | Member),
            ManageBilling => matches!(self, Owner | Admin | Manager),
            ManageWebhooks | ManageMembers | ManageOrganization => matches!(self, Owner | Admin),
            OwnOrganization => self == Owner,
        }
    }

    /// Whether a member with this role may give `role` to someone, or change or remove a
    /// member who has `role`: members are managed by owners and admins, owners only by owners.
    pub fn may_manage(self, role: OrgRole) -> bool {
        self.can(Permission::ManageMembers) && (role != OrgRole::Owner || self.can(Permission::OwnOrganization))
    }
}

/// The README's permission table, as Markdown (roles in declaration order: most powerful
/// first).
pub fn permission_table_markdown() -> String {
    let mut out =
        String::from("| permission | owner | admin | manager | member | viewer |\n|---|---|---|---|---|---|\n");
    for p in Permission::ALL {
        let cells: Vec<&str> =
            <OrgRole as StoredEnum>::ALL.iter().map(|r| if r.can(p) { "yes" } else { "-" }).collect();
        out.push_str(&format!("| {} | {} |\n", p.describe(), cells.join(" | ")));
    }
    out
}

/// How long an invitation's link works.
pub const INVITATION_VALIDITY: Duration = Duration::days(7);

/// An invitation to join an organization, mailed as a one-time link. Only the hash of its
/// token is stored; accepting it (`OrganizationRepository::accept_invitation`) consumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: Id,
    pub org_id: Id,
    /// Who is invited; the account that accepts may have another email (the link is the proof).
    pub email: Email,
    /// The role the invitee gets on accepting.
    pub role: OrgRole,
    pub invited_by: Id,
    pub token_hash: TokenHash,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was accepted, and by whom; a pending invitation has neither.
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Id>,
}

impl Invitation {
    /// Whether the link still works at `now`.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.accepted_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_only_reads_and_a_manager_does_billing_but_not_keys() {
        assert!(OrgRole::Viewer.can(Permission::Read));
        assert!(Permission::ALL[1..].iter().all(|p| !OrgRole::Viewer.can(*p)));
        assert!(OrgRole::Manager.can(Permission::ManageBilling) && !OrgRole::Manager.can(Permission::ManageKeys));
        assert!(OrgRole::Member.can(Permission::ManageKeys) && !OrgRole::Member.can(Permission::ManageBilling));
        assert!(Permission::ALL.iter().all(|p| OrgRole::Owner.can(*p)));
    }

    #[test]
    fn only_owners_make_or_remove_owners() {
        assert!(OrgRole::Owner.may_manage(OrgRole::Owner));
        assert!(!OrgRole::Admin.may_manage(OrgRole::Owner));
        assert!(OrgRole::Admin.may_manage(OrgRole::Admin) && OrgRole::Admin.may_manage(OrgRole::Viewer));
        assert!(!OrgRole::Manager.may_manage(OrgRole::Viewer));
    }
}

//! `OrganizationRepository`: organizations beyond the personal one, members, invitations.
//!
//! Every write that could leave an organization without an owner counts the owners inside
//! its `BEGIN IMMEDIATE` transaction: the write lock is held from the count to the commit,
//! so two owners demoting each other at once cannot both pass the check.

use super::users::{membership_from_row, org_from_row, ORG_COLS};
use super::SqliteStore;
use super::{exists_on_conflict, get_enum, get_id, get_opt_id, get_opt_ts, get_ts, get_with, ms, opt_ms, DbError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};
use tollgate_domain::{
    Email, Id, Invitation, Membership, OrgRole, Organization, OrganizationRepository, StoreError, StoredEnum, TokenHash,
};

const INVITATION_COLS: &str =
    "id, org_id, email, role, invited_by, token_hash, created_at, expires_at, accepted_at, accepted_by";

fn invitation_from_row(r: &Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: get_id(r, 0)?,
        org_id: get_id(r, 1)?,
        email: get_with(r, 2, |s| Email::parse(&s))?,
        role: get_enum(r, 3, OrgRole::parse)?,
        invited_by: get_id(r, 4)?,
        token_hash: TokenHash::from_hex(r.get::<_, String>(5)?),
        created_at: get_ts(r, 6)?,
        expires_at: get_ts(r, 7)?,
        accepted_at: get_opt_ts(r, 8)?,
        accepted_by: get_opt_id(r, 9)?,
    })
}

/// The live (not deleted) organization.
fn live_org(tx: &Transaction<'_>, org_id: &Id) -> Result<Option<Organization>, DbError> {
    Ok(tx
        .query_row(
            &format!("SELECT {ORG_COLS} FROM organizations WHERE id = ?1 AND deleted_at IS NULL"),
            [org_id.as_str()],
            org_from_row,
        )
        .optional()?)
}

/// The membership, if the user is a member of the (live) organization.
fn membership(tx: &Transaction<'_>, org_id: &Id, user_id: &Id) -> Result<Option<Membership>, DbError> {
    Ok(tx
        .query_row(
            "SELECT m.org_id, m.user_id, m.role, m.created_at FROM memberships m \
             JOIN organizations o ON o.id = m.org_id AND o.deleted_at IS NULL \
             WHERE m.org_id = ?1 AND m.user_id = ?2",
            [org_id.as_str(), user_id.as_str()],
            membership_from_row,
        )
        .optional()?)
}

fn owner_count(tx: &Transaction<'_>, org_id: &Id) -> Result<i64, DbError> {
    Ok(tx.query_row(
        "SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = ?2",
        [org_id.as_str(), OrgRole::Owner.as_str()],
        |r| r.get(0),
    )?)
}

/// Refuses to take `member`'s owner role away if they are the organization's last owner.
fn keep_an_owner(tx: &Transaction<'_>, member: &Membership) -> Result<(), DbError> {
    if member.role == OrgRole::Owner && owner_count(tx, &member.org_id)? <= 1 {
        return Err(StoreError::Conflict("last owner").into());
    }
    Ok(())
}

/// Inserts an organization and its first owner's membership in `tx` (a new organization,
/// or a new user's personal one). `AlreadyExists` for an id that exists.
pub(super) fn insert_organization(tx: &Transaction<'_>, org: &Organization, owner: &Membership) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO organizations (id, name, owner_id, personal, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![org.id.as_str(), org.name, org.owner_id.as_str(), org.personal, ms(org.created_at)],
    )
    .map_err(exists_on_conflict("organization"))?;
    tx.execute(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![owner.org_id.as_str(), owner.user_id.as_str(), owner.role.as_str(), ms(owner.created_at)],
    )
    .map_err(exists_on_conflict("membership"))?;
    Ok(())
}

#[async_trait]
impl OrganizationRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %org.id), err(level = "debug"))]
    async fn create_organization(&self, org: &Organization, owner: &Membership) -> Result<(), StoreError> {
        let (org, owner) = (org.clone(), owner.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            insert_organization(&tx, &org, &owner)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn rename_organization(&self, org_id: &Id, name: &str) -> Result<(), StoreError> {
        let (org_id, name) = (org_id.clone(), name.to_string());
        self.call(move |c| {
            let n = c.execute(
                "UPDATE organizations SET name = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                params![org_id.as_str(), name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("organization").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn delete_organization(&self, org_id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let org = live_org(&tx, &org_id)?.ok_or(StoreError::NotFound("organization"))?;
            if org.personal {
                return Err(StoreError::Conflict("personal organization").into());
            }
            let id = org_id.as_str();
            tx.execute("UPDATE organizations SET deleted_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
            tx.execute("DELETE FROM memberships WHERE org_id = ?1", [id])?;
            tx.execute("DELETE FROM invitations WHERE org_id = ?1", [id])?;
            // As `revoke_all_api_keys` does, in the same transaction.
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE org_id = ?1 AND revoked_at IS NULL",
                params![id, ms(now)],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id), err(level = "debug"))]
    async fn get_membership(&self, org_id: &Id, user_id: &Id) -> Result<Option<Membership>, StoreError> {
        let (org_id, user_id) = (org_id.clone(), user_id.clone());
        self.call(move |c| {
            let tx = c.transaction()?;
            membership(&tx, &org_id, &user_id)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_members(&self, org_id: &Id) -> Result<Vec<Membership>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT m.org_id, m.user_id, m.role, m.created_at FROM memberships m \
                 JOIN organizations o ON o.id = m.org_id AND o.deleted_at IS NULL \
                 WHERE m.org_id = ?1 ORDER BY m.created_at, m.user_id",
            )?;
            let rows = stmt.query_map([org_id.as_str()], membership_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id, role = role.as_str()), err(level = "debug"))]
    async fn set_member_role(&self, org_id: &Id, user_id: &Id, role: OrgRole) -> Result<Membership, StoreError> {
        let (org_id, user_id) = (org_id.clone(), user_id.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut member = membership(&tx, &org_id, &user_id)?.ok_or(StoreError::NotFound("member"))?;
            if role != OrgRole::Owner {
                keep_an_owner(&tx, &member)?;
            }
            tx.execute(
                "UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
                params![org_id.as_str(), user_id.as_str(), role.as_str()],
            )?;
            tx.commit()?;
            member.role = role;
            Ok(member)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id), err(level = "debug"))]
    async fn remove_member(&self, org_id: &Id, user_id: &Id) -> Result<(), StoreError> {
        let (org_id, user_id) = (org_id.clone(), user_id.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let member = membership(&tx, &org_id, &user_id)?.ok_or(StoreError::NotFound("member"))?;
            keep_an_owner(&tx, &member)?;
            tx.execute(
                "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                [org_id.as_str(), user_id.as_str()],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %invitation.org_id, invitation_id = %invitation.id), err(level = "debug"))]
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let inv = invitation.clone();
        self.call(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO invitations ({INVITATION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    inv.id.as_str(),
                    inv.org_id.as_str(),
                    inv.email.as_str(),
                    inv.role.as_str(),
                    inv.invited_by.as_str(),
                    inv.token_hash.as_str(),
                    ms(inv.created_at),
                    ms(inv.expires_at),
                    opt_ms(inv.accepted_at),
                    inv.accepted_by.as_ref().map(|i| i.as_str()),
                ],
            )
            .map_err(exists_on_conflict("invitation"))?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_invitations(&self, org_id: &Id) -> Result<Vec<Invitation>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {INVITATION_COLS} FROM invitations WHERE org_id = ?1 AND accepted_at IS NULL \
                 ORDER BY created_at DESC, id DESC"
            ))?;
            let rows = stmt.query_map([org_id.as_str()], invitation_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, invitation_id = %invitation_id), err(level = "debug"))]
    async fn get_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<Option<Invitation>, StoreError> {
        let (org_id, invitation_id) = (org_id.clone(), invitation_id.clone());
        self.call(move |c| {
            Ok(c.query_row(
                &format!("SELECT {INVITATION_COLS} FROM invitations WHERE id = ?1 AND org_id = ?2"),
                [invitation_id.as_str(), org_id.as_str()],
                invitation_from_row,
            )
            .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, invitation_id = %invitation_id), err(level = "debug"))]
    async fn delete_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<(), StoreError> {
        let (org_id, invitation_id) = (org_id.clone(), invitation_id.clone());
        self.call(move |c| {
            let n = c.execute(
                "DELETE FROM invitations WHERE id = ?1 AND org_id = ?2 AND accepted_at IS NULL",
                [invitation_id.as_str(), org_id.as_str()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("invitation").into());
            }
            Ok(())
        })
        .await
    }

    // The token hash is a secret's hash: kept out of the span.
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn accept_invitation(
        &self,
        token_hash: &TokenHash,
        user_id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Option<Membership>, StoreError> {
        let (token_hash, user_id) = (token_hash.clone(), user_id.clone());
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inv = tx
                .query_row(
                    &format!(
                        "SELECT {INVITATION_COLS} FROM invitations WHERE token_hash = ?1 AND accepted_at IS NULL \
                         AND expires_at > ?2"
                    ),
                    params![token_hash.as_str(), ms(now)],
                    invitation_from_row,
                )
                .optional()?;
            let Some(inv) = inv else { return Ok(None) };
            if live_org(&tx, &inv.org_id)?.is_none() {
                return Ok(None);
            }
            if membership(&tx, &inv.org_id, &user_id)?.is_some() {
                // Nothing written: the invitation stays pending.
                return Err(StoreError::AlreadyExists("member").into());
            }
            let member =
                Membership { org_id: inv.org_id.clone(), user_id: user_id.clone(), role: inv.role, created_at: now };
            tx.execute(
                "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![member.org_id.as_str(), member.user_id.as_str(), member.role.as_str(), ms(now)],
            )
            .map_err(exists_on_conflict("member"))?;
            tx.execute(
                "UPDATE invitations SET accepted_at = ?2, accepted_by = ?3 WHERE id = ?1",
                params![inv.id.as_str(), ms(now), user_id.as_str()],
            )?;
            tx.commit()?;
            Ok(Some(member))
        })
        .await
    }
}

//! `OrganizationRepository`: team organizations, their members and invitations.
//!
//! "At least one owner" is exact without a lock: the organization item counts its owners
//! (`owners`), and every write that makes or unmakes an owner is a transaction that changes
//! the count on the organization item, on the condition `owners > 1` when it takes one away.
//! DynamoDB serialises transactions on one item, so of two owners demoting each other at
//! once the second finds the count at 1 and is refused. The same condition also requires the
//! organization to be live (no `deleted_at`), so nothing joins or changes a deleted one.

use crate::item::{key, n, s, time, Item, ItemBuilder, Reader, SK};
use crate::keys::*;
use crate::ops::{backoff, Params, NEW_ITEM};
use crate::users::{decode_live_org, decode_membership, membership_item, org_item, OWNERS};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use tollgate_domain::{
    Email, Id, Invitation, Membership, OrgRole, Organization, OrganizationRepository, StoreError, StoredEnum, TokenHash,
};

/// Rounds of read-then-write a member change makes before giving up on a membership that
/// keeps changing under it (each round loses only to another committed change).
const ROUNDS: u32 = 10;

/// The organization is there and not deleted.
const LIVE_ORG: &str = "attribute_exists(PK) AND attribute_not_exists(deleted_at)";

fn invitation_item(inv: &Invitation) -> Item {
    ItemBuilder::new(org_pk(&inv.org_id), invite_sk(&inv.id))
        .s("id", inv.id.as_str())
        .s("org_id", inv.org_id.as_str())
        .s("email", inv.email.as_str())
        .s("role", inv.role.as_str())
        .s("invited_by", inv.invited_by.as_str())
        .s("token_hash", inv.token_hash.as_str())
        .time("created_at", inv.created_at)
        .time("expires_at", inv.expires_at)
        .opt_time("accepted_at", inv.accepted_at)
        .opt_s("accepted_by", inv.accepted_by.as_ref().map(|i| i.as_str()))
        .build()
}

fn decode_invitation(item: &Item) -> Result<Invitation, StoreError> {
    let r = Reader::new(item, "invitation");
    Ok(Invitation {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        email: r.parsed("email", |v| Email::parse(v).ok())?,
        role: r.parsed("role", OrgRole::parse)?,
        invited_by: r.id("invited_by")?,
        token_hash: TokenHash::from_hex(r.string("token_hash")?),
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        accepted_at: r.opt_time("accepted_at")?,
        accepted_by: r.opt_id("accepted_by")?,
    })
}

/// The lookup of a pending invitation by its token's hash; deleted when it is accepted or
/// withdrawn, and by TTL once it has expired.
fn invitetoken_item(inv: &Invitation) -> Item {
    ItemBuilder::new(invitetoken_pk(&inv.token_hash), INVITETOKEN_SK)
        .s("org_id", inv.org_id.as_str())
        .s("invitation_id", inv.id.as_str())
        .ttl(inv.expires_at)
        .build()
}

/// The item's sort key ("" if it has none, which no item read here lacks).
fn sort_key(item: &Item) -> &str {
    item.get(SK).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

/// How many owners a change of one member from `old` to `new` (None: removed) adds.
fn owners_delta(old: OrgRole, new: Option<OrgRole>) -> i32 {
    i32::from(new == Some(OrgRole::Owner)) - i32::from(old == OrgRole::Owner)
}

impl DynamoStore {
    /// The transaction item on the organization that goes with a member change adding
    /// `delta` owners: it requires the organization to be live, and to keep an owner.
    fn tx_owners(&self, org_id: &Id, delta: i32) -> Result<TransactWriteItem, StoreError> {
        let org = key(org_pk(org_id), ORG_SK);
        let p = Params::new().name("#owners", OWNERS).value(":one", n(1));
        match delta {
            // Without the attribute (an item from before it) the organization has one owner.
            d if d < 0 => {
                self.tx_update(org, "SET #owners = #owners - :one", Some(&format!("{LIVE_ORG} AND #owners > :one")), p)
            }
            d if d > 0 => self.tx_update(org, "SET #owners = if_not_exists(#owners, :one) + :one", Some(LIVE_ORG), p),
            _ => self.tx_condition_check(org, LIVE_ORG, Params::new()),
        }
    }

    /// Whether the organization item as the failed transaction saw it was live: if not, the
    /// member is gone with it; if so, the owner condition failed.
    fn last_owner_or_gone(old_org: Option<&Item>) -> StoreError {
        match old_org.map(|i| Reader::new(i, "organization").opt_time("deleted_at")) {
            Some(Ok(None)) => StoreError::Conflict("last owner"),
            Some(Err(e)) => e,
            _ => StoreError::NotFound("member"),
        }
    }

    /// The membership item alone (consistent), whatever the organization's state.
    async fn membership_item(&self, org_id: &Id, user_id: &Id) -> Result<Option<Membership>, StoreError> {
        self.get("GetItem(membership)", key(org_pk(org_id), member_sk(user_id)))
            .await?
            .as_ref()
            .map(decode_membership)
            .transpose()
    }

    /// Deletes items without conditions, 100 a transaction.
    async fn delete_all(&self, op: &'static str, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(100) {
            let items =
                chunk.iter().map(|k| self.tx_delete(k.clone(), None, Params::new())).collect::<Result<_, _>>()?;
            if self.transact(op, items).await?.is_err() {
                return Err(StoreError::Conflict("organization changed concurrently"));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl OrganizationRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %org.id), err(level = "debug"))]
    async fn create_organization(&self, org: &Organization, owner: &Membership) -> Result<(), StoreError> {
        let items = vec![
            self.tx_put(org_item(org, owner), Some(NEW_ITEM), Params::new())?,
            self.tx_put(membership_item(owner), Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create_organization)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::AlreadyExists("organization")),
            Err(c) if c.failed(1) => Err(StoreError::AlreadyExists("membership")),
            Err(_) => Err(StoreError::Conflict("organization created concurrently")),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn rename_organization(&self, org_id: &Id, name: &str) -> Result<(), StoreError> {
        let p = Params::new().name("#name", "name").value(":name", s(name));
        if self
            .update_if("UpdateItem(rename organization)", key(org_pk(org_id), ORG_SK), "SET #name = :name", LIVE_ORG, p)
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::NotFound("organization"))
        }
    }

    /// Revokes the keys, marks the organization deleted (conditional), then deletes its
    /// memberships and invitations and revokes again. Once the mark is written nothing can
    /// join (accepting checks it), so the second read finds every membership; the second
    /// revocation catches a key created between the first and the mark. A delete that stops
    /// midway leaves memberships that `get_membership` and `list_members` ignore (they check
    /// the mark).
    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn delete_organization(&self, org_id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        let org_key = key(org_pk(org_id), ORG_SK);
        let org = decode_live_org(self.get("GetItem(organization)", org_key.clone()).await?.as_ref())?
            .ok_or(StoreError::NotFound("organization"))?;
        if org.personal {
            return Err(StoreError::Conflict("personal organization"));
        }
        use tollgate_domain::ApiKeyRepository;
        self.revoke_all_api_keys(org_id, now).await?;
        let p = Params::new().value(":now", time(now));
        if !self.update_if("UpdateItem(delete organization)", org_key, "SET deleted_at = :now", LIVE_ORG, p).await? {
            return Err(StoreError::NotFound("organization"));
        }
        let mut keys: Vec<Item> = self
            .query_prefix("Query(members)", org_pk(org_id), MEMBER_PREFIX)
            .await?
            .iter()
            .map(|m| decode_membership(m).map(|m| key(org_pk(org_id), member_sk(&m.user_id))))
            .collect::<Result<_, _>>()?;
        for item in self.query_prefix("Query(invitations)", org_pk(org_id), INVITE_PREFIX).await? {
            let inv = decode_invitation(&item)?;
            keys.push(key(org_pk(org_id), invite_sk(&inv.id)));
            if inv.accepted_at.is_none() {
                keys.push(key(invitetoken_pk(&inv.token_hash), INVITETOKEN_SK));
            }
        }
        self.delete_all("TransactWriteItems(delete organization)", keys).await?;
        self.revoke_all_api_keys(org_id, now).await?;
        Ok(())
    }

    /// One BatchGetItem: the membership and the organization (live or not).
    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id), err(level = "debug"))]
    async fn get_membership(&self, org_id: &Id, user_id: &Id) -> Result<Option<Membership>, StoreError> {
        let keys = vec![key(org_pk(org_id), member_sk(user_id)), key(org_pk(org_id), ORG_SK)];
        let items = self.batch_get("BatchGetItem(membership)", keys).await?;
        if decode_live_org(items.iter().find(|i| sort_key(i) == ORG_SK))?.is_none() {
            return Ok(None);
        }
        let member = member_sk(user_id);
        items.iter().find(|i| sort_key(i) == member).map(decode_membership).transpose()
    }

    /// One consistent Query: the organization item (`META`) sorts right after the
    /// memberships (`MEMBER#...`), so `SK BETWEEN "MEMBER#" AND "META"` reads both.
    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_members(&self, org_id: &Id) -> Result<Vec<Membership>, StoreError> {
        let q = self
            .query()
            .key_condition_expression("PK = :pk AND SK BETWEEN :members AND :org")
            .expression_attribute_values(":pk", s(org_pk(org_id)))
            .expression_attribute_values(":members", s(MEMBER_PREFIX))
            .expression_attribute_values(":org", s(ORG_SK))
            .consistent_read(true);
        let items = self.query_all("Query(members)", q).await?;
        if decode_live_org(items.iter().find(|i| sort_key(i) == ORG_SK))?.is_none() {
            return Ok(Vec::new());
        }
        let mut members = items
            .iter()
            .filter(|i| sort_key(i).starts_with(MEMBER_PREFIX))
            .map(decode_membership)
            .collect::<Result<Vec<_>, _>>()?;
        members.sort_by(|a, b| (a.created_at, &a.user_id).cmp(&(b.created_at, &b.user_id)));
        Ok(members)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id, role = role.as_str()), err(level = "debug"))]
    async fn set_member_role(&self, org_id: &Id, user_id: &Id, role: OrgRole) -> Result<Membership, StoreError> {
        for round in 0..ROUNDS {
            let current = self.membership_item(org_id, user_id).await?.ok_or(StoreError::NotFound("member"))?;
            let p = Params::new()
                .name("#role", "role")
                .value(":old", s(current.role.as_str()))
                .value(":new", s(role.as_str()));
            let items = vec![
                self.tx_update(key(org_pk(org_id), member_sk(user_id)), "SET #role = :new", Some("#role = :old"), p)?,
                self.tx_owners(org_id, owners_delta(current.role, Some(role)))?,
            ];
            match self.transact("TransactWriteItems(set_member_role)", items).await? {
                Ok(()) => return Ok(Membership { role, ..current }),
                // The role changed (or the member left) since the read: read again.
                Err(c) if c.failed(0) => {}
                Err(c) if c.failed(1) => return Err(Self::last_owner_or_gone(c.old_item(1))),
                Err(_) => backoff(round + 1, 3).await,
            }
        }
        Err(StoreError::Conflict("membership changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, user_id = %user_id), err(level = "debug"))]
    async fn remove_member(&self, org_id: &Id, user_id: &Id) -> Result<(), StoreError> {
        for round in 0..ROUNDS {
            let current = self.membership_item(org_id, user_id).await?.ok_or(StoreError::NotFound("member"))?;
            let p = Params::new().name("#role", "role").value(":old", s(current.role.as_str()));
            let items = vec![
                self.tx_delete(key(org_pk(org_id), member_sk(user_id)), Some("#role = :old"), p)?,
                self.tx_owners(org_id, owners_delta(current.role, None))?,
            ];
            match self.transact("TransactWriteItems(remove_member)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) => {}
                Err(c) if c.failed(1) => return Err(Self::last_owner_or_gone(c.old_item(1))),
                Err(_) => backoff(round + 1, 3).await,
            }
        }
        Err(StoreError::Conflict("membership changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %invitation.org_id, invitation_id = %invitation.id), err(level = "debug"))]
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let items = vec![
            self.tx_put(invitation_item(invitation), Some(NEW_ITEM), Params::new())?,
            self.tx_put(invitetoken_item(invitation), Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create_invitation)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) || c.failed(1) => Err(StoreError::AlreadyExists("invitation")),
            Err(_) => Err(StoreError::Conflict("invitation created concurrently")),
        }
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_invitations(&self, org_id: &Id) -> Result<Vec<Invitation>, StoreError> {
        let items = self.query_prefix("Query(invitations)", org_pk(org_id), INVITE_PREFIX).await?;
        let mut pending = Vec::new();
        for item in &items {
            let inv = decode_invitation(item)?;
            if inv.accepted_at.is_none() {
                pending.push(inv);
            }
        }
        pending.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(pending)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, invitation_id = %invitation_id), err(level = "debug"))]
    async fn get_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<Option<Invitation>, StoreError> {
        self.get("GetItem(invitation)", key(org_pk(org_id), invite_sk(invitation_id)))
            .await?
            .as_ref()
            .map(decode_invitation)
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, invitation_id = %invitation_id), err(level = "debug"))]
    async fn delete_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<(), StoreError> {
        let Some(inv) = self.get_invitation(org_id, invitation_id).await?.filter(|i| i.accepted_at.is_none()) else {
            return Err(StoreError::NotFound("invitation"));
        };
        let items = vec![
            self.tx_delete(
                key(org_pk(org_id), invite_sk(invitation_id)),
                Some("attribute_exists(PK) AND attribute_not_exists(accepted_at)"),
                Params::new(),
            )?,
            self.tx_delete(key(invitetoken_pk(&inv.token_hash), INVITETOKEN_SK), None, Params::new())?,
        ];
        match self.transact("TransactWriteItems(delete_invitation)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::NotFound("invitation")),
            Err(_) => Err(StoreError::Conflict("invitation changed concurrently")),
        }
    }

    /// Two GetItems (the token lookup, the invitation), then one transaction: the
    /// invitation marked accepted on the condition that it still is pending, the membership
    /// put on the condition that there is none, the organization checked live (and its owner
    /// count raised for an owner's invitation), the token lookup deleted.
    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn accept_invitation(
        &self,
        token_hash: &TokenHash,
        user_id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Option<Membership>, StoreError> {
        let lookup_key = key(invitetoken_pk(token_hash), INVITETOKEN_SK);
        for round in 0..ROUNDS {
            let Some(lookup) = self.get("GetItem(invitation token)", lookup_key.clone()).await? else {
                return Ok(None);
            };
            let r = Reader::new(&lookup, "invitation token");
            let (org_id, invitation_id) = (r.id("org_id")?, r.id("invitation_id")?);
            let Some(inv) = self.get_invitation(&org_id, &invitation_id).await? else {
                return Ok(None);
            };
            if !inv.is_pending(now) || &inv.token_hash != token_hash {
                return Ok(None);
            }
            let member =
                Membership { org_id: org_id.clone(), user_id: user_id.clone(), role: inv.role, created_at: now };
            let p = Params::new().value(":now", time(now)).value(":user", s(user_id.as_str()));
            let items = vec![
                self.tx_update(
                    key(org_pk(&org_id), invite_sk(&invitation_id)),
                    "SET accepted_at = :now, accepted_by = :user",
                    Some("attribute_exists(PK) AND attribute_not_exists(accepted_at) AND expires_at > :now"),
                    p,
                )?,
                self.tx_put(membership_item(&member), Some(NEW_ITEM), Params::new())?,
                self.tx_owners(&org_id, owners_delta(OrgRole::Viewer, Some(inv.role)))?,
                self.tx_delete(lookup_key.clone(), None, Params::new())?,
            ];
            match self.transact("TransactWriteItems(accept_invitation)", items).await? {
                Ok(()) => return Ok(Some(member)),
                // Accepted by someone else, withdrawn, expired, or the organization deleted.
                Err(c) if c.failed(0) || c.failed(2) => return Ok(None),
                Err(c) if c.failed(1) => return Err(StoreError::AlreadyExists("member")),
                Err(_) => backoff(round + 1, 3).await,
            }
        }
        Err(StoreError::Conflict("invitation accepted concurrently"))
    }
}

//! `UserRepository`: users, their unique emails, organizations and memberships.

use crate::item::{key, s, time, Item, ItemBuilder, Reader, GSI1};
use crate::keys::*;
use crate::ops::{sdk_error, Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{
    Email, Id, Membership, OrgRole, Organization, Role, StoreError, StoredEnum, User, UserRepository, UserStatus,
};

/// Only admins that are not deleted are in the `ROLE#admin` index partition, so
/// `admin_exists` is a one-item Query.
fn in_admin_index(user: &User) -> bool {
    user.role == Role::Admin && user.status != UserStatus::Deleted
}

fn user_item(u: &User) -> Item {
    let b = ItemBuilder::new(user_pk(&u.id), USER_SK)
        .s("id", u.id.as_str())
        .s("email", u.email.as_str())
        .s("password_hash", &u.password_hash)
        .s("first_name", &u.first_name)
        .s("last_name", &u.last_name)
        .opt_s("company_name", u.company_name.as_deref())
        .s("role", u.role.as_str())
        .s("status", u.status.as_str())
        .bool("email_verified", u.email_verified)
        .s("default_org_id", u.default_org_id.as_str())
        .time("created_at", u.created_at)
        .time("updated_at", u.updated_at)
        .opt_time("deleted_at", u.deleted_at);
    if in_admin_index(u) {
        b.gsi1(ADMIN_GSI_PK, user_pk(&u.id)).build()
    } else {
        b.build()
    }
}

fn decode_user(item: &Item) -> Result<User, StoreError> {
    let r = Reader::new(item, "user");
    Ok(User {
        id: r.id("id")?,
        email: r.parsed("email", |v| Email::parse(v).ok())?,
        password_hash: r.string("password_hash")?,
        first_name: r.string("first_name")?,
        last_name: r.string("last_name")?,
        company_name: r.opt_string("company_name")?,
        role: r.parsed("role", Role::parse)?,
        status: r.parsed("status", UserStatus::parse)?,
        email_verified: r.bool("email_verified")?,
        default_org_id: r.id("default_org_id")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        deleted_at: r.opt_time("deleted_at")?,
    })
}

fn org_item(o: &Organization) -> Item {
    ItemBuilder::new(org_pk(&o.id), ORG_SK)
        .s("id", o.id.as_str())
        .s("name", &o.name)
        .s("owner_id", o.owner_id.as_str())
        .bool("personal", o.personal)
        .time("created_at", o.created_at)
        .build()
}

fn decode_org(item: &Item) -> Result<Organization, StoreError> {
    let r = Reader::new(item, "organization");
    Ok(Organization {
        id: r.id("id")?,
        name: r.string("name")?,
        owner_id: r.id("owner_id")?,
        personal: r.bool("personal")?,
        created_at: r.time("created_at")?,
    })
}

fn membership_item(m: &Membership) -> Item {
    ItemBuilder::new(org_pk(&m.org_id), member_sk(&m.user_id))
        .s("org_id", m.org_id.as_str())
        .s("user_id", m.user_id.as_str())
        .s("role", m.role.as_str())
        .time("created_at", m.created_at)
        .gsi1(user_pk(&m.user_id), member_gsi_sk(m.created_at, &m.org_id))
        .build()
}

fn decode_membership(item: &Item) -> Result<Membership, StoreError> {
    let r = Reader::new(item, "membership");
    Ok(Membership {
        org_id: r.id("org_id")?,
        user_id: r.id("user_id")?,
        role: r.parsed("role", OrgRole::parse)?,
        created_at: r.time("created_at")?,
    })
}

#[async_trait]
impl UserRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(user_id = %user.id, org_id = %org.id), err(level = "debug"))]
    async fn create_user(&self, user: &User, org: &Organization, owner: &Membership) -> Result<(), StoreError> {
        // The EMAIL item is the uniqueness constraint; deleted users no longer hold one.
        let email = ItemBuilder::new(email_pk(&user.email), EMAIL_SK).s("user_id", user.id.as_str()).build();
        let items = vec![
            self.tx_put(email, Some(NEW_ITEM), Params::new())?,
            self.tx_put(user_item(user), Some(NEW_ITEM), Params::new())?,
            self.tx_put(org_item(org), Some(NEW_ITEM), Params::new())?,
            self.tx_put(membership_item(owner), Some(NEW_ITEM), Params::new())?,
        ];
        match self.transact("TransactWriteItems(create_user)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::AlreadyExists("email")),
            Err(c) if c.failed(1) => Err(StoreError::AlreadyExists("user")),
            Err(c) if c.failed(2) => Err(StoreError::AlreadyExists("organization")),
            Err(c) if c.failed(3) => Err(StoreError::AlreadyExists("membership")),
            Err(_) => Err(StoreError::Conflict("user registered concurrently")),
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "debug"))]
    async fn get_user(&self, id: &Id) -> Result<Option<User>, StoreError> {
        self.get("GetItem(user)", key(user_pk(id), USER_SK)).await?.as_ref().map(decode_user).transpose()
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let Some(claim) = self.get("GetItem(email)", key(email_pk(email), EMAIL_SK)).await? else {
            return Ok(None);
        };
        let user_id = Reader::new(&claim, "email").id("user_id")?;
        let user = self.get_user(&user_id).await?;
        // The EMAIL item is deleted in the same transaction that deletes the user; checking
        // again costs nothing and protects against a manual edit.
        Ok(user.filter(|u| u.status != UserStatus::Deleted && &u.email == email))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user.id), err(level = "debug"))]
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut set = vec![
            "password_hash = :ph",
            "first_name = :fn",
            "last_name = :ln",
            "#role = :role",
            "#status = :status",
            "email_verified = :ev",
            "updated_at = :ua",
        ];
        let mut remove = Vec::new();
        let mut p = Params::new()
            .name("#role", "role")
            .name("#status", "status")
            .value(":ph", s(&user.password_hash))
            .value(":fn", s(&user.first_name))
            .value(":ln", s(&user.last_name))
            .value(":role", s(user.role.as_str()))
            .value(":status", s(user.status.as_str()))
            .value(":ev", aws_sdk_dynamodb::types::AttributeValue::Bool(user.email_verified))
            .value(":ua", time(user.updated_at))
            .value(":deleted", s(UserStatus::Deleted.as_str()));
        match &user.company_name {
            Some(c) => {
                set.push("company_name = :cn");
                p = p.value(":cn", s(c));
            }
            None => remove.push("company_name"),
        }
        if in_admin_index(user) {
            set.push("GSI1PK = :g1pk, GSI1SK = :g1sk");
            p = p.value(":g1pk", s(ADMIN_GSI_PK)).value(":g1sk", s(user_pk(&user.id)));
        } else {
            remove.push("GSI1PK, GSI1SK");
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let key = key(user_pk(&user.id), USER_SK);
        if self.update_if("UpdateItem(user)", key, &expr, "attribute_exists(PK) AND #status <> :deleted", p).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound("user"))
        }
    }

    #[tracing::instrument(skip_all, fields(user_id = %id), err(level = "debug"))]
    async fn soft_delete_user(&self, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        // The email is needed to release it, so read the user first; the transaction's
        // condition makes a concurrent delete lose cleanly.
        let user = match self.get_user(id).await? {
            Some(u) if u.status != UserStatus::Deleted => u,
            _ => return Err(StoreError::NotFound("user")),
        };
        let p = Params::new()
            .name("#status", "status")
            .value(":deleted", s(UserStatus::Deleted.as_str()))
            .value(":now", time(now));
        let update = self.tx_update(
            key(user_pk(id), USER_SK),
            "SET #status = :deleted, deleted_at = :now REMOVE GSI1PK, GSI1SK",
            Some("attribute_exists(PK) AND #status <> :deleted"),
            p,
        )?;
        let release = self.tx_delete(
            key(email_pk(&user.email), EMAIL_SK),
            Some("attribute_not_exists(PK) OR user_id = :id"),
            Params::new().value(":id", s(id.as_str())),
        )?;
        match self.transact("TransactWriteItems(soft_delete_user)", vec![update, release]).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::NotFound("user")),
            Err(_) => Err(StoreError::Conflict("user changed concurrently")),
        }
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn admin_exists(&self) -> Result<bool, StoreError> {
        let out = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(ADMIN_GSI_PK))
            .limit(1)
            .send()
            .await
            .map_err(|e| sdk_error("Query(admins)", e))?;
        Ok(!out.items().is_empty())
    }

    #[tracing::instrument(skip_all, fields(org_id = %id), err(level = "debug"))]
    async fn get_organization(&self, id: &Id) -> Result<Option<Organization>, StoreError> {
        self.get("GetItem(organization)", key(org_pk(id), ORG_SK)).await?.as_ref().map(decode_org).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id), err(level = "debug"))]
    async fn memberships_of_user(&self, user_id: &Id) -> Result<Vec<Membership>, StoreError> {
        let q = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :prefix)")
            .expression_attribute_values(":pk", s(user_pk(user_id)))
            .expression_attribute_values(":prefix", s(MEMBER_GSI_PREFIX))
            .scan_index_forward(true);
        self.query_all("Query(memberships)", q).await?.iter().map(decode_membership).collect()
    }
}

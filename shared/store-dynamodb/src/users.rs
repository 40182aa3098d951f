//! `UserRepository`: users, their unique emails, organizations and memberships.

use crate::item::{key, s, time, Item, ItemBuilder, Reader, GSI1, GSI1SK};
use crate::keys::*;
use crate::ops::{is_condition_failed, sdk_error, Params, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tollgate_domain::{
    Email, Id, Membership, OrgRole, Organization, Role, StoreError, StoredEnum, User, UserQuery, UserRepository,
    UserSort, UserStatus,
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

/// The user's two listing entries (by creation time, by email): write-once, since neither
/// the creation time nor the email of a user ever changes, so `update_user` leaves them be.
fn user_index_items(u: &User) -> (Item, Item) {
    let entry = |sk: &str, gsi_pk: &str, gsi_sk: String| {
        ItemBuilder::new(user_pk(&u.id), sk).s("user_id", u.id.as_str()).gsi1(gsi_pk, gsi_sk).build()
    };
    (
        entry(USER_BY_CREATED_SK, USERS_BY_CREATED_GSI_PK, user_created_gsi_sk(u.created_at, &u.id)),
        entry(USER_BY_EMAIL_SK, USERS_BY_EMAIL_GSI_PK, user_email_gsi_sk(&u.email, &u.id)),
    )
}

/// A cursor this store issued for `sort`: the last user's listing sort key,
/// `<RFC 3339 time>#<id>` or `<email>#<id>`.
fn check_user_cursor(sort: UserSort, cursor: &str) -> Result<&str, StoreError> {
    let valid = match sort {
        UserSort::NewestFirst | UserSort::OldestFirst => cursor
            .split_once('#')
            .is_some_and(|(at, id)| !id.is_empty() && chrono::DateTime::parse_from_rfc3339(at).is_ok()),
        UserSort::EmailAsc => {
            cursor.rsplit_once('#').is_some_and(|(email, id)| !id.is_empty() && Email::parse(email).is_ok())
        }
    };
    if valid {
        Ok(cursor)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// Whether `user` passes the filters of `query` that the user item alone decides.
fn user_matches(query: &UserQuery, fragment: Option<&str>, user: &User) -> bool {
    let status_ok = match query.status {
        Some(status) => user.status == status,
        None => user.status != UserStatus::Deleted,
    };
    let q_ok = fragment.is_none_or(|q| {
        [Some(user.email.as_str()), Some(&user.first_name), Some(&user.last_name), user.company_name.as_deref()]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(q))
    });
    status_ok && q_ok && query.role.is_none_or(|r| user.role == r)
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

/// The organization item of a new organization whose first member is `first`. `owners`
/// counts the owner memberships: every write that changes who is an owner changes it in
/// the same transaction, on the condition that it stays above zero. Items written before it
/// existed have no `owners` and exactly one owner (memberships came only from registration).
pub(crate) fn org_item(o: &Organization, first: &Membership) -> Item {
    ItemBuilder::new(org_pk(&o.id), ORG_SK)
        .s("id", o.id.as_str())
        .s("name", &o.name)
        .s("owner_id", o.owner_id.as_str())
        .bool("personal", o.personal)
        .time("created_at", o.created_at)
        .n(OWNERS, u32::from(first.role == OrgRole::Owner))
        .build()
}

/// The attribute of the organization item counting its owners.
pub(crate) const OWNERS: &str = "owners";

/// The organization, or None if the item is absent or marked deleted.
pub(crate) fn decode_live_org(item: Option<&Item>) -> Result<Option<Organization>, StoreError> {
    match item {
        Some(item) if Reader::new(item, "organization").opt_time("deleted_at")?.is_none() => decode_org(item).map(Some),
        _ => Ok(None),
    }
}

pub(crate) fn decode_org(item: &Item) -> Result<Organization, StoreError> {
    let r = Reader::new(item, "organization");
    Ok(Organization {
        id: r.id("id")?,
        name: r.string("name")?,
        owner_id: r.id("owner_id")?,
        personal: r.bool("personal")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn membership_item(m: &Membership) -> Item {
    ItemBuilder::new(org_pk(&m.org_id), member_sk(&m.user_id))
        .s("org_id", m.org_id.as_str())
        .s("user_id", m.user_id.as_str())
        .s("role", m.role.as_str())
        .time("created_at", m.created_at)
        .gsi1(user_pk(&m.user_id), member_gsi_sk(m.created_at, &m.org_id))
        .build()
}

pub(crate) fn decode_membership(item: &Item) -> Result<Membership, StoreError> {
    let r = Reader::new(item, "membership");
    Ok(Membership {
        org_id: r.id("org_id")?,
        user_id: r.id("user_id")?,
        role: r.parsed("role", OrgRole::parse)?,
        created_at: r.time("created_at")?,
    })
}

impl DynamoStore {
    /// Writes the `users_page` listing entries of users stored before they existed: a Scan
    /// for user items and a conditional Put (`attribute_not_exists(PK)`) of each entry, so
    /// it is idempotent and safe while users register. Returns how many entries it wrote.
    /// Run once after deploying a version with `users_page` onto an existing table.
    pub async fn backfill_user_listing(&self) -> Result<u32, StoreError> {
        let mut written = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :sk")
                .expression_attribute_values(":sk", s(USER_SK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Scan(users)", e))?;
            for item in page.items() {
                let (by_created, by_email) = user_index_items(&decode_user(item)?);
                for entry in [by_created, by_email] {
                    let result = self
                        .client
                        .put_item()
                        .table_name(&self.table)
                        .set_item(Some(entry))
                        .condition_expression(NEW_ITEM)
                        .send()
                        .await;
                    match result {
                        Ok(_) => written += 1,
                        Err(e) if is_condition_failed(&e) => {}
                        Err(e) => return Err(sdk_error("PutItem(user listing entry)", e)),
                    }
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(written),
            }
        }
    }
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
            self.tx_put(org_item(org, owner), Some(NEW_ITEM), Params::new())?,
            self.tx_put(membership_item(owner), Some(NEW_ITEM), Params::new())?,
            self.tx_put(user_index_items(user).0, Some(NEW_ITEM), Params::new())?,
            self.tx_put(user_index_items(user).1, Some(NEW_ITEM), Params::new())?,
            self.tx_count_signup(user.created_at)?,
        ];
        match self.transact("TransactWriteItems(create_user)", items).await? {
            Ok(()) => Ok(()),
            Err(c) if c.failed(0) => Err(StoreError::AlreadyExists("email")),
            Err(c) if c.failed(1) => Err(StoreError::AlreadyExists("user")),
            Err(c) if c.failed(2) => Err(StoreError::AlreadyExists("organization")),
            Err(c) if c.failed(3) => Err(StoreError::AlreadyExists("membership")),
            Err(c) if c.failed(4) || c.failed(5) => Err(StoreError::AlreadyExists("user")),
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
        decode_live_org(self.get("GetItem(organization)", key(org_pk(id), ORG_SK)).await?.as_ref())
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

    /// A walk along the write-once listing entries on GSI1 (`USERS#created` or `USERS#email`,
    /// a key range after the cursor), reading the users they name with BatchGetItem and
    /// filtering in code (and, for `plan_id`, the subscriptions of their personal
    /// organizations) until the page is full. The cursor is the last user's entry sort key.
    #[tracing::instrument(skip_all, fields(sort = ?query.sort, limit = query.limit), err(level = "debug"))]
    async fn users_page(&self, query: &UserQuery) -> Result<(Vec<User>, Option<String>), StoreError> {
        /// Entries read per Query at least when filters may skip most users.
        const READ_AHEAD: usize = 100;
        let limit = query.page_size() as usize;
        let after = query.cursor.as_deref().map(|c| check_user_cursor(query.sort, c)).transpose()?;
        let (gsi_pk, forward) = match query.sort {
            UserSort::NewestFirst => (USERS_BY_CREATED_GSI_PK, false),
            UserSort::OldestFirst => (USERS_BY_CREATED_GSI_PK, true),
            UserSort::EmailAsc => (USERS_BY_EMAIL_GSI_PK, true),
        };
        let key_condition = match (after, forward) {
            (None, _) => "GSI1PK = :pk",
            (Some(_), true) => "GSI1PK = :pk AND GSI1SK > :after",
            (Some(_), false) => "GSI1PK = :pk AND GSI1SK < :after",
        };
        let fragment = query.q.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty());
        // Without filters only deleted users are skipped (few): read about a page at a time.
        let filtered = fragment.is_some() || query.status.is_some() || query.role.is_some() || query.plan_id.is_some();
        // One more than the page: whether it exists says if there is a next page.
        let mut out: Vec<(String, User)> = Vec::new();
        let mut start = None;
        while out.len() <= limit {
            let mut q = self
                .query()
                .index_name(GSI1)
                .key_condition_expression(key_condition)
                .expression_attribute_values(":pk", s(gsi_pk))
                .scan_index_forward(forward)
                .limit({
                    let remaining = limit + 1 - out.len();
                    (if filtered { remaining.max(READ_AHEAD) } else { remaining }).min(1000) as i32
                })
                .set_exclusive_start_key(start.take());
            if let Some(a) = after {
                q = q.expression_attribute_values(":after", s(a));
            }
            let page = q.send().await.map_err(|e| sdk_error("Query(users page)", e))?;
            let entries = page
                .items()
                .iter()
                .map(|item| {
                    let r = Reader::new(item, "user listing entry");
                    Ok((r.string(GSI1SK)?, r.id("user_id")?))
                })
                .collect::<Result<Vec<(String, Id)>, StoreError>>()?;
            let keys = entries.iter().map(|(_, id)| key(user_pk(id), USER_SK)).collect();
            let mut users: std::collections::HashMap<Id, User> = self
                .batch_get("BatchGetItem(users)", keys)
                .await?
                .iter()
                .map(|item| decode_user(item).map(|u| (u.id.clone(), u)))
                .collect::<Result<_, _>>()?;
            let mut candidates: Vec<(String, User)> = entries
                .into_iter()
                .filter_map(|(sk, id)| users.remove(&id).map(|u| (sk, u)))
                .filter(|(_, u)| user_matches(query, fragment.as_deref(), u))
                .collect();
            if let Some(plan) = &query.plan_id {
                let keys = candidates.iter().map(|(_, u)| key(org_pk(&u.default_org_id), SUBSCRIPTION_SK)).collect();
                let mut subscribed = std::collections::HashSet::new();
                for item in self.batch_get("BatchGetItem(subscriptions)", keys).await? {
                    let r = Reader::new(&item, "subscription");
                    if r.s("plan_id")? == plan.as_str() {
                        subscribed.insert(r.string("org_id")?);
                    }
                }
                candidates.retain(|(_, u)| subscribed.contains(u.default_org_id.as_str()));
            }
            out.extend(candidates.into_iter().take(limit + 1 - out.len()));
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last().map(|(sk, _)| sk.clone())
        } else {
            None
        };
        Ok((out.into_iter().map(|(_, u)| u).collect(), next))
    }
}

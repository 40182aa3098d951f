//! `ProjectRepository`: projects in their organization's partition, a per-organization count
//! of live projects (the exact `max_projects` limit, changed only in the transactions that
//! create or delete a project), and one lookup item per verify secret carrying a copy of the
//! project, so `find_project_by_verify_secret` is one GetItem.
//!
//! A project item goes through three states (attribute `state`):
//! - live (no `state`): listed, found, keys can be created in it;
//! - `deleting`: hidden from every read, no key can be created in it (`create_api_key`
//!   checks the item in its transaction), its verify secret's lookup item already gone; its
//!   keys are being revoked. A retried `delete_project` finishes from here;
//! - `deleted`: a tombstone kept for good (no verify secret, never listed), so a deleted id
//!   is never stored again: `ensure_project` answers `NotFound("project")` rather than
//!   silently recreating a deleted default project.

use crate::item::{key, n, s, time, Item, ItemBuilder, Reader};
use crate::keys::*;
use crate::ops::{backoff, Cancelled, Params, UpdateExpr, NEW_ITEM};
use crate::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use tollgate_domain::{Id, Project, ProjectRepository, StoreError, TokenHash};

/// Rounds of the read-then-conditional-write operations, and of creations losing against
/// concurrent transactions on the organization's count item.
const MAX_ATTEMPTS: u32 = 40;

/// The state attribute (always through the `#state` placeholder) and its values.
const STATE: &str = "state";
const DELETING: &str = "deleting";
const DELETED: &str = "deleted";

/// Condition on a project item: it exists and is live. Needs `#state`
/// ([`live_project_params`]).
pub(crate) const LIVE_PROJECT: &str = "attribute_exists(PK) AND attribute_not_exists(#state)";

pub(crate) fn live_project_params() -> Params {
    Params::new().name("#state", STATE)
}

/// A project item as read.
enum Stored {
    /// Live: the project and the revision that guards its updates.
    Live(Project, u64),
    /// Being deleted (`delete_project` stopped after marking it, or is running).
    Deleting,
    /// A tombstone.
    Deleted,
}

fn with_project_fields(b: ItemBuilder, p: &Project) -> ItemBuilder {
    b.s("id", p.id.as_str())
        .s("org_id", p.org_id.as_str())
        .s("name", &p.name)
        .opt_s("description", p.description.as_deref())
        .opt_s("verify_secret_hash", p.verify_secret_hash.as_ref().map(TokenHash::as_str))
        .time("created_at", p.created_at)
        .time("updated_at", p.updated_at)
}

fn decode_project_fields(r: &Reader) -> Result<Project, StoreError> {
    Ok(Project {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        name: r.string("name")?,
        description: r.opt_string("description")?,
        verify_secret_hash: r.opt_s("verify_secret_hash")?.map(TokenHash::from_hex),
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

/// The live project item at revision `rev`.
fn project_item(p: &Project, rev: u64) -> Item {
    with_project_fields(ItemBuilder::new(org_pk(&p.org_id), project_sk(&p.id)), p).n("rev", rev).build()
}

fn decode_stored(item: &Item) -> Result<Stored, StoreError> {
    let r = Reader::new(item, "project");
    match r.opt_s(STATE)? {
        None => Ok(Stored::Live(decode_project_fields(&r)?, r.u64_or_zero("rev")?)),
        Some(DELETING) => Ok(Stored::Deleting),
        Some(DELETED) => Ok(Stored::Deleted),
        Some(other) => {
            Err(StoreError::Corrupt(format!("project item: attribute `{STATE}` has unknown value {other:?}")))
        }
    }
}

/// The lookup item of a verify secret: a copy of the project.
fn verify_item(p: &Project, hash: &TokenHash) -> Item {
    with_project_fields(ItemBuilder::new(verifysecret_pk(hash), VERIFYSECRET_SK), p).build()
}

fn verify_key(hash: &TokenHash) -> Item {
    key(verifysecret_pk(hash), VERIFYSECRET_SK)
}

fn count_key(org_id: &Id) -> Item {
    key(org_pk(org_id), PROJECT_COUNT_SK)
}

/// What `ensure_project` answers when a project with the id is stored already: the live
/// one, or `NotFound("project")` if it was deleted (or is being deleted).
fn ensured(item: &Item) -> Result<Project, StoreError> {
    match decode_stored(item)? {
        Stored::Live(p, _) => Ok(p),
        Stored::Deleting | Stored::Deleted => Err(StoreError::NotFound("project")),
    }
}

impl DynamoStore {
    async fn get_stored_project(&self, org_id: &Id, project_id: &Id) -> Result<Option<Stored>, StoreError> {
        self.get("GetItem(project)", key(org_pk(org_id), project_sk(project_id)))
            .await?
            .as_ref()
            .map(decode_stored)
            .transpose()
    }

    /// `ADD n :delta` on the organization's count of live projects, held to `n < max` when
    /// given (a missing count is 0).
    fn tx_project_count(&self, org_id: &Id, delta: i64, max: Option<u32>) -> Result<TransactWriteItem, StoreError> {
        let p = Params::new().name("#n", "n").value(":delta", n(delta));
        match max {
            Some(max) => self.tx_update(
                count_key(org_id),
                "ADD #n :delta",
                Some("attribute_not_exists(#n) OR #n < :max"),
                p.value(":max", n(max)),
            ),
            None => self.tx_update(count_key(org_id), "ADD #n :delta", None, p),
        }
    }

    /// The Put of a new project item and, if it has a verify secret, of its lookup item.
    fn tx_new_project(&self, project: &Project) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![self.tx_put(project_item(project, 1), Some(NEW_ITEM), Params::new())?];
        if let Some(hash) = &project.verify_secret_hash {
            items.push(self.tx_put(verify_item(project, hash), Some(NEW_ITEM), Params::new())?);
        }
        Ok(items)
    }

    /// Marks a live project `deleting` (revision `rev`): from this commit no key can be
    /// created in it and it is hidden; its verify secret's lookup item goes and the count of
    /// live projects drops, in the same transaction. Ok(false) if it changed since it was read.
    async fn mark_deleting(&self, project: &Project, rev: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (expr, p) = UpdateExpr::new()
            .set(STATE, s(DELETING))
            .set("deleting_at", time(now))
            .set("rev", n(rev + 1))
            .remove("verify_secret_hash")
            .build();
        let p = p.name("#state", STATE).name("#rev", "rev").value(":rev", n(rev));
        let mut items = vec![
            self.tx_update(
                key(org_pk(&project.org_id), project_sk(&project.id)),
                &expr,
                Some("attribute_not_exists(#state) AND #rev = :rev"),
                p,
            )?,
            self.tx_project_count(&project.org_id, -1, None)?,
        ];
        if let Some(hash) = &project.verify_secret_hash {
            items.push(self.tx_delete(verify_key(hash), None, Params::new())?);
        }
        Ok(self.transact("TransactWriteItems(delete_project: mark)", items).await?.is_ok())
    }

    /// Turns a `deleting` project into its tombstone (a no-op if another call did).
    async fn finish_delete(&self, org_id: &Id, project_id: &Id, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (expr, p) = UpdateExpr::new().set(STATE, s(DELETED)).set("deleted_at", time(now)).build();
        let p = p.name("#state", STATE).value(":deleting", s(DELETING));
        let key = key(org_pk(org_id), project_sk(project_id));
        // A failed condition: it is no longer `deleting`, another call finished it.
        self.update_if("UpdateItem(delete_project: finish)", key, &expr, "#state = :deleting", p).await?;
        Ok(())
    }
}

#[async_trait]
impl ProjectRepository for DynamoStore {
    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id, max_projects), err(level = "debug"))]
    async fn create_project(&self, project: &Project, max_projects: u32) -> Result<(), StoreError> {
        if max_projects == 0 {
            return Err(StoreError::LimitReached("projects"));
        }
        for attempt in 0..MAX_ATTEMPTS {
            // The count and the new item in one transaction: exact under concurrency, with no
            // read first (the count holds the live projects, the default one included).
            let mut items = vec![self.tx_project_count(&project.org_id, 1, Some(max_projects))?];
            items.extend(self.tx_new_project(project)?);
            match self.transact("TransactWriteItems(create_project)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if c.failed(0) => return Err(StoreError::LimitReached("projects")),
                Err(c) if c.failed(1) => return Err(StoreError::AlreadyExists("project")),
                Err(c) if c.failed(2) => return Err(StoreError::AlreadyExists("project verify secret")),
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("projects changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id), err(level = "debug"))]
    async fn ensure_project(&self, project: &Project) -> Result<Project, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let mut items = self.tx_new_project(project)?;
            items.push(self.tx_project_count(&project.org_id, 1, None)?);
            let cancelled = match self.transact("TransactWriteItems(ensure_project)", items).await? {
                Ok(()) => return Ok(project.clone()),
                Err(c) => c,
            };
            // The project exists (or existed): the cancellation reason carries it.
            if cancelled.failed(0) {
                if let Some(item) = cancelled.old_item(0) {
                    return ensured(item);
                }
            } else if project.verify_secret_hash.is_some() && cancelled.failed(1) {
                return Err(StoreError::AlreadyExists("project verify secret"));
            }
            // Lost against a concurrent transaction, which may have stored it.
            if let Some(item) =
                self.get("GetItem(project)", key(org_pk(&project.org_id), project_sk(&project.id))).await?
            {
                return ensured(&item);
            }
            backoff(attempt, 3).await;
        }
        Err(StoreError::Conflict("project changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_projects(&self, org_id: &Id) -> Result<Vec<Project>, StoreError> {
        let mut projects = Vec::new();
        for item in self.query_prefix("Query(projects)", org_pk(org_id), PROJECT_PREFIX).await? {
            if let Stored::Live(p, _) = decode_stored(&item)? {
                projects.push(p);
            }
        }
        projects.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(projects)
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, project_id = %project_id), err(level = "debug"))]
    async fn get_project(&self, org_id: &Id, project_id: &Id) -> Result<Option<Project>, StoreError> {
        Ok(match self.get_stored_project(org_id, project_id).await? {
            Some(Stored::Live(p, _)) => Some(p),
            _ => None,
        })
    }

    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id), err(level = "debug"))]
    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let Some(Stored::Live(stored, rev)) = self.get_stored_project(&project.org_id, &project.id).await? else {
                return Err(StoreError::NotFound("project"));
            };
            let new = Project {
                name: project.name.clone(),
                description: project.description.clone(),
                verify_secret_hash: project.verify_secret_hash.clone(),
                updated_at: project.updated_at,
                ..stored.clone()
            };
            // Guarded by the revision read: a concurrent update or delete makes this retry
            // (and a delete then answers NotFound), so the lookup items follow the item.
            let mut items = vec![self.tx_put(
                project_item(&new, rev + 1),
                Some("#rev = :rev AND attribute_not_exists(#state)"),
                live_project_params().name("#rev", "rev").value(":rev", n(rev)),
            )?];
            let (old, fresh) = (&stored.verify_secret_hash, &new.verify_secret_hash);
            let mut fresh_at = None;
            if let Some(hash) = fresh {
                let is_new = old.as_ref() != Some(hash);
                fresh_at = is_new.then_some(items.len());
                items.push(self.tx_put(verify_item(&new, hash), is_new.then_some(NEW_ITEM), Params::new())?);
            }
            if let Some(hash) = old.as_ref().filter(|h| fresh.as_ref() != Some(*h)) {
                items.push(self.tx_delete(verify_key(hash), None, Params::new())?);
            }
            match self.transact("TransactWriteItems(update_project)", items).await? {
                Ok(()) => return Ok(()),
                Err(c) if fresh_at.is_some_and(|i| c.failed(i)) && !c.failed(0) => {
                    return Err(StoreError::AlreadyExists("project verify secret"));
                }
                Err(Cancelled(_)) => backoff(attempt, 3).await,
            }
        }
        Err(StoreError::Conflict("project changed concurrently"))
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, project_id = %project_id), err(level = "debug"))]
    async fn delete_project(&self, org_id: &Id, project_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError> {
        // 1. Mark it `deleting` (unless an interrupted delete did): from then on no key can be
        //    created in it.
        let mut marked = false;
        for attempt in 0..MAX_ATTEMPTS {
            match self.get_stored_project(org_id, project_id).await? {
                None | Some(Stored::Deleted) => return Err(StoreError::NotFound("project")),
                Some(Stored::Deleting) => {
                    marked = true;
                    break;
                }
                Some(Stored::Live(project, rev)) => {
                    if self.mark_deleting(&project, rev, now).await? {
                        marked = true;
                        break;
                    }
                    backoff(attempt, 3).await;
                }
            }
        }
        if !marked {
            return Err(StoreError::Conflict("project changed concurrently"));
        }
        // 2. Revoke its keys: every key created in it committed before the mark, so the
        //    (consistent) Query sees them all.
        let revoked = self.revoke_keys_of(org_id, Some(project_id), now).await?;
        // 3. Leave the tombstone.
        self.finish_delete(org_id, project_id, now).await?;
        Ok(revoked)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_project_by_verify_secret(&self, hash: &TokenHash) -> Result<Option<Project>, StoreError> {
        match self.get("GetItem(project verify secret)", verify_key(hash)).await? {
            Some(item) => decode_project_fields(&Reader::new(&item, "project verify secret")).map(Some),
            None => Ok(None),
        }
    }
}

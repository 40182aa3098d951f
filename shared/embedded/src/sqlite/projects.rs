//! `ProjectRepository`: an organization's projects, and the revocation of a deleted project's
//! keys.
//!
//! A deleted project's row is deleted; its id goes to `deleted_projects`, so `ensure_project`
//! never brings it back and `create_project` never reuses it.

use super::{exists_on_conflict, get_id, get_ts, ms, DbError, SqliteStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use tollgate_domain::{Id, Project, ProjectRepository, StoreError, TokenHash};

const PROJECT_COLS: &str = "id, org_id, name, description, verify_secret_hash, created_at, updated_at";

/// Columns 0..=6 as in `PROJECT_COLS`.
fn project_from_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: get_id(r, 0)?,
        org_id: get_id(r, 1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        verify_secret_hash: r.get::<_, Option<String>>(4)?.map(TokenHash::from_hex),
        created_at: get_ts(r, 5)?,
        updated_at: get_ts(r, 6)?,
    })
}

/// The stored project with this id, whatever its organization.
fn project_by_id(c: &Connection, id: &Id) -> Result<Option<Project>, DbError> {
    Ok(c.prepare_cached(&format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"))?
        .query_row([id.as_str()], project_from_row)
        .optional()?)
}

/// Whether a project with this id was deleted.
fn was_deleted(c: &Connection, id: &Id) -> Result<bool, DbError> {
    Ok(c.prepare_cached("SELECT EXISTS (SELECT 1 FROM deleted_projects WHERE id = ?1)")?
        .query_row([id.as_str()], |r| r.get(0))?)
}

fn insert_project(c: &Connection, p: &Project) -> Result<(), DbError> {
    c.prepare_cached(&format!("INSERT INTO projects ({PROJECT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))?
        .execute(params![
            p.id.as_str(),
            p.org_id.as_str(),
            p.name,
            p.description,
            p.verify_secret_hash.as_ref().map(TokenHash::as_str),
            ms(p.created_at),
            ms(p.updated_at),
        ])
        .map_err(exists_on_conflict("project"))?;
    Ok(())
}

/// Whether the project exists in the organization: `create_api_key` checks it in its own
/// write transaction, so a key is never created in a project being deleted.
pub(super) fn project_exists(c: &Connection, org_id: &Id, project_id: &Id) -> Result<bool, DbError> {
    Ok(c.prepare_cached("SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?1 AND org_id = ?2)")?
        .query_row([project_id.as_str(), org_id.as_str()], |r| r.get(0))?)
}

#[async_trait]
impl ProjectRepository for SqliteStore {
    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id, max_projects = max_projects), err(level = "debug"))]
    async fn create_project(&self, project: &Project, max_projects: u32) -> Result<(), StoreError> {
        let project = project.clone();
        self.call(move |c| {
            // The count and the insert share one write transaction, so the limit is exact.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if was_deleted(&tx, &project.id)? || project_by_id(&tx, &project.id)?.is_some() {
                return Err(StoreError::AlreadyExists("project").into());
            }
            let count: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM projects WHERE org_id = ?1")?
                .query_row([project.org_id.as_str()], |r| r.get(0))?;
            if count >= i64::from(max_projects) {
                return Err(StoreError::LimitReached("projects").into());
            }
            insert_project(&tx, &project)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id), err(level = "debug"))]
    async fn ensure_project(&self, project: &Project) -> Result<Project, StoreError> {
        let project = project.clone();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if was_deleted(&tx, &project.id)? {
                return Err(StoreError::NotFound("project").into());
            }
            if let Some(stored) = project_by_id(&tx, &project.id)? {
                return Ok(stored);
            }
            insert_project(&tx, &project)?;
            tx.commit()?;
            Ok(project)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
    async fn list_projects(&self, org_id: &Id) -> Result<Vec<Project>, StoreError> {
        let org_id = org_id.clone();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PROJECT_COLS} FROM projects WHERE org_id = ?1 ORDER BY created_at, rowid"
            ))?;
            let rows = stmt.query_map([org_id.as_str()], project_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, project_id = %project_id), err(level = "debug"))]
    async fn get_project(&self, org_id: &Id, project_id: &Id) -> Result<Option<Project>, StoreError> {
        let (org_id, project_id) = (org_id.clone(), project_id.clone());
        self.call(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {PROJECT_COLS} FROM projects WHERE org_id = ?1 AND id = ?2"))?
                .query_row([org_id.as_str(), project_id.as_str()], project_from_row)
                .optional()?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %project.org_id, project_id = %project.id), err(level = "debug"))]
    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let project = project.clone();
        self.call(move |c| {
            // One statement: the organization is part of the condition.
            let n = c
                .prepare_cached(
                    "UPDATE projects SET name = ?3, description = ?4, verify_secret_hash = ?5, updated_at = ?6 \
                     WHERE org_id = ?1 AND id = ?2",
                )?
                .execute(params![
                    project.org_id.as_str(),
                    project.id.as_str(),
                    project.name,
                    project.description,
                    project.verify_secret_hash.as_ref().map(TokenHash::as_str),
                    ms(project.updated_at),
                ])
                .map_err(exists_on_conflict("project verify secret"))?;
            if n == 0 {
                return Err(StoreError::NotFound("project").into());
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(org_id = %org_id, project_id = %project_id), err(level = "debug"))]
    async fn delete_project(&self, org_id: &Id, project_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let (org_id, project_id) = (org_id.clone(), project_id.clone());
        self.call(move |c| {
            // One transaction: no key can be created in the project once it is gone, and
            // every key of it is revoked with it.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx
                .prepare_cached("DELETE FROM projects WHERE org_id = ?1 AND id = ?2")?
                .execute([org_id.as_str(), project_id.as_str()])?;
            if deleted == 0 {
                return Err(StoreError::NotFound("project").into());
            }
            tx.prepare_cached("INSERT INTO deleted_projects (id, org_id, deleted_at) VALUES (?1, ?2, ?3)")?
                .execute(params![project_id.as_str(), org_id.as_str(), ms(now)])?;
            // As `revoke_api_key`: `revoked_at` on the key makes all its secrets unusable (they
            // stay findable, so callers can say "revoked"). A key without a project is in the
            // default one.
            let revoked = tx
                .prepare_cached(
                    "UPDATE api_keys SET revoked_at = ?4 WHERE org_id = ?1 AND revoked_at IS NULL \
                     AND coalesce(project_id, ?3) = ?2",
                )?
                .execute(params![
                    org_id.as_str(),
                    project_id.as_str(),
                    Project::default_id(&org_id).as_str(),
                    ms(now)
                ])?;
            tx.commit()?;
            Ok(revoked as u32)
        })
        .await
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn find_project_by_verify_secret(&self, hash: &TokenHash) -> Result<Option<Project>, StoreError> {
        let hash = hash.clone();
        self.call(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {PROJECT_COLS} FROM projects WHERE verify_secret_hash = ?1"))?
                .query_row([hash.as_str()], project_from_row)
                .optional()?)
        })
        .await
    }
}

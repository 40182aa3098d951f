//! Projects as the route groups and the gateway need them: every organization has a default
//! project, stored the first time it is needed (see `tollgate_domain::project`).

use crate::AppError;
use chrono::{DateTime, Utc};
use tollgate_domain::{Id, Project, Store, StoreError};

/// The organization's default project, stored if this is its first use.
#[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
pub async fn default_project(store: &dyn Store, org_id: &Id, now: DateTime<Utc>) -> Result<Project, AppError> {
    let id = Project::default_id(org_id);
    if let Some(p) = store.get_project(org_id, &id).await? {
        return Ok(p);
    }
    Ok(store.ensure_project(&Project::default_for(org_id, now)).await?)
}

/// The organization's project `project_id`: its default project (stored on first use) or
/// one it created. `NotFound("project")` for any other id, another tenant's included.
#[tracing::instrument(skip_all, fields(org_id = %org_id, project_id = %project_id), err(level = "debug"))]
pub async fn project_of(
    store: &dyn Store,
    org_id: &Id,
    project_id: &Id,
    now: DateTime<Utc>,
) -> Result<Project, AppError> {
    if *project_id == Project::default_id(org_id) {
        return default_project(store, org_id, now).await;
    }
    Ok(store.get_project(org_id, project_id).await?.ok_or(StoreError::NotFound("project"))?)
}

/// Whether `project_id` is one of the organization's projects (its default one always is),
/// without storing anything.
pub async fn is_project_of(store: &dyn Store, org_id: &Id, project_id: &Id) -> Result<bool, AppError> {
    Ok(*project_id == Project::default_id(org_id) || store.get_project(org_id, project_id).await?.is_some())
}

/// The organization's projects, oldest first, its default project included (stored now if
/// this is its first use).
#[tracing::instrument(skip_all, fields(org_id = %org_id), err(level = "debug"))]
pub async fn projects_of(store: &dyn Store, org_id: &Id, now: DateTime<Utc>) -> Result<Vec<Project>, AppError> {
    let projects = store.list_projects(org_id).await?;
    if projects.iter().any(Project::is_default) {
        return Ok(projects);
    }
    default_project(store, org_id, now).await?;
    Ok(store.list_projects(org_id).await?)
}

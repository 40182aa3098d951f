//! Handlers of `/api/user/projects`: the organization's projects, their keys and their
//! verify secrets. Every query is scoped to the caller's organization, so another tenant's
//! project id is simply "not found".

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_app::{current_subscription, default_project, project_of, projects_of};
use tollgate_domain::text::{DESCRIPTION_MAX, NAME_MAX};
use tollgate_domain::{AuditEvent, Id, NewVerifySecret, Project, StoreError};
use tollgate_http::openapi::fields;
use tollgate_http::views::{optional_text_field, text_field};
use tollgate_http::{can, ApiError, ApiJson, AppState, AuthUser, Authorized, ErrorBody, ErrorCode, OptionalJson};
use utoipa::ToSchema;

use crate::handlers::{create_key_in, keys_view, ApiKeyList, CreateApiKeyRequest, CreatedApiKey};

/// A project as listed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    pub id: Id,
    pub name: String,
    pub description: Option<String>,
    /// The organization's default project: keys created without a project belong to it,
    /// and it cannot be deleted.
    pub default: bool,
    /// Whether a verify secret (for `POST /api/v1/verify`) has been issued.
    pub has_verify_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        ProjectView {
            id: p.id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            default: p.is_default(),
            has_verify_secret: p.verify_secret_hash.is_some(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectList {
    /// Oldest first; the default project is always there.
    pub data: Vec<ProjectView>,
    /// How many projects the organization's plan lets it create, besides its default one.
    pub limit: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
}

/// A partial update: fields left out keep their value; an empty description clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    #[schema(schema_with = fields::name_update)]
    pub name: Option<String>,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
}

/// Deleting a project revokes its keys: the request names the project to confirm.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteProjectRequest {
    /// The project's name, exactly.
    pub confirm: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedProject {
    pub id: Id,
    /// Keys revoked with it (the gateway refuses them within 5 seconds).
    pub revoked_keys: u32,
}

/// A new verify secret: shown once, never again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedVerifySecret {
    pub project_id: Id,
    /// `Authorization: Bearer <this>` on `POST /api/v1/verify` verifies this project's keys.
    /// Store it now: only its hash is kept. The previous secret stops working at once.
    #[schema(example = "pvs_4f9K2mZq8TfW1pLx0aB3cD0x7Qa2ab34cd56ef78")]
    pub verify_secret: String,
}

/// Ids that cannot be ours are 404 without touching the store.
pub(crate) fn project_id(raw: &str) -> Result<Id, ApiError> {
    Project::parse_id(raw).ok_or_else(|| ApiError::NotFound("project".into()))
}

/// The audit event of `action` by the signed-in user on `project`.
fn project_event(action: &str, now: DateTime<Utc>, auth: &AuthUser, project: &Id) -> AuditEvent {
    auth.audit_event(action, now).target(project.to_string())
}

/// The organization's projects, oldest first.
#[utoipa::path(get, path = "/api/user/projects", tag = "projects", security(("bearer" = [])),
    responses((status = 200, description = "The projects", body = ProjectList)))]
pub async fn list_projects(State(state): State<AppState>, auth: AuthUser) -> Result<Json<ProjectList>, ApiError> {
    let now = state.now();
    let data = projects_of(state.store.as_ref(), &auth.org_id, now).await?.iter().map(ProjectView::from).collect();
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    Ok(Json(ProjectList { data, limit: plan.max_projects }))
}

/// Creates a project, within the plan's number of projects (`max_projects`, counted
/// besides the default project).
#[utoipa::path(post, path = "/api/user/projects", tag = "projects", security(("bearer" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "The project", body = ProjectView),
        (status = 409, description = "`project_limit_reached`: the plan's number of projects is reached", body = ErrorBody),
        (status = 422, description = "`invalid_field`: a blank or too long name or description", body = ErrorBody),
    ))]
pub async fn create_project(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    ApiJson(req): ApiJson<CreateProjectRequest>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let now = state.now();
    let project = Project::new(&auth.org_id, &req.name, req.description.as_deref(), now)?;
    // The store counts every stored project: the default one is stored first, so that it is
    // always among them, and allowed on top of the plan's number.
    default_project(state.store.as_ref(), &auth.org_id, now).await?;
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    let limit = plan.max_projects;
    state.store.create_project(&project, limit.saturating_add(1)).await.map_err(|e| match e {
        StoreError::LimitReached(_) => ApiError::rejected(
            ErrorCode::ProjectLimitReached,
            format!(
                "your plan ({}) allows {limit} projects besides the default one; delete one or upgrade to create another",
                plan.name
            ),
        ),
        e => e.into(),
    })?;
    state.audit(project_event("project.create", now, &auth, &project.id)).await;
    Ok((StatusCode::CREATED, Json(ProjectView::from(&project))))
}

/// One project.
#[utoipa::path(get, path = "/api/user/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, description = "The project", body = ProjectView)))]
pub async fn get_project(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    let project = project_of(state.store.as_ref(), &auth.org_id, &project_id(&id)?, state.now()).await?;
    Ok(Json(ProjectView::from(&project)))
}

/// Renames a project or changes its description.
#[utoipa::path(put, path = "/api/user/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn update_project(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateProjectRequest>,
) -> Result<Json<ProjectView>, ApiError> {
    let now = state.now();
    let mut project = project_of(state.store.as_ref(), &auth.org_id, &project_id(&id)?, now).await?;
    if let Some(name) = &req.name {
        project.name = text_field("name", name, NAME_MAX)?;
    }
    if let Some(description) = &req.description {
        project.description = optional_text_field("description", Some(description), DESCRIPTION_MAX)?;
    }
    project.updated_at = now;
    state.store.update_project(&project).await?;
    state.audit(project_event("project.update", now, &auth, &project.id)).await;
    Ok(Json(ProjectView::from(&project)))
}

/// Deletes a project and revokes its keys (the gateway refuses them within 5 seconds). The
/// body must confirm the project's name; the default project cannot be deleted.
#[utoipa::path(delete, path = "/api/user/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    request_body(content = Option<DeleteProjectRequest>, description = "`{\"confirm\": \"<the project's name>\"}`"),
    responses(
        (status = 200, description = "Deleted", body = DeletedProject),
        (status = 409, description = "`default_project`: the default project cannot be deleted", body = ErrorBody),
        (status = 422, description = "`confirmation_required`: `confirm` is not the project's name", body = ErrorBody),
    ))]
pub async fn delete_project(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<DeleteProjectRequest>,
) -> Result<Json<DeletedProject>, ApiError> {
    let now = state.now();
    let project = project_of(state.store.as_ref(), &auth.org_id, &project_id(&id)?, now).await?;
    if project.is_default() {
        return Err(ApiError::rejected(
            ErrorCode::DefaultProject,
            "the default project cannot be deleted; revoke its keys instead",
        ));
    }
    if req.and_then(|r| r.confirm).as_deref() != Some(project.name.as_str()) {
        return Err(ApiError::rejected(
            ErrorCode::ConfirmationRequired,
            format!("deleting a project revokes its keys: send {{\"confirm\": \"{}\"}} to confirm", project.name),
        ));
    }
    let revoked_keys = state.store.delete_project(&auth.org_id, &project.id, now).await?;
    let event = project_event("project.delete", now, &auth, &project.id);
    state.audit(event.details(serde_json::json!({ "name": project.name, "revoked_keys": revoked_keys }))).await;
    Ok(Json(DeletedProject { id: project.id, revoked_keys }))
}

/// Issues the project's verify secret, replacing any earlier one at once.
#[utoipa::path(post, path = "/api/user/projects/{id}/verify-secret", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 201, description = "The secret, shown once", body = CreatedVerifySecret)))]
pub async fn issue_verify_secret(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CreatedVerifySecret>), ApiError> {
    let now = state.now();
    let mut project = project_of(state.store.as_ref(), &auth.org_id, &project_id(&id)?, now).await?;
    let secret = NewVerifySecret::generate();
    project.verify_secret_hash = Some(secret.hash.clone());
    project.updated_at = now;
    state.store.update_project(&project).await?;
    state.audit(project_event("project.verify_secret", now, &auth, &project.id)).await;
    Ok((StatusCode::CREATED, Json(CreatedVerifySecret { project_id: project.id, verify_secret: secret.plaintext })))
}

/// The project's keys, newest first, revoked and expired ones included.
#[utoipa::path(get, path = "/api/user/projects/{id}/api-keys", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, description = "The keys", body = ApiKeyList)))]
pub async fn list_project_keys(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let project = project_of(state.store.as_ref(), &auth.org_id, &project_id(&id)?, state.now()).await?;
    keys_view(&state, &auth, Some(&project.id)).await.map(Json)
}

/// Creates a key in the project. The secret is in this response only.
#[utoipa::path(post, path = "/api/user/projects/{id}/api-keys", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project id")),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Key created; the secret is shown once", body = CreatedApiKey),
        (status = 409, description = "`key_limit_reached`", body = ErrorBody),
        (status = 422, description = "`invalid_field`; or a `project_id` in the body that is not this project", body = ErrorBody),
    ))]
pub async fn create_project_key(
    State(state): State<AppState>,
    auth: Authorized<can::ManageKeys>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let id = project_id(&id)?;
    if req.project_id.as_ref().is_some_and(|p| *p != id) {
        return Err(ApiError::invalid_field("project_id", "must be this project's id, or left out"));
    }
    create_key_in(&state, &auth, req, Some(id)).await
}

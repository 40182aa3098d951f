//! The `api-keys` route group (`/api/user/api-keys`, `/api/user/projects`): list, create,
//! show, revoke and rotate the API keys of the signed-in user's organization, and the
//! projects they are grouped in.

mod handlers;
mod projects;

use tollgate_http::{routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use handlers::{ApiKeyList, ApiKeyView, CreateApiKeyRequest, CreatedApiKey, RotateApiKeyRequest};
pub use projects::{CreatedVerifySecret, DeletedProject, ProjectList, ProjectView};

#[derive(OpenApi)]
#[openapi(tags(
    (name = "api-keys", description = "API keys of the signed-in user's organization"),
    (name = "projects", description = "Projects: the organization's keys grouped by application, with a verify secret each"),
))]
struct ApiKeysApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(ApiKeysApi::openapi)
        .routes(routes!(handlers::list_keys, handlers::create_key))
        .routes(routes!(handlers::get_key, handlers::revoke_key))
        .routes(routes!(handlers::rotate_key))
        .routes(routes!(projects::list_projects, projects::create_project))
        .routes(routes!(projects::get_project, projects::update_project, projects::delete_project))
        .routes(routes!(projects::issue_verify_secret))
        .routes(routes!(projects::list_project_keys, projects::create_project_key))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

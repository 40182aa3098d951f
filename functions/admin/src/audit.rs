//! `GET /api/admin/audit-logs`: the whole audit log, filtered. The log is append-only: no
//! route changes or deletes an entry.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::Id;
use tollgate_http::openapi::fields;
use tollgate_http::views::{audit_query, AuditEventPage};
use tollgate_http::{AdminUser, ApiError, ApiQuery, AppState, ErrorBody};
use utoipa::IntoParams;

/// Filters of the audit log; every filter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events by this user (a user id).
    pub actor: Option<String>,
    /// Only this action (`api_key.revoke`), or with a trailing `*` every action starting with
    /// what comes before it (`user.*`).
    pub action: Option<String>,
    /// Only events on this resource type (the action's part before its last dot: `api_key`).
    pub resource_type: Option<String>,
    /// Only events on this resource (the event's `target`: a key id, a user id...).
    pub resource_id: Option<String>,
    /// Only events of this organization.
    pub org: Option<String>,
    /// Inclusive lower bound: RFC 3339 timestamp or `YYYY-MM-DD`; not after `to`.
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive upper bound: RFC 3339 timestamp or `YYYY-MM-DD`.
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same filters).
    pub cursor: Option<String>,
}

/// A filter value, or none when empty.
fn given(raw: Option<String>) -> Option<String> {
    raw.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Audit events of every organization, newest first.
#[utoipa::path(get, path = "/api/admin/audit-logs", operation_id = "admin_list_audit_logs", tag = "admin", security(("bearer" = [])),
    params(AuditFilter),
    responses(
        (status = 200, description = "One page of events", body = AuditEventPage),
        (status = 400, description = "`bad_request`: a malformed time, action pattern, limit or cursor, or `from` after `to`", body = ErrorBody),
    ))]
pub async fn list_audit_logs(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> Result<Json<AuditEventPage>, ApiError> {
    let mut query = audit_query(f.action.as_deref(), f.from.as_deref(), f.to.as_deref(), f.limit, f.cursor)?;
    query.actor_id = given(f.actor).map(Id::from_string);
    query.resource_type = given(f.resource_type);
    query.target = given(f.resource_id);
    query.org_id = given(f.org).map(Id::from_string);
    let (events, next_cursor) = state.store.audit_page(&query).await?;
    Ok(Json(AuditEventPage { events, next_cursor }))
}

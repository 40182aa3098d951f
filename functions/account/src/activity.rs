//! `GET /api/user/account/activity`: the audit log of the caller's organization (the
//! `X-Org-Id` one, or the personal one). Any member may read it; the organization filter is
//! the server's, so another organization's events never appear.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::Permission;
use tollgate_http::openapi::fields;
use tollgate_http::views::{audit_query, AuditEventPage};
use tollgate_http::{ApiError, ApiQuery, AppState, AuthUser, ErrorBody};
use utoipa::IntoParams;

/// Filters of the organization's activity.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityFilter {
    /// Only this action (`api_key.revoke`), or with a trailing `*` every action starting with
    /// what comes before it (`api_key.*`).
    pub action: Option<String>,
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

/// The organization's audit events, newest first: who did what, from which IP and client.
#[utoipa::path(get, path = "/api/user/account/activity", tag = "account", security(("bearer" = [])),
    params(ActivityFilter),
    responses(
        (status = 200, description = "One page of the organization's events", body = AuditEventPage),
        (status = 400, description = "`bad_request`: a malformed time, action pattern, limit or cursor, or `from` after `to`", body = ErrorBody),
    ))]
pub async fn list_activity(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(f): ApiQuery<ActivityFilter>,
) -> Result<Json<AuditEventPage>, ApiError> {
    auth.require(Permission::Read)?;
    let mut query = audit_query(f.action.as_deref(), f.from.as_deref(), f.to.as_deref(), f.limit, f.cursor)?;
    query.org_id = Some(auth.org_id);
    let (events, next_cursor) = state.store.audit_page(&query).await?;
    Ok(Json(AuditEventPage { events, next_cursor }))
}

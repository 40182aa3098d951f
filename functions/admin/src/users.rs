//! `/api/admin/users`: every account. Search and list them, see one with its organizations,
//! subscription, usage, keys, invoices and security events; create, change, suspend and
//! delete accounts. An admin cannot suspend, delete or demote themselves (409 `conflict`),
//! so the platform never loses its last admin by accident. Every change is audited with the
//! admin as actor, the user's id as target and the changed fields (never a password or hash).

use crate::{double_option, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tollgate_app::users::{suspend_user, unsuspend_user};
use tollgate_app::{current_subscription, PeriodUsage};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    AuditEvent, AuditQuery, Id, Invoice, InvoiceQuery, OrgRole, Period, Plan, Role, Subscription, User, UserQuery,
    UserSort, UserStatus,
};
use tollgate_http::accounts::{create_account, new_account, AccountFields};
use tollgate_http::openapi::fields;
use tollgate_http::views::{optional_text_field, text_field, ApiKeyView, UserProfile, COMPANY_MAX, NAME_MAX};
use tollgate_http::{page_limit, AdminUser, ApiError, ApiJson, ApiQuery, AppState, ErrorBody, ErrorCode, OptionalJson};
use utoipa::{IntoParams, ToSchema};

/// How many of the user's own security events the detail shows.
const SECURITY_EVENTS: u32 = 20;
/// How many invoices of the personal organization the detail shows.
const RECENT_INVOICES: u32 = 10;
/// Longest suspension reason.
const REASON_MAX: usize = 500;

/// Filters and order of the user listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// A case-insensitive fragment of the email, first or last name, or company name.
    pub q: Option<String>,
    /// Only users in this state (deleted users are listed only when asked for).
    pub status: Option<UserStatus>,
    /// Only users with this platform role.
    pub role: Option<Role>,
    /// Only users whose personal organization is subscribed to this plan (a plan id).
    pub plan: Option<String>,
    /// `-created_at` (default, newest first), `created_at` or `email`.
    // Inline: a parameter's type is not registered as a component schema.
    #[param(inline)]
    pub sort: Option<UserSort>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (with the same filters and order).
    pub cursor: Option<String>,
}

/// One page of users (never a password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminUserPage {
    pub users: Vec<UserProfile>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// An organization the user belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserOrganization {
    pub id: Id,
    pub name: String,
    /// The user's role in it.
    pub role: OrgRole,
    /// Whether it is the user's personal organization (created with the account).
    pub personal: bool,
}

/// The personal organization's usage this period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserUsage {
    pub period: Period,
    #[serde(flatten)]
    pub usage: PeriodUsage,
}

/// Everything an operator looks at to help a user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDetail {
    pub user: UserProfile,
    /// Every organization the user is a member of, oldest membership first.
    pub organizations: Vec<UserOrganization>,
    /// The personal organization's subscription.
    pub subscription: Subscription,
    /// The plan in effect for it.
    pub plan: Plan,
    /// The personal organization's usage in the current period.
    pub usage: UserUsage,
    /// The personal organization's keys (never a secret).
    pub api_keys: Vec<ApiKeyView>,
    /// The personal organization's most recent invoices, newest first.
    pub invoices: Vec<Invoice>,
    /// The 20 most recent audit events with the user as actor, newest first.
    pub security_events: Vec<AuditEvent>,
}

/// A new account, made by an admin. The password policy is the registration's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(schema_with = fields::email)]
    pub email: String,
    #[schema(schema_with = fields::new_password)]
    pub password: String,
    #[schema(schema_with = fields::name)]
    pub first_name: String,
    #[schema(schema_with = fields::name)]
    pub last_name: String,
    #[schema(schema_with = fields::company)]
    pub company_name: Option<String>,
    /// `user` or `admin`.
    pub role: Role,
    /// Whether the email counts as verified already (default `false`: no mail is sent).
    pub email_verified: Option<bool>,
}

/// What to change; absent fields stay, `company_name: null` (or `""`) clears it. At least one
/// field (422 `invalid_body` otherwise).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(schema_with = fields::name_update)]
    pub first_name: Option<String>,
    #[schema(schema_with = fields::name_update)]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::company)]
    pub company_name: Option<Option<String>>,
    pub role: Option<Role>,
    pub email_verified: Option<bool>,
}

/// Why the account is suspended (kept in the audit log).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendUserRequest {
    /// 1 to 500 characters.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// What deleting an account ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedUserView {
    /// The account, now `deleted`.
    pub user: UserProfile,
    /// Keys of the personal organization revoked.
    pub api_keys_revoked: u32,
    /// Login sessions ended.
    pub sessions_revoked: u32,
}

/// The user the path names (deleted ones included); 404 otherwise.
async fn existing(state: &AppState, raw: &str) -> Result<User, ApiError> {
    let id = path_id(raw, prefix::USER, "user")?;
    state.store.get_user(&id).await?.ok_or_else(|| ApiError::NotFound("user".into()))
}

/// 404 for a deleted account: it can be read, not changed.
fn not_deleted(user: User) -> Result<User, ApiError> {
    if user.status == UserStatus::Deleted {
        return Err(ApiError::NotFound("user".into()));
    }
    Ok(user)
}

/// 409 `conflict` when the admin would `act` on their own account.
fn not_self(admin: &AdminUser, user: &User, act: &str) -> Result<(), ApiError> {
    if admin.0.user.id == user.id {
        return Err(ApiError::rejected(ErrorCode::Conflict, format!("an admin cannot {act} their own account")));
    }
    Ok(())
}

/// The fields an admin can see and change, as the audit log records them (no secret).
fn audited_fields(u: &User) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("email".into(), json!(u.email.to_string()));
    fields.insert("first_name".into(), json!(u.first_name));
    fields.insert("last_name".into(), json!(u.last_name));
    fields.insert("company_name".into(), json!(u.company_name));
    fields.insert("role".into(), json!(u.role));
    fields.insert("status".into(), json!(u.status));
    fields.insert("email_verified".into(), json!(u.email_verified));
    fields
}

/// `(before, after)` of the fields that differ between two versions of a user.
fn changed_fields(before: &User, after: &User) -> (Value, Value) {
    let (old, new) = (audited_fields(before), audited_fields(after));
    let changed: Vec<&String> = new.keys().filter(|k| old.get(*k) != new.get(*k)).collect();
    let pick = |m: &Map<String, Value>| Value::Object(changed.iter().map(|k| ((*k).clone(), m[*k].clone())).collect());
    (pick(&old), pick(&new))
}

/// An admin's audit event about `user`: the admin as actor (with the request's IP and user
/// agent), the user as target, in the user's personal organization so the change shows in
/// that organization's activity.
fn user_event(admin: &AdminUser, action: &str, user: &User, now: DateTime<Utc>) -> AuditEvent {
    admin.0.audit_event(action, now).org(&user.default_org_id).target(user.id.to_string())
}

/// Users, newest first by default; filters combine.
#[utoipa::path(get, path = "/api/admin/users", operation_id = "admin_list_users", tag = "admin", security(("bearer" = [])),
    params(UserFilter),
    responses(
        (status = 200, description = "One page of users", body = AdminUserPage),
        (status = 400, description = "`bad_request`: a malformed status, role, sort, limit or cursor", body = ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(f): ApiQuery<UserFilter>,
) -> Result<Json<AdminUserPage>, ApiError> {
    let query = UserQuery {
        q: f.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()),
        status: f.status,
        role: f.role,
        plan_id: f.plan.filter(|p| !p.is_empty()).map(Id::from_string),
        sort: f.sort.unwrap_or_default(),
        limit: page_limit(f.limit, UserQuery::PAGE)?,
        cursor: f.cursor.filter(|c| !c.is_empty()),
    };
    let (users, next_cursor) = state.store.users_page(&query).await?;
    Ok(Json(AdminUserPage { users: users.iter().map(UserProfile::from).collect(), next_cursor }))
}

/// One user with their organizations, the personal organization's subscription, plan, usage
/// this period, keys and recent invoices, and their 20 most recent security events.
#[utoipa::path(get, path = "/api/admin/users/{id}", operation_id = "admin_get_user", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (`usr_...`)")),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let user = existing(&state, &id).await?;
    let store = state.store.as_ref();
    let now = state.now();
    let org = &user.default_org_id;

    let mut organizations = Vec::new();
    for m in store.memberships_of_user(&user.id).await? {
        // A deleted organization is gone for its members too.
        if let Some(o) = store.get_organization(&m.org_id).await? {
            organizations.push(UserOrganization { id: o.id, name: o.name, role: m.role, personal: o.personal });
        }
    }
    // As the user's own usage routes load it: the subscription (started on Free if missing)
    // with the plan in effect, and the period counter.
    let (subscription, plan) = current_subscription(store, org, now).await?;
    let period = Period::containing(now);
    let usage = PeriodUsage::load(store, org, &period, &plan).await?;
    let api_keys = store.list_api_keys(org).await?.iter().map(|k| ApiKeyView::new(k, now)).collect();
    let invoice_query = InvoiceQuery { org_id: Some(org.clone()), limit: RECENT_INVOICES, ..Default::default() };
    let (invoices, _) = store.list_invoices(&invoice_query).await?;
    let security_events = store
        .list_audit(&AuditQuery { actor_id: Some(user.id.clone()), limit: SECURITY_EVENTS, ..Default::default() })
        .await?;
    Ok(Json(UserDetail {
        user: UserProfile::from(&user),
        organizations,
        subscription,
        plan,
        usage: UserUsage { period, usage },
        api_keys,
        invoices,
        security_events,
    }))
}

/// Creates an account as registration does (personal organization on the Free plan), with
/// the role given; no verification mail is sent.
#[utoipa::path(post, path = "/api/admin/users", operation_id = "admin_create_user", tag = "admin", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "The new user", body = UserProfile),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        (status = 422, description = "`invalid_email`, `weak_password`, `invalid_field`", body = ErrorBody),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    admin: AdminUser,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserProfile>), ApiError> {
    let fields = AccountFields {
        email: req.email,
        password: req.password,
        first_name: req.first_name,
        last_name: req.last_name,
        company_name: req.company_name,
    };
    let mut user = new_account(&state, fields, req.role).await?;
    user.email_verified = req.email_verified.unwrap_or(false);
    create_account(&state, &user).await?;
    let event = user_event(&admin, "user.create", &user, user.created_at)
        .changes(Value::Null, Value::Object(audited_fields(&user)));
    state.audit(event).await;
    Ok((StatusCode::CREATED, Json(UserProfile::from(&user))))
}

/// Changes names, company, role or the verified flag. An admin cannot demote themselves.
#[utoipa::path(put, path = "/api/admin/users/{id}", operation_id = "admin_update_user", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (`usr_...`)")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated user", body = UserProfile),
        (status = 404, description = "`not_found` (deleted users included)", body = ErrorBody),
        (status = 409, description = "`conflict`: an admin demoting themselves", body = ErrorBody),
        (status = 422, description = "`invalid_body`: no field given; `invalid_field`", body = ErrorBody),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserProfile>, ApiError> {
    if req.first_name.is_none()
        && req.last_name.is_none()
        && req.company_name.is_none()
        && req.role.is_none()
        && req.email_verified.is_none()
    {
        return Err(ApiError::InvalidBody(
            "give at least one of first_name, last_name, company_name, role, email_verified".into(),
        ));
    }
    let before = not_deleted(existing(&state, &id).await?)?;
    if req.role.is_some_and(|r| r != Role::Admin) {
        not_self(&admin, &before, "demote")?;
    }
    let mut user = before.clone();
    if let Some(v) = req.first_name {
        user.first_name = text_field("first_name", &v, NAME_MAX)?;
    }
    if let Some(v) = req.last_name {
        user.last_name = text_field("last_name", &v, NAME_MAX)?;
    }
    if let Some(v) = req.company_name {
        user.company_name = optional_text_field("company_name", v.as_deref(), COMPANY_MAX)?;
    }
    if let Some(role) = req.role {
        user.role = role;
    }
    if let Some(flag) = req.email_verified {
        user.email_verified = flag;
    }
    user.updated_at = state.now();
    state.store.update_user(&user).await?;
    let (old, new) = changed_fields(&before, &user);
    state.audit(user_event(&admin, "user.update", &user, user.updated_at).changes(old, new)).await;
    Ok(Json(UserProfile::from(&user)))
}

/// Deletes the account as the user can themselves (soft delete): every key of the personal
/// organization is revoked, every session ends, the email is released. An admin cannot
/// delete themselves here.
#[utoipa::path(delete, path = "/api/admin/users/{id}", operation_id = "admin_delete_user", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (`usr_...`)")),
    responses(
        (status = 200, description = "The user, deleted", body = DeletedUserView),
        (status = 404, description = "`not_found` (already deleted included)", body = ErrorBody),
        (status = 409, description = "`conflict`: an admin deleting themselves", body = ErrorBody),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<DeletedUserView>, ApiError> {
    let before = not_deleted(existing(&state, &id).await?)?;
    not_self(&admin, &before, "delete")?;
    let now = state.now();
    let deleted = tollgate_app::delete_user(state.store.as_ref(), &before, now).await?;
    let after = state.store.get_user(&before.id).await?.unwrap_or_else(|| {
        let mut u = before.clone();
        u.status = UserStatus::Deleted;
        u
    });
    let (old, new) = changed_fields(&before, &after);
    let event = user_event(&admin, "user.delete", &before, now)
        .details(json!({
            "api_keys_revoked": deleted.api_keys_revoked,
            "sessions_revoked": deleted.sessions_revoked,
        }))
        .changes(old, new);
    state.audit(event).await;
    Ok(Json(DeletedUserView {
        user: UserProfile::from(&after),
        api_keys_revoked: deleted.api_keys_revoked,
        sessions_revoked: deleted.sessions_revoked,
    }))
}

/// Suspends an active account: it cannot sign in, every session ends at once, and the
/// gateway refuses the keys it created and every key of the organizations it owns within 5
/// seconds. An admin cannot suspend themselves.
#[utoipa::path(post, path = "/api/admin/users/{id}/suspend", operation_id = "admin_suspend_user", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (`usr_...`)")),
    request_body(content = Option<SuspendUserRequest>, description = "Optional: the reason"),
    responses(
        (status = 200, description = "The user, suspended", body = UserProfile),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: already suspended, or an admin suspending themselves", body = ErrorBody),
        (status = 422, description = "`invalid_field`: a reason over 500 characters", body = ErrorBody),
    ))]
pub async fn suspend(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<SuspendUserRequest>,
) -> Result<Json<UserProfile>, ApiError> {
    let reason = optional_text_field("reason", req.and_then(|r| r.reason).as_deref(), REASON_MAX)?;
    let before = not_deleted(existing(&state, &id).await?)?;
    not_self(&admin, &before, "suspend")?;
    let now = state.now();
    let (user, sessions) = suspend_user(state.store.as_ref(), &before, now).await?;
    let (old, new) = changed_fields(&before, &user);
    let event = user_event(&admin, "user.suspend", &user, now)
        .details(json!({ "reason": reason, "sessions_revoked": sessions }))
        .changes(old, new);
    state.audit(event).await;
    Ok(Json(UserProfile::from(&user)))
}

/// Lifts a suspension: the user can sign in again and their keys work again (within 5
/// seconds at the gateway).
#[utoipa::path(post, path = "/api/admin/users/{id}/unsuspend", operation_id = "admin_unsuspend_user", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id (`usr_...`)")),
    responses(
        (status = 200, description = "The user, active", body = UserProfile),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the user is not suspended", body = ErrorBody),
    ))]
pub async fn unsuspend(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<UserProfile>, ApiError> {
    let before = not_deleted(existing(&state, &id).await?)?;
    let now = state.now();
    let user = unsuspend_user(state.store.as_ref(), &before, now).await?;
    let (old, new) = changed_fields(&before, &user);
    state.audit(user_event(&admin, "user.unsuspend", &user, now).changes(old, new)).await;
    Ok(Json(UserProfile::from(&user)))
}

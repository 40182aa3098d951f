//! Extractors that turn every rejection into an `ApiError`.

use crate::ErrorCode;
use crate::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use tollgate_domain::{
    AuditEvent, Id, ManagementScope, ManagementTokenStatus, OrgRole, Permission, Role, StoredEnum, TokenHash, User,
    MANAGEMENT_TOKEN_PREFIX,
};

/// Largest JSON body any route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON request body with our error responses: 415 without a JSON content type, 413 over
/// [`MAX_BODY_BYTES`], 400 `malformed_json` for anything that is not JSON (a truncated body
/// included), 422 `invalid_body` for JSON of the wrong shape (request types deny unknown
/// fields). Every JSON route uses this or [`OptionalJson`], so the same body gets the same
/// answer everywhere.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&body_bytes(req, state).await?).map(ApiJson)
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/<x>+json`,
/// parameters (charset) allowed, any case.
fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The whole body, within the route's body limit.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

/// Syntax first, then shape: a truncated body is `malformed_json` even when the part that
/// arrived already has the wrong shape (a typed parse would report the unknown field first).
///
/// Every request body is a JSON object (or, where the body is optional, `null`): anything
/// else is `invalid_body`, also an array whose items would fill a struct's fields in order,
/// which serde would otherwise accept.
///
/// A number with a zero fraction (`5.0`) counts as the integer it equals, as in JSON Schema,
/// whose `integer` type the spec uses for these fields: serde alone would reject `5.0` where
/// a `u32` is expected.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !(value.is_object() || value.is_null()) {
        return Err(ApiError::InvalidBody("the body must be a JSON object".into()));
    }
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| ApiError::InvalidBody(format!("{}: {}", e.path(), e.inner())))
}

fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // Only where the integer is exact: beyond 2^53 a float stands for many integers.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if f.abs() <= EXACT {
                    *n = serde_json::Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// `axum::extract::Query` with a 400 `bad_request` on a bad query string.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// The client's address, put into request extensions by the transport: the socket peer in
/// the local server, API Gateway's `sourceIp` in Lambda. Forwarded headers are not trusted.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client's IP as a string, if the transport provided one.
    pub fn of(parts: &Parts) -> Option<String> {
        parts.extensions.get::<ClientAddr>().map(|c| c.0.to_string())
    }
}

/// Optional client IP as an extractor (never fails).
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(ClientAddr::of(parts)))
    }
}

/// The header naming the organization a `/api/user/...` request works on.
pub const ORG_HEADER: &str = "x-org-id";

/// A request authenticated by an access JWT whose user is still active, working on one
/// organization.
///
/// The user is re-read on every request, so suspension and deletion take effect at once
/// rather than when the 15-minute token expires. The organization is the one the `X-Org-Id`
/// header names, or the user's personal one without the header; the membership is read on
/// every request too, so a removed member or a changed role counts at once. Naming an
/// organization the user is not a member of is 404, as if it did not exist.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub org_id: Id,
    /// The user's role in `org_id`: what [`AuthUser::require`] checks.
    pub role: OrgRole,
    /// The login session (refresh family) the token came from.
    pub session_id: Id,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuthUser {
    /// 403 `permission_denied` unless the user's role in the organization grants `permission`
    /// (the permission table: `OrgRole::can`).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        require_permission(self.role, permission)
    }

    /// An audit event of `action` by this user in this organization, from this request
    /// (IP and user agent).
    pub fn audit_event(&self, action: &str, now: chrono::DateTime<chrono::Utc>) -> AuditEvent {
        AuditEvent::new(action, now)
            .actor(&self.user.id)
            .org(&self.org_id)
            .ip(self.ip.clone())
            .user_agent(self.user_agent.clone())
    }
}

/// A permission named as a type, for [`Authorized`].
pub trait RequiredPermission: Send + Sync + 'static {
    const PERMISSION: Permission;
}

/// The permissions of the permission table as types: `Authorized<can::ManageKeys>`.
pub mod can {
    use super::RequiredPermission;
    use tollgate_domain::Permission;

    macro_rules! permission_types {
        ($($name:ident),*) => {$(
            #[doc = concat!("`Permission::", stringify!($name), "` as a type.")]
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }
    permission_types!(
        Read,
        ManageKeys,
        ManageBilling,
        ManageWebhooks,
        ManageMembers,
        ManageOrganization,
        OwnOrganization
    );
}

/// An [`AuthUser`] whose role in the organization grants `P` (403 `permission_denied`
/// otherwise). As an extractor it is checked before the body is read, so a member without
/// the permission gets 403 whatever they send; it derefs to the `AuthUser`.
pub struct Authorized<P>(pub AuthUser, std::marker::PhantomData<P>);

impl<P> std::ops::Deref for Authorized<P> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

impl<P: RequiredPermission> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let auth = AuthUser::from_request_parts(parts, state).await?;
        auth.require(P::PERMISSION)?;
        Ok(Authorized(auth, std::marker::PhantomData))
    }
}

/// 403 `permission_denied` unless `role` grants `permission` (for routes that name the
/// organization in their path rather than in `X-Org-Id`).
pub fn require_permission(role: OrgRole, permission: Permission) -> Result<(), ApiError> {
    if role.can(permission) {
        Ok(())
    } else {
        Err(ApiError::rejected(
            ErrorCode::PermissionDenied,
            format!("the {} role of this organization may not do this", role.as_str()),
        ))
    }
}

/// The client's `User-Agent`, cut to 512 characters (it is stored in the audit log).
pub fn user_agent(parts: &Parts) -> Option<String> {
    let raw = parts.headers.get(header::USER_AGENT)?.to_str().ok()?.trim();
    (!raw.is_empty()).then(|| raw.chars().take(512).collect())
}

/// The organization the request names in `X-Org-Id` (None without the header); 404 for a
/// value that cannot be an organization id.
fn named_org(parts: &Parts) -> Result<Option<Id>, ApiError> {
    let Some(value) = parts.headers.get(ORG_HEADER) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or("").trim();
    if Id::is_plausible(raw, tollgate_domain::id::prefix::ORG) {
        Ok(Some(Id::from_string(raw)))
    } else {
        Err(ApiError::NotFound("organization".into()))
    }
}

/// The token of `Authorization: Bearer <token>` (any case of `Bearer`), if one is sent.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::rejected(ErrorCode::MissingToken, "send an access token as 'Authorization: Bearer <token>'")
        })?;
        let claims = state.jwt.verify(token)?;
        let user = state
            .store
            .get_user(&Id::from_string(claims.sub))
            .await?
            .filter(|u| u.status != tollgate_domain::UserStatus::Deleted)
            .ok_or_else(|| ApiError::rejected(ErrorCode::InvalidToken, "the account of this token no longer exists"))?;
        if !user.is_active() {
            return Err(ApiError::account_suspended());
        }
        let org_id = named_org(parts)?.unwrap_or_else(|| user.default_org_id.clone());
        let membership = state
            .store
            .get_membership(&org_id, &user.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("organization".into()))?;
        Ok(AuthUser {
            org_id,
            role: membership.role,
            user,
            session_id: Id::from_string(claims.sid),
            ip: ClientAddr::of(parts),
            user_agent: user_agent(parts),
        })
    }
}

/// An `AuthUser` with the `admin` role (403 `admin_required` otherwise), signed in with an
/// access JWT or acting through a management token (`Authorization: Bearer tgm_...`).
///
/// A management token acts for the admin who created it (the `AuthUser` is that admin, in
/// their personal organization, with the token's id as `session_id`) and only on the routes
/// whose scope it holds ([`ManagementScope::for_admin_route`], from the matched route and
/// the method): 403 `insufficient_scope` otherwise, also on every route that takes no
/// token. An unknown, revoked or expired token, or one whose admin is no longer an active
/// admin, is 401 `invalid_token`. Audit events recorded while serving the request carry the
/// token's id as `details.management_token` (see [`acting_management_token`]).
///
/// With `ADMIN_REQUIRE_2FA=true` it is also where the 2FA requirement is enforced, so that
/// no admin route can forget it: an admin signed in without a confirmed enrolment gets 403
/// `mfa_enrollment_required` everywhere but on [`MFA_ENROLLMENT_PATHS`] (logout takes no
/// access token, so it is never refused). A management token is not asked for a second
/// factor: only an admin signed in (with 2FA when required) can create one.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

/// The admin routes an admin without 2FA may use when the deployment requires it: the ones
/// that set it up.
pub const MFA_ENROLLMENT_PATHS: &[&str] = &["/api/admin/auth/2fa/enroll", "/api/admin/auth/2fa/confirm"];

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(parts).filter(|t| t.starts_with(MANAGEMENT_TOKEN_PREFIX)) {
            let token = token.to_string();
            return management_token_admin(parts, state, &token).await.map(AdminUser);
        }
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.user.role != Role::Admin {
            return Err(ApiError::rejected(ErrorCode::AdminRequired, "this route requires the admin role"));
        }
        if state.settings.admin_require_2fa && !MFA_ENROLLMENT_PATHS.contains(&route_path(parts)) {
            let enrolled = state.store.get_mfa(&user.user.id).await?.is_some_and(|m| m.is_confirmed());
            if !enrolled {
                return Err(ApiError::rejected(
                    ErrorCode::MfaEnrollmentRequired,
                    "this deployment requires two-factor authentication for admins: enrol at /api/admin/auth/2fa/enroll",
                ));
            }
        }
        Ok(AdminUser(user))
    }
}

/// Don't write `last_used_at` more often than this per token: one write per admin call
/// would cost more than the information is worth.
const TOKEN_USE_RESOLUTION: chrono::Duration = chrono::Duration::minutes(1);

/// The admin a management token acts for, if the token is active and holds the scope of
/// the matched route.
async fn management_token_admin(parts: &Parts, state: &AppState, secret: &str) -> Result<AuthUser, ApiError> {
    let invalid = |why: &str| ApiError::rejected(ErrorCode::InvalidToken, format!("the management token {why}"));
    let now = state.now();
    let token = state
        .store
        .find_management_token_by_hash(&TokenHash::of(secret))
        .await?
        .ok_or_else(|| invalid("is unknown"))?;
    match token.status(now) {
        ManagementTokenStatus::Active => {}
        ManagementTokenStatus::Revoked => return Err(invalid("has been revoked")),
        ManagementTokenStatus::Expired => return Err(invalid("has expired")),
    }
    let needed = ManagementScope::for_admin_route(route_path(parts), parts.method.as_str()).ok_or_else(|| {
        ApiError::rejected(ErrorCode::InsufficientScope, "this route takes no management token: sign in as an admin")
    })?;
    if !token.allows(needed) {
        return Err(ApiError::rejected(
            ErrorCode::InsufficientScope,
            format!("this route needs a management token with the {} scope", needed.as_str()),
        ));
    }
    // The token acts for its admin: one who lost the role or the account stops its tokens.
    let admin = state
        .store
        .get_user(&token.created_by)
        .await?
        .filter(|u| u.role == Role::Admin && u.is_active())
        .ok_or_else(|| invalid("belongs to an admin who is no longer one"))?;
    if token.last_used_at.is_none_or(|at| at + TOKEN_USE_RESOLUTION <= now) {
        // Bookkeeping only: a failure here must not refuse the call.
        if let Err(e) = state.store.mark_management_token_used(&token.id, now).await {
            tracing::warn!(error = %e, "could not record the management token's use");
        }
    }
    let _ = ACTING_TOKEN.try_with(|acting| *acting.borrow_mut() = Some(token.id.clone()));
    Ok(AuthUser {
        org_id: admin.default_org_id.clone(),
        // An admin owns their personal organization.
        role: OrgRole::Owner,
        user: admin,
        session_id: token.id,
        ip: ClientAddr::of(parts),
        user_agent: user_agent(parts),
    })
}

tokio::task_local! {
    /// The management token the current request acts with, once `AdminUser` accepted one.
    /// A task-local rather than a field every handler passes on, so that every audit event
    /// of the request names the token (`AppState::audit`) whichever way its handler built it.
    static ACTING_TOKEN: std::cell::RefCell<Option<Id>>;
}

/// Runs `fut` (a request) with room to remember the management token it acts with
/// ([`crate::finish_router`] wraps every request in it).
pub async fn with_acting_token_scope<F: std::future::Future>(fut: F) -> F::Output {
    ACTING_TOKEN.scope(std::cell::RefCell::new(None), fut).await
}

/// The management token the current request acts with, if any.
pub fn acting_management_token() -> Option<Id> {
    ACTING_TOKEN.try_with(|acting| acting.borrow().clone()).ok().flatten()
}

/// The path of the route that matched (the full path even inside a nested router), else the
/// request's path.
fn route_path(parts: &Parts) -> &str {
    match parts.extensions.get::<MatchedPath>() {
        Some(matched) => matched.as_str(),
        None => parts.uri.path(),
    }
}

/// A JSON body that may be absent: an empty body (with or without a content type) or a JSON
/// `null` gives `None`; anything else is parsed as for [`ApiJson`]. For routes a browser calls
/// with only a cookie (refresh, logout) and a CLI calls with a JSON body.
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = has_json_content_type(&req);
        let bytes = body_bytes(req, state).await?;
        // Only an empty body is absent: white space with a JSON content type is malformed.
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        // `Option<T>` reads `null` as None and anything else as a `T`.
        parse_json::<Option<T>>(&bytes).map(OptionalJson)
    }
}

/// The id in a path segment: an id that cannot be of this kind (`prefix`) is 404 `not_found`
/// (`what` not found) without touching the store.
pub fn path_id(raw: &str, prefix: &str, what: &str) -> Result<Id, ApiError> {
    if Id::is_plausible(raw, prefix) {
        Ok(Id::from_string(raw))
    } else {
        Err(ApiError::NotFound(what.into()))
    }
}

/// A page size from a query's `limit`: absent is the listing's default, otherwise 1 to its
/// maximum (400 `bad_request` outside).
pub fn page_limit(limit: Option<u32>, limits: tollgate_domain::PageLimits) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(limits.default);
    if (1..=limits.max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!("limit must be between 1 and {}", limits.max)))
    }
}

/// Years a `from`/`to` may fall in (UTC). Ranges and buckets derived from them then stay
/// within the four-digit years an RFC 3339 answer can carry.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// A time bound of a query string (`from`, `to`): an RFC 3339 timestamp
/// (`2026-11-01T00:00:00Z`) or a date (`2026-11-01`, midnight UTC), in the years 1970 to
/// 9999. 400 `bad_request` otherwise.
pub fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        tollgate_domain::fold_leap_second(t.with_timezone(&Utc))
    } else if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        d.and_time(NaiveTime::MIN).and_utc()
    } else {
        return Err(ApiError::BadRequest(format!(
            "{field}: expected an RFC 3339 timestamp such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01"
        )));
    };
    if !YEARS.contains(&t.year()) {
        return Err(ApiError::BadRequest(format!("{field}: must be in the years 1970 to 9999 (UTC)")));
    }
    Ok(Some(t))
}

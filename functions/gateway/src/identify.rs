//! Step 1, identify: the presented key -> the caller, through 5-second caches (key with
//! the status of its creator and of its organization's owner; subscription and plan). A
//! malformed or mistyped key is refused with no I/O.

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use tollgate_app::current_subscription;
use tollgate_domain::{ApiKey, Id, KeySecret, ParsedKey, Plan, Subscription, UserStatus};
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

use crate::call::{Call, Caller};
use crate::{limits, Gateway};

/// What the cache knows about a presented key: the key and secret, and the status that
/// decides whether its account may use it (see [`owner_status`]). `None` = unknown key
/// (misses are cached too).
pub(crate) type KeyEntry = Option<(ApiKey, KeySecret, UserStatus)>;

/// The caller behind the presented key; `None` when no key was presented. A refused key
/// counts against the client's IP (see [`limits::refuse_anonymous`]).
pub async fn caller(gw: &Gateway, call: &mut Call) -> Result<Option<Caller>, ApiError> {
    let Some(raw) = presented_key(&call.parts.headers) else {
        return Ok(None);
    };
    match identify(gw, raw, call.now).await {
        Ok(caller) => Ok(Some(caller)),
        Err(e) if e.status().is_client_error() => Err(limits::refuse_anonymous(gw, call, e)),
        Err(e) => Err(e),
    }
}

/// The caller behind the presented key, which is required: 401 `missing_api_key` without
/// one (the refusal counts against the client's IP, as every refusal of a key).
pub async fn required_caller(gw: &Gateway, call: &mut Call) -> Result<Caller, ApiError> {
    match caller(gw, call).await? {
        Some(caller) => Ok(caller),
        None => Err(limits::refuse_anonymous(gw, call, missing_api_key())),
    }
}

/// 401 `missing_api_key`: a call that needs a key presented none.
pub fn missing_api_key() -> ApiError {
    ApiError::rejected(ErrorCode::MissingApiKey, "send an API key in X-API-Key or Authorization: Bearer")
}

/// The presented API key: `X-API-Key`, or `Authorization: Bearer sk_live_...`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller behind the key `raw`. Every refusal is a client error (401 or 403).
pub async fn identify(gw: &Gateway, raw: &str, now: DateTime<Utc>) -> Result<Caller, ApiError> {
    let parsed = ParsedKey::parse(raw)
        .map_err(|_| ApiError::rejected(ErrorCode::InvalidApiKey, "the API key is malformed or mistyped"))?;
    let (key, secret, owner) = key(gw, &parsed)
        .await?
        .ok_or_else(|| ApiError::rejected(ErrorCode::InvalidApiKey, "this API key is not known"))?;
    key.check_usable(&secret, now)?;
    if owner != UserStatus::Active {
        return Err(ApiError::rejected(
            ErrorCode::AccountSuspended,
            "the account owning this key is suspended or deleted",
        ));
    }
    let (subscription, plan) = subscription(gw, &key.org_id, now).await?;
    if !subscription.is_serving() {
        return Err(ApiError::rejected(
            ErrorCode::SubscriptionInactive,
            "the subscription of this key's organization has ended",
        ));
    }
    Ok(Caller { key, subscription, plan })
}

async fn key(gw: &Gateway, parsed: &ParsedKey) -> Result<KeyEntry, ApiError> {
    let hash = parsed.hash();
    if let Some(hit) = gw.keys.get(&hash.as_str().to_string()) {
        return Ok(hit);
    }
    gw.stats.read(1);
    let entry = match gw.state.store.find_api_key_by_hash(&hash).await? {
        Some((key, secret)) => {
            let owner = owner_status(gw, &key).await?;
            Some((key, secret, owner))
        }
        None => None,
    };
    gw.keys.insert(hash.as_str().to_string(), entry.clone());
    Ok(entry)
}

/// `Active` only if both the key's creator and the owner of the key's organization are
/// active, otherwise the first status that is not: suspending (or deleting) a user stops
/// the keys they created and every key of the organizations they own. A missing record
/// counts as deleted. Reads the organization and the creator, and the owner too when the
/// creator does not own the organization (a personal organization's keys need no third).
async fn owner_status(gw: &Gateway, key: &ApiKey) -> Result<UserStatus, ApiError> {
    let store = gw.state.store.as_ref();
    let status_of = |user: Option<tollgate_domain::User>| user.map_or(UserStatus::Deleted, |u| u.status);
    gw.stats.read(1);
    let Some(org) = store.get_organization(&key.org_id).await? else {
        return Ok(UserStatus::Deleted);
    };
    gw.stats.read(1);
    let creator = status_of(store.get_user(&key.created_by).await?);
    if creator != UserStatus::Active || org.owner_id == key.created_by {
        return Ok(creator);
    }
    gw.stats.read(1);
    Ok(status_of(store.get_user(&org.owner_id).await?))
}

async fn subscription(gw: &Gateway, org: &Id, now: DateTime<Utc>) -> Result<(Subscription, Plan), ApiError> {
    if let Some(hit) = gw.subscriptions.get(org) {
        return Ok(hit);
    }
    // Two reads in the steady state (the subscription, its plan).
    gw.stats.read(2);
    let found = current_subscription(gw.state.store.as_ref(), org, now).await?;
    gw.subscriptions.insert(org.clone(), found.clone());
    Ok(found)
}

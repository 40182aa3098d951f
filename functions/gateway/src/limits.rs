//! Step 2, rate limits (per minute, held in process memory; see `limiter`): per key from the
//! plan, per key and endpoint, per IP on public endpoints, and per IP for refusals of callers
//! without a usable key, so guessing keys or scanning paths is limited too.
//!
//! With the shared rate limit on, the per-key limit is checked a second time in step 4, by
//! the store across instances ([`shared_window`], [`refuse_shared`]); the others stay per
//! instance.

use tollgate_domain::{Endpoint, Plan, RateWindow};
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

use crate::call::{Call, Caller};
use crate::limiter::{seconds_to_window_end, RateDecision};
use crate::{Gateway, DEFAULT_PUBLIC_RATE_LIMIT};

/// 429 `rate_limited` with `Retry-After`.
fn rate_limited(d: &RateDecision) -> ApiError {
    ApiError::TooManyRequests {
        code: ErrorCode::RateLimited,
        message: format!("rate limit of {} requests per minute reached; retry in {} s", d.limit, d.reset_secs),
        retry_after: d.reset_secs,
    }
}

/// Counts one request of `bucket`; the decision goes into the answer's headers.
fn check(gw: &Gateway, call: &mut Call, bucket: &str, limit: u32) -> Result<(), ApiError> {
    let d = gw.limiter.check(bucket, limit, call.now.timestamp());
    call.answer.rate = Some(d);
    if d.allowed {
        Ok(())
    } else {
        Err(rate_limited(&d))
    }
}

/// The plan's per-key limit per minute: `rate_limit` + `burst`.
fn key_limit(plan: &Plan) -> u32 {
    plan.rate_limit.saturating_add(plan.burst.unwrap_or(0))
}

/// The rate-limit bucket of the caller's key, in process and in the store.
fn key_bucket(caller: &Caller) -> String {
    format!("key:{}", caller.key.id)
}

/// The plan's limit (`rate_limit` + `burst`) for the caller's key.
pub fn per_key(gw: &Gateway, call: &mut Call, caller: &Caller) -> Result<(), ApiError> {
    check(gw, call, &key_bucket(caller), key_limit(&caller.plan))
}

/// The store's window of the caller's key for this call's minute: the same bucket and
/// limit as [`per_key`].
fn key_window(call: &Call, caller: &Caller) -> RateWindow {
    RateWindow::containing(key_bucket(caller), call.now.timestamp(), key_limit(&caller.plan))
}

/// With the shared rate limit on, the key's window for the store to check in the quota's
/// write; None otherwise.
pub fn shared_window(gw: &Gateway, call: &Call, caller: &Caller) -> Option<RateWindow> {
    gw.shared_rate_limit.then(|| key_window(call, caller))
}

/// The answer to a call the store refused because its key's shared window is full: 429
/// `rate_limited` as [`per_key`] gives, `Retry-After` and `RateLimit-Reset` = seconds to
/// the window's end, `RateLimit-Remaining` 0.
pub fn refuse_shared(call: &mut Call, caller: &Caller) -> ApiError {
    let window = key_window(call, caller);
    let d = RateDecision {
        allowed: false,
        limit: window.limit,
        remaining: 0,
        reset_secs: seconds_to_window_end(window.window_start, call.now.timestamp()),
    };
    call.answer.rate = Some(d);
    rate_limited(&d)
}

/// The endpoint's own per-key limit, if it has one. Only a refusal replaces the key's
/// figures in the headers.
pub fn per_endpoint(gw: &Gateway, call: &mut Call, caller: &Caller, endpoint: &Endpoint) -> Result<(), ApiError> {
    let Some(limit) = endpoint.rate_limit else {
        return Ok(());
    };
    let d = gw.limiter.check(&format!("key:{}:ep:{}", caller.key.id, endpoint.id), limit, call.now.timestamp());
    if d.allowed {
        return Ok(());
    }
    call.answer.rate = Some(d);
    Err(rate_limited(&d))
}

/// A public endpoint called without a key: its `rate_limit` (default 60) per client IP.
pub fn public(gw: &Gateway, call: &mut Call, endpoint: &Endpoint) -> Result<(), ApiError> {
    let limit = endpoint.rate_limit.unwrap_or(DEFAULT_PUBLIC_RATE_LIMIT);
    let bucket = format!("ip:{}:{}", call.ip_label(), endpoint.id);
    check(gw, call, &bucket, limit)
}

/// A refusal of a caller without a usable key counts against its IP: `refusal` itself, or
/// 429 once the IP has had 60 refusals this minute.
pub fn refuse_anonymous(gw: &Gateway, call: &mut Call, refusal: ApiError) -> ApiError {
    let bucket = format!("anon:{}", call.ip_label());
    match check(gw, call, &bucket, DEFAULT_PUBLIC_RATE_LIMIT) {
        Ok(()) => refusal,
        Err(limited) => limited,
    }
}

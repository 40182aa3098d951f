//! Step 2, rate limits (per minute, held in process memory; see `limiter`): per key from the
//! plan, per key and endpoint, per IP on public endpoints, and per IP for refusals of callers
//! without a usable key, so guessing keys or scanning paths is limited too.

use tollgate_domain::Endpoint;
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

use crate::call::{Call, Caller};
use crate::limiter::RateDecision;
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

/// The plan's limit (`rate_limit` + `burst`) for the caller's key.
pub fn per_key(gw: &Gateway, call: &mut Call, caller: &Caller) -> Result<(), ApiError> {
    let limit = caller.plan.rate_limit + caller.plan.burst.unwrap_or(0);
    check(gw, call, &format!("key:{}", caller.key.id), limit)
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

//! `POST /api/v1/verify`: a seller's own server verifies a consumer's key and consumes its
//! quota in one call, the way the gateway does for a proxied call: same caches (a revoked
//! key is refused within 5 seconds), same rate limit, same exact conditional write, same
//! counters; the verified call goes to the usage log with source `verify`.
//!
//! Who may ask (`Authorization: Bearer pvs_...`): a project's verify secret, for the keys of
//! that project; the default project's, which is the organization's management token, for
//! any key of the organization. A key outside the asker's scope is answered as an unknown
//! key, so its existence does not leak. Both are long-lived secrets stored as hashes and
//! looked up in the table: no access token (they last 15 minutes, and the gateway function
//! holds no JWT key), so a seller's server needs nothing but its secret.
//!
//! The verification's own outcome is the `200` body (`valid`, `code`), so the seller can
//! pass `code` on to its consumer; only a failure of the verify call itself is an error
//! status (401 without valid credentials, 422 for a bad body).

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::Response;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::track::MAX_EVENT_COST;
use tollgate_domain::{verify_endpoint_id, Id, NewVerifySecret, Period, Project, TokenHash, UsageEvent, UsageSource};
use tollgate_http::metrics::Decision;
use tollgate_http::{ApiError, ApiJson, ErrorCode};
use utoipa::ToSchema;

use crate::call::{Call, Caller};
use crate::{count, identify, limits, Gateway};

/// What to verify.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The consumer's API key, as presented to the seller's server.
    #[schema(example = "sk_live_4f9K2mZq8TfW1pLx0aB3cD_0x7Qa2")]
    pub key: String,
    /// Cost units to consume, 0 to 1,000,000 (default 1; 0 verifies without counting).
    #[schema(minimum = 0, maximum = 1000000)]
    pub cost: Option<u32>,
}

/// The plan of a verified key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifiedPlan {
    pub id: Id,
    pub name: String,
}

/// The verification's outcome.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    /// Whether the call may go ahead: the key is usable and `cost` was counted.
    pub valid: bool,
    /// `ok`, or the error code the gateway would answer (`invalid_api_key`, `key_revoked`,
    /// `key_expired`, `key_rotated`, `account_suspended`, `subscription_inactive`,
    /// `rate_limited`, `quota_exceeded`).
    #[schema(example = "ok")]
    pub code: String,
    /// Units left this period; `null` when the plan has no monthly limit or the key is not
    /// usable.
    pub remaining: Option<u64>,
    /// Seconds until the quota renews (the period's end), or until the rate limit's window
    /// ends for `rate_limited`; `null` when the key is not usable.
    pub reset: Option<i64>,
    /// The key's plan; `null` when the key is not usable.
    pub plan: Option<VerifiedPlan>,
}

impl VerifyResponse {
    /// The answer for a key the gateway would refuse with `e` (for a 429, `reset` is its
    /// `Retry-After`).
    fn refused(e: &ApiError) -> Self {
        let reset = match e {
            ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after as i64),
            _ => None,
        };
        VerifyResponse { valid: false, code: e.code().to_string(), remaining: None, reset, plan: None }
    }
}

/// Which keys the asker may verify.
enum Scope {
    /// A project's verify secret: that project's keys.
    Project(Id),
    /// The default project's verify secret (the management token): the organization's keys.
    Org(Id),
}

impl Scope {
    fn of(project: &Project) -> Scope {
        if project.is_default() {
            Scope::Org(project.org_id.clone())
        } else {
            Scope::Project(project.id.clone())
        }
    }

    fn allows(&self, caller: &Caller) -> bool {
        match self {
            Scope::Project(p) => caller.key.project_id == *p,
            Scope::Org(o) => caller.key.org_id == *o,
        }
    }
}

/// The asker's scope, from its verify secret; 401 `missing_token` or `invalid_token` otherwise.
async fn scope(gw: &Gateway, call: &Call) -> Result<Scope, ApiError> {
    let Some(token) = tollgate_http::extract::bearer(&call.parts) else {
        return Err(ApiError::rejected(
            ErrorCode::MissingToken,
            "send a project's verify secret as 'Authorization: Bearer pvs_...'",
        ));
    };
    let project = match NewVerifySecret::is_well_formed(token) {
        true => verify_secret_project(gw, TokenHash::of(token)).await?,
        false => None,
    };
    project.as_ref().map(Scope::of).ok_or_else(|| {
        ApiError::rejected(
            ErrorCode::InvalidToken,
            "this is not a valid verify secret (POST /api/user/projects/{id}/verify-secret issues one)",
        )
    })
}

/// The project of a verify secret, through the 5-second cache (a replaced secret stops
/// working within that time).
async fn verify_secret_project(gw: &Gateway, hash: TokenHash) -> Result<Option<Project>, ApiError> {
    let key = hash.as_str().to_string();
    if let Some(hit) = gw.verify_secrets.get(&key) {
        return Ok(hit);
    }
    gw.stats.read(1);
    let found = gw.state.store.find_project_by_verify_secret(&hash).await?;
    gw.verify_secrets.insert(key, found.clone());
    Ok(found)
}

/// The handler (see the module doc).
pub async fn verify(gw: &Gateway, call: &mut Call, body: Body) -> Result<Response<Body>, ApiError> {
    let scope = scope(gw, call).await?;
    let request = axum::http::Request::from_parts(call.parts.clone(), body);
    let ApiJson(req) = ApiJson::<VerifyRequest>::from_request(request, &()).await?;
    let cost = req.cost.unwrap_or(1);
    if cost > MAX_EVENT_COST {
        return Err(ApiError::invalid_field("cost", format!("must be 0 to {MAX_EVENT_COST}")));
    }
    let answer = match check(gw, call, &scope, req.key.trim(), cost).await {
        Ok(answer) => answer,
        Err(e) if e.status().is_client_error() => {
            // Every refusal of the check is about the key (its identity, limits or quota).
            call.decision = Some(Decision::of_refusal(&e).unwrap_or(Decision::Unauthorized));
            VerifyResponse::refused(&e)
        }
        Err(e) => return Err(e),
    };
    Ok(Json(answer).into_response())
}

/// The key checked and its cost counted, as a proxied call's would be; a refusal is the
/// gateway's error for it.
async fn check(gw: &Gateway, call: &mut Call, scope: &Scope, key: &str, cost: u32) -> Result<VerifyResponse, ApiError> {
    let unknown = || ApiError::rejected(ErrorCode::InvalidApiKey, "this API key is not known");
    let caller = identify::identify(gw, key, call.now).await?;
    if !scope.allows(&caller) {
        return Err(unknown());
    }
    limits::per_key(gw, call, &caller)?;
    let period = Period::containing(call.now);
    let event = UsageEvent {
        id: call.event_id(),
        org_id: caller.key.org_id.clone(),
        key_id: caller.key.id.clone(),
        project_id: Some(caller.key.project_id.clone()),
        source: UsageSource::Verify,
        endpoint_id: verify_endpoint_id(),
        method: "POST".into(),
        path: "/api/v1/verify".into(),
        status: 200,
        latency_ms: call.elapsed_ms(),
        cost_units: cost,
        ip: call.client_ip.clone(),
        timestamp: call.now,
        period: period.key.clone(),
        metadata: None,
    };
    count::count_reported(gw, call, &caller, std::slice::from_ref(&event)).await?;
    let quota = call.answer.quota.expect("set by the count");
    Ok(VerifyResponse {
        valid: true,
        code: "ok".into(),
        remaining: quota.limit.map(|l| l.saturating_sub(quota.used)),
        reset: Some(quota.seconds_to_period_end.max(0)),
        plan: Some(VerifiedPlan { id: caller.plan.id.clone(), name: caller.plan.name.clone() }),
    })
}

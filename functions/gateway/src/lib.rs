//! The `gateway` function (`/api/v1/{*path}`): the metered hot path, as a pipeline whose
//! steps read like the design's:
//!
//! 1. [`identify`]: the key (format and checksum with no I/O, then 5-second caches) -> the
//!    caller (key, subscription, plan);
//! 2. [`limits`]: the caller's rate limit in process memory (refusals of callers without a
//!    usable key count against their IP);
//! 3. match the endpoint ([`catalog`]), for a path that cannot leave an upstream's base
//!    ([`forward_path`]);
//! 4. [`count`]: the quota's one conditional write, keeping the usage event, and alerts;
//!    with the shared rate limit on, the same write checks the key's window across
//!    instances;
//! 5. forward ([`upstream`]);
//! 6. the usage event's outcome ([`count::record_outcome`], through the [`CallMeter`]);
//! 7. the `RateLimit-*` and `X-Quota-*` headers on every answer ([`call::AnswerHeaders`]).

mod cache;
mod call;
mod catalog;
mod count;
mod forward_path;
mod identify;
mod limiter;
mod limits;
mod meter;
mod track;
mod upstream;
mod verify;

pub use limiter::{RateDecision, RateLimiter};
pub use meter::QueuedCallMeter;
pub use track::{TrackBatch, TrackResponse, TrackResult};
pub use verify::{VerifyRequest, VerifyResponse};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use axum::routing::{any, post};
use axum::Router;
use cache::TtlCache;
use call::{Call, Caller};
use catalog::Catalog;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tollgate_domain::{CallMeter, Endpoint, Id, Plan, Project, Queue, Subscription};

use tollgate_http::metrics::Decision;
use tollgate_http::{ApiError, AppState, ErrorCode};
use upstream::{Outgoing, Upstream};

/// Largest request body the gateway forwards (Lambda's payload limit).
pub const MAX_REQUEST_BYTES: usize = 6 * 1024 * 1024;
/// Per-IP requests per minute on public endpoints without their own `rate_limit`.
pub const DEFAULT_PUBLIC_RATE_LIMIT: u32 = 60;

/// Tunables of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// How long keys, owners, subscriptions, plans and the catalog are cached (5 s): the
    /// bound on how late a revocation, expiry, suspension or plan change takes effect.
    pub cache_ttl: Duration,
    /// Total time allowed for an upstream call (`GATEWAY_UPSTREAM_TIMEOUT_MS`, 10 s).
    pub upstream_timeout: Duration,
    /// Whether the plan's per-key rate limit also holds across gateway instances
    /// (`GATEWAY_SHARED_RATE_LIMIT`; off by default, on in the Lambda function): the store
    /// checks the key's one-minute window in the quota's conditional write (see `limits`).
    /// Off, each instance's in-process limiter is the only one, exact in a single process.
    pub shared_rate_limit: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            cache_ttl: Duration::from_secs(5),
            upstream_timeout: Duration::from_secs(10),
            shared_rate_limit: false,
        }
    }
}

impl GatewayConfig {
    /// The defaults overridden by the environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_env_or(GatewayConfig::default())
    }

    /// `defaults` (a deployment's own, e.g. the Lambda function's shared rate limit)
    /// overridden by the environment. Invalid values are reported, not ignored.
    pub fn from_env_or(defaults: GatewayConfig) -> Result<Self, String> {
        use tollgate_http::settings::parse_env;
        let default_ms = u64::try_from(defaults.upstream_timeout.as_millis()).unwrap_or(u64::MAX);
        let ms = parse_env("GATEWAY_UPSTREAM_TIMEOUT_MS", default_ms)?;
        let shared_rate_limit = parse_env("GATEWAY_SHARED_RATE_LIMIT", defaults.shared_rate_limit)?;
        Ok(GatewayConfig { upstream_timeout: Duration::from_millis(ms.max(1)), shared_rate_limit, ..defaults })
    }
}

/// Store round trips made by the gateway itself, for the benchmark and operators.
#[derive(Debug, Default)]
pub struct GatewayStats {
    pub calls: AtomicU64,
    pub store_reads: AtomicU64,
    pub store_writes: AtomicU64,
}

impl GatewayStats {
    pub(crate) fn read(&self, n: u64) {
        self.store_reads.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn write(&self) {
        self.store_writes.fetch_add(1, Ordering::Relaxed);
    }
    /// (calls, store reads, store writes) so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.store_reads.load(Ordering::Relaxed),
            self.store_writes.load(Ordering::Relaxed),
        )
    }
}

/// The gateway's state: the application state, the call meter, the notifications queue,
/// caches and the rate limiter.
pub struct Gateway {
    pub stats: GatewayStats,
    state: AppState,
    queue: Arc<dyn Queue>,
    meter: Arc<dyn CallMeter>,
    upstream: Upstream,
    limiter: RateLimiter,
    /// [`GatewayConfig::shared_rate_limit`].
    shared_rate_limit: bool,
    keys: TtlCache<String, identify::KeyEntry>,
    subscriptions: TtlCache<Id, (Subscription, Plan)>,
    catalog: TtlCache<(), Arc<Catalog>>,
    /// Verify secrets' projects (by secret hash; misses too).
    verify_secrets: TtlCache<String, Option<Project>>,
}

impl Gateway {
    /// `queue` takes quota alerts (notifications); `meter` counts calls and keeps their usage
    /// events.
    pub fn new(state: AppState, queue: Arc<dyn Queue>, meter: Arc<dyn CallMeter>, config: GatewayConfig) -> Self {
        Gateway {
            stats: GatewayStats::default(),
            state,
            queue,
            meter,
            upstream: Upstream::new(config.upstream_timeout),
            limiter: RateLimiter::default(),
            shared_rate_limit: config.shared_rate_limit,
            keys: TtlCache::new(config.cache_ttl, 100_000),
            subscriptions: TtlCache::new(config.cache_ttl, 100_000),
            catalog: TtlCache::new(config.cache_ttl, 1),
            verify_secrets: TtlCache::new(config.cache_ttl, 10_000),
        }
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, ApiError> {
        if let Some(c) = self.catalog.get(&()) {
            return Ok(c);
        }
        self.stats.read(1);
        let c = Arc::new(Catalog::new(self.state.store.list_endpoints().await?));
        self.catalog.insert((), c.clone());
        Ok(c)
    }
}

/// The OpenAPI description of the gateway route (any method under `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(proxy_doc, track_doc, verify_doc),
    tags(
        (name = "gateway", description = "Metered calls to the operator's API"),
        (name = "metering", description = "Metering without the proxy: calls reported, keys verified by the seller's own server"),
    )
)]
struct GatewayApi;

/// Calls an endpoint of the catalog with an API key (`X-API-Key: sk_live_...` or
/// `Authorization: Bearer sk_live_...`). Every answer carries `RateLimit-Limit`,
/// `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and, for keyed calls, `X-Quota-Limit`,
/// `X-Quota-Used`, `X-Quota-Remaining` and `X-Quota-Reset` (seconds to the period's end).
#[utoipa::path(
    method(get, post, put, patch, delete, head, options),
    path = "/api/v1/{path}",
    tag = "gateway",
    params(("path" = String, Path, description = "The endpoint's path under /api/v1, e.g. echo/hello")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The upstream's answer, relayed (its status, headers and body)"),
        (status = 400, description = "`invalid_path`: a dot segment or an encoded slash in the path", body = tollgate_http::ErrorBody),
        (status = 401, description = "`missing_api_key`, `invalid_api_key`, `key_revoked`, `key_expired`, `key_rotated`", body = tollgate_http::ErrorBody),
        (status = 403, description = "`account_suspended`, `subscription_inactive`; `insufficient_scope`: the key's `scopes` do not include the endpoint's group (not counted)", body = tollgate_http::ErrorBody),
        (status = 404, description = "`not_found`: no endpoint at this method and path", body = tollgate_http::ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 6 MiB", body = tollgate_http::ErrorBody),
        (status = 429, description = "`rate_limited` or `quota_exceeded`", body = tollgate_http::ErrorBody),
        (status = 502, description = "`upstream_unavailable` (the call is counted)", body = tollgate_http::ErrorBody),
        (status = 504, description = "`upstream_timeout` (the call is counted)", body = tollgate_http::ErrorBody),
    )
)]
#[allow(dead_code)]
fn proxy_doc() {}

/// Reports calls the seller's own server answered: one event, or `{"events": [...]}` of 1
/// to 1,000. Authenticated with the API key the calls were made with (as a proxied call).
/// The batch's total cost is counted against the key's quota in one exact write; events
/// then reach the usage log and statistics within seconds (source `track`). An event's `id`
/// is its idempotency key in the log and statistics: a repeated id is recorded once (it is
/// counted against the quota again). Quota headers as on proxied calls.
#[utoipa::path(
    post,
    path = "/api/v1/track",
    tag = "metering",
    security(("api_key" = [])),
    request_body(content = TrackBatch, description = "A batch; one `TrackedCall` object on its own is accepted too"),
    responses(
        (status = 202, description = "Recorded; each event's result (events outside the time window are rejected one by one)", body = TrackResponse),
        (status = 400, description = "`malformed_json`", body = tollgate_http::ErrorBody),
        (status = 401, description = "`missing_api_key`, `invalid_api_key`, `key_revoked`, `key_expired`, `key_rotated`", body = tollgate_http::ErrorBody),
        (status = 403, description = "`account_suspended`, `subscription_inactive`", body = tollgate_http::ErrorBody),
        (status = 413, description = "`too_many_events`: more than 1,000 events", body = tollgate_http::ErrorBody),
        (status = 422, description = "`invalid_events` (per-event reasons in `details`; nothing recorded) or `invalid_body`", body = tollgate_http::ErrorBody),
        (status = 429, description = "`rate_limited` or `quota_exceeded` (nothing counted)", body = tollgate_http::ErrorBody),
    )
)]
#[allow(dead_code)]
fn track_doc() {}

/// Verifies a consumer's API key and consumes `cost` units of its quota in one call, for a
/// seller's own server guarding an endpoint. Authenticated with a project's verify secret
/// (`Authorization: Bearer pvs_...`): that project's keys; the default project's secret (the
/// organization's management token): any of the organization's keys. The outcome is in the
/// body: `valid` and `code` (`ok`, or the gateway's refusal code).
#[utoipa::path(
    post,
    path = "/api/v1/verify",
    tag = "metering",
    security(("verify_secret" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verification's outcome", body = VerifyResponse),
        (status = 401, description = "`missing_token`, `invalid_token`: no valid verify secret", body = tollgate_http::ErrorBody),
        (status = 422, description = "`invalid_body` or `invalid_field` (cost out of range)", body = tollgate_http::ErrorBody),
    )
)]
#[allow(dead_code)]
fn verify_doc() {}

/// The gateway routes' OpenAPI document (with the API-key and verify-secret security schemes).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{ApiKey as ApiKeyScheme, ApiKeyValue, SecurityScheme};
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder};
    let mut api = <GatewayApi as utoipa::OpenApi>::openapi();
    // `proxy_doc` documents one operation under every method, and the macro gives each the
    // same operationId: they must be unique (client generators key on them).
    if let Some(item) = api.paths.paths.get_mut("/api/v1/{path}") {
        let methods = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
            ("head", &mut item.head),
            ("options", &mut item.options),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                operation.operation_id = Some(format!("proxy_{method}"));
            }
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new("X-API-Key"))));
    components.add_security_scheme(
        "verify_secret",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("pvs_...")
                .description(Some("A project's verify secret (POST /api/user/projects/{id}/verify-secret)"))
                .build(),
        ),
    );
    api
}

/// The gateway's routes (without the common layers: `finish_router` adds them).
pub fn routes(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/v1/track", post(track))
        .route("/api/v1/verify", post(verify))
        .route("/api/v1/{*path}", any(proxy))
        .route("/api/v1", any(proxy))
        .route("/api/v1/", any(proxy))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(gateway)
}

/// The finished router for the Lambda function.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let cors_origins = gateway.state.settings.cors_origins.clone();
    tollgate_http::finish_router(routes(gateway), &cors_origins)
}

/// The gateway's routes: a proxied call, calls reported by the seller's server, a key to
/// verify for it.
#[derive(Clone, Copy)]
enum Route {
    Proxy,
    Track,
    Verify,
}

async fn proxy(State(gw): State<Arc<Gateway>>, req: Request<Body>) -> Response<Body> {
    serve(&gw, Route::Proxy, req).await
}

async fn track(State(gw): State<Arc<Gateway>>, req: Request<Body>) -> Response<Body> {
    serve(&gw, Route::Track, req).await
}

async fn verify(State(gw): State<Arc<Gateway>>, req: Request<Body>) -> Response<Body> {
    serve(&gw, Route::Verify, req).await
}

async fn serve(gw: &Gateway, route: Route, req: Request<Body>) -> Response<Body> {
    gw.stats.calls.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let mut call = Call::new(parts, gw.state.now());
    let answer = match route {
        Route::Proxy => handle(gw, &mut call, body).await,
        Route::Track => track::track(gw, &mut call, body).await,
        Route::Verify => verify::verify(gw, &mut call, body).await,
    };
    // What was decided about the caller: set by a step whose refusal is not an error answer
    // (verify's), or read from the answer. The metrics layers count it (see `Decision`).
    let decision = call.decision.or_else(|| decision_of(&answer));
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    // 7. Every answer, refusals included, carries the headers gathered on the way.
    call.answer.apply(response.headers_mut());
    if let Some(decision) = decision {
        response.extensions_mut().insert(decision);
    }
    response
}

/// The decision an answer stands for: an answer let through, or the refusal's (see
/// [`Decision::of_refusal`]); `None` when it decided nothing about the caller.
fn decision_of(answer: &Result<Response<Body>, ApiError>) -> Option<Decision> {
    match answer {
        Ok(_) => Some(Decision::Allowed),
        Err(e) => Decision::of_refusal(e),
    }
}

/// The hot path, one step after another (see the module doc).
async fn handle(gw: &Gateway, call: &mut Call, body: Body) -> Result<Response<Body>, ApiError> {
    let caller = identify::caller(gw, call).await?;
    if let Some(caller) = &caller {
        limits::per_key(gw, call, caller)?;
    }
    let (endpoint, rest) = match_endpoint(gw, call, caller.is_some()).await?;
    if let Some(caller) = &caller {
        // Before any per-endpoint limit or the quota: a call outside the key's scopes
        // counts nowhere.
        if !caller.key.may_call(&endpoint) {
            return Err(ApiError::rejected(
                ErrorCode::InsufficientScope,
                "this API key's scopes do not include this endpoint's group",
            ));
        }
    }
    let Some(caller) = caller else {
        // A public endpoint without a key: its own per-IP limit, no quota, no usage event.
        if !endpoint.public {
            return Err(limits::refuse_anonymous(gw, call, identify::missing_api_key()));
        }
        limits::public(gw, call, &endpoint)?;
        return gw.forward(call, &endpoint, &rest, body, None).await;
    };
    limits::per_endpoint(gw, call, &caller, &endpoint)?;
    let event = count::count(gw, call, &caller, &endpoint).await?;
    // Counted whatever the upstream answers.
    let result = gw.forward(call, &endpoint, &rest, body, Some(&caller)).await;
    count::record_outcome(gw, call, &caller, event, count::status_of(&result)).await;
    result
}

/// Step 3: the endpoint for the call's method and path, and the path to forward (its
/// `{*rest}` capture, or the whole path). 400 `invalid_path` or 404 otherwise; for a caller
/// without a usable key, the refusal counts against its IP.
async fn match_endpoint(gw: &Gateway, call: &mut Call, identified: bool) -> Result<(Endpoint, String), ApiError> {
    let refuse = |call: &mut Call, e: ApiError| if identified { e } else { limits::refuse_anonymous(gw, call, e) };
    if let Err(invalid) = forward_path::check(&call.path) {
        return Err(refuse(call, invalid));
    }
    let catalog = gw.catalog().await?;
    match catalog.find(call.parts.method.as_str(), &call.path) {
        Some(m) => Ok((m.endpoint.clone(), m.rest.unwrap_or_else(|| call.path.clone()))),
        None => Err(refuse(call, ApiError::NotFound("endpoint".into()))),
    }
}

impl Gateway {
    /// Step 5: the call to the endpoint's upstream (or built-in handler), with the identity
    /// headers of `caller`.
    async fn forward(
        &self,
        call: &Call,
        endpoint: &Endpoint,
        path: &str,
        body: Body,
        caller: Option<&Caller>,
    ) -> Result<Response<Body>, ApiError> {
        let body: Bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge { limit: MAX_REQUEST_BYTES })?;
        let parts = &call.parts;
        self.upstream
            .forward(Outgoing {
                method: &parts.method,
                upstream_url: &endpoint.upstream_url,
                path,
                query: parts.uri.query(),
                headers: &parts.headers,
                body,
                identity: call.identity(caller),
            })
            .await
    }
}

//! The `gateway` function (`/api/v1/{*path}`): the metered hot path.
//!
//! For one call: check the key with no I/O (format and checksum), then through a 5-second
//! cache (key, owner, subscription and plan); apply the key's rate limit (refusals of
//! anonymous or unidentified callers count against their IP); find the endpoint; count the
//! call against the period quota with one conditional store write; forward it; emit a usage
//! event; answer with `RateLimit-*` and `X-Quota-*` headers.

mod cache;
mod catalog;
mod emitter;
mod limiter;
mod upstream;

pub use emitter::UsageEmitter;
pub use limiter::{RateDecision, RateLimiter};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Response, Uri};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use cache::TtlCache;
use catalog::Catalog;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_domain::usage::thresholds_crossed;
use tollgate_domain::{
    ApiKey, Id, KeySecret, ParsedKey, Period, Plan, Queue, QueueMessage, QueueName, QuotaAlert, Subscription,
    UsageEvent, UsageIncrement, UserStatus,
};
use tollgate_http::extract::ClientAddr;
use tollgate_http::metering::current_subscription;
use tollgate_http::middleware::REQUEST_ID_HEADER;
use tollgate_http::{ApiError, AppState};
use upstream::{Identity, Outgoing, Upstream};

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
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { cache_ttl: Duration::from_secs(5), upstream_timeout: Duration::from_secs(10) }
    }
}

impl GatewayConfig {
    pub fn from_env() -> Result<Self, String> {
        let ms = tollgate_http::settings::parse_env("GATEWAY_UPSTREAM_TIMEOUT_MS", 10_000u64)?;
        Ok(GatewayConfig { upstream_timeout: Duration::from_millis(ms.max(1)), ..Default::default() })
    }
}

/// What the cache knows about a presented key: the key and secret, and whether its owner
/// is active. `None` = unknown key (misses are cached too).
type KeyEntry = Option<(ApiKey, KeySecret, UserStatus)>;

/// Store round trips made by the gateway itself, for the benchmark and operators.
#[derive(Debug, Default)]
pub struct GatewayStats {
    pub calls: AtomicU64,
    pub store_reads: AtomicU64,
    pub store_writes: AtomicU64,
}

impl GatewayStats {
    fn read(&self, n: u64) {
        self.store_reads.fetch_add(n, Ordering::Relaxed);
    }
    fn write(&self) {
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

/// The gateway's state: the application state, the queue, caches and the rate limiter.
pub struct Gateway {
    pub stats: GatewayStats,
    state: AppState,
    queue: Arc<dyn Queue>,
    emitter: UsageEmitter,
    upstream: Upstream,
    limiter: RateLimiter,
    keys: TtlCache<String, KeyEntry>,
    subscriptions: TtlCache<Id, (Subscription, Plan)>,
    catalog: TtlCache<(), Arc<Catalog>>,
}

impl Gateway {
    pub fn new(state: AppState, queue: Arc<dyn Queue>, emitter: UsageEmitter, config: GatewayConfig) -> Self {
        Gateway {
            stats: GatewayStats::default(),
            state,
            queue,
            emitter,
            upstream: Upstream::new(config.upstream_timeout),
            limiter: RateLimiter::default(),
            keys: TtlCache::new(config.cache_ttl, 100_000),
            subscriptions: TtlCache::new(config.cache_ttl, 100_000),
            catalog: TtlCache::new(config.cache_ttl, 1),
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

    async fn key(&self, parsed: &ParsedKey) -> Result<KeyEntry, ApiError> {
        let hash = parsed.hash();
        if let Some(hit) = self.keys.get(&hash.as_str().to_string()) {
            return Ok(hit);
        }
        self.stats.read(1);
        let entry = match self.state.store.find_api_key_by_hash(&hash).await? {
            Some((key, secret)) => {
                self.stats.read(1);
                let owner = self.state.store.get_user(&key.created_by).await?.map_or(UserStatus::Deleted, |u| u.status);
                Some((key, secret, owner))
            }
            None => None,
        };
        self.keys.insert(hash.as_str().to_string(), entry.clone());
        Ok(entry)
    }

    async fn subscription(&self, org: &Id, now: DateTime<Utc>) -> Result<(Subscription, Plan), ApiError> {
        if let Some(hit) = self.subscriptions.get(org) {
            return Ok(hit);
        }
        // Two reads in the steady state (the subscription, its plan).
        self.stats.read(2);
        let found = current_subscription(self.state.store.as_ref(), org, now).await?;
        self.subscriptions.insert(org.clone(), found.clone());
        Ok(found)
    }
}

/// The OpenAPI description of the gateway route (any method under `/api/v1`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(proxy_doc), tags((name = "gateway", description = "Metered calls to the operator's API")))]
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
        (status = 403, description = "`account_suspended`, `subscription_inactive`", body = tollgate_http::ErrorBody),
        (status = 404, description = "`not_found`: no endpoint at this method and path", body = tollgate_http::ErrorBody),
        (status = 413, description = "`payload_too_large`: a body over 6 MiB", body = tollgate_http::ErrorBody),
        (status = 429, description = "`rate_limited` or `quota_exceeded`", body = tollgate_http::ErrorBody),
        (status = 502, description = "`upstream_unavailable` (the call is counted)", body = tollgate_http::ErrorBody),
        (status = 504, description = "`upstream_timeout` (the call is counted)", body = tollgate_http::ErrorBody),
    )
)]
#[allow(dead_code)]
fn proxy_doc() {}

/// The gateway route's OpenAPI document (with the API-key security scheme).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{ApiKey as ApiKeyScheme, ApiKeyValue, SecurityScheme};
    let mut api = <GatewayApi as utoipa::OpenApi>::openapi();
    api.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new("X-API-Key"))));
    api
}

/// The gateway's routes (without the common layers: `finish_router` adds them).
pub fn routes(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/api/v1/{*path}", any(proxy))
        .route("/api/v1", any(proxy))
        .route("/api/v1/", any(proxy))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(gateway)
}

/// The finished router for the Lambda function.
pub fn router(gateway: Arc<Gateway>) -> Router {
    tollgate_http::finish_router(routes(gateway))
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

/// Response headers gathered along the way, added to success and error answers alike.
#[derive(Default)]
struct Meta {
    rate: Option<RateDecision>,
    /// (limit, used, seconds to the period end)
    quota: Option<(Option<u64>, u64, i64)>,
}

impl Meta {
    fn apply(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        if let Some(r) = self.rate {
            set("ratelimit-limit", r.limit.to_string());
            set("ratelimit-remaining", r.remaining.to_string());
            set("ratelimit-reset", r.reset_secs.to_string());
        }
        if let Some((limit, used, reset)) = self.quota {
            set("x-quota-used", used.to_string());
            set("x-quota-reset", reset.max(0).to_string());
            if let Some(limit) = limit {
                set("x-quota-limit", limit.to_string());
                set("x-quota-remaining", limit.saturating_sub(used).to_string());
            }
        }
    }
}

async fn proxy(State(gw): State<Arc<Gateway>>, req: Request<Body>) -> Response<Body> {
    let mut meta = Meta::default();
    let mut response = match handle(&gw, req, &mut meta).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    meta.apply(response.headers_mut());
    response
}

fn rate_limited(d: &RateDecision) -> ApiError {
    ApiError::TooManyRequests {
        code: "rate_limited",
        message: format!("rate limit of {} requests per minute reached; retry in {} s", d.limit, d.reset_secs),
        retry_after: d.reset_secs,
    }
}

/// The hot path. `meta` collects the headers every answer gets.
async fn handle(gw: &Gateway, req: Request<Body>, meta: &mut Meta) -> Result<Response<Body>, ApiError> {
    let started = Instant::now();
    gw.stats.calls.fetch_add(1, Ordering::Relaxed);
    let now = gw.state.now();
    let (parts, body) = req.into_parts();
    let request_id = parts.headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let ip = parts.extensions.get::<ClientAddr>().map(|c| c.0.to_string());
    let full_path = parts.uri.path().to_string();
    let path = full_path.strip_prefix("/api/v1").unwrap_or("").to_string();
    let path = if path.is_empty() { "/".to_string() } else { path };

    let now_secs = now.timestamp();
    let ip_label = ip.clone().unwrap_or_else(|| "-".into());
    // A refusal of an anonymous or unidentified caller counts against its IP, so guessing
    // keys or scanning paths is rate limited too.
    let refuse_anonymous = |meta: &mut Meta, err: ApiError| {
        let d = gw.limiter.check(&format!("anon:{ip_label}"), DEFAULT_PUBLIC_RATE_LIMIT, now_secs);
        meta.rate = Some(d);
        if d.allowed {
            err
        } else {
            rate_limited(&d)
        }
    };

    // 1. Who: the key (format and checksum with no I/O, then the 5-second cache), its
    //    owner and the organization's subscription; then the plan's per-key rate limit.
    let caller = match presented_key(&parts.headers) {
        None => None,
        Some(raw) => match identify(gw, raw, now).await {
            Ok(caller) => Some(caller),
            Err(e) if e.status().is_client_error() => return Err(refuse_anonymous(meta, e)),
            Err(e) => return Err(e),
        },
    };
    if let Some((key, _, plan)) = &caller {
        let d = gw.limiter.check(&format!("key:{}", key.id), plan.rate_limit + plan.burst.unwrap_or(0), now_secs);
        meta.rate = Some(d);
        if !d.allowed {
            return Err(rate_limited(&d));
        }
    }

    // 2. What: the endpoint.
    let catalog = gw.catalog().await?;
    let Some(matched) = catalog.find(parts.method.as_str(), &path) else {
        let not_found = ApiError::NotFound("endpoint".into());
        return Err(if caller.is_some() { not_found } else { refuse_anonymous(meta, not_found) });
    };
    let endpoint = matched.endpoint.clone();
    let forward_path = matched.rest.clone().unwrap_or_else(|| path.clone());

    let Some((key, subscription, plan)) = caller else {
        // A public endpoint without a key: its own per-IP limit, no quota, no usage event.
        if !endpoint.public {
            let missing =
                ApiError::unauthorized("missing_api_key", "send an API key in X-API-Key or Authorization: Bearer");
            return Err(refuse_anonymous(meta, missing));
        }
        let limit = endpoint.rate_limit.unwrap_or(DEFAULT_PUBLIC_RATE_LIMIT);
        let d = gw.limiter.check(&format!("ip:{ip_label}:{}", endpoint.id), limit, now_secs);
        meta.rate = Some(d);
        if !d.allowed {
            return Err(rate_limited(&d));
        }
        let identity = Identity { request_id, org_id: None, key_id: None, plan_id: None, client_ip: ip };
        return forward(
            gw,
            &parts.method,
            &parts.uri,
            &parts.headers,
            &endpoint.upstream_url,
            &forward_path,
            body,
            identity,
        )
        .await;
    };

    // 3. The endpoint's own per-key rate limit, if it has one.
    if let Some(limit) = endpoint.rate_limit {
        let e = gw.limiter.check(&format!("key:{}:ep:{}", key.id, endpoint.id), limit, now_secs);
        if !e.allowed {
            meta.rate = Some(e);
            return Err(rate_limited(&e));
        }
    }

    // 4. The quota: one conditional write, exact under any concurrency.
    let period = Period::containing(now);
    let to_period_end = (period.end - now).num_seconds();
    let cost = u64::from(endpoint.cost_units);
    let expires = period.end + chrono::Duration::days(400);
    gw.stats.write();
    match gw.state.store.add_usage(&key.org_id, &period.key, cost, plan.hard_limit(), expires).await? {
        UsageIncrement::LimitReached { used } => {
            meta.quota = Some((plan.monthly_limit, used, to_period_end));
            return Err(ApiError::TooManyRequests {
                code: "quota_exceeded",
                message: format!(
                    "the monthly quota of {} units is used up; it renews at {}",
                    plan.monthly_limit.unwrap_or(0),
                    period.end.to_rfc3339()
                ),
                retry_after: to_period_end.max(1) as u64,
            });
        }
        UsageIncrement::Counted { used } => {
            meta.quota = Some((plan.monthly_limit, used, to_period_end));
            if let Some(limit) = plan.monthly_limit {
                for percent in thresholds_crossed(used - cost, used, limit) {
                    alert(gw, &subscription, &period, percent, used, limit, now).await;
                }
            }
        }
    }

    // 5. Forward, then 6. emit the usage event (the call is counted whatever the upstream said).
    let identity = Identity {
        request_id: request_id.clone(),
        org_id: Some(key.org_id.to_string()),
        key_id: Some(key.id.to_string()),
        plan_id: Some(plan.id.to_string()),
        client_ip: ip.clone(),
    };
    let result =
        forward(gw, &parts.method, &parts.uri, &parts.headers, &endpoint.upstream_url, &forward_path, body, identity)
            .await;
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    };
    let event = UsageEvent {
        id: if request_id.is_empty() { format!("req_{}", tollgate_domain::id::random_base62(20)) } else { request_id },
        org_id: key.org_id.clone(),
        key_id: key.id.clone(),
        endpoint_id: endpoint.id.clone(),
        method: parts.method.to_string(),
        path: full_path,
        status,
        latency_ms: started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32,
        cost_units: endpoint.cost_units,
        ip,
        timestamp: now,
        period: period.key,
    };
    gw.emitter.emit(&event).await;
    result
}

/// The caller behind a presented key: the key, its organization's subscription and plan.
/// Every refusal is a client error (401 or 403).
async fn identify(gw: &Gateway, raw: &str, now: DateTime<Utc>) -> Result<(ApiKey, Subscription, Plan), ApiError> {
    // No I/O for a malformed or mistyped key.
    let parsed = ParsedKey::parse(raw)
        .map_err(|_| ApiError::unauthorized("invalid_api_key", "the API key is malformed or mistyped"))?;
    let (key, secret, owner) =
        gw.key(&parsed).await?.ok_or_else(|| ApiError::unauthorized("invalid_api_key", "this API key is not known"))?;
    key.check_usable(&secret, now).map_err(|r| ApiError::unauthorized(r.code(), r.to_string()))?;
    if owner != UserStatus::Active {
        return Err(ApiError::forbidden("account_suspended", "the account owning this key is suspended or deleted"));
    }
    let (subscription, plan) = gw.subscription(&key.org_id, now).await?;
    if !subscription.is_serving() {
        return Err(ApiError::forbidden(
            "subscription_inactive",
            "the subscription of this key's organization has ended",
        ));
    }
    Ok((key, subscription, plan))
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    gw: &Gateway,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    upstream_url: &str,
    path: &str,
    body: Body,
    identity: Identity,
) -> Result<Response<Body>, ApiError> {
    let body: Bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: MAX_REQUEST_BYTES })?;
    gw.upstream.forward(Outgoing { method, upstream_url, path, query: uri.query(), headers, body, identity }).await
}

/// Sends a quota alert once per organization, period and threshold: the crossing call is
/// unique (the counter is monotonic), and the idempotency claim guards against a retry.
async fn alert(
    gw: &Gateway,
    sub: &Subscription,
    period: &Period,
    percent: u8,
    used: u64,
    limit: u64,
    now: DateTime<Utc>,
) {
    let id = format!("alert_{}_{}_{}", sub.org_id, period.key, percent);
    gw.stats.write();
    match gw.state.store.claim("quota_alert", &id, now, period.end + chrono::Duration::days(35)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = %e, alert = %id, "could not claim quota alert");
            return;
        }
    }
    let alert = QuotaAlert {
        id: id.clone(),
        org_id: sub.org_id.clone(),
        subscription_id: sub.id.clone(),
        period: period.key.clone(),
        threshold_percent: percent,
        used,
        limit,
        at: now,
    };
    let message = QueueMessage { id, body: serde_json::to_string(&alert).expect("serialisable") };
    if let Err(e) = gw.queue.send(QueueName::Notifications, &[message]).await {
        // The scheduled backstop (a later issue) re-derives alerts from the counters.
        tracing::error!(error = %e, org_id = %sub.org_id, percent, "quota alert not queued");
    }
}

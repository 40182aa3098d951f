//! Layers every router gets, in Lambda and locally: request ids, the request span and the
//! access log, the request metrics (see `metrics`), body limit and JSON answers for unknown
//! routes and methods, and CORS for the origins of `CORS_ORIGINS` (none by default).
//!
//! The access log (target `access`) has one line per answer, with the status and latency:
//! refusals and failures (4xx, 5xx) at `info`, successes (2xx, 3xx) at `debug`. A busy gateway
//! answers thousands of successful calls a second, and writing a JSON line for each cost
//! about a tenth of its CPU; the usage log records every metered call anyway. To log every
//! answer: `RUST_LOG=info,access=debug`.

use crate::error::ServerFailure;
use crate::extract::MAX_BODY_BYTES;
use crate::metrics;
use crate::ApiError;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::Router;
use std::time::Duration;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Level;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids look like `req_<8 base62 time><12 base62>` (`tollgate_domain::id::request_id`); an incoming `x-request-id` (for example API
/// Gateway's, set by the Lambda runner) is kept.
#[derive(Clone, Copy, Default)]
struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = tollgate_domain::id::request_id();
        Some(RequestId::new(id.parse().expect("ascii id")))
    }
}

/// Logs the cause of every 5xx answer the handlers gave (see `ServerFailure`), once, in the
/// request's span.
async fn log_server_failures(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let resp = next.run(req).await;
    if let Some(ServerFailure(cause)) = resp.extensions().get::<ServerFailure>() {
        tracing::error!(status = resp.status().as_u16(), error = %cause, "request failed");
    }
    resp
}

/// The access-log line of an answer (see the module doc), inside the request span.
fn log_answer<B>(resp: &axum::http::Response<B>, latency: std::time::Duration, _: &tracing::Span) {
    let status = resp.status().as_u16();
    let latency_us = latency.as_micros() as u64;
    if status >= 400 {
        tracing::event!(target: "access", Level::INFO, status, latency_us, "answered");
    } else {
        tracing::event!(target: "access", Level::DEBUG, status, latency_us, "answered");
    }
}

/// Counts the answer in the metrics registry: its route group (from the matched route, or
/// the path when none matched), status class and latency, and the gateway's decision when
/// the answer carries one (see [`metrics::Decision`]).
async fn record_metrics(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let path = req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path(), MatchedPath::as_str);
    let group = metrics::route_group(path);
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    metrics::record_http_request(group, resp.status().as_u16(), started.elapsed());
    if let Some(decision) = resp.extensions().get::<metrics::Decision>() {
        metrics::record_gateway_decision(*decision);
    }
    resp
}

/// Every request gets room to remember the management token it acts with, so its audit
/// events name the token (`extract::acting_management_token`).
async fn acting_token_scope(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    crate::extract::with_acting_token_scope(next.run(req)).await
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The CORS layer for a dashboard (or another browser app) on another origin: exactly
/// `origins` (`Settings::cors_origins`, from `CORS_ORIGINS`), with credentials, the methods
/// and headers the dashboard and API clients send; preflights are answered here (before
/// routing) and may be cached for 10 minutes. `None` when there is no origin: then no
/// answer carries a CORS header.
pub fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let listed = origins.clone();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            // Only with a listed origin: another origin's answer carries no CORS header.
            .allow_credentials(AllowCredentials::predicate(move |origin, _| listed.contains(origin)))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-org-id"),
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-api-key"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Wraps a route group's router with the common layers. Call once, on the final router.
/// `cors_origins`: the origins allowed to call it from a browser (`Settings::cors_origins`;
/// empty: no CORS headers). CORS wraps everything but the request id and the access log, so
/// error answers (401, 404, 429) carry its headers too and the browser lets the app read them.
pub fn finish_router(router: Router, cors_origins: &[String]) -> Router {
    let router = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(log_server_failures))
        .layer(axum::middleware::from_fn(acting_token_scope))
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let router = match cors_layer(cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings are not logged, they may carry tokens.
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(log_answer),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeId))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    /// A log sink for one test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_server_failure_is_logged_once_with_its_cause_and_hidden_from_the_client() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let failing = || async {
            ApiError::from(tollgate_domain::StoreError::unavailable("store down", std::io::Error::other("refused")))
        };
        let app = finish_router(Router::new().route("/boom", axum::routing::get(failing)), &[]);
        let resp = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 503);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("refused"), "the cause stays out of the answer");
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logged.matches("request failed").count(), 1, "{logged}");
        assert!(logged.contains("refused") && logged.contains("request_id"), "{logged}");
    }

    #[tokio::test]
    async fn the_access_log_has_refusals_at_info_and_successes_at_debug() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = finish_router(Router::new().route("/ok", axum::routing::get(|| async { "ok" })), &[]);
        for path in ["/ok", "/missing"] {
            app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        }
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logged.lines().filter(|l| l.contains("answered")).collect();
        assert_eq!(lines.len(), 1, "{logged}");
        assert!(lines[0].contains("status=404") && lines[0].contains("/missing") && lines[0].contains("request_id"));
    }

    #[tokio::test]
    async fn every_answer_is_counted_by_route_group_and_the_gateway_decision_with_it() {
        use crate::metrics::{sample_value, Decision, Registry};
        let refused = || async {
            let mut resp = axum::response::IntoResponse::into_response(axum::http::StatusCode::TOO_MANY_REQUESTS);
            resp.extensions_mut().insert(Decision::OverQuota);
            resp
        };
        let app = finish_router(
            Router::new()
                .route("/api/user/api-keys/{id}", axum::routing::get(|| async { "ok" }))
                .route("/api/v1/{*path}", axum::routing::get(refused)),
            &[],
        );
        let requests = |text: &str, group: &str, class: &str| {
            sample_value(text, "tollgate_http_requests_total", &[("group", group), ("status_class", class)])
                .unwrap_or(0.0)
        };
        let latencies = |text: &str, group: &str| {
            sample_value(text, "tollgate_http_request_duration_seconds_count", &[("group", group)]).unwrap_or(0.0)
        };
        let over_quota = |text: &str| {
            sample_value(text, "tollgate_gateway_decisions_total", &[("decision", "over_quota")]).unwrap_or(0.0)
        };
        let before = Registry::global().render();
        for path in ["/api/user/api-keys/key_secret123", "/api/v1/echo", "/api/user/api-keys/a/b"] {
            app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        }
        let after = Registry::global().render();
        // Other tests of this binary count too: at least what these requests added.
        assert!(requests(&after, "api-keys", "2xx") - requests(&before, "api-keys", "2xx") >= 1.0);
        assert!(
            requests(&after, "api-keys", "4xx") - requests(&before, "api-keys", "4xx") >= 1.0,
            "the fallback's 404"
        );
        assert!(requests(&after, "gateway", "4xx") - requests(&before, "gateway", "4xx") >= 1.0);
        assert!(latencies(&after, "api-keys") - latencies(&before, "api-keys") >= 2.0);
        assert!(over_quota(&after) - over_quota(&before) >= 1.0);
        assert!(!after.contains("key_secret123") && !after.contains("echo"), "no path in a label");
    }
}

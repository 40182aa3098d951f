//! CORS for a dashboard on another origin (`CORS_ORIGINS`, `Settings::cors_origins`): the
//! listed origins only, with credentials, on every route (errors included), preflights
//! answered; no CORS header at all when no origin is listed.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use tollgate_http::Settings;
use tollgate_tests::app::{TestApp, TestResponse};

const DASHBOARD: &str = "https://app.example.com";

async fn cors_app() -> TestApp {
    TestApp::with_settings(Settings {
        cors_origins: vec![DASHBOARD.to_string(), "http://127.0.0.1:5173".to_string()],
        ..Settings::default()
    })
    .await
}

async fn from_origin(app: &TestApp, method: Method, path: &str, origin: &str) -> TestResponse {
    app.send(Request::builder().method(method).uri(path).header(header::ORIGIN, origin).body(Body::empty()).unwrap())
        .await
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> TestResponse {
    app.send(
        Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type, x-org-id, idempotency-key")
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

fn no_cors_headers(r: &TestResponse, what: &str) {
    let cors: Vec<_> = r.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).collect();
    assert!(cors.is_empty(), "{what}: {cors:?}");
}

#[tokio::test]
async fn a_listed_origin_gets_its_origin_back_with_credentials_on_answers_and_errors() {
    let app = cors_app().await;
    // A public route, a refused one (no token) and an unknown one: the browser may read all.
    for (path, status) in [
        ("/api/plans", StatusCode::OK),
        ("/api/user/api-keys", StatusCode::UNAUTHORIZED),
        ("/api/nope", StatusCode::NOT_FOUND),
        ("/api/v1/anything", StatusCode::NOT_FOUND),
    ] {
        let r = from_origin(&app, Method::GET, path, DASHBOARD).await;
        assert_eq!(r.status, status, "{path}: {:?}", r.body);
        assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], DASHBOARD, "{path}");
        assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true", "{path}");
        assert!(r.headers.get_all(header::VARY).iter().any(|v| v.to_str().unwrap().contains("origin")), "{path}");
    }
    let other = from_origin(&app, Method::GET, "/api/plans", "http://127.0.0.1:5173").await;
    assert_eq!(other.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:5173");
}

#[tokio::test]
async fn a_preflight_is_answered_for_a_listed_origin() {
    let app = cors_app().await;
    let r = preflight(&app, "/api/user/api-keys", DASHBOARD).await;
    assert!(r.status.is_success(), "{:?} {:?}", r.status, r.body);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], DASHBOARD);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let methods = r.headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap().to_ascii_uppercase();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = r.headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().to_ascii_lowercase();
    for h in ["authorization", "content-type", "x-org-id", "idempotency-key", "x-api-key"] {
        assert!(headers.contains(h), "{headers}");
    }
    assert_eq!(r.headers[header::ACCESS_CONTROL_MAX_AGE], "600");
}

#[tokio::test]
async fn another_origin_gets_no_cors_headers() {
    let app = cors_app().await;
    for origin in ["https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com"] {
        let r = from_origin(&app, Method::GET, "/api/plans", origin).await;
        assert_eq!(r.status, StatusCode::OK);
        no_cors_headers(&r, origin);
        // The preflight names no origin and no credentials: the browser sends nothing.
        let p = preflight(&app, "/api/user/api-keys", origin).await;
        assert!(p.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{origin}");
        assert!(p.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(), "{origin}");
    }
}

#[tokio::test]
async fn without_cors_origins_no_answer_carries_cors_headers() {
    let app = TestApp::new().await;
    assert!(app.state.settings.cors_origins.is_empty(), "the default lists no origin");
    let r = from_origin(&app, Method::GET, "/api/plans", DASHBOARD).await;
    assert_eq!(r.status, StatusCode::OK);
    no_cors_headers(&r, "GET");
    let p = preflight(&app, "/api/user/api-keys", DASHBOARD).await;
    no_cors_headers(&p, "preflight");
    assert!(!p.status.is_success(), "no preflight answer: {:?}", p.status);
}

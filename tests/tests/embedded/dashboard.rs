//! The built dashboard on the local server (`local/src/dashboard.rs`): files of the build,
//! the single-page fallback for deep links, cache headers and the Content-Security-Policy,
//! and the API's own paths that never fall back to the app.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use tollgate_local::Dashboard;
use tollgate_tests::app::{send, TempDir, TestApp, TestResponse};

const INDEX: &str = "<!doctype html><title>tollgate</title><div id=root></div>";

/// A folder like `dashboard/dist`: index.html and one hashed asset.
fn built_app() -> TempDir {
    let dir = TempDir::new("dashboard");
    std::fs::create_dir_all(dir.0.join("assets")).unwrap();
    std::fs::write(dir.0.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.0.join("assets/index-Ab12_x.js"), "console.log(1)").unwrap();
    std::fs::write(dir.0.join(".env"), "SECRET=1").unwrap();
    dir
}

async fn get(router: &axum::Router, method: Method, path: &str) -> TestResponse {
    send(router, Request::builder().method(method).uri(path).body(Body::empty()).unwrap()).await
}

fn assert_index(r: &TestResponse, path: &str) {
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    assert_eq!(r.body.as_str(), Some(INDEX), "{path}");
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache", "{path}");
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(directive), "{path}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn dashboard_files_deep_links_and_the_api_404() {
    let app = TestApp::new().await;
    let dist = built_app();
    let router = app.platform.clone().with_dashboard(Some(Dashboard::open(&dist.0).expect("index.html"))).app();

    // The app at / and at every deep link.
    for path in ["/", "/index.html", "/keys", "/usage/2026-12", "/admin/users?q=ada"] {
        assert_index(&get(&router, Method::GET, path).await, path);
    }
    assert_eq!(get(&router, Method::HEAD, "/billing").await.status, StatusCode::OK);

    // A hashed asset: long-lived and immutable.
    let asset = get(&router, Method::GET, "/assets/index-Ab12_x.js").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(asset.body.as_str(), Some("console.log(1)"));
    assert_eq!(asset.headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(asset.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");

    // Missing files are 404s, not the page; nothing outside the build or hidden is served.
    for path in ["/assets/gone-123.js", "/favicon.ico", "/.env", "/assets/../.env", "/%2e%2e/Cargo.toml"] {
        let r = get(&router, Method::GET, path).await;
        assert!(r.body.as_str() != Some("SECRET=1"), "{path}");
        if path.ends_with(".js") || path.ends_with(".ico") {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    // The API's paths never fall back: unknown routes keep their JSON 404.
    for path in ["/api", "/api/nope", "/api/user/nope", "/health/x", "/metrics/x"] {
        let r = get(&router, Method::GET, path).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{path}: {:?}", r.body);
    }
    // A method the app does not answer is the API's 404 too.
    let r = get(&router, Method::POST, "/keys").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    // The real routes still win.
    let health = get(&router, Method::GET, "/health").await;
    assert_eq!((health.status, health.body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let plans = get(&router, Method::GET, "/api/plans").await;
    assert_eq!(plans.status, StatusCode::OK, "{:?}", plans.body);
    assert!(plans.headers.get(header::CONTENT_SECURITY_POLICY).is_none());
    let spec = get(&router, Method::GET, "/api/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    // An existing API route with another method is still a 405.
    assert_eq!(get(&router, Method::DELETE, "/api/plans").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_a_build_the_server_serves_the_api_only() {
    let empty = TempDir::new("no-dashboard");
    assert!(Dashboard::open(&empty.0).is_none(), "no index.html: no dashboard");
    let app = TestApp::new().await;
    let r = get(&app.router, Method::GET, "/keys").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

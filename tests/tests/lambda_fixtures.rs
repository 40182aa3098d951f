//! The API Gateway (HTTP API, payload 2.0) fixtures in `events/http/` driven through
//! `lambda_http`'s event parsing and each function's own router, as the Lambda runtime does.

use axum::http::StatusCode;
use axum::Router;
use tollgate_tests::app::{lambda_event as event, send, TestApp, TestResponse};

async fn call(router: Router, name: &str, token: &str) -> TestResponse {
    send(&tollgate_http::lambda::with_api_gateway_context(router), event(name, token)).await
}

#[tokio::test]
async fn auth_function_fixtures() {
    let app = TestApp::new().await;
    let r = call(auth::router(app.state.clone()), "auth-register.json", "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = call(auth::router(app.state.clone()), "auth-login.json", "").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["access_token"].is_string());
    // API Gateway's request id is the request id of the logs and the response.
    assert_eq!(r.headers["x-request-id"], "bXk02Zq9vIAMEVA=");
    let r = call(auth::router(app.state.clone()), "auth-login-malformed.json", "").await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
    // The source IP reached the audit log.
    let events = app.state.store.list_audit(&tollgate_domain::AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    let login = events.iter().find(|e| e.action == "user.login").expect("login audited");
    assert!(login.ip.as_deref().is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok()), "{:?}", login.ip);
}

#[tokio::test]
async fn account_and_api_keys_function_fixtures() {
    let app = TestApp::new().await;
    call(auth::router(app.state.clone()), "auth-register.json", "").await;
    let login = call(auth::router(app.state.clone()), "auth-login.json", "").await;
    let token = login.body["access_token"].as_str().unwrap().to_string();

    let r = call(account::router(app.state.clone()), "account-profile.json", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["email"], "fixture@example.com");
    let r = call(account::router(app.state.clone()), "account-profile.json", "bad-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = call(api_keys::router(app.state.clone()), "api-keys-create.json", &token).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = call(api_keys::router(app.state.clone()), "api-keys-list.json", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"][0]["name"], "fixture key");
    // A route of another group is not served by this function.
    let r = call(api_keys::router(app.state.clone()), "account-profile.json", &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_function_fixtures() {
    let r = call(public::router(), "public-health.json", "").await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let r = call(public::router(), "public-openapi.json", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["paths"]["/api/user/api-keys"].is_object());
}

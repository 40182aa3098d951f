//! Scopes on the DynamoDB adapter: a scoped key at the gateway (its scopes read from the
//! secret's lookup item), and a management token found by its hash, then revoked.

use axum::http::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tollgate_tests::app::{gateway_request, TempDir, TestApp};
use tollgate_tests::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scoped_keys_and_management_tokens_on_dynamodb() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("ddb-scopes"), store).await;
    let admin = app.admin_token().await;

    // A grouped endpoint, made before the gateway first reads (and caches) the catalog.
    let body = json!({"name": "weather", "method": "GET", "path": "/weather/{*rest}",
                      "upstream_url": "builtin:echo", "scope": "weather"});
    let r = app.call(Method::POST, "/api/admin/endpoints", Some(body), Some(&admin)).await;
    assert_eq!((r.status, &r.body["scope"]), (StatusCode::CREATED, &json!("weather")), "{:?}", r.body);
    let (access, _) = app.user("ddb-scopes@example.com").await;
    let body = json!({"name": "echo only", "scopes": ["echo"]});
    let r = app.call(Method::POST, "/api/user/api-keys", Some(body), Some(&access)).await;
    assert_eq!((r.status, &r.body["key"]["scopes"]), (StatusCode::CREATED, &json!(["echo"])), "{:?}", r.body);
    let key = r.body["secret"].as_str().unwrap().to_string();
    let r = app.send(gateway_request(Method::GET, "/api/v1/weather/today", Some(&key), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "insufficient_scope"), "{:?}", r.body);
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK, "an ungrouped endpoint: {:?}", r.body);
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(summary.body["used"], 1, "only the allowed call is counted");

    // A management token: found by its hash on every call, refused once revoked.
    let body = json!({"name": "back end", "scopes": ["read:customers"]});
    let r = app.call(Method::POST, "/api/admin/tokens", Some(body), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (id, token) =
        (r.body["token"]["id"].as_str().unwrap().to_string(), r.body["secret"].as_str().unwrap().to_string());
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(Method::GET, "/api/admin/tokens", None, Some(&admin)).await;
    assert_eq!(r.body["data"][0]["id"], json!(id));
    assert!(r.body["data"][0]["last_used_at"].is_string(), "the use is recorded: {:?}", r.body);
    let r = app.call(Method::DELETE, &format!("/api/admin/tokens/{id}"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}

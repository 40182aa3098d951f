//! An admin's suspension on the DynamoDB adapter: the gateway refuses the user's key within
//! 5 seconds (its cache expiring, on the wall clock), the user's refresh token stops working,
//! and unsuspending lets the key back in within 5 seconds too.

use axum::http::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_tests::app::{gateway_answers_within, gateway_request, TempDir, TestApp};
use tollgate_tests::moto::MotoServer;

/// The gateway's promise (5 s) plus one poll.
const FIVE_SECONDS: Duration = Duration::from_millis(5300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspension_stops_keys_within_five_seconds_on_dynamodb() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("ddb-suspend"), store).await;
    let admin = app.admin_token().await;
    let (access, refresh) = app.user("suspended@example.com").await;
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    let key = key.body["secret"].as_str().unwrap().to_string();
    // The key works, and is now in the gateway's cache.
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let user = app.stored_user("suspended@example.com").await;
    let path = format!("/api/admin/users/{}", user.id);
    let suspended_at = Instant::now();
    let r = app.call(Method::POST, &format!("{path}/suspend"), Some(json!({"reason": "abuse"})), Some(&admin)).await;
    assert_eq!((r.status, &r.body["status"]), (StatusCode::OK, &json!("suspended")), "{:?}", r.body);
    let r = gateway_answers_within(&app.router, &key, StatusCode::FORBIDDEN, suspended_at, FIVE_SECONDS).await;
    assert_eq!(r.code(), "account_suspended");
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_ne!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(Method::POST, &format!("{path}/suspend"), None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));

    let unsuspended_at = Instant::now();
    let r = app.call(Method::POST, &format!("{path}/unsuspend"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    gateway_answers_within(&app.router, &key, StatusCode::OK, unsuspended_at, FIVE_SECONDS).await;
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the ended session stays ended: {:?}", r.body);
}

//! The gateway on the DynamoDB adapter (single-threaded moto, whose conditional writes are
//! serialised like DynamoDB's): the exact quota under concurrency, and how many DynamoDB
//! calls one gateway request costs.

use axum::http::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use tollgate_domain::{Id, Plan};
use tollgate_tests::app::{concurrent_calls, gateway_request, TempDir, TestApp};
use tollgate_tests::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_is_exact_on_dynamodb_and_a_warm_call_costs_one_write() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("ddb"), store).await;

    let (access, _) = app.user("ddb@example.com").await;
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    let key = key.body["secret"].as_str().unwrap().to_string();
    let profile = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    let org = Id::from_string(profile.body["organization_id"].as_str().unwrap());

    // Steady state: with the key and subscription cached, one call is one UpdateItem.
    assert_eq!(
        app.send(gateway_request(Method::GET, "/api/v1/echo/warm", Some(&key), None)).await.status,
        StatusCode::OK
    );
    let before = moto.request_count();
    for _ in 0..20 {
        assert_eq!(
            app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status,
            StatusCode::OK
        );
    }
    let per_call = (moto.request_count() - before) as f64 / 20.0;
    println!("DynamoDB calls per warm gateway request: {per_call}");
    assert!(per_call <= 1.0, "{per_call} DynamoDB calls per call");

    // A hard-capped plan with 50 units, on a fresh organization's counter.
    let mut plan = Plan::defaults(chrono::Utc::now()).remove(0);
    plan.id = Id::generate("plan");
    plan.rate_limit = 100_000;
    plan.monthly_limit = Some(50);
    app.state.store.create_plan(&plan).await.unwrap();
    let (access2, _) = app.user("ddb2@example.com").await;
    let key2 = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access2)).await;
    let key2 = key2.body["secret"].as_str().unwrap().to_string();
    let p2 = app.call(Method::GET, "/api/user/account/profile", None, Some(&access2)).await;
    let org2 = Id::from_string(p2.body["organization_id"].as_str().unwrap());
    let mut sub = app.state.store.subscription_of_org(&org2).await.unwrap().unwrap();
    sub.plan_id = plan.id.clone();
    app.state.store.update_subscription(&sub).await.unwrap();
    assert_ne!(org, org2);

    let statuses = concurrent_calls(&app.router, &key2, 200).await;
    let ok = statuses.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let exceeded =
        statuses.iter().filter(|(s, c)| *s == StatusCode::TOO_MANY_REQUESTS && c == "quota_exceeded").count();
    assert_eq!((ok, exceeded), (50, 150), "{statuses:?}");
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access2)).await;
    assert_eq!(summary.body["used"], 50, "{:?}", summary.body);
}

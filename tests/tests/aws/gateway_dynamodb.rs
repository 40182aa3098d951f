//! The gateway on the DynamoDB adapter (single-threaded moto, whose conditional writes are
//! serialised like DynamoDB's): the exact quota under concurrency, how many DynamoDB calls
//! one gateway request costs, and the per-key rate limit shared by two gateway instances.

use axum::http::{Method, StatusCode};
use gateway::{Gateway, GatewayConfig, QueuedCallMeter};
use serde_json::json;
use std::sync::Arc;
use tollgate_domain::{Id, Plan};
use tollgate_tests::app::{concurrent_calls, gateway_request, send, TempDir, TestApp, TestResponse};
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

/// A new user whose organization is subscribed to `plan`, and a key of theirs.
async fn key_on_plan(app: &TestApp, email: &str, plan: &Plan) -> String {
    let (access, _) = app.user(email).await;
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    let key = key.body["secret"].as_str().expect("key secret").to_string();
    let profile = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    let org = Id::from_string(profile.body["organization_id"].as_str().expect("organization id"));
    let mut sub = app.state.store.subscription_of_org(&org).await.unwrap().expect("subscription");
    sub.plan_id = plan.id.clone();
    app.state.store.update_subscription(&sub).await.unwrap();
    key
}

/// Two gateway instances (each with its own in-process limiter and caches, as two Lambda
/// instances) over the app's store.
fn two_instances(app: &TestApp, shared_rate_limit: bool) -> [axum::Router; 2] {
    let queue: Arc<dyn tollgate_domain::Queue> = app.platform.queue.clone();
    [(); 2].map(|_| {
        let meter = Arc::new(QueuedCallMeter::new(app.state.store.clone(), queue.clone()));
        let config = GatewayConfig { shared_rate_limit, ..Default::default() };
        gateway::router(Arc::new(Gateway::new(app.state.clone(), queue.clone(), meter, config)))
    })
}

/// `n` calls with `key`, alternating between the two instances; each answer.
async fn alternate(instances: &[axum::Router; 2], key: &str, n: usize) -> Vec<TestResponse> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(send(&instances[i % 2], gateway_request(Method::GET, "/api/v1/echo/rate", Some(key), None)).await);
    }
    out
}

fn tally(answers: &[TestResponse]) -> (usize, usize) {
    let ok = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    let limited =
        answers.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS && r.code() == "rate_limited").count();
    (ok, limited)
}

/// The plan's per-key limit across instances: two gateways on one table, each with its own
/// in-process limiter. With the shared rate limit the key gets exactly its 5 per minute
/// whichever instance serves it; without it, each instance admits its own 5 (10 in all),
/// which is why the Lambda function turns it on. Every call runs at the app clock's time
/// (the gateway reads `state.now()`), so a wall-clock minute boundary cannot split a window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_rate_limit_holds_across_two_gateway_instances() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("ddb-rate"), store).await;
    let mut plan = Plan::defaults(app.clock_now()).remove(0);
    plan.id = Id::generate("plan");
    plan.rate_limit = 5;
    plan.burst = None;
    plan.monthly_limit = Some(10_000);
    app.state.store.create_plan(&plan).await.unwrap();

    // Per instance only: each admits 5.
    let key = key_on_plan(&app, "rate-local@example.com", &plan).await;
    let answers = alternate(&two_instances(&app, false), &key, 12).await;
    assert_eq!(tally(&answers), (10, 2), "without the shared limit two instances admit 2 x 5");

    // Shared: 5 in all, whichever instance answers.
    let key = key_on_plan(&app, "rate-shared@example.com", &plan).await;
    let instances = two_instances(&app, true);
    let answers = alternate(&instances, &key, 12).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(tally(&answers), (5, 7), "with the shared limit: exactly 5 answered, the rest 429: {statuses:?}");
    assert_eq!(&statuses[..5], &[200; 5], "the first 5, on either instance");
    // The 6th passed its instance's own limiter (its 3rd call) and was refused by the store.
    let refused = &answers[5];
    let now = app.clock_now().timestamp();
    let to_window_end = (60 - now.rem_euclid(60)).to_string();
    let header = |name: &str| refused.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(
        (header("ratelimit-limit"), header("ratelimit-remaining"), header("ratelimit-reset"), header("retry-after")),
        ("5".to_string(), "0".to_string(), to_window_end.clone(), to_window_end),
        "{:?}",
        refused.headers
    );
    assert!(refused.body["error"]["message"].as_str().unwrap_or("").contains("5 requests per minute"));
    // Refused calls are not counted against the quota.
    let org = app.state.store.find_api_key_by_hash(&tollgate_domain::ParsedKey::parse(&key).unwrap().hash()).await;
    let org = org.unwrap().expect("key").0.org_id;
    let period = tollgate_domain::PeriodKey::containing(app.clock_now());
    assert_eq!(app.state.store.usage(&org, &period).await.unwrap(), 5);

    // Concurrent calls on both instances at once: still exactly 5.
    let key = key_on_plan(&app, "rate-concurrent@example.com", &plan).await;
    let calls = (0..20).map(|i| {
        let (router, key) = (instances[i % 2].clone(), key.clone());
        tokio::spawn(
            async move { send(&router, gateway_request(Method::GET, "/api/v1/echo/c", Some(&key), None)).await },
        )
    });
    let mut answers = Vec::new();
    for c in calls.collect::<Vec<_>>() {
        answers.push(c.await.expect("call task"));
    }
    assert_eq!(tally(&answers), (5, 15), "20 concurrent calls over two instances");

    // The next minute is a new window on both instances.
    app.clock.advance(chrono::Duration::seconds(60));
    let answers = alternate(&instances, &key, 7).await;
    assert_eq!(tally(&answers), (5, 2), "a new minute: 5 again");
}

/// `POST /api/v1/track` on DynamoDB: 20 concurrent batches of 10 against a quota of 95 give
/// exactly 9 accepted batches (one conditional write each), 90 units on the counter and 90
/// usage events queued; the rest are 429 with nothing counted or queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracked_batches_are_exact_on_dynamodb() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let app = TestApp::on_store_without_worker(TempDir::new("ddb-track"), store).await;
    let mut plan = Plan::defaults(chrono::Utc::now()).remove(0);
    plan.id = Id::generate("plan");
    plan.rate_limit = 100_000;
    plan.monthly_limit = Some(95);
    app.state.store.create_plan(&plan).await.unwrap();
    let key = key_on_plan(&app, "ddb-track@example.com", &plan).await;

    let event = json!({"endpoint": "/x", "method": "POST", "status_code": 201, "response_time_ms": 3});
    let batch = json!({ "events": vec![event; 10] });
    let statuses = tollgate_tests::app::concurrent_batches(&app.router, &key, &batch, 20).await;
    let accepted = statuses.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).count();
    let refused = statuses.iter().filter(|(s, c)| *s == StatusCode::TOO_MANY_REQUESTS && c == "quota_exceeded").count();
    assert_eq!((accepted, refused), (9, 11), "{statuses:?}");
    let queued = app.queued(tollgate_domain::QueueName::Usage).await;
    assert_eq!(queued.len(), 90, "one usage event per accepted event");
    assert!(queued.iter().all(|e| e["source"] == "track"));
    let org = Id::from_string(queued[0]["org_id"].as_str().unwrap());
    let period = tollgate_domain::Period::containing(app.clock_now()).key;
    assert_eq!(app.state.store.usage(&org, &period).await.unwrap(), 90);
}

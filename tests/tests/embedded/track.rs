//! Metering without the proxy on the embedded store: `POST /api/v1/track` (exact quota,
//! deduplication, validation, the usage pipeline) and `POST /api/v1/verify`.

use crate::gateway::{put_on_plan, user_with_key};
use axum::http::{Method, StatusCode};
use chrono::{Duration, SecondsFormat};
use serde_json::{json, Value};
use std::time::Instant;
use tollgate_domain::Period;
use tollgate_tests::app::{gateway_request, request, TestApp, TestResponse};

/// `POST /api/v1/track` with `key`.
async fn track(app: &TestApp, key: &str, body: Value) -> TestResponse {
    app.send(gateway_request(Method::POST, "/api/v1/track", Some(key), Some(body))).await
}

fn event(endpoint: &str, status: u16, ms: u32) -> Value {
    json!({"endpoint": endpoint, "method": "GET", "status_code": status, "response_time_ms": ms})
}

/// Polls the call log (of `project`, if given) until it holds `n` entries; panics after 5 s.
async fn logged(app: &TestApp, access: &str, project: Option<&str>, n: usize) -> Vec<Value> {
    let path = match project {
        Some(p) => format!("/api/user/usage/detailed?limit=1000&project_id={p}"),
        None => "/api/user/usage/detailed?limit=1000".to_string(),
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = app.call(Method::GET, &path, None, Some(access)).await;
        let data = r.body["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n {
            assert_eq!(data.len(), n, "more log entries than expected");
            return data;
        }
        assert!(Instant::now() < deadline, "{} of {n} entries logged after 5 s: {:?}", data.len(), r.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The "done when" of the issue: a newcomer makes a project and a key, sends 100 tracked
/// events in one batch, and sees them in the summary and by-endpoint latency within 5 s.
#[tokio::test]
async fn a_hundred_tracked_events_show_in_summary_and_statistics_within_five_seconds() {
    let app = TestApp::new().await;
    let (access, _, org) = user_with_key(&app, "track-new@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.max_projects = 5).await;
    let p = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Own API"})), Some(&access)).await;
    let project = p.body["id"].as_str().unwrap().to_string();
    let k = app
        .call(
            Method::POST,
            &format!("/api/user/projects/{project}/api-keys"),
            Some(json!({"name": "srv"})),
            Some(&access),
        )
        .await;
    let key = k.body["secret"].as_str().unwrap().to_string();

    let events: Vec<Value> = (0..100)
        .map(|i| match i % 4 {
            0 => event("/users/{id}", 200, 12),
            1 => event("/users/{id}", 404, 30),
            2 => event("/orders", 200, 80),
            _ => event("/orders", 503, 400),
        })
        .collect();
    let started = Instant::now();
    let r = track(&app, &key, json!({ "events": events })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!((r.body["accepted"].as_u64(), r.body["rejected"].as_u64()), (Some(100), Some(0)));
    assert_eq!(r.body["counted_units"], 100);
    assert_eq!(r.headers["x-quota-used"], "100");
    assert!(r.headers.contains_key("ratelimit-remaining"));

    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(summary.body["used"], 100, "{:?}", summary.body);
    let log = logged(&app, &access, Some(&project), 100).await;
    assert!(log.iter().all(|e| e["source"] == "track" && e["project_id"] == project.as_str()));
    let by_endpoint = app.call(Method::GET, "/api/user/usage/by-endpoint", None, Some(&access)).await;
    let rows = by_endpoint.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{:?}", by_endpoint.body);
    let orders = rows.iter().find(|r| r["path"] == "/orders").expect("/orders row");
    assert_eq!((orders["count"].as_u64(), orders["status_5xx"].as_u64()), (Some(50), Some(25)));
    assert_eq!(orders["p99_ms"], 500, "latency from the reported response times");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// 20 concurrent batches of 10 against a quota of 95: exactly 9 batches, 90 units.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_are_counted_exactly_against_a_hard_quota() {
    let app = TestApp::new().await;
    let (access, key, org) = user_with_key(&app, "track-exact@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.monthly_limit = Some(95)).await;
    let batch = json!({ "events": vec![event("/x", 200, 1); 10] });
    let statuses = tollgate_tests::app::concurrent_batches(&app.router, &key, &batch, 20).await;
    let accepted = statuses.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).count();
    let refused = statuses.iter().filter(|(s, c)| *s == StatusCode::TOO_MANY_REQUESTS && c == "quota_exceeded").count();
    assert_eq!((accepted, refused), (9, 11), "{statuses:?}");
    let used = app.state.store.usage(&org, &Period::containing(app.clock_now()).key).await.unwrap();
    assert_eq!(used, 90);
    logged(&app, &access, None, 90).await;
}

/// Tracked and proxied calls draw on one quota, exactly, under concurrency.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracked_and_proxied_calls_share_one_exact_quota() {
    let app = TestApp::new().await;
    let (_, key, org) = user_with_key(&app, "track-mixed@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.monthly_limit = Some(95)).await;
    let batch = json!({ "events": vec![event("/x", 200, 1); 10] });
    let is_batch = |i: usize| i.is_multiple_of(4);
    let requests = (0..40)
        .map(|i| match is_batch(i) {
            true => gateway_request(Method::POST, "/api/v1/track", Some(&key), Some(batch.clone())),
            false => gateway_request(Method::GET, "/api/v1/echo/mixed", Some(&key), None),
        })
        .collect();
    let mut counted = 0;
    for (i, r) in tollgate_tests::app::concurrent_requests(&app.router, requests).await.into_iter().enumerate() {
        assert!(r.status.is_success() || r.code() == "quota_exceeded", "{:?}", r.body);
        if r.status.is_success() {
            counted += if is_batch(i) { 10 } else { 1 };
        }
    }
    let used = app.state.store.usage(&org, &Period::containing(app.clock_now()).key).await.unwrap();
    assert_eq!(used, counted, "every unit answered as counted is in the counter, and no other");
    assert!(used <= 95 && used > 85, "{used}");
}

/// A batch sent twice with client ids: logged and aggregated once; the quota counter
/// charges every accepted request (documented).
#[tokio::test]
async fn a_resent_batch_with_client_ids_is_logged_once() {
    let app = TestApp::new().await;
    let (access, key, org) = user_with_key(&app, "track-dedup@example.com").await;
    let events: Vec<Value> = (0..5)
        .map(|i| {
            let mut e = event("/dedup", 200, 5);
            e["id"] = json!(format!("call-{i}"));
            e
        })
        .collect();
    for _ in 0..2 {
        let r = track(&app, &key, json!({ "events": events })).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    }
    let log = logged(&app, &access, None, 5).await;
    let org_prefix = format!("{org}:call-");
    assert!(log.iter().all(|e| e["id"].as_str().is_some_and(|id| id.starts_with(&org_prefix))));
    // Both deliveries are through the worker: nothing more arrives.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    logged(&app, &access, None, 5).await;
    let by_endpoint = app.call(Method::GET, "/api/user/usage/by-endpoint", None, Some(&access)).await;
    assert_eq!(by_endpoint.body["data"][0]["count"], 5, "{:?}", by_endpoint.body);
    let used = app.state.store.usage(&org, &Period::containing(app.clock_now()).key).await.unwrap();
    assert_eq!(used, 10, "the counter charges both requests");
}

#[tokio::test]
async fn invalid_batches_are_refused_whole_with_per_event_reasons() {
    let app = TestApp::new().await;
    let (access, key, org) = user_with_key(&app, "track-invalid@example.com").await;
    let now = app.clock_now();
    let mut bad_time = event("/x", 200, 1);
    bad_time["timestamp"] = json!("yesterday");
    let mut negative = event("/x", 200, 1);
    negative["response_time_ms"] = json!(-3);
    let mut unknown = event("/x", 200, 1);
    unknown["latency"] = json!(3);
    let r = track(&app, &key, json!({ "events": [event("/ok", 200, 1), bad_time, negative, unknown] })).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_events"), "{:?}", r.body);
    let details = r.body["error"]["details"].as_array().unwrap();
    let indices: Vec<u64> = details.iter().map(|d| d["index"].as_u64().unwrap()).collect();
    assert_eq!(indices, vec![1, 2, 3]);
    assert_eq!(details[0]["field"], "timestamp");
    assert!(details[2]["message"].as_str().unwrap().contains("latency"), "{details:?}");

    let r = track(&app, &key, json!({ "events": [] })).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_events"));
    let r = track(&app, &key, json!({ "events": vec![event("/x", 200, 1); 1001] })).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "too_many_events"));
    let r = track(&app, &key, json!({ "events": "nope" })).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let mut raw = gateway_request(Method::POST, "/api/v1/track", Some(&key), None);
    *raw.body_mut() = axum::body::Body::from("{not json");
    raw.headers_mut().insert("content-type", "application/json".parse().unwrap());
    assert_eq!(app.send(raw).await.code(), "malformed_json");
    let r = app.send(gateway_request(Method::POST, "/api/v1/track", None, Some(event("/x", 200, 1)))).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_api_key"));

    let used = app.state.store.usage(&org, &Period::containing(now).key).await.unwrap();
    assert_eq!(used, 0, "nothing of a refused batch is counted");

    // Out of the time window: refused one by one, the rest recorded.
    let mut late = event("/x", 200, 1);
    late["timestamp"] = json!((now - Duration::hours(25)).to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut ahead = event("/x", 200, 1);
    ahead["timestamp"] = json!((now + Duration::minutes(10)).to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut recent = event("/x", 200, 1);
    recent["timestamp"] = json!((now - Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true));
    let r = track(&app, &key, json!({ "events": [late.clone(), recent, ahead.clone()] })).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!((r.body["accepted"].as_u64(), r.body["rejected"].as_u64()), (Some(1), Some(2)));
    assert_eq!(r.body["results"][0]["code"], "timestamp_out_of_range");
    assert_eq!(r.body["results"][1]["status"], "accepted");
    let r = track(&app, &key, json!({ "events": [late, ahead] })).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_events"));
    // One event on its own is a batch of one.
    let r = track(&app, &key, event("/single", 201, 7)).await;
    assert_eq!((r.status, r.body["accepted"].as_u64()), (StatusCode::ACCEPTED, Some(1)));
    let used = app.state.store.usage(&org, &Period::containing(now).key).await.unwrap();
    assert_eq!(used, 2);
    logged(&app, &access, None, 2).await;
}

#[tokio::test]
async fn verify_checks_a_key_in_the_askers_scope_and_consumes_its_quota() {
    let app = TestApp::with_cache_ttl(std::time::Duration::from_millis(50)).await;
    let (access, key, org) = user_with_key(&app, "verify@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| {
        p.monthly_limit = Some(10);
        p.max_projects = 2
    })
    .await;
    let projects = app.call(Method::GET, "/api/user/projects", None, Some(&access)).await;
    let default = projects.body["data"][0]["id"].as_str().unwrap().to_string();
    let issue = |project: String| {
        let (app, access) = (&app, access.clone());
        async move {
            let path = format!("/api/user/projects/{project}/verify-secret");
            let s = app.call(Method::POST, &path, None, Some(&access)).await;
            assert_eq!(s.status, StatusCode::CREATED, "{:?}", s.body);
            s.body["verify_secret"].as_str().unwrap().to_string()
        }
    };
    let verify = |body: Value, bearer: Option<String>| {
        let app = &app;
        async move { app.send(request(Method::POST, "/api/v1/verify", Some(body), bearer.as_deref(), None)).await }
    };
    // The default project's secret is the organization's management token.
    let management = issue(default.clone()).await;

    let r = verify(json!({"key": key, "cost": 4}), Some(management.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["valid"].as_bool(), r.body["code"].as_str()), (Some(true), Some("ok")));
    assert_eq!(r.body["remaining"], 6);
    assert!(r.body["reset"].as_i64().unwrap() > 0);
    assert_eq!(r.body["plan"]["id"].as_str().map(|p| p.starts_with("plan_")), Some(true));
    // Over the quota: refused, nothing counted.
    let r = verify(json!({"key": key, "cost": 7}), Some(management.clone())).await;
    assert_eq!(
        (r.body["valid"].as_bool(), r.body["code"].as_str()),
        (Some(false), Some("quota_exceeded")),
        "{:?}",
        r.body
    );

    // A project's own secret verifies that project's keys, and only those; the management
    // token verifies them too.
    let p = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Other"})), Some(&access)).await;
    let other_project = p.body["id"].as_str().unwrap().to_string();
    let k = app
        .call(
            Method::POST,
            &format!("/api/user/projects/{other_project}/api-keys"),
            Some(json!({"name": "o"})),
            Some(&access),
        )
        .await;
    let other_key = k.body["secret"].as_str().unwrap().to_string();
    let other_secret = issue(other_project).await;
    let r = verify(json!({"key": other_key}), Some(other_secret.clone())).await;
    assert_eq!((r.body["valid"].as_bool(), r.body["remaining"].as_u64()), (Some(true), Some(5)), "{:?}", r.body);
    let r = verify(json!({"key": key}), Some(other_secret)).await;
    assert_eq!((r.body["valid"].as_bool(), r.body["code"].as_str()), (Some(false), Some("invalid_api_key")));
    let r = verify(json!({"key": other_key, "cost": 0}), Some(management.clone())).await;
    assert_eq!(r.body["valid"], true);
    let used = app.state.store.usage(&org, &Period::containing(app.clock_now()).key).await.unwrap();
    assert_eq!(used, 5, "verify and the gateway count on the same counter");
    let log = logged(&app, &access, None, 3).await;
    assert!(log.iter().all(|e| e["source"] == "verify"), "{log:?}");

    // Another tenant's management token, a malformed key, bad credentials, a bad body.
    let (stranger, _, stranger_org) = user_with_key(&app, "verify-stranger@example.com").await;
    let path = format!("/api/user/projects/{}/verify-secret", tollgate_domain::Project::default_id(&stranger_org));
    let s = app.call(Method::POST, &path, None, Some(&stranger)).await;
    let stranger_secret = s.body["verify_secret"].as_str().unwrap().to_string();
    let r = verify(json!({"key": key}), Some(stranger_secret)).await;
    assert_eq!(r.body["code"], "invalid_api_key");
    let r = verify(json!({"key": "sk_live_nope"}), Some(management.clone())).await;
    assert_eq!(r.body["code"], "invalid_api_key");
    let r = verify(json!({"key": key}), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_token"));
    for bad in [format!("pvs_{}", "x".repeat(40)), access.clone()] {
        let r = verify(json!({"key": key}), Some(bad)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "an access token is no verify secret"
        );
    }
    let r = verify(json!({"key": key, "extra": 1}), Some(management.clone())).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));

    // A revoked key is refused (within the cache time); a replaced secret stops working.
    let keys = app.call(Method::GET, &format!("/api/user/api-keys?project_id={default}"), None, Some(&access)).await;
    let key_id = keys.body["data"][0]["id"].as_str().unwrap().to_string();
    app.call(Method::DELETE, &format!("/api/user/api-keys/{key_id}"), None, Some(&access)).await;
    let replaced = issue(default).await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let r = verify(json!({"key": key}), Some(replaced)).await;
    assert_eq!(r.body["code"], "key_revoked", "{:?}", r.body);
    let r = verify(json!({"key": key}), Some(management)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}

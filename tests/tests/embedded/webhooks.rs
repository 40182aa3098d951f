//! Customer webhooks end to end on the embedded store: endpoints registered through the
//! routes, notifications processed by the notifications worker, retries by `retry_due` on
//! a manual clock, and a real HTTP receiver on loopback (with `ALLOW_INSECURE_WEBHOOK_URLS`
//! on, as in local development) that records what it gets and answers a scripted status.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tollgate_domain::{Id, Notification, Period, QuotaAlert};
use tollgate_http::Settings;
use tollgate_tests::app::TestApp;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

/// An HTTP server on 127.0.0.1 that records every request and answers the next status of its
/// script, then `fallback`.
pub(crate) struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Script {
    got: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
    fallback: u16,
}

async fn record(State(s): State<Script>, headers: HeaderMap, body: String) -> StatusCode {
    s.got.lock().unwrap().push(Received { headers, body });
    let status = s.statuses.lock().unwrap().pop_front().unwrap_or(s.fallback);
    StatusCode::from_u16(status).unwrap()
}

async fn receiver(script: &[u16], fallback: u16) -> Receiver {
    receiver_at("/hook", script, fallback).await
}

/// A receiver that answers POSTs to `path` (its `url`).
pub(crate) async fn receiver_at(path: &str, script: &[u16], fallback: u16) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let state = Script { got: got.clone(), statuses: Arc::new(Mutex::new(script.iter().copied().collect())), fallback };
    let app = axum::Router::new().route(path, axum::routing::post(record)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url: format!("http://{addr}{path}"), got }
}

impl Receiver {
    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until it has received `n` requests.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.received()
    }
}

/// The platform allowing loopback receivers (`ALLOW_INSECURE_WEBHOOK_URLS`).
pub(crate) async fn insecure_app() -> TestApp {
    TestApp::with_settings(Settings { allow_insecure_webhook_urls: true, ..Settings::default() }).await
}

/// A signed-in user and their organization.
pub(crate) async fn user(app: &TestApp, email: &str) -> (String, Id) {
    let (access, _) = app.user(email).await;
    let profile = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    (access, Id::from_string(profile.body["organization_id"].as_str().unwrap()))
}

/// Registers an endpoint; returns its id and its secret.
async fn register(app: &TestApp, access: &str, url: &str, events: Value) -> (String, String) {
    let r =
        app.call(Method::POST, "/api/user/webhooks", Some(json!({"url": url, "events": events})), Some(access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (r.body["id"].as_str().unwrap().to_string(), r.body["secret"].as_str().unwrap().to_string())
}

/// A quota alert of the organization at `percent` of `limit` units, as the gateway raises it.
pub(crate) async fn quota_alert_of(app: &TestApp, org: &Id, percent: u8, limit: u64) -> Notification {
    let period = Period::containing(app.clock_now()).key;
    let subscription =
        tollgate_app::current_subscription(app.state.store.as_ref(), org, app.clock_now()).await.unwrap().0;
    let used = limit * u64::from(percent) / 100;
    Notification::Quota(QuotaAlert::new(org, &subscription.id, &period, percent, used, limit, app.clock_now()))
}

/// A quota alert of the organization at `percent` of 10 units.
async fn quota_alert(app: &TestApp, org: &Id, percent: u8) -> Notification {
    quota_alert_of(app, org, percent, 10).await
}

/// The notifications worker's processing of one notification, as the queue would hand it
/// over; it must not fail.
pub(crate) async fn process(app: &TestApp, notification: &Notification) {
    let sender = tollgate_outbound::ReqwestWebhookSender::new(true);
    let webhooks = notifications_worker::Webhooks { sender: &sender, allow_insecure: true };
    let m = notification.to_message();
    let failed = notifications_worker::process_batch(
        app.state.store.as_ref(),
        app.state.mailer.as_ref(),
        webhooks,
        vec![(m.id, m.body)],
        app.clock_now(),
    )
    .await;
    assert!(failed.is_empty(), "a webhook never fails the notification");
}

/// The `webhook-retries` job once, at the clock's time (as the scheduler runs it).
async fn retry(app: &TestApp) -> tollgate_app::webhooks::RetryReport {
    use tollgate_domain::{JobName, JobRunStatus, JobTrigger};
    let ports = app.platform.state.jobs.clone().expect("the platform runs jobs");
    let now = app.clock_now();
    let run = tollgate_app::jobs::run_job(&ports, JobName::WebhookRetries, JobTrigger::Manual, now, now).await.unwrap();
    assert_eq!(run.status, JobRunStatus::Succeeded, "{:?}", run.error);
    serde_json::from_value(run.report.expect("a report")).expect("the retries' report")
}

/// Checks `Tollgate-Signature` the way a customer would, with an HMAC of its own (not the
/// platform's functions): `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
fn assert_signed(r: &Received, secret: &str) {
    let header = r.headers.get("tollgate-signature").expect("Tollgate-Signature").to_str().unwrap();
    let (t, v1) = header.split_once(',').unwrap();
    let t = t.strip_prefix("t=").expect("t=");
    let v1 = v1.strip_prefix("v1=").expect("v1=");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.body).as_bytes());
    assert_eq!(hex::encode(mac.finalize().into_bytes()), v1, "the signature verifies with the secret");
    assert!(t.parse::<i64>().is_ok());
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
}

fn json_of(r: &Received) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

async fn deliveries(app: &TestApp, access: &str, id: &str) -> Value {
    let r = app.call(Method::GET, &format!("/api/user/webhooks/{id}/deliveries"), None, Some(access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["data"].clone()
}

#[tokio::test]
async fn a_notification_reaches_the_subscribed_endpoints_signed_once() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "wh-signed@example.com").await;
    let hook = receiver(&[], 200).await;
    let other = receiver(&[], 200).await;
    let (id, secret) = register(&app, &access, &hook.url, json!(["quota.threshold_reached"])).await;
    assert!(secret.starts_with("whsec_"));
    register(&app, &access, &other.url, json!(["trial.ending"])).await;

    // The secret is shown once: never in the listing or the endpoint.
    let one = app.call(Method::GET, &format!("/api/user/webhooks/{id}"), None, Some(&access)).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body.get("secret").is_none() && !one.body.to_string().contains(&secret), "{:?}", one.body);
    let list = app.call(Method::GET, "/api/user/webhooks", None, Some(&access)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert!(!list.body.to_string().contains(&secret));

    let alert = quota_alert(&app, &org, 80).await;
    process(&app, &alert).await;
    let got = hook.received();
    assert_eq!(got.len(), 1, "delivered at once");
    assert_signed(&got[0], &secret);
    let event = json_of(&got[0]);
    assert_eq!(event["id"], alert.id());
    assert_eq!(event["type"], "quota.threshold_reached");
    assert_eq!(event["created"], app.clock_now().timestamp());
    assert_eq!(event["data"]["threshold_percent"], 80);
    assert_eq!(event["data"]["org_id"], org.as_str());
    assert_eq!(got[0].headers.get("tollgate-event-id").unwrap(), alert.id());
    assert!(other.received().is_empty(), "an endpoint not subscribed to the type gets nothing");

    // A redelivered notification sends nothing again, and the mail went once.
    process(&app, &alert).await;
    assert_eq!(hook.received().len(), 1, "one delivery per event and endpoint");
    assert_eq!(app.outbox().iter().filter(|m| m.kind == "quota.threshold_reached").count(), 1);
    let d = deliveries(&app, &access, &id).await;
    assert_eq!(d.as_array().unwrap().len(), 1);
    assert_eq!((d[0]["status"].as_str(), d[0]["attempts"].as_u64()), (Some("succeeded"), Some(1)));
    assert_eq!(d[0]["last_status_code"], 200);
    assert_eq!(d[0]["event_id"], alert.id());
}

#[tokio::test]
async fn a_failing_endpoint_gets_the_same_event_until_it_answers() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "wh-retry@example.com").await;
    let hook = receiver(&[500, 503], 200).await;
    let (id, secret) = register(&app, &access, &hook.url, json!(["*"])).await;
    let alert = quota_alert(&app, &org, 100).await;
    process(&app, &alert).await;
    assert_eq!(hook.received().len(), 1);
    assert_eq!(retry(&app).await, Default::default(), "nothing due before the first delay (10 s ± 20 %)");

    app.clock.advance(Duration::seconds(15));
    let report = retry(&app).await;
    assert_eq!((report.attempted, report.retrying), (1, 1), "{report:?}");
    app.clock.advance(Duration::seconds(75));
    let report = retry(&app).await;
    assert_eq!((report.attempted, report.succeeded), (1, 1), "{report:?}");
    app.clock.advance(Duration::hours(1));
    assert_eq!(retry(&app).await.attempted, 0, "a delivered event is not sent again");

    let got = hook.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(json_of(r)["id"], alert.id(), "the same event id on every attempt");
        assert_eq!(json_of(r)["type"], "quota.exceeded");
        assert_eq!(r.body, got[0].body, "the same body on every attempt");
        assert_signed(r, &secret);
    }
    let d = deliveries(&app, &access, &id).await;
    assert_eq!((d[0]["status"].as_str(), d[0]["attempts"].as_u64()), (Some("succeeded"), Some(3)), "{d}");
    let codes: Vec<_> = d[0]["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)]);
    assert!(d[0]["last_latency_ms"].is_u64() && d[0]["created_at"].is_string() && d[0]["next_attempt_at"].is_null());
}

#[tokio::test]
async fn an_endpoint_that_always_fails_ends_failed_after_a_day() {
    let app = insecure_app().await;
    let (access, org) = user(&app, "wh-failed@example.com").await;
    let hook = receiver(&[], 500).await;
    let (id, _) = register(&app, &access, &hook.url, json!(["quota.exceeded"])).await;
    let start = app.clock_now();
    process(&app, &quota_alert(&app, &org, 100).await).await;
    let mut failed_for_good = 0;
    for _ in 0..30 {
        app.clock.advance(Duration::hours(1));
        failed_for_good += retry(&app).await.failed_for_good;
    }
    assert_eq!(failed_for_good, 1);
    let d = deliveries(&app, &access, &id).await;
    assert_eq!(d[0]["status"], "failed", "{d}");
    let attempts = d[0]["attempts"].as_u64().unwrap();
    assert_eq!(hook.received().len() as u64, attempts);
    assert!(attempts >= 8, "retried through the day: {attempts} attempts");
    let last: chrono::DateTime<chrono::Utc> = serde_json::from_value(d[0]["updated_at"].clone()).unwrap();
    assert!(last <= start + Duration::hours(24) + Duration::hours(1), "no attempt after the day: {last}");
    assert!(d[0]["next_attempt_at"].is_null());
    app.clock.advance(Duration::days(2));
    assert_eq!(retry(&app).await.attempted, 0, "a failed delivery is never attempted again");
}

#[tokio::test]
async fn private_addresses_are_refused_and_loopback_needs_the_setting() {
    let strict = TestApp::new().await;
    let (access, _) = user(&strict, "wh-ssrf@example.com").await;
    for url in
        ["https://10.0.0.1/x", "https://169.254.169.254/", "http://127.0.0.1/", "https://[::1]/", "https://localhost/"]
    {
        let r = strict
            .call(Method::POST, "/api/user/webhooks", Some(json!({"url": url, "events": ["*"]})), Some(&access))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_webhook_url"),
            "{url}: {:?}",
            r.body
        );
    }
    let list = strict.call(Method::GET, "/api/user/webhooks", None, Some(&access)).await;
    assert!(list.body["data"].as_array().unwrap().is_empty(), "nothing stored");

    let app = insecure_app().await;
    let (access, _) = user(&app, "wh-ssrf2@example.com").await;
    let (id, _) = register(&app, &access, "http://127.0.0.1:9/hook", json!(["*"])).await;
    for url in ["https://10.0.0.1/x", "https://169.254.169.254/", "https://[fd00::1]/", "https://[::ffff:10.0.0.1]/"] {
        let r = app
            .call(Method::POST, "/api/user/webhooks", Some(json!({"url": url, "events": ["*"]})), Some(&access))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_webhook_url"),
            "{url} with the setting"
        );
        let r =
            app.call(Method::PUT, &format!("/api/user/webhooks/{id}"), Some(json!({"url": url})), Some(&access)).await;
        assert_eq!(r.code(), "invalid_webhook_url", "{url} as an update");
    }
    let one = app.call(Method::GET, &format!("/api/user/webhooks/{id}"), None, Some(&access)).await;
    assert_eq!(one.body["url"], "http://127.0.0.1:9/hook", "a refused update changes nothing");

    let r = app
        .call(
            Method::POST,
            "/api/user/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/", "events": ["quota.nope"]})),
            Some(&access),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{:?}", r.body);
    let r = app
        .call(
            Method::POST,
            "/api/user/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/", "events": []})),
            Some(&access),
        )
        .await;
    assert_eq!(r.code(), "invalid_field");

    // Ten endpoints at most.
    for _ in 1..10 {
        register(&app, &access, "http://127.0.0.1:9/hook", json!(["*"])).await;
    }
    let r = app
        .call(
            Method::POST,
            "/api/user/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/", "events": ["*"]})),
            Some(&access),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "webhook_limit_reached"), "{:?}", r.body);
    let r = app.call(Method::DELETE, &format!("/api/user/webhooks/{id}"), None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    register(&app, &access, "http://127.0.0.1:9/hook", json!(["*"])).await;
}

#[tokio::test]
async fn another_organization_sees_none_of_it() {
    let app = insecure_app().await;
    let (owner, _) = user(&app, "wh-owner@example.com").await;
    let (intruder, _) = user(&app, "wh-intruder@example.com").await;
    let (id, _) = register(&app, &owner, "http://127.0.0.1:9/hook", json!(["*"])).await;
    let path = format!("/api/user/webhooks/{id}");
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(json!({"description": "mine now"}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/test"), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::GET, format!("{path}/deliveries"), None),
    ] {
        let r = app.call(method.clone(), &path, body, Some(&intruder)).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}: {:?}", r.body);
    }
    let list = app.call(Method::GET, "/api/user/webhooks", None, Some(&intruder)).await;
    assert!(list.body["data"].as_array().unwrap().is_empty());
    let one = app.call(Method::GET, &path, None, Some(&owner)).await;
    assert_eq!((one.status, one.body["description"].clone()), (StatusCode::OK, Value::Null), "untouched");
    let r = app.call(Method::GET, "/api/user/webhooks/wh_nope!", None, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_test_route_delivers_a_test_event_signed_with_the_current_secret() {
    let app = insecure_app().await;
    let (access, _) = user(&app, "wh-test@example.com").await;
    let hook = receiver(&[], 204).await;
    let (id, secret) = register(&app, &access, &hook.url, json!(["quota.exceeded"])).await;

    // The notifications worker runs in the background: the event arrives within seconds.
    let r = app.call(Method::POST, &format!("/api/user/webhooks/{id}/test"), None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let event_id = r.body["event_id"].as_str().unwrap().to_string();
    let got = hook.wait_for(1).await;
    assert_eq!(got.len(), 1, "the test event arrives");
    let event = json_of(&got[0]);
    assert_eq!((event["type"].as_str(), event["id"].as_str()), (Some("webhook.test"), Some(event_id.as_str())));
    assert_eq!(event["data"]["endpoint_id"], id.as_str());
    assert_signed(&got[0], &secret);
    assert!(app.outbox().iter().all(|m| m.kind != "webhook.test"), "a test event is not mailed");

    // A new secret signs from now on.
    let r = app.call(Method::POST, &format!("/api/user/webhooks/{id}/rotate-secret"), None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rotated = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(rotated, secret);
    app.call(Method::POST, &format!("/api/user/webhooks/{id}/test"), None, Some(&access)).await;
    let got = hook.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_signed(&got[1], &rotated);
    let d = deliveries(&app, &access, &id).await;
    assert_eq!(d.as_array().unwrap().len(), 2);
    assert!(d.as_array().unwrap().iter().all(|d| d["status"] == "succeeded" && d["event_type"] == "webhook.test"));
    let r = app.call(Method::GET, &format!("/api/user/webhooks/{id}/deliveries?limit=1"), None, Some(&access)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = app.call(Method::GET, &format!("/api/user/webhooks/{id}/deliveries?limit=0"), None, Some(&access)).await;
    assert_eq!(r.code(), "bad_request");
}

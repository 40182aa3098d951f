//! A running fake (in-process, on a free port) with a webhook receiver, and small HTTP helpers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::task::JoinHandle;

pub const SECRET: &str = stripe_fake::config::DEFAULT_WEBHOOK_SECRET;
pub const KEY: &str = "sk_test_fake_123";
/// 2026-01-01T00:00:00Z, where the test clocks start.
pub const T0: i64 = 1_767_225_600;
/// 2026-02-01T00:00:00Z: one month after T0.
pub const FEB1: i64 = 1_769_904_000;
/// 2026-03-01T00:00:00Z.
pub const MAR1: i64 = 1_772_323_200;

/// What the webhook receiver got.
#[derive(Default)]
struct Inbox {
    events: Mutex<Vec<Value>>,
    /// Deliveries whose signature did not verify.
    bad_signatures: Mutex<Vec<String>>,
    /// Answer 500 to this many deliveries first (to exercise retries).
    fail_next: AtomicUsize,
    attempts: AtomicUsize,
}

/// A fake Stripe and the test's webhook endpoint.
pub struct Harness {
    pub base: String,
    pub http: reqwest::Client,
    inbox: Arc<Inbox>,
    server: JoinHandle<()>,
    receiver: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
        self.receiver.abort();
    }
}

/// Checks a `Stripe-Signature` header as a Stripe webhook handler does.
pub fn verify(header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1.push(x.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let fresh = (chrono::Utc::now().timestamp() - t).abs() <= 300;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(format!("{t}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    fresh && v1.contains(&expected)
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inbox.attempts.fetch_add(1, Ordering::SeqCst);
    if inbox.fail_next.load(Ordering::SeqCst) > 0 {
        inbox.fail_next.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let body = String::from_utf8(body.to_vec()).expect("utf-8 body");
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !verify(signature, &body) {
        inbox.bad_signatures.lock().unwrap().push(format!("{signature} {body}"));
        return StatusCode::BAD_REQUEST;
    }
    match serde_json::from_str(&body) {
        Ok(event) => inbox.events.lock().unwrap().push(event),
        Err(_) => inbox.bad_signatures.lock().unwrap().push(format!("not JSON: {body}")),
    }
    StatusCode::OK
}

impl Harness {
    /// Starts the receiver, then the fake posting to it.
    pub async fn start() -> Self {
        let inbox = Arc::new(Inbox::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let hook = format!("http://{}/webhook", listener.local_addr().expect("addr"));
        let app = Router::new().route("/webhook", post(receive)).with_state(inbox.clone());
        let receiver = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver");
        });
        let (addr, server) = stripe_fake::serve(stripe_fake::Config::for_tests(Some(hook))).await.expect("start fake");
        let http = tollgate_outbound::https::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Harness { base: format!("http://{addr}"), http, inbox, server, receiver }
    }

    /// Makes the receiver answer 500 to the next `n` deliveries.
    pub fn fail_next_deliveries(&self, n: usize) {
        self.inbox.fail_next.store(n, Ordering::SeqCst);
    }

    /// How many deliveries the receiver has seen, refused ones included.
    pub fn delivery_attempts(&self) -> usize {
        self.inbox.attempts.load(Ordering::SeqCst)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
        key: Option<&str>,
    ) -> (u16, Value) {
        let body = stripe_fake::form::encode(form);
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req = if method == reqwest::Method::GET {
            req.query(form)
        } else {
            req.header("content-type", "application/x-www-form-urlencoded").body(body)
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// POST with the test key; panics unless 200.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.request(reqwest::Method::POST, path, form, Some(KEY)).await;
        assert_eq!(status, 200, "POST {path}: {body}");
        body
    }

    /// GET with the test key; panics unless 200.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.request(reqwest::Method::GET, path, query, Some(KEY)).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Waits (up to 10 s) until the received events satisfy `done`; returns them all.
    pub async fn webhooks_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bad = self.inbox.bad_signatures.lock().unwrap().clone();
            assert!(bad.is_empty(), "webhooks that failed verification: {bad:?}");
            let events = self.inbox.events.lock().unwrap().clone();
            if done(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "webhooks not received; got {:?}", types(&events));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for an event of `kind` (the `n`th, 1-based) and returns everything received.
    pub async fn webhooks_through(&self, kind: &str, n: usize) -> Vec<Value> {
        self.webhooks_until(|evts| evts.iter().filter(|e| e["type"] == kind).count() >= n).await
    }

    // Fixtures shared by the flows.

    pub async fn customer(&self, clock: Option<&str>) -> String {
        let mut form = vec![("email", "ada@example.com"), ("name", "Ada"), ("metadata[org_id]", "org_1")];
        if let Some(c) = clock {
            form.push(("test_clock", c));
        }
        id(&self.post("/v1/customers", &form).await)
    }

    pub async fn clock(&self) -> String {
        id(&self.post("/v1/test_helpers/test_clocks", &[("frozen_time", &T0.to_string()), ("name", "test")]).await)
    }

    /// Attaches a test card token and makes it the default; returns the payment method id.
    pub async fn card(&self, customer: &str, token: &str) -> String {
        let pm = id(&self.post(&format!("/v1/payment_methods/{token}/attach"), &[("customer", customer)]).await);
        self.post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &pm)]).await;
        pm
    }

    pub async fn product(&self) -> String {
        id(&self.post("/v1/products", &[("name", "API access")]).await)
    }

    pub async fn meter(&self, event_name: &str) -> String {
        id(&self
            .post(
                "/v1/billing/meters",
                &[
                    ("display_name", "API calls"),
                    ("event_name", event_name),
                    ("default_aggregation[formula]", "sum"),
                    ("customer_mapping[event_payload_key]", "stripe_customer_id"),
                    ("customer_mapping[type]", "by_id"),
                    ("value_settings[event_payload_key]", "value"),
                ],
            )
            .await)
    }

    pub async fn licensed_price(&self, product: &str, amount: i64) -> String {
        let amount = amount.to_string();
        id(&self
            .post(
                "/v1/prices",
                &[
                    ("product", product),
                    ("currency", "usd"),
                    ("unit_amount", &amount),
                    ("recurring[interval]", "month"),
                ],
            )
            .await)
    }

    /// 50 cents per 1000 calls, rounded up.
    pub async fn metered_price(&self, product: &str, meter: &str) -> String {
        id(&self
            .post(
                "/v1/prices",
                &[
                    ("product", product),
                    ("currency", "usd"),
                    ("unit_amount", "50"),
                    ("recurring[interval]", "month"),
                    ("recurring[usage_type]", "metered"),
                    ("recurring[meter]", meter),
                    ("transform_quantity[divide_by]", "1000"),
                    ("transform_quantity[round]", "up"),
                ],
            )
            .await)
    }

    pub async fn usage(&self, event_name: &str, customer: &str, value: i64, at: i64, identifier: &str) -> (u16, Value) {
        let (value, at) = (value.to_string(), at.to_string());
        let form = [
            ("event_name", event_name),
            ("payload[stripe_customer_id]", customer),
            ("payload[value]", value.as_str()),
            ("timestamp", at.as_str()),
            ("identifier", identifier),
        ];
        self.request(reqwest::Method::POST, "/v1/billing/meter_events", &form, Some(KEY)).await
    }

    pub async fn advance(&self, clock: &str, to: i64) -> Value {
        self.post(&format!("/v1/test_helpers/test_clocks/{clock}/advance"), &[("frozen_time", &to.to_string())]).await
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

pub fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
}

/// The event types received after the first event of type `from` (inclusive).
pub fn types_from(events: &[Value], from: &str) -> Vec<String> {
    let all = types(events);
    let start = all.iter().position(|t| t == from).unwrap_or_else(|| panic!("no {from} in {all:?}"));
    all[start..].to_vec()
}

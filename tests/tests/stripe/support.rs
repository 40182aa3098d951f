//! A platform with billing on the Stripe fake, and the steps the tests repeat.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use gateway::GatewayConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tollgate_http::Settings;
use tollgate_stripe::{StripeConfig, StripePayments};
use tollgate_tests::app::{Billing, TestApp};

/// The key every request to the fake carries.
pub const KEY: &str = "sk_test_tollgate_e2e";

/// The platform (served on a loopback port, so the fake's webhooks reach it) and the fake.
pub struct Billed {
    pub app: TestApp,
    /// The fake's base URL.
    pub stripe: String,
    /// The fake's test clock the platform's customers are created on.
    pub test_clock: String,
    pub http: reqwest::Client,
    _fake: tokio::task::JoinHandle<()>,
}

impl Billed {
    /// Waits until the workers have processed every queued usage event and Stripe event
    /// (and with them the billing tasks they queue).
    pub async fn drained(&self) {
        use tollgate_domain::QueueName;
        for _ in 0..200 {
            let usage = self.app.platform.queue.depth(QueueName::Usage).await.unwrap();
            let stripe = self.app.platform.queue.depth(QueueName::StripeEvents).await.unwrap();
            if usage == 0 && stripe == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the usage and Stripe events queues did not drain");
    }

    pub async fn start() -> Billed {
        Self::start_with(GatewayConfig { cache_ttl: Duration::ZERO, ..GatewayConfig::default() }).await
    }

    pub async fn start_with(gateway: GatewayConfig) -> Billed {
        let (addr, fake) = stripe_fake::serve(stripe_fake::Config::for_tests(None)).await.expect("start the fake");
        let stripe = format!("http://{addr}");
        let http = tollgate_outbound::https::client_builder().build().expect("client");
        let clock: Value = http
            .post(format!("{stripe}/v1/test_helpers/test_clocks"))
            .bearer_auth(KEY)
            .form(&[("frozen_time", Utc::now().timestamp().to_string()), ("name", "e2e".into())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let test_clock = clock["id"].as_str().expect("a test clock").to_string();
        let config =
            StripeConfig { secret_key: KEY.into(), api_base: stripe.clone(), test_clock: Some(test_clock.clone()) };
        let payments = Arc::new(StripePayments::new(config).expect("the Stripe client"));
        let billing = Billing {
            payments: Some(payments),
            webhook_secret: Some(stripe_fake::config::DEFAULT_WEBHOOK_SECRET.into()),
        };
        let app = TestApp::with_billing(Settings::default(), gateway, billing).await;
        let served = app.serve().await;
        let r = http
            .post(format!("{stripe}/_fake/config"))
            .form(&[("webhook_url", format!("http://{served}/api/stripe/webhook"))])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "configure the fake's webhook URL: {}", r.status());
        Billed { app, stripe, test_clock, http, _fake: fake }
    }

    /// A user with an API key: (access token, API key secret).
    pub async fn consumer(&self, email: &str) -> (String, String) {
        let (token, _) = self.app.user(email).await;
        let r = self.app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "e2e"})), Some(&token)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (token, r.body["secret"].as_str().unwrap().to_string())
    }

    /// The monthly quota the gateway applies to `key` now (`X-Quota-Limit`).
    pub async fn quota_limit(&self, key: &str) -> u64 {
        let req = axum::http::Request::builder()
            .uri("/api/v1/echo/limits")
            .header("x-api-key", key)
            .body(axum::body::Body::empty())
            .unwrap();
        let r = self.app.send(req).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.headers["x-quota-limit"].to_str().unwrap().parse().unwrap()
    }

    pub async fn subscription(&self, token: &str) -> Value {
        let r = self.app.call(Method::GET, "/api/user/subscription", None, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    /// Waits (up to 10 s) until the user's subscription satisfies `done`: webhooks arrive
    /// asynchronously and the worker applies them.
    pub async fn until(&self, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let sub = self.subscription(token).await;
            if done(&sub) {
                return sub;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: still {}", self.subscription(token).await);
    }

    /// Waits until the user's organization has `n` invoices; returns them.
    pub async fn invoices(&self, token: &str, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let r = self.app.call(Method::GET, "/api/user/billing/invoices", None, Some(token)).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let data = r.body["data"].as_array().unwrap().clone();
            if data.len() >= n {
                return data;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} invoices");
    }

    /// POST `path` on the user's routes; asserts 200 and returns the body.
    pub async fn post_ok(&self, token: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.app.call(Method::POST, path, body, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "POST {path}: {:?}", r.body);
        r.body
    }

    /// Pays on the fake's hosted Checkout page with `card`, as a browser would; returns
    /// where the page redirects to.
    pub async fn pay(&self, checkout_url: &str, card: &str) -> String {
        assert!(checkout_url.starts_with(&self.stripe), "a page of the fake: {checkout_url}");
        let client =
            tollgate_outbound::https::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = client.post(checkout_url).form(&[("card", card)]).send().await.unwrap();
        assert_eq!(r.status(), 303, "the page's answer: {}", r.text().await.unwrap_or_default());
        r.headers()["location"].to_str().unwrap().to_string()
    }

    /// Moves the fake's test clock to `to` (renewals, failed payments and period ends happen).
    pub async fn advance_stripe_clock(&self, to: DateTime<Utc>) {
        let r = self
            .http
            .post(format!("{}/v1/test_helpers/test_clocks/{}/advance", self.stripe, self.test_clock))
            .bearer_auth(KEY)
            .form(&[("frozen_time", to.timestamp().to_string())])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "advance the test clock: {}", r.text().await.unwrap());
    }

    /// The user's card ending in `last4` (from the payment methods route).
    pub async fn card(&self, token: &str, last4: &str) -> Value {
        let r = self.app.call(Method::GET, "/api/user/billing/payment-methods", None, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let cards = r.body["data"].as_array().unwrap();
        cards.iter().find(|m| m["last4"] == last4).cloned().unwrap_or_else(|| panic!("no card {last4}: {cards:?}"))
    }

    /// Makes `card` the default through the route.
    pub async fn make_default(&self, token: &str, card: &Value) {
        let path = format!("/api/user/billing/payment-methods/{}/default", card["id"].as_str().unwrap());
        let r = self.app.call(Method::POST, &path, None, Some(token)).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    }

    /// A GET on the fake's API.
    pub async fn stripe_get(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.stripe)).bearer_auth(KEY).send().await.unwrap().json().await.unwrap()
    }

    /// A POST on the fake's API.
    pub async fn stripe_post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        self.http
            .post(format!("{}{path}", self.stripe))
            .bearer_auth(KEY)
            .form(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A subscription's `billing.current_period_end`.
pub fn period_end(sub: &Value) -> DateTime<Utc> {
    sub["subscription"]["billing"]["current_period_end"].as_str().expect("a period end").parse().unwrap()
}

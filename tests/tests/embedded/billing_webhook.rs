//! Billing without a payment provider, and the Stripe webhook endpoint's checks: a signed
//! event is queued once; a forged, stale, altered or unsigned one is 400 `invalid_signature`
//! and nothing is stored.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use gateway::GatewayConfig;
use serde_json::json;
use tollgate_domain::billing::signature;
use tollgate_domain::QueueName;
use tollgate_http::Settings;
use tollgate_tests::app::{Billing, TestApp};

const SECRET: &str = "whsec_test_webhook";

async fn app_with_webhook_secret() -> TestApp {
    let billing = Billing { payments: None, webhook_secret: Some(SECRET.into()) };
    // No worker for the Stripe events without payments: the queue keeps what arrives.
    TestApp::with_billing(Settings::default(), GatewayConfig::default(), billing).await
}

fn event_body(id: &str) -> String {
    json!({
        "id": id,
        "object": "event",
        "type": "customer.subscription.updated",
        "created": 1_780_000_000,
        "data": {"object": {"id": "sub_123", "object": "subscription"}}
    })
    .to_string()
}

fn webhook(body: &str, signature: Option<String>) -> Request<Body> {
    let mut b =
        Request::builder().method(Method::POST).uri("/api/stripe/webhook").header("content-type", "application/json");
    if let Some(s) = signature {
        b = b.header("stripe-signature", s);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn without_a_stripe_key_billing_routes_are_503_and_plans_still_work() {
    let app = TestApp::new().await;
    let (token, _) = app.user("payer@example.com").await;
    for (method, path, body) in [
        (Method::POST, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_pro"}))),
        (Method::POST, "/api/user/subscription/downgrade", Some(json!({"plan_id": "plan_free"}))),
        (Method::POST, "/api/user/subscription/cancel", None),
        (Method::POST, "/api/user/subscription/resume", None),
        (Method::GET, "/api/user/billing/payment-methods", None),
        (Method::POST, "/api/user/billing/payment-methods", None),
        (Method::DELETE, "/api/user/billing/payment-methods/pm_1", None),
        (Method::POST, "/api/user/billing/payment-methods/pm_1/default", None),
        (Method::GET, "/api/user/billing/invoices", None),
        (Method::POST, "/api/user/billing/download-invoice/in_1", None),
    ] {
        let r = app.call(method.clone(), path, body, Some(&token)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}: {:?}", r.body);
        assert_eq!(r.code(), "billing_not_configured", "{method} {path}");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("not configured"));
    }
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::POST,
            "/api/admin/billing/invoices",
            Some(json!({"org_id": "org_x", "amount": 100, "description": "setup"})),
            Some(&admin),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "billing_not_configured"));

    // What works without a provider: the price list, the subscription's state, and plans
    // assigned by an admin (no Stripe ids on them).
    let r = app.call(Method::GET, "/api/plans", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["data"].as_array().unwrap().iter().all(|p| p["billing"].is_null()));
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["plan"]["id"], "plan_free");
    assert!(r.body["next_invoice"].is_null());

    // The webhook without a signing secret.
    let body = event_body("evt_unconfigured");
    let r = app.send(webhook(&body, Some(signature::sign(SECRET, app.clock_now().timestamp(), body.as_bytes())))).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "billing_not_configured"));
    assert!(app.queued(QueueName::StripeEvents).await.is_empty());
}

#[tokio::test]
async fn a_signed_event_is_queued_once_even_when_delivered_three_times() {
    let app = app_with_webhook_secret().await;
    let body = event_body("evt_once");
    for _ in 0..3 {
        let sig = signature::sign(SECRET, app.clock_now().timestamp(), body.as_bytes());
        let r = app.send(webhook(&body, Some(sig))).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body, json!({"received": true}));
    }
    let queued = app.queued(QueueName::StripeEvents).await;
    assert_eq!(queued.len(), 1, "one message per event id: {queued:?}");
    assert_eq!(queued[0]["id"], "evt_once");
    assert_eq!(queued[0]["data"]["object"]["id"], "sub_123", "the raw event is queued as it was signed");
}

#[tokio::test]
async fn forged_stale_altered_or_unsigned_events_are_400_and_nothing_is_stored() {
    let app = app_with_webhook_secret().await;
    let now = app.clock_now().timestamp();
    let body = event_body("evt_bad");
    let altered = body.replace("sub_123", "sub_999");
    let cases = [
        ("wrong secret", body.clone(), Some(signature::sign("whsec_other", now, body.as_bytes()))),
        ("stale timestamp", body.clone(), Some(signature::sign(SECRET, now - 301, body.as_bytes()))),
        ("timestamp from the future", body.clone(), Some(signature::sign(SECRET, now + 301, body.as_bytes()))),
        ("body changed after signing", altered, Some(signature::sign(SECRET, now, body.as_bytes()))),
        ("missing header", body.clone(), None),
        ("malformed header", body.clone(), Some("v1=deadbeef".into())),
    ];
    for (what, body, sig) in cases {
        let r = app.send(webhook(&body, sig)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_signature", "{what}");
    }
    // A correctly signed body that is not an event.
    let junk = "[1, 2, 3]";
    let r = app.send(webhook(junk, Some(signature::sign(SECRET, now, junk.as_bytes())))).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
    assert!(app.queued(QueueName::StripeEvents).await.is_empty(), "nothing was queued");
}

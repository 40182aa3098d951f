//! Every Stripe event type the platform handles, from its fixture in `events/stripe/`
//! (Stripe's published example, its object's id replaced by one that exists at the fake),
//! signed in the test and delivered three times: one effect. And events out of order end
//! in the state Stripe has.

use crate::support::Billed;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tollgate_domain::billing::signature;
use tollgate_domain::{AuditQuery, Id, QueueName};

fn fixture(kind: &str) -> Value {
    let path = format!("{}/../events/stripe/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// Posts `event` to the webhook, signed as Stripe signs it.
async fn deliver(b: &Billed, event: &Value) -> StatusCode {
    let body = event.to_string();
    let sig =
        signature::sign(stripe_fake::config::DEFAULT_WEBHOOK_SECRET, b.app.clock_now().timestamp(), body.as_bytes());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/stripe/webhook")
        .header("content-type", "application/json")
        .header("stripe-signature", sig)
        .body(Body::from(body))
        .unwrap();
    b.app.send(req).await.status
}

/// The audit records of one event (one per applied effect).
async fn effects(b: &Billed, org: &Id, event_id: &str) -> usize {
    let query = AuditQuery { org_id: Some(org.clone()), limit: 1000, ..Default::default() };
    let events = b.app.state.store.list_audit(&query).await.unwrap();
    events.iter().filter(|e| e.action == "billing.stripe_event" && e.target.as_deref() == Some(event_id)).count()
}

#[tokio::test]
async fn every_handled_type_delivered_three_times_has_one_effect() {
    let b = Billed::start().await;
    let (token, _) = b.consumer("fixtures@example.com").await;
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    let checkout_url = up["checkout_url"].as_str().unwrap().to_string();
    b.pay(&checkout_url, "4242424242424242").await;
    let sub = b.until(&token, "Pro", |s| s["plan"]["id"] == "plan_pro").await;
    let invoices = b.invoices(&token, 1).await;
    b.drained().await;
    let org = Id::from_string(sub["subscription"]["org_id"].as_str().unwrap());
    let ids = [
        ("checkout.session.completed", checkout_url.rsplit('/').next().unwrap().to_string()),
        ("customer.subscription.", sub["subscription"]["billing"]["provider_subscription_id"].as_str().unwrap().into()),
        ("invoice.", invoices[0]["id"].as_str().unwrap().into()),
        ("payment_method.", "pm_not_read".into()),
        ("customer.updated", sub["subscription"]["billing"]["customer_id"].as_str().unwrap().into()),
    ];
    let handled = [
        ("checkout.session.completed", 1),
        ("customer.subscription.created", 1),
        ("customer.subscription.updated", 1),
        ("customer.subscription.deleted", 1),
        ("customer.subscription.trial_will_end", 1),
        ("invoice.created", 1),
        ("invoice.finalized", 1),
        ("invoice.paid", 1),
        ("invoice.payment_failed", 1),
        ("invoice.upcoming", 0),
        ("payment_method.attached", 0),
        ("payment_method.detached", 0),
        ("customer.updated", 0),
    ];
    for (i, (kind, expected)) in handled.into_iter().enumerate() {
        let mut event = fixture(kind);
        let event_id = format!("evt_fixture_{i}_{}", tollgate_domain::id::random_base62(8));
        event["id"] = json!(event_id);
        let (_, object_id) = ids.iter().find(|(prefix, _)| kind.starts_with(prefix)).unwrap();
        if event["data"]["object"].get("id").is_some() {
            event["data"]["object"]["id"] = json!(object_id);
        }
        for delivery in 1..=3 {
            assert_eq!(deliver(&b, &event).await, StatusCode::OK, "{kind}, delivery {delivery}");
            b.drained().await;
        }
        let now = b.app.clock_now();
        assert!(b.app.state.store.is_claimed("stripe_event", &event_id, now).await.unwrap(), "{kind} was processed");
        assert_eq!(effects(&b, &org, &event_id).await, expected, "{kind}: effects of three deliveries");
    }
    // Re-reading the objects applied Stripe's state, whatever the fixtures said.
    let sub = b.subscription(&token).await;
    assert_eq!(
        (sub["plan"]["id"].as_str(), sub["subscription"]["status"].as_str()),
        (Some("plan_pro"), Some("active"))
    );
    assert!(b.app.platform.queue.dead_letters(QueueName::StripeEvents).await.unwrap().is_empty());
    // The owner heard once of each event that notifies, whatever the deliveries.
    for kind in ["trial.ending", "invoice.payment_failed"] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let count =
            || b.app.outbox().iter().filter(|m| m.kind == kind && m.to.as_str() == "fixtures@example.com").count();
        while count() == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(count(), 1, "one {kind} mail for three deliveries");
    }
}

#[tokio::test]
async fn subscription_updated_before_created_ends_in_stripes_state() {
    let b = Billed::start().await;
    let (token, _) = b.consumer("order@example.com").await;
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    b.pay(up["checkout_url"].as_str().unwrap(), "4242424242424242").await;
    let sub = b.until(&token, "Pro", |s| s["plan"]["id"] == "plan_pro").await;
    let sub_id = sub["subscription"]["billing"]["provider_subscription_id"].as_str().unwrap().to_string();
    b.drained().await;
    // Stripe's state moves on (canceled at the period's end), then its events arrive late
    // and in the wrong order: `updated` first, then an old `created`.
    let changed = b.stripe_post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    assert_eq!(changed["cancel_at_period_end"], true);
    for kind in ["customer.subscription.updated", "customer.subscription.created"] {
        let mut event = fixture(kind);
        event["id"] = json!(format!("evt_order_{}", tollgate_domain::id::random_base62(8)));
        event["data"]["object"]["id"] = json!(sub_id);
        event["data"]["object"]["cancel_at_period_end"] = json!(false);
        assert_eq!(deliver(&b, &event).await, StatusCode::OK);
    }
    b.drained().await;
    let sub = b.subscription(&token).await;
    assert_eq!(sub["subscription"]["cancel_at_period_end"], true, "Stripe's latest state, not the events' bodies");
    assert_eq!(sub["plan"]["id"], "plan_pro");
}

#[tokio::test]
async fn a_downgrade_waits_for_the_period_end_whatever_our_stored_state_says() {
    // The downgrade's own webhook may be applied between Stripe's change and any write of
    // ours, from a read made before it: our stored state cannot be what keeps the plan paid
    // for. Stripe's subscription holds it, so even a subscription record that lost the
    // pending downgrade keeps Business when the event comes.
    let b = Billed::start().await;
    let (token, _) = b.consumer("downgrade@example.com").await;
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_business"}))).await;
    b.pay(up["checkout_url"].as_str().unwrap(), "4242424242424242").await;
    let sub = b.until(&token, "Business", |s| s["plan"]["id"] == "plan_business").await;
    let sub_id = sub["subscription"]["billing"]["provider_subscription_id"].as_str().unwrap().to_string();
    b.post_ok(&token, "/api/user/subscription/downgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    b.drained().await;
    // Our record loses the pending downgrade (a stale write), then the event arrives.
    let store = b.app.state.store.as_ref();
    let org = Id::from_string(sub["subscription"]["org_id"].as_str().unwrap());
    let mut stored = store.subscription_of_org(&org).await.unwrap().unwrap();
    stored.billing.pending_plan_id = None;
    store.update_subscription(&stored).await.unwrap();
    let mut event = fixture("customer.subscription.updated");
    event["id"] = json!(format!("evt_late_{}", tollgate_domain::id::random_base62(8)));
    event["data"]["object"]["id"] = json!(sub_id);
    assert_eq!(deliver(&b, &event).await, StatusCode::OK);
    b.drained().await;
    let sub = b.subscription(&token).await;
    assert_eq!(sub["plan"]["id"], "plan_business", "paid until the period's end");
    assert_eq!(sub["subscription"]["billing"]["pending_plan_id"], "plan_pro");
}

//! The subscription's whole life through the real routes, Stripe's webhooks and the
//! gateway: Free -> Pro (Checkout) -> Business (upgrade with proration) -> Pro (downgrade at
//! the period's end) -> cancel -> Free; and a failed renewal -> past due -> the grace
//! period's end (Free limits) -> paid -> restored.

use crate::support::{period_end, Billed};
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::json;

const FREE: u64 = 1_000;
const PRO: u64 = 50_000;
const BUSINESS: u64 = 500_000;

#[tokio::test]
async fn free_to_pro_to_business_then_down_to_pro_then_canceled() {
    let b = Billed::start().await;
    let (token, key) = b.consumer("payer@example.com").await;
    assert_eq!(b.quota_limit(&key).await, FREE, "a new organization is on Free");

    // Free -> Pro: no card on file, so Checkout. Nothing changes on the redirect.
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    let checkout_url = up["checkout_url"].as_str().expect("a checkout URL").to_string();
    assert!(up["subscription"].is_null());
    assert_eq!(b.subscription(&token).await["plan"]["id"], "plan_free", "not before the payment");
    let back = b.pay(&checkout_url, "4242424242424242").await;
    assert!(back.contains("/billing?checkout=success&session_id=cs_test_"), "back to the dashboard: {back}");
    let sub = b.until(&token, "Pro after the webhook", |s| s["plan"]["id"] == "plan_pro").await;
    assert_eq!(sub["subscription"]["status"], "active");
    let changed = mails_to(&b, "payer@example.com", "subscription.updated").await;
    assert!(changed[0].text_body.contains("now on the Pro plan (active)"), "{}", changed[0].text_body);
    assert!(sub["subscription"]["billing"]["provider_subscription_id"].as_str().unwrap().starts_with("sub_"));
    assert_eq!(b.quota_limit(&key).await, PRO, "the gateway applies Pro's quota");
    let invoices = b.invoices(&token, 1).await;
    assert_eq!(invoices[0]["status"], "paid");
    assert_eq!((invoices[0]["amount_paid"].as_i64(), invoices[0]["currency"].as_str()), (Some(900), Some("usd")));

    // The card is on file now: Pro -> Business at once, with proration.
    let r = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_business"}))).await;
    assert!(r["checkout_url"].is_null(), "{r}");
    assert_eq!(r["subscription"]["plan_id"], "plan_business");
    assert_eq!(b.quota_limit(&key).await, BUSINESS, "Business at once");
    // Changed here, not by a webhook: notified all the same, and once (the webhook that
    // follows finds the change applied).
    let business = |m: &tollgate_domain::MailMessage| m.text_body.contains("now on the Business plan");
    let mails = mails_where(&b, "payer@example.com", "subscription.updated", business).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let again = b.app.outbox().into_iter().filter(|m| m.kind == "subscription.updated" && business(m)).count();
    assert_eq!((mails.len(), again), (1, 1), "one mail for the change");
    let invoices = b.invoices(&token, 2).await;
    let proration = &invoices[0];
    assert_eq!(proration["status"], "paid");
    let prorated = proration["amount_paid"].as_i64().unwrap();
    assert!(prorated > 0 && prorated <= 2_900 - 900, "a prorated difference, not a full month: {prorated}");
    let same = b
        .app
        .call(Method::POST, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_business"})), Some(&token))
        .await;
    assert_eq!((same.status, same.code()), (StatusCode::CONFLICT, "already_on_plan"));

    // Business -> Pro at the period's end: Business's limits until then.
    let r = b.post_ok(&token, "/api/user/subscription/downgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    assert_eq!(r["subscription"]["plan_id"], "plan_business");
    assert_eq!(r["subscription"]["billing"]["pending_plan_id"], "plan_pro");
    assert_eq!(b.quota_limit(&key).await, BUSINESS, "the paid period keeps Business");
    let end = period_end(&b.subscription(&token).await);
    b.advance_stripe_clock(end + Duration::hours(1)).await;
    let sub = b.until(&token, "Pro after the renewal", |s| s["plan"]["id"] == "plan_pro").await;
    assert!(sub["subscription"]["billing"]["pending_plan_id"].is_null());
    assert!(period_end(&sub) > end, "a new period");
    assert_eq!(b.quota_limit(&key).await, PRO);
    let invoices = b.invoices(&token, 3).await;
    assert_eq!(invoices[0]["amount_paid"], 900, "the renewal is Pro's price");

    // Cancel at the period's end; resume; cancel again; the period ends: Free.
    let r = b.post_ok(&token, "/api/user/subscription/cancel", None).await;
    assert_eq!(r["subscription"]["cancel_at_period_end"], true);
    let r = b.post_ok(&token, "/api/user/subscription/resume", None).await;
    assert_eq!(r["subscription"]["cancel_at_period_end"], false);
    b.post_ok(&token, "/api/user/subscription/cancel", None).await;
    assert_eq!(b.quota_limit(&key).await, PRO, "paid until the period's end");
    let end = period_end(&b.subscription(&token).await);
    b.advance_stripe_clock(end + Duration::hours(1)).await;
    let sub = b.until(&token, "Free after the period", |s| s["plan"]["id"] == "plan_free").await;
    assert!(sub["subscription"]["billing"]["provider_subscription_id"].is_null());
    assert_eq!(b.quota_limit(&key).await, FREE);
    let r = b.app.call(Method::POST, "/api/user/subscription/cancel", None, Some(&token)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "no_paid_subscription"));

    // The invoices' PDFs, and nobody else's.
    let invoices = b.invoices(&token, 3).await;
    let id = invoices[0]["id"].as_str().unwrap();
    let r = b.post_ok(&token, &format!("/api/user/billing/download-invoice/{id}"), None).await;
    assert!(r["url"].as_str().unwrap().starts_with(&b.stripe), "{r}");
    let (other, _) = b.app.user("someone-else@example.com").await;
    let r = b.app.call(Method::POST, &format!("/api/user/billing/download-invoice/{id}"), None, Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another organization's invoice");
}

#[tokio::test]
async fn a_failed_renewal_is_past_due_then_free_limits_after_the_grace_then_restored_when_paid() {
    let b = Billed::start().await;
    let (token, key) = b.consumer("late@example.com").await;
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": "plan_pro"}))).await;
    b.pay(up["checkout_url"].as_str().unwrap(), "4242424242424242").await;
    b.until(&token, "Pro", |s| s["plan"]["id"] == "plan_pro").await;

    // A card whose charges fail is added (Checkout in setup mode) and made the default: the
    // subscription's renewals go to it too.
    let setup = b.post_ok(&token, "/api/user/billing/payment-methods", None).await;
    b.pay(setup["checkout_url"].as_str().unwrap(), "4000000000000341").await;
    let failing = b.card(&token, "0341").await;
    b.make_default(&token, &failing).await;
    assert_eq!(b.card(&token, "0341").await["is_default"], true);

    // The renewal's charge fails: past due, Pro's limits during the grace period.
    let end = period_end(&b.subscription(&token).await);
    b.advance_stripe_clock(end + Duration::hours(1)).await;
    let sub = b.until(&token, "past due", |s| s["subscription"]["status"] == "past_due").await;
    assert!(sub["subscription"]["billing"]["past_due_since"].is_string());
    assert_eq!(b.quota_limit(&key).await, PRO, "still Pro during the grace period");
    let open = b.invoices(&token, 2).await.into_iter().find(|i| i["status"] == "open").expect("the unpaid invoice");
    // The owner is told: the failed payment with its amount, and the subscription past due.
    let failed = mails_to(&b, "late@example.com", "invoice.payment_failed").await;
    assert!(failed[0].subject.contains("9.00 USD"), "{}", failed[0].subject);
    assert!(failed[0].text_body.contains(open["id"].as_str().unwrap()), "{}", failed[0].text_body);
    let changed = mails_to(&b, "late@example.com", "subscription.updated").await;
    assert!(changed.iter().any(|m| m.text_body.contains("past due")), "{changed:?}");

    // Seven days later: the Free plan's limits.
    let real_now = b.app.clock_now();
    b.app.clock.advance(Duration::days(7) + Duration::minutes(1));
    assert_eq!(b.quota_limit(&key).await, FREE, "grace over: Free limits");
    assert_eq!(b.subscription(&token).await["plan"]["id"], "plan_free");
    // (Back to the wall clock: Stripe's webhooks are signed with it.)
    b.app.clock.set(real_now);

    // The first (good) card made the default again, and the invoice paid: restored.
    let good = b.card(&token, "4242").await;
    b.make_default(&token, &good).await;
    let paid = b.stripe_post(&format!("/v1/invoices/{}/pay", open["id"].as_str().unwrap()), &[]).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let sub = b.until(&token, "active again", |s| s["subscription"]["status"] == "active").await;
    assert!(sub["subscription"]["billing"]["past_due_since"].is_null());
    b.app.clock.advance(Duration::days(8));
    assert_eq!(b.quota_limit(&key).await, PRO, "restored: Pro, whatever the date");

    // An id that cannot be a card's is no card (it never reaches Stripe as a broken URL).
    for bad in ["pm_%C2%B6%01", "pm_a%2Fb", "card_1", "pm_"] {
        let r =
            b.app.call(Method::DELETE, &format!("/api/user/billing/payment-methods/{bad}"), None, Some(&token)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {:?}", r.body);
        let r = b
            .app
            .call(Method::POST, &format!("/api/user/billing/payment-methods/{bad}/default"), None, Some(&token))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {:?}", r.body);
    }

    // The failing card can be removed; another customer's card cannot.
    let r = b
        .app
        .call(
            Method::DELETE,
            &format!("/api/user/billing/payment-methods/{}", failing["id"].as_str().unwrap()),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let (other, _) = b.app.user("thief@example.com").await;
    let r = b
        .app
        .call(
            Method::DELETE,
            &format!("/api/user/billing/payment-methods/{}", good["id"].as_str().unwrap()),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
}

/// The mails of `kind` to `to`, once there is at least one (5 s at most: the notifications
/// worker sends them after the Stripe events worker queued them).
async fn mails_to(b: &Billed, to: &str, kind: &str) -> Vec<tollgate_domain::MailMessage> {
    mails_where(b, to, kind, |_| true).await
}

/// [`mails_to`], only the mails `wanted` accepts.
async fn mails_where(
    b: &Billed,
    to: &str,
    kind: &str,
    wanted: impl Fn(&tollgate_domain::MailMessage) -> bool,
) -> Vec<tollgate_domain::MailMessage> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found: Vec<_> =
            b.app.outbox().into_iter().filter(|m| m.kind == kind && m.to.as_str() == to && wanted(m)).collect();
        if !found.is_empty() {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "no {kind} mail to {to} after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

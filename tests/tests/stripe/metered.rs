//! Pay-as-you-go and hybrid plans: N metered calls are exactly N (or N minus the included
//! quota) units on the plan's meter at the fake, also when a report is retried or was cut
//! short half-way; the reconciliation shows no difference.

use crate::support::Billed;
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tollgate_app::billing::{report_metered_usage, UsageReportOutcome};
use tollgate_domain::{Id, Period};

/// An admin-made plan (synced to the fake on creation), bought by a new user through
/// Checkout; returns (access token, API key, org id, plan).
async fn subscribed(b: &Billed, email: &str, plan: Value) -> (String, String, Id, Value) {
    let admin = b.app.admin_token().await;
    let r = b.app.call(Method::POST, "/api/admin/plans", Some(plan), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let plan = r.body;
    assert!(plan["billing"]["meter_id"].as_str().unwrap().starts_with("mtr_"), "synced with a meter: {plan}");
    let (token, key) = b.consumer(email).await;
    let up = b.post_ok(&token, "/api/user/subscription/upgrade", Some(json!({"plan_id": plan["id"]}))).await;
    b.pay(up["checkout_url"].as_str().unwrap(), "4242424242424242").await;
    let sub = b.until(&token, "on the metered plan", |s| s["plan"]["id"] == plan["id"]).await;
    let org = Id::from_string(sub["subscription"]["org_id"].as_str().unwrap());
    (token, key, org, plan)
}

async fn calls(b: &Billed, key: &str, n: usize) {
    for _ in 0..n {
        let req = axum::http::Request::builder()
            .uri("/api/v1/echo/metered")
            .header("x-api-key", key)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(b.app.send(req).await.status, StatusCode::OK);
    }
}

/// The reconciliation line of `org` once reported equals `billable` (the usage worker
/// reports after its batches).
async fn reconciled(b: &Billed, org: &Id, billable: u64) -> Value {
    let admin = b.app.admin_token().await;
    for _ in 0..200 {
        let r = b.app.call(Method::GET, "/api/admin/billing/reconciliation", None, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let line = r.body["data"].as_array().unwrap().iter().find(|l| l["org_id"] == org.as_str()).cloned();
        if let Some(line) = line.filter(|l| l["reported"] == billable) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{org} never reported {billable}");
}

#[tokio::test]
async fn pay_as_you_go_reports_every_call_once_even_after_a_cut_short_report() {
    let b = Billed::start().await;
    let plan = json!({
        "name": "Metered", "billing_type": "pay_as_you_go", "price": 0, "overage_price": 50,
        "rate_limit": 6000, "retention_days": 7
    });
    let (_, key, org, _) = subscribed(&b, "payg@example.com", plan).await;

    calls(&b, &key, 7).await;
    let line = reconciled(&b, &org, 7).await;
    assert_eq!((line["counted"].as_u64(), line["provider_total"].as_u64()), (Some(7), Some(7)), "{line}");
    assert_eq!(line["mismatch"], false);

    // A report cut short after Stripe took it (the process died before marking it done):
    // the next report sends the same identifier again, which Stripe drops.
    let store = b.app.state.store.as_ref();
    let payments = b.app.state.payments.as_deref().unwrap();
    let period = Period::containing(b.app.clock_now());
    calls(&b, &key, 5).await;
    let line = reconciled(&b, &org, 12).await;
    assert_eq!(line["provider_total"], 12);
    let report = store.usage_report(&org, &period.key).await.unwrap();
    assert_eq!(report.reported, 12);
    // Simulate the next report dying half-way: pending stored, meter event sent, not finished.
    let sub = store.subscription_of_org(&org).await.unwrap().unwrap();
    let plan = store.get_plan(&sub.plan_id).await.unwrap().unwrap();
    let event_name = plan.billing.as_ref().unwrap().meter_event_name.clone().unwrap();
    let customer = sub.billing.customer_id.clone().unwrap();
    store.add_usage(&org, &period.key, 3, None, period.end).await.unwrap();
    store.begin_usage_report(&org, &period.key, 12, 15).await.unwrap();
    payments.report_usage(&event_name, &customer, 3, &report.identifier(15), b.app.clock_now()).await.unwrap();
    // The retry: finishes the pending range with the same identifier, reports nothing twice.
    let outcome = report_metered_usage(store, payments, &org, &period, b.app.clock_now()).await.unwrap();
    assert_eq!(outcome, UsageReportOutcome::Reported { units: 3 });
    let again = report_metered_usage(store, payments, &org, &period, b.app.clock_now()).await.unwrap();
    assert_eq!(again, UsageReportOutcome::UpToDate, "a second run has nothing to report");
    let line = reconciled(&b, &org, 15).await;
    assert_eq!(line["provider_total"], 15, "Stripe counted the cut-short range once: {line}");
    assert_eq!(line["mismatch"], false);
}

#[tokio::test]
async fn hybrid_reports_only_the_units_beyond_the_included_quota() {
    let b = Billed::start().await;
    let plan = json!({
        "name": "Hybrid", "billing_type": "hybrid", "price": 500, "monthly_limit": 10, "overage_price": 100,
        "rate_limit": 6000, "retention_days": 7
    });
    let (token, key, org, _) = subscribed(&b, "hybrid@example.com", plan).await;
    calls(&b, &key, 10).await;
    // Within the included quota: nothing billable, nothing reported.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let period = Period::containing(b.app.clock_now());
    assert_eq!(b.app.state.store.usage_report(&org, &period.key).await.unwrap().reported, 0);
    calls(&b, &key, 14).await;
    let line = reconciled(&b, &org, 14).await;
    assert_eq!((line["counted"].as_u64(), line["billable"].as_u64()), (Some(24), Some(14)), "{line}");
    assert_eq!(line["provider_total"], 14);
    assert_eq!(line["mismatch"], false);
    // The next invoice's estimate: the base fee and one started block of 1,000 overage units.
    let sub = b.subscription(&token).await;
    assert_eq!(sub["next_invoice"]["amount_due"], 600, "{}", sub["next_invoice"]);
}

#[tokio::test]
async fn period_close_reports_what_is_missing_once_however_often_it_runs() {
    use tollgate_app::jobs::{run_job, run_summary};
    use tollgate_domain::{JobName, JobTrigger, UsageCharge};
    let b = Billed::start().await;
    let plan = json!({
        "name": "Metered close", "billing_type": "pay_as_you_go", "price": 0, "overage_price": 50,
        "rate_limit": 6000, "retention_days": 7
    });
    let (_, key, org, plan) = subscribed(&b, "close@example.com", plan).await;
    calls(&b, &key, 4).await;
    reconciled(&b, &org, 4).await;
    // Three more units counted whose report request never reached the worker (lost).
    let store = b.app.state.store.as_ref();
    let period = Period::containing(b.app.clock_now());
    let charge = UsageCharge {
        org_id: org.clone(),
        period: period.key.clone(),
        cost: 3,
        hard_limit: None,
        expires_at: period.end + chrono::Duration::days(400),
        rate: None,
    };
    store.charge(&charge).await.unwrap();

    // The first second of the next period: two overlapping runs and a late one.
    let at = period.end + chrono::Duration::seconds(1);
    let ports = b.app.platform.state.jobs.clone().unwrap();
    let (x, y) = tokio::join!(
        run_job(&ports, JobName::PeriodClose, JobTrigger::Scheduled, at, at),
        run_job(&ports, JobName::PeriodClose, JobTrigger::Manual, at, at),
    );
    let z = run_job(&ports, JobName::PeriodClose, JobTrigger::Manual, at, at).await.unwrap();
    let runs = [run_summary(&x.unwrap()), run_summary(&y.unwrap()), run_summary(&z)];
    for r in &runs {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    let sum = |field: &str| runs.iter().map(|r| r[field].as_u64().unwrap()).sum::<u64>();
    // Each organization (ours, and the admin's) closed by exactly one of the runs; the
    // missing units reported by them at most once (a report request of the usage worker
    // still under way may have reported them first: the meter total below is what counts).
    assert_eq!(sum("closed"), runs[0]["organizations"].as_u64().unwrap(), "{runs:?}");
    assert!(sum("units_reported") <= 3, "{runs:?}");

    let snapshot = store.usage_snapshot(&org, &period.key).await.unwrap().expect("closed");
    assert_eq!((snapshot.counted, snapshot.billable, snapshot.reported), (7, 7, 7));
    let sub = store.subscription_of_org(&org).await.unwrap().unwrap();
    let meter = plan["billing"]["meter_id"].as_str().unwrap();
    let payments = b.app.state.payments.as_deref().unwrap();
    let at_stripe = payments
        .reported_usage(meter, sub.billing.customer_id.as_deref().unwrap(), period.start, period.end)
        .await
        .unwrap();
    assert_eq!(at_stripe, 7, "every unit reached the Stripe fake exactly once");
}

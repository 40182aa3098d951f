//! Revenue analytics on the embedded store, against figures computed by hand: three
//! organizations whose plans admins change month by month through the real routes (new
//! subscriptions, an upgrade, a downgrade, a cancellation, a reactivation), invoices in the
//! billing records, then the MRR movements, churn, revenue per month and plan, the payment
//! success rate, and the revenue report whose CSV says what its JSON says. Then signups,
//! active organizations, the platform's usage and the top customers, from the daily
//! metrics rollup the store keeps as users register and the usage worker records calls.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tollgate_domain::{Id, Invoice, InvoiceStatus, Period, UsageEvent, UsageRecord, UsageSource};
use tollgate_tests::app::{TestApp, TestResponse};

/// `n` months after the month following the test clock's month (the clock only moves
/// forward): the 10th at noon.
fn month(app_start: DateTime<Utc>, n: u32) -> Period {
    let mut p = Period::containing(Period::containing(app_start).end);
    for _ in 0..n {
        p = Period::containing(p.end);
    }
    p
}

fn tenth(p: &Period) -> DateTime<Utc> {
    p.start + Duration::days(9) + Duration::hours(12)
}

/// The organization's subscription id, as the admin listing shows it.
async fn subscription_of(app: &TestApp, admin: &str, email: &str) -> String {
    let user = app.stored_user(email).await;
    let r = app.call(Method::GET, &format!("/api/admin/subscriptions?user_id={}", user.id), None, Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["data"][0]["id"].as_str().expect("a subscription from registration").to_string()
}

async fn put_plan(app: &TestApp, admin: &str, sub: &str, body: Value) {
    let r = app.call(Method::PUT, &format!("/api/admin/subscriptions/{sub}"), Some(body), Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

fn invoice(
    org: &Id,
    n: u32,
    status: InvoiceStatus,
    amount: i64,
    period_start: DateTime<Utc>,
    created: DateTime<Utc>,
) -> Invoice {
    Invoice {
        id: format!("in_analytics{n}"),
        org_id: org.clone(),
        customer_id: "cus_analytics".into(),
        subscription_id: None,
        number: None,
        status,
        amount_due: amount,
        amount_paid: if status == InvoiceStatus::Paid { amount } else { 0 },
        currency: "usd".into(),
        period_start,
        period_end: period_start + Duration::days(30),
        created_at: created,
        hosted_invoice_url: None,
    }
}

async fn get(app: &TestApp, admin: &str, path: &str) -> Value {
    let r = app.call(Method::GET, path, None, Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body
}

/// The report with an `Accept` header.
async fn report_accepting(app: &TestApp, admin: &str, path: &str, accept: &str) -> TestResponse {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::ACCEPT, accept)
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

/// RFC 4180 parsing, enough for the report: quoted fields with doubled quotes, CRLF lines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the last line ends with CRLF");
    rows
}

#[tokio::test]
async fn mrr_movements_churn_revenue_and_the_report_match_hand_computed_figures() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let start = app.clock_now();
    for email in ["a@analytics.example", "b@analytics.example", "c@analytics.example"] {
        app.user(email).await;
    }
    let sub_a = subscription_of(&app, &admin, "a@analytics.example").await;
    let sub_b = subscription_of(&app, &admin, "b@analytics.example").await;
    let sub_c = subscription_of(&app, &admin, "c@analytics.example").await;
    let org = |email: &str| {
        let app = &app;
        let email = email.to_string();
        async move { app.stored_user(&email).await.default_org_id }
    };
    let (org_a, org_b, org_c) =
        (org("a@analytics.example").await, org("b@analytics.example").await, org("c@analytics.example").await);
    let m: Vec<Period> = (0..5).map(|n| month(start, n)).collect();

    // M0: A takes Pro (900), B Business (2900): both new.
    app.clock.set(tenth(&m[0]));
    put_plan(&app, &admin, &sub_a, json!({"plan_id": "plan_pro"})).await;
    put_plan(&app, &admin, &sub_b, json!({"plan_id": "plan_business"})).await;
    // M1: A upgrades to Business (+2000), B downgrades to Pro (-2000).
    app.clock.set(tenth(&m[1]));
    put_plan(&app, &admin, &sub_a, json!({"plan_id": "plan_business"})).await;
    put_plan(&app, &admin, &sub_b, json!({"plan_id": "plan_pro"})).await;
    // M2: B cancels (-900), C takes Pro (+900, new).
    app.clock.set(tenth(&m[2]));
    let r = app.call(Method::POST, &format!("/api/admin/subscriptions/{sub_b}/cancel"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    put_plan(&app, &admin, &sub_c, json!({"plan_id": "plan_pro"})).await;
    // M3: B comes back on Pro (+900, a reactivation); a cancel flag alone moves nothing.
    app.clock.set(tenth(&m[3]));
    put_plan(&app, &admin, &sub_b, json!({"status": "active"})).await;
    put_plan(&app, &admin, &sub_a, json!({"cancel_at_period_end": true})).await;
    // M4: nothing changes; "now" is here.
    app.clock.set(tenth(&m[4]));

    // The billing records: as the provider's webhooks mirror them (the admin invoice route
    // needs a payment provider, which this suite has none of).
    let hour = Duration::hours(1);
    let day = Duration::days(1);
    let invoices = [
        invoice(&org_a, 1, InvoiceStatus::Paid, 900, tenth(&m[0]) + hour, tenth(&m[0]) + day),
        invoice(&org_b, 2, InvoiceStatus::Paid, 2900, tenth(&m[0]) + hour, tenth(&m[0]) + day),
        invoice(&org_a, 3, InvoiceStatus::Paid, 2900, tenth(&m[1]) + hour, tenth(&m[1]) + day),
        invoice(&org_b, 4, InvoiceStatus::Uncollectible, 900, tenth(&m[1]) + hour, tenth(&m[1]) + day),
        invoice(&org_b, 5, InvoiceStatus::Open, 900, m[2].start, m[2].start + hour),
        invoice(&org_c, 6, InvoiceStatus::Paid, 900, tenth(&m[2]) + hour, tenth(&m[2]) + day),
        invoice(&org_a, 7, InvoiceStatus::Paid, 2900, tenth(&m[2]) + hour, tenth(&m[2]) + day),
        invoice(&org_a, 8, InvoiceStatus::Draft, 2900, tenth(&m[3]) + hour, tenth(&m[3]) + day),
        invoice(&org_a, 9, InvoiceStatus::Void, 2900, tenth(&m[3]) + hour, tenth(&m[3]) + day),
        invoice(&org_b, 10, InvoiceStatus::Paid, 900, tenth(&m[3]) + hour, tenth(&m[3]) + day),
    ];
    for i in &invoices {
        app.state.store.upsert_invoice(i).await.unwrap();
    }
    let range = format!("from={}&to={}", m[0].key, m[4].key);

    // MRR: (new, expansion, contraction, churned, reactivation, net, mrr_end) per month.
    let body = get(&app, &admin, &format!("/api/admin/analytics/mrr?{range}")).await;
    assert_eq!((body["from"].as_str(), body["to"].as_str()), (Some(m[0].key.as_str()), Some(m[4].key.as_str())));
    let usd = &body["data"][0];
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "one currency: {body}");
    assert_eq!(
        (usd["currency"].as_str(), usd["mrr"].as_i64(), usd["arr"].as_i64()),
        (Some("usd"), Some(4700), Some(56_400))
    );
    let got: Vec<_> = usd["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let f = |k: &str| x[k].as_i64().unwrap();
            (
                x["month"].as_str().unwrap().to_string(),
                [f("new"), f("expansion"), f("contraction"), f("churned"), f("reactivation"), f("net"), f("mrr_end")],
            )
        })
        .collect();
    let expected = vec![
        (m[0].key.to_string(), [3800, 0, 0, 0, 0, 3800, 3800]),
        (m[1].key.to_string(), [0, 2000, 2000, 0, 0, 0, 3800]),
        (m[2].key.to_string(), [900, 0, 0, 900, 0, 0, 3800]),
        (m[3].key.to_string(), [0, 0, 0, 0, 900, 900, 4700]),
        (m[4].key.to_string(), [0, 0, 0, 0, 0, 0, 4700]),
    ];
    assert_eq!(got, expected);

    // Churn: M1 loses no logo but 2000 of 3800 to contraction; M2 one logo of two and 900.
    let body = get(&app, &admin, &format!("/api/admin/analytics/churn?{range}")).await;
    let months = body["data"][0]["months"].as_array().unwrap();
    let churn: Vec<_> = months
        .iter()
        .map(|x| {
            (
                x["paying_start"].as_u64().unwrap(),
                x["churned_logos"].as_u64().unwrap(),
                x["logo_churn"].as_f64(),
                x["revenue_churn"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        churn,
        vec![
            (0, 0, None, None),
            (2, 0, Some(0.0), Some(2000.0 / 3800.0)),
            (2, 1, Some(0.5), Some(900.0 / 3800.0)),
            (2, 0, Some(0.0), Some(0.0)),
            (3, 0, Some(0.0), Some(0.0)),
        ]
    );

    // Revenue: collected per month, paid and failed invoices, and per plan (the plan at each
    // invoice's period start).
    let body = get(&app, &admin, &format!("/api/admin/analytics/revenue?{range}")).await;
    let usd = &body["data"][0];
    let per_month: Vec<_> = usd["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["collected"].as_i64().unwrap(),
                x["invoices_paid"].as_u64().unwrap(),
                x["invoices_failed"].as_u64().unwrap(),
                x["payment_success_rate"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        per_month,
        vec![
            (3800, 2, 0, Some(1.0)),
            (2900, 1, 1, Some(0.5)),
            (3800, 2, 1, Some(2.0 / 3.0)),
            (900, 1, 0, Some(1.0)),
            (0, 0, 0, None)
        ]
    );
    assert_eq!(
        (usd["collected"].as_i64(), usd["invoices_paid"].as_u64(), usd["invoices_failed"].as_u64()),
        (Some(11_400), Some(6), Some(2))
    );
    assert_eq!(usd["payment_success_rate"].as_f64(), Some(0.75));
    assert_eq!(
        usd["by_plan"],
        json!([
            {"plan_id": "plan_business", "plan_name": "Business", "collected": 8700, "invoices_paid": 3},
            {"plan_id": "plan_pro", "plan_name": "Pro", "collected": 2700, "invoices_paid": 3},
        ])
    );
    assert_eq!(
        usd["months"][1]["by_plan"],
        json!([{"plan_id": "plan_business", "plan_name": "Business", "collected": 2900, "invoices_paid": 1}]),
        "A's invoice of M1 is Business's: its period started after the upgrade"
    );

    // The report: JSON rows, and the same rows as CSV (by `format` and by `Accept`).
    let path = format!("/api/admin/reports/revenue?{range}");
    let json_rows = get(&app, &admin, &path).await["data"].as_array().unwrap().clone();
    assert_eq!(json_rows.len(), 5);
    assert_eq!(
        json_rows[2],
        json!({"month": m[2].key, "currency": "usd", "mrr_end": 3800, "new": 900, "reactivation": 0, "expansion": 0,
               "contraction": 0, "churned": 900, "net": 0, "collected": 3800, "invoices_paid": 2, "invoices_failed": 1})
    );
    let by_format = app.call(Method::GET, &format!("{path}&format=csv"), None, Some(&admin)).await;
    let by_accept = report_accepting(&app, &admin, &path, "text/csv").await;
    for r in [&by_format, &by_accept] {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
        assert_eq!(
            r.headers[header::CONTENT_DISPOSITION].to_str().unwrap(),
            format!("attachment; filename=\"revenue-{}-{}.csv\"", m[0].key, m[4].key)
        );
    }
    assert_eq!(by_format.body, by_accept.body);
    let csv = parse_csv(by_format.body.as_str().expect("CSV text"));
    let header_row = &csv[0];
    assert_eq!(header_row[..3], ["month", "currency", "mrr_end"]);
    let from_csv: Vec<Value> = csv[1..]
        .iter()
        .map(|fields| {
            let obj = header_row
                .iter()
                .zip(fields)
                .map(|(k, v)| {
                    let value = if matches!(k.as_str(), "month" | "currency") {
                        json!(v)
                    } else {
                        json!(v.parse::<i64>().unwrap())
                    };
                    (k.clone(), value)
                })
                .collect::<serde_json::Map<_, _>>();
            Value::Object(obj)
        })
        .collect();
    assert_eq!(from_csv, json_rows, "the CSV says what the JSON says");
    // JSON stays the default for a browser's Accept.
    let r = report_accepting(&app, &admin, &path, "application/json, */*").await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn bad_ranges_are_400_and_non_admins_403() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for path in [
        "/api/admin/analytics/mrr?from=2026-13",
        "/api/admin/analytics/churn?to=26-01",
        "/api/admin/analytics/revenue?from=2026-03&to=2026-01",
        "/api/admin/analytics/mrr?from=2024-01&to=2027-01",
        "/api/admin/reports/revenue?from=2026-01",
        "/api/admin/reports/revenue?to=2026-01",
        "/api/admin/reports/revenue?from=2026-01&to=2026-02&format=xml",
        "/api/admin/reports/revenue?from=2026-01&to=2029-01",
        "/api/admin/analytics/users?from=2026-13-01",
        "/api/admin/analytics/usage?from=2026-02-01&to=2026-01-31",
        "/api/admin/analytics/top-customers?from=2025-01-01&to=2026-02-05",
        "/api/admin/analytics/top-customers?top=0",
        "/api/admin/analytics/usage?top=101",
    ] {
        let r = app.call(Method::GET, path, None, Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{path}: {:?}", r.body);
    }
    // The default range: the last 12 months, zeros on an empty ledger.
    let body = get(&app, &admin, "/api/admin/analytics/mrr").await;
    let months = body["data"][0]["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    assert_eq!(months[11]["month"], Period::containing(app.clock_now()).key.to_string());
    assert_eq!(body["data"][0]["mrr"], 0);

    let (user, _) = app.user("not-admin@analytics.example").await;
    for path in [
        "/api/admin/analytics/mrr",
        "/api/admin/reports/revenue?from=2026-01&to=2026-02",
        "/api/admin/analytics/users",
        "/api/admin/analytics/usage",
        "/api/admin/analytics/top-customers",
    ] {
        let r = app.call(Method::GET, path, None, Some(&user)).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"), "{path}");
    }
}

/// A call of `org` to the built-in echo endpoint (the seeded catalog's) at `when`, as the
/// gateway sends it to the usage worker.
fn echo_call(org: &Id, when: DateTime<Utc>, status: u16, latency_ms: u32) -> UsageEvent {
    UsageEvent {
        id: Id::generate("req").to_string(),
        org_id: org.clone(),
        key_id: Id::from_string("key_analytics"),
        project_id: None,
        source: UsageSource::Proxy,
        endpoint_id: Id::from_string("ep_echo"),
        method: "GET".into(),
        path: "/api/v1/echo/x".into(),
        status,
        latency_ms,
        cost_units: 1,
        ip: None,
        timestamp: when,
        period: Period::containing(when).key,
        metadata: None,
    }
}

#[tokio::test]
async fn signups_active_organizations_usage_and_top_customers_match_hand_computed_figures() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    // Day 0 starts at the second midnight after the clock's start (the admin signed up
    // before it); days 0 and 1 have activity, day 2 none.
    let d0 = tollgate_domain::Granularity::Day.bucket_start(app.clock_now()) + Duration::days(2);
    let (d1, hour) = (d0 + Duration::days(1), Duration::hours(1));
    let key = |d: DateTime<Utc>| d.format("%Y-%m-%d").to_string();
    app.clock.set(d0 + hour * 10);
    app.user("a@top.example").await;
    app.user("b@top.example").await;
    app.clock.set(d1 + hour * 3);
    app.user("c@top.example").await;
    let app_ref = &app;
    let org = |email: &'static str| async move { app_ref.stored_user(email).await.default_org_id };
    let (a, b, c) = (org("a@top.example").await, org("b@top.example").await, org("c@top.example").await);

    // Day 0: A 3 calls (5 ms, 30 ms, a 500 in 700 ms), B one 404 in 12 ms; day 1: A 2 in 5 ms.
    let calls = vec![
        echo_call(&a, d0 + hour, 200, 5),
        echo_call(&a, d0 + hour * 2, 200, 30),
        echo_call(&a, d0 + hour * 3, 500, 700),
        echo_call(&b, d0 + hour * 4, 404, 12),
        echo_call(&a, d1 + hour, 200, 5),
        echo_call(&a, d1 + hour * 2, 200, 5),
    ];
    let expires_at = d1 + Duration::days(30);
    let records: Vec<UsageRecord> = calls.into_iter().map(|event| UsageRecord { event, expires_at }).collect();
    app.state.store.record_usage_batch(&records).await.unwrap();
    // Paid invoices in the range: A 900 usd, B 2900 usd, C 100 eur; an open one and one
    // paid after the range do not count.
    let invoices = [
        invoice(&a, 21, InvoiceStatus::Paid, 900, d0, d0 + hour),
        invoice(&b, 22, InvoiceStatus::Paid, 2900, d0, d1 + hour),
        Invoice { currency: "eur".into(), ..invoice(&c, 23, InvoiceStatus::Paid, 100, d1, d1 + hour * 4) },
        invoice(&a, 24, InvoiceStatus::Open, 5000, d1, d1 + hour * 5),
        invoice(&a, 25, InvoiceStatus::Paid, 7000, d1, d1 + Duration::days(2)),
    ];
    for i in &invoices {
        app.state.store.upsert_invoice(i).await.unwrap();
    }
    app.clock.set(d1 + Duration::days(2));
    let range = format!("from={}&to={}", key(d0), key(d0 + Duration::days(2)));

    let body = get(&app, &admin, &format!("/api/admin/analytics/users?{range}")).await;
    assert_eq!(
        body,
        json!({"from": key(d0), "to": key(d0 + Duration::days(2)), "signups": 3, "days": [
            {"day": key(d0), "signups": 2, "active_organizations": 2},
            {"day": key(d1), "signups": 1, "active_organizations": 1},
            {"day": key(d1 + Duration::days(1)), "signups": 0, "active_organizations": 0},
        ]})
    );

    let body = get(&app, &admin, &format!("/api/admin/analytics/usage?{range}")).await;
    let f = |k: &str| body[k].clone();
    assert_eq!(
        [f("calls"), f("status_2xx"), f("status_4xx"), f("status_5xx"), f("error_rate")],
        [json!(6), json!(4), json!(1), json!(1), json!(0.3333)]
    );
    // Latencies 5, 5, 5, 12, 30, 700 in buckets <=5, <=25, <=50, <=1000: the 3rd is 5, the
    // 6th 1000.
    assert_eq!([f("p50_ms"), f("p95_ms"), f("p99_ms")], [json!(5), json!(1000), json!(1000)]);
    assert_eq!(f("granularity"), json!("day"));
    let series: Vec<_> =
        body["timeseries"].as_array().unwrap().iter().map(|p| (p["count"].clone(), p["errors"].clone())).collect();
    assert_eq!(series, [(json!(4), json!(2)), (json!(2), json!(0)), (json!(0), json!(0))], "one point per day");
    let top = &body["top_endpoints"];
    assert_eq!(top.as_array().unwrap().len(), 1, "{top}");
    assert_eq!((top[0]["endpoint_id"].clone(), top[0]["count"].clone()), (json!("ep_echo"), json!(6)));

    let body = get(&app, &admin, &format!("/api/admin/analytics/top-customers?{range}")).await;
    let calls: Vec<_> =
        body["by_calls"].as_array().unwrap().iter().map(|c| (c["org_id"].clone(), c["calls"].clone())).collect();
    assert_eq!(calls, [(json!(a), json!(5)), (json!(b), json!(1))]);
    assert_eq!(body["by_calls"][0]["owner_email"], "a@top.example");
    let revenue: Vec<_> = body["by_revenue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let leaders: Vec<_> =
                r["customers"].as_array().unwrap().iter().map(|c| (c["org_id"].clone(), c["amount"].clone())).collect();
            (r["currency"].clone(), leaders)
        })
        .collect();
    assert_eq!(
        revenue,
        [
            (json!("eur"), vec![(json!(c), json!(100))]),
            (json!("usd"), vec![(json!(b), json!(2900)), (json!(a), json!(900))]),
        ]
    );
    let body = get(&app, &admin, &format!("/api/admin/analytics/top-customers?{range}&top=1")).await;
    assert_eq!(body["by_calls"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["by_revenue"][1]["customers"],
        json!([{"org_id": b, "name": body["by_revenue"][1]["customers"][0]["name"], "owner_email": "b@top.example", "amount": 2900, "invoices": 1}])
    );
}

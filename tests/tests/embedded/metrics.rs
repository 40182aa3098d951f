//! `GET /metrics` on the local server: the figures move with the traffic, and only a
//! loopback client or an admin may read them. The registry is global to this test binary,
//! so every check compares a scrape before with one after.

use axum::http::{header, Method, StatusCode};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tollgate_http::metrics::sample_value;
use tollgate_tests::app::{gateway_request, request, with_ip, TestApp};

use crate::gateway::{put_on_plan, user_with_key};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

/// A scrape from a loopback client: the text.
async fn scrape(app: &TestApp) -> String {
    let r = app.send(request(Method::GET, "/metrics", None, None, Some(LOOPBACK))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
    r.body.as_str().expect("a text body").to_string()
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample_value(text, name, labels).unwrap_or(0.0)
}

#[tokio::test]
async fn requests_decisions_queues_and_workers_show_in_the_scrape() {
    let app = TestApp::new().await;
    let (_, key, org) = user_with_key(&app, "metrics@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.monthly_limit = Some(1)).await;
    let decision = |text: &str, d: &str| value(text, "tollgate_gateway_decisions_total", &[("decision", d)]);
    let gateway = |text: &str, class: &str| {
        value(text, "tollgate_http_requests_total", &[("group", "gateway"), ("status_class", class)])
    };
    let latencies = |text: &str| value(text, "tollgate_http_request_duration_seconds_count", &[("group", "gateway")]);
    let before = scrape(&app).await;

    let allowed = app.send(gateway_request(Method::GET, "/api/v1/echo/a", Some(&key), None)).await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.body);
    let refused = app.send(gateway_request(Method::GET, "/api/v1/echo/b", Some(&key), None)).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"));
    let no_key = app.send(gateway_request(Method::GET, "/api/v1/echo/c", None, None)).await;
    assert_eq!(no_key.status, StatusCode::UNAUTHORIZED);

    let after = scrape(&app).await;
    assert!(decision(&after, "allowed") - decision(&before, "allowed") >= 1.0, "{after}");
    assert!(decision(&after, "over_quota") - decision(&before, "over_quota") >= 1.0, "{after}");
    assert!(decision(&after, "unauthorized") - decision(&before, "unauthorized") >= 1.0, "{after}");
    assert!(gateway(&after, "2xx") - gateway(&before, "2xx") >= 1.0);
    assert!(gateway(&after, "4xx") - gateway(&before, "4xx") >= 2.0);
    assert!(latencies(&after) - latencies(&before) >= 3.0);
    assert!(after.contains("# TYPE tollgate_http_request_duration_seconds histogram"));
    assert!(after.contains("tollgate_http_request_duration_seconds_bucket{group=\"gateway\",le=\"+Inf\"}"));
    assert!(!after.contains(&key) && !after.contains("echo"), "no key or path in the figures");
    for queue in ["usage", "notifications", "stripe-events"] {
        for gauge in
            ["tollgate_queue_depth", "tollgate_queue_oldest_message_age_seconds", "tollgate_queue_dead_letters"]
        {
            assert!(sample_value(&after, gauge, &[("queue", queue)]).is_some(), "{gauge}{{queue={queue}}}: {after}");
        }
    }

    // The call meter records the allowed call's event within moments, and says so: the held
    // event leaves this app's usage queue, and the meter's count (this app's) has moved.
    let recorded = |text: &str| value(text, "tollgate_call_meter_recorded_events_total", &[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = scrape(&app).await;
        let drained = value(&now, "tollgate_queue_depth", &[("queue", "usage")]) == 0.0;
        if drained && recorded(&now) > recorded(&before) {
            assert!(value(&now, "tollgate_call_meter_transactions_total", &[]) >= 1.0, "{now}");
            break;
        }
        assert!(Instant::now() < deadline, "the recorded event never showed: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn only_loopback_clients_and_admins_may_scrape() {
    let app = TestApp::new().await;
    let remote = app.send(request(Method::GET, "/metrics", None, None, Some(REMOTE))).await;
    assert_eq!((remote.status, remote.code()), (StatusCode::FORBIDDEN, "admin_required"), "{:?}", remote.body);
    let unknown = app.send(request(Method::GET, "/metrics", None, None, None)).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN, "no peer address is not loopback");

    let (user, _) = app.user("not-admin@example.com").await;
    let as_user = app.send(request(Method::GET, "/metrics", None, Some(&user), Some(REMOTE))).await;
    assert_eq!((as_user.status, as_user.code()), (StatusCode::FORBIDDEN, "admin_required"));

    let admin = app.admin_token().await;
    let as_admin = app.send(request(Method::GET, "/metrics", None, Some(&admin), Some(REMOTE))).await;
    assert_eq!(as_admin.status, StatusCode::OK, "{:?}", as_admin.body);
    assert!(as_admin.body.as_str().is_some_and(|t| t.contains("# TYPE tollgate_http_requests_total counter")));

    let loopback_v6 = app
        .send(with_ip(request(Method::GET, "/metrics", None, None, None), IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])))
        .await;
    assert_eq!(loopback_v6.status, StatusCode::OK);
}

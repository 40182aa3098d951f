//! The metered gateway end to end on the embedded store: keys, limits, exact quotas,
//! forwarding, usage events and quota alerts.

use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{json, Value};
use std::time::Instant;
use tollgate_domain::{BillingType, Id, Plan, QueueName, Store, Subscription};
use tollgate_tests::app::{gateway_request, recording_upstream, with_ip, TestApp};

/// Registers a user, creates a key; returns (access token, key secret, org id).
pub(crate) async fn user_with_key(app: &TestApp, email: &str) -> (String, String, Id) {
    let (access, _) = app.user(email).await;
    let r = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let profile = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    (
        access,
        r.body["secret"].as_str().unwrap().to_string(),
        Id::from_string(profile.body["organization_id"].as_str().unwrap()),
    )
}

/// Puts the organization on a new plan made by `f` from Free.
pub(crate) async fn put_on_plan(store: &dyn Store, org: &Id, f: impl FnOnce(&mut Plan)) -> Plan {
    let now = chrono::Utc::now();
    let mut plan = Plan::defaults(now).remove(0);
    plan.id = Id::generate("plan");
    plan.name = format!("test {}", plan.id);
    plan.rate_limit = 100_000;
    f(&mut plan);
    store.create_plan(&plan).await.unwrap();
    let mut sub: Subscription = store.subscription_of_org(org).await.unwrap().expect("subscription from registration");
    sub.plan_id = plan.id.clone();
    store.update_subscription(&sub).await.unwrap();
    plan
}

#[tokio::test]
async fn echo_call_is_metered_and_logged() {
    let app = TestApp::new().await;
    let (access, key, _) = user_with_key(&app, "echo@example.com").await;
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/hello?x=1", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["path"], "hello");
    assert_eq!(r.body["query"], "x=1");
    assert!(r.body["headers"].get("x-api-key").is_none(), "the key is not forwarded");
    assert!(r.body["headers"]["x-tollgate-key-id"].as_str().is_some_and(|k| k.starts_with("key_")));
    for h in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-quota-limit",
        "x-quota-remaining",
        "x-quota-used",
        "x-quota-reset",
        "x-request-id",
    ] {
        assert!(r.headers.contains_key(h), "{h} missing");
    }
    assert_eq!(r.headers["x-quota-used"], "1");
    assert_eq!(r.headers["x-quota-limit"], "1000");
    // Authorization: Bearer works too.
    app.clock.advance(Duration::seconds(1));
    let mut req = gateway_request(Method::GET, "/api/v1/echo/again", None, None);
    req.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::OK);

    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(summary.body["used"], 2, "{:?}", summary.body);
    // The usage worker records the events within seconds.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let d = app.call(Method::GET, "/api/user/usage/detailed", None, Some(&access)).await;
        if d.body["data"].as_array().is_some_and(|a| a.len() == 2) {
            assert_eq!(d.body["data"][0]["path"], "/api/v1/echo/again");
            assert_eq!(d.body["data"][1]["status"], 200);
            // The worker also moves the key's last use forward, after the batch.
            let newest = d.body["data"][0]["timestamp"].clone();
            loop {
                let keys = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
                if keys.body["data"][0]["last_used_at"] == newest {
                    break;
                }
                assert!(Instant::now() < deadline, "last_used_at not updated: {:?}", keys.body);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            break;
        }
        assert!(Instant::now() < deadline, "usage not logged within 5 s: {:?}", d.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bad_keys_are_refused_with_clear_401s() {
    let app = TestApp::new().await;
    let (_, key, _) = user_with_key(&app, "keys@example.com").await;
    let call = |k: Option<String>| app.send(gateway_request(Method::GET, "/api/v1/echo/x", k.as_deref(), None));
    let r = call(None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_api_key"));
    let r = call(Some("sk_live_nope".into())).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let r = call(Some(String::from_utf8(typo).unwrap())).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let unknown = tollgate_domain::NewApiKey::generate().plaintext;
    let r = call(Some(unknown)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
    let r = app.send(gateway_request(Method::GET, "/api/v1/nothing/here", Some(&key), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.send(gateway_request(Method::POST, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "echo is GET only");
}

#[tokio::test]
async fn revocation_takes_effect_within_five_seconds() {
    let app = TestApp::new().await;
    let (access, key, _) = user_with_key(&app, "revoke@example.com").await;
    assert_eq!(app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status, StatusCode::OK);
    let list = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    let id = list.body["data"][0]["id"].as_str().unwrap().to_string();
    let revoked_at = Instant::now();
    app.call(Method::DELETE, &format!("/api/user/api-keys/{id}"), None, Some(&access)).await;
    loop {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(r.code(), "key_revoked");
            break;
        }
        assert!(revoked_at.elapsed() < std::time::Duration::from_millis(5200), "still accepted after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn expired_keys_and_suspended_owners_are_refused() {
    let app = TestApp::new().await;
    let (access, _, _) = user_with_key(&app, "exp@example.com").await;
    let soon = chrono::Utc::now() + Duration::hours(1);
    let r = app
        .call(Method::POST, "/api/user/api-keys", Some(json!({"name": "exp", "expires_at": soon})), Some(&access))
        .await;
    let expiring = r.body["secret"].as_str().unwrap().to_string();
    assert_eq!(
        app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&expiring), None)).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::hours(2));
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&expiring), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "key_expired"));

    let app = TestApp::with_cache_ttl(std::time::Duration::from_millis(50)).await;
    let (_, key, _) = user_with_key(&app, "sus@example.com").await;
    app.suspend("sus@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_suspended"));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = TestApp::new().await;
    let (_, key, org) = user_with_key(&app, "rate@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.rate_limit = 5).await;
    let mut last = None;
    for _ in 0..6 {
        last = Some(app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await);
    }
    let r = last.unwrap();
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(r.headers["ratelimit-limit"], "5");
    assert_eq!(r.headers["ratelimit-remaining"], "0");
    assert!(r.headers.contains_key("retry-after"));
}

/// The headline guarantee: 200 concurrent calls against a quota of 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_is_exact_under_concurrency() {
    let app = TestApp::new().await;
    let (access, key, org) = user_with_key(&app, "quota@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.monthly_limit = Some(50)).await;
    let statuses = tollgate_tests::app::concurrent_calls(&app.router, &key, 200).await;
    let ok = statuses.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let exceeded =
        statuses.iter().filter(|(s, c)| *s == StatusCode::TOO_MANY_REQUESTS && c == "quota_exceeded").count();
    assert_eq!((ok, exceeded), (50, 150), "{statuses:?}");
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(
        (summary.body["used"].as_u64(), summary.body["limit"].as_u64()),
        (Some(50), Some(50)),
        "{:?}",
        summary.body
    );
}

#[tokio::test]
async fn hybrid_plans_keep_serving_and_count_overage() {
    let app = TestApp::new().await;
    let (access, key, org) = user_with_key(&app, "hybrid@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| {
        p.billing_type = BillingType::Hybrid;
        p.monthly_limit = Some(3);
        p.overage_price = Some(100);
    })
    .await;
    for _ in 0..5 {
        assert_eq!(
            app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status,
            StatusCode::OK
        );
    }
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(
        (summary.body["used"].as_u64(), summary.body["overage_units"].as_u64()),
        (Some(5), Some(2)),
        "{:?}",
        summary.body
    );
    assert_eq!(summary.body["projected_cost"], 100, "a base price of 0 plus one started block of 1,000 overage units");
}

#[tokio::test]
async fn quota_alerts_are_mailed_once_per_threshold_with_the_numbers() {
    let app = TestApp::new().await;
    let (_, key, org) = user_with_key(&app, "alerts@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| {
        p.billing_type = BillingType::Hybrid;
        p.monthly_limit = Some(10);
        p.overage_price = Some(1);
    })
    .await;
    for _ in 0..15 {
        app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    }
    // The notifications worker mails the owner, once per threshold.
    let alert_mails = |app: &TestApp| {
        let mut mails: Vec<_> = app
            .outbox()
            .into_iter()
            .filter(|m| m.kind.starts_with("quota.") && m.to.as_str() == "alerts@example.com")
            .collect();
        mails.sort_by(|a, b| a.kind.cmp(&b.kind));
        mails
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while alert_mails(&app).len() < 2 {
        assert!(Instant::now() < deadline, "alert mails after 5 s: {:?}", alert_mails(&app));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mails = alert_mails(&app);
    assert_eq!(
        mails.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        ["quota.exceeded", "quota.threshold_reached"]
    );
    assert!(mails[1].text_body.contains("Used: 8 of 10 units (80.0%)"), "{}", mails[1].text_body);
    assert!(mails[0].text_body.contains("Used: 10 of 10 units (100.0%)"), "{}", mails[0].text_body);
    let period_end = tollgate_domain::Period::containing(app.clock_now()).end.format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(mails[0].text_body.contains(&period_end), "renewal time in {}", mails[0].text_body);
    assert!(mails[1].html_body.as_deref().is_some_and(|h| h.contains("8 of 10 units")));

    // A redelivered notification (same id) is not mailed again.
    let alert = tollgate_domain::QuotaAlert {
        id: format!("alert_{org}_{}_80", tollgate_domain::Period::containing(app.clock_now()).key),
        org_id: org.clone(),
        subscription_id: app.state.store.subscription_of_org(&org).await.unwrap().unwrap().id,
        period: tollgate_domain::Period::containing(app.clock_now()).key,
        threshold_percent: 80,
        used: 8,
        limit: 10,
        at: app.clock_now(),
    };
    let message = tollgate_domain::Notification::Quota(alert).to_message();
    let sender = tollgate_outbound::ReqwestWebhookSender::new(false);
    let webhooks = notifications_worker::Webhooks { sender: &sender, allow_insecure: false };
    let failed = notifications_worker::process_batch(
        app.state.store.as_ref(),
        app.state.mailer.as_ref(),
        webhooks,
        vec![(message.id, message.body), ("junk".into(), "{}".into())],
        app.clock_now(),
    )
    .await;
    assert_eq!(failed, ["junk"], "only the message that is not a notification fails");
    assert_eq!(alert_mails(&app).len(), 2, "no second mail for a redelivered alert");
    assert!(app.queued(QueueName::Notifications).await.is_empty(), "the worker took both");
}

#[tokio::test]
async fn upstream_failures_are_502_or_504_and_counted() {
    let app = TestApp::with_upstream_timeout(std::time::Duration::from_millis(300)).await;
    let (access, key, _) = user_with_key(&app, "upstream@example.com").await;
    // A port nobody listens on, and a server that accepts and never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let admin = app.admin_token().await;
    for (path, upstream) in
        [("/down/{*rest}", format!("http://{closed}")), ("/slow/{*rest}", format!("http://{silent_addr}"))]
    {
        let r = app
            .call(Method::POST, "/api/admin/endpoints", Some(json!({"name": path, "method": "GET", "path": path, "upstream_url": upstream, "cost_units": 1, "public": false})), Some(&admin))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let r = app.send(gateway_request(Method::GET, "/api/v1/down/x", Some(&key), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_GATEWAY, "upstream_unavailable"));
    let r = app.send(gateway_request(Method::GET, "/api/v1/slow/x", Some(&key), None)).await;
    assert_eq!((r.status, r.code()), (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"));
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(summary.body["used"], 2, "calls that reached the upstream step are counted");
}

#[tokio::test]
async fn real_upstream_gets_the_call_without_the_key_and_with_identity_headers() {
    // A tiny upstream that answers with what it received.
    let upstream = axum::Router::new().route(
        "/{*rest}",
        axum::routing::any(|req: axum::extract::Request| async move {
            let headers: serde_json::Map<String, Value> =
                req.headers().iter().map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or("")))).collect();
            let uri = req.uri().to_string();
            let method = req.method().to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
            axum::Json(
                json!({"uri": uri, "method": method, "headers": headers, "body": String::from_utf8_lossy(&body)}),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await.unwrap() });

    let app = TestApp::new().await;
    let (_, key, org) = user_with_key(&app, "proxy@example.com").await;
    let admin = app.admin_token().await;
    let r = app
        .call(Method::POST, "/api/admin/endpoints", Some(json!({"name": "orders", "method": "ANY", "path": "/orders/{*rest}", "upstream_url": format!("http://{addr}/v2"), "cost_units": 3, "public": false})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let mut req =
        gateway_request(Method::POST, "/api/v1/orders/42/items?expand=1", Some(&key), Some(json!({"qty": 2})));
    req.headers_mut().insert("connection", "keep-alive, x-hop".parse().unwrap());
    req.headers_mut().insert("x-hop", "1".parse().unwrap());
    req.headers_mut().insert("x-tollgate-org-id", "org_forged".parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["uri"], "/v2/42/items?expand=1");
    assert_eq!(r.body["method"], "POST");
    assert_eq!(r.body["body"], "{\"qty\":2}");
    let h = &r.body["headers"];
    assert!(h.get("x-api-key").is_none() && h.get("x-hop").is_none());
    assert_eq!(h["x-tollgate-org-id"], org.as_str());
    assert_eq!(r.headers["x-quota-used"], "3", "cost units of the endpoint");
}

#[tokio::test]
async fn public_endpoints_need_no_key_and_are_limited_per_ip() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let r = app
        .call(Method::POST, "/api/admin/endpoints", Some(json!({"name": "status", "method": "GET", "path": "/status", "upstream_url": "builtin:echo", "cost_units": 1, "public": true, "rate_limit": 2})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let from = |ip: &str| with_ip(gateway_request(Method::GET, "/api/v1/status", None, None), ip.parse().unwrap());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.send(from("198.51.100.9")).await.status);
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    assert_eq!(app.send(from("198.51.100.10")).await.status, StatusCode::OK, "limits are per IP");
}

#[tokio::test]
async fn refusals_carry_rate_limit_headers_and_anonymous_floods_are_limited_per_ip() {
    let app = TestApp::new().await;
    let (_, key, _) = user_with_key(&app, "flood@example.com").await;
    // A keyed call to an unknown endpoint still counts against (and reports) the key's limit.
    let r = app.send(gateway_request(Method::GET, "/api/v1/nothing", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers["ratelimit-limit"], "60", "the Free plan's rate");
    // Key guessing from one IP: 60 refusals a minute, then 429 for that IP only.
    let guess = |ip: &str| {
        with_ip(
            gateway_request(
                Method::GET,
                "/api/v1/echo/x",
                Some(&tollgate_domain::NewApiKey::generate().plaintext),
                None,
            ),
            ip.parse().unwrap(),
        )
    };
    for i in 0..60 {
        let r = app.send(guess("192.0.2.1")).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_api_key"), "guess {i}");
        assert!(r.headers.contains_key("ratelimit-remaining"));
    }
    let r = app.send(guess("192.0.2.1")).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(app.send(guess("192.0.2.2")).await.code(), "invalid_api_key", "other IPs are unaffected");
    assert_eq!(app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status, StatusCode::OK);
}

/// Sends `GET <target>` as raw bytes (so no client library normalises the `..` away) and
/// returns the status code and the body.
async fn raw_get(server: std::net::SocketAddr, target: &str, key: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let head = format!("GET {target} HTTP/1.1\r\nHost: gateway.test\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(server).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).to_string()
    })
    .await
    .unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Security: a key holder cannot climb out of an endpoint's upstream base with dot segments
/// or encoded slashes, however they are spelled; the request line goes over a real socket
/// to the local server exactly as written.
#[tokio::test]
async fn the_forwarded_path_never_leaves_the_upstream_base() {
    let (upstream, seen) = recording_upstream().await;
    let app = TestApp::new().await;
    let (access, key, _) = user_with_key(&app, "traversal@example.com").await;
    let admin = app.admin_token().await;
    let endpoint = json!({"name": "svc", "method": "ANY", "path": "/svc/{*rest}", "upstream_url": format!("http://{upstream}/base/v1"), "cost_units": 1, "public": false});
    let r = app.call(Method::POST, "/api/admin/endpoints", Some(endpoint), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    tokio::spawn(tollgate_local::serve(listener, app.platform.app(), std::future::pending()));

    for target in [
        "/api/v1/svc/../../../secret",
        "/api/v1/svc/%2e%2e/%2e%2e/%2e%2e/secret",
        "/api/v1/svc/ok/../../../../secret",
        "/api/v1/svc/%2E%2E/%2E%2E/%2E%2E/secret",
        "/api/v1/svc/.%2e/.%2e/.%2e/secret",
        "/api/v1/svc/..;/..;/..;/secret",
        "/api/v1/svc/ok%2f..%2f..%2f..%2fsecret",
        "/api/v1/svc/ok%5c..%5c..%5csecret",
        "/api/v1/svc/./secret",
    ] {
        let (status, body) = raw_get(server, target, &key).await;
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains("\"invalid_path\""), "{target}: {body}");
    }
    assert!(seen.lock().unwrap().is_empty(), "the upstream was reached: {:?}", seen.lock().unwrap());

    // A plain path still goes through, under the base.
    let (status, body) = raw_get(server, "/api/v1/svc/items/7?x=1", &key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(seen.lock().unwrap().as_slice(), ["/base/v1/items/7?x=1"]);
    // Refused paths are not counted.
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(&access)).await;
    assert_eq!(summary.body["used"], 1, "{:?}", summary.body);
}

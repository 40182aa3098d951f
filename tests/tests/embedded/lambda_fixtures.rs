//! The API Gateway (HTTP API, payload 2.0) fixtures in `events/http/` driven through
//! `lambda_http`'s event parsing and each function's own router, as the Lambda runtime does.

use axum::http::StatusCode;
use axum::Router;
use tollgate_tests::app::{
    lambda_event as event, lambda_event_with, recording_upstream, request, send, TestApp, TestResponse,
};

async fn call(router: Router, name: &str, token: &str) -> TestResponse {
    send(&tollgate_lambda::with_api_gateway_context(router), event(name, token)).await
}

#[tokio::test]
async fn auth_function_fixtures() {
    let app = TestApp::new().await;
    let r = call(auth::router(app.state.clone()), "auth-register.json", "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = call(auth::router(app.state.clone()), "auth-login.json", "").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["access_token"].is_string());
    // API Gateway's request id is the request id of the logs and the response.
    assert_eq!(r.headers["x-request-id"], "bXk02Zq9vIAMEVA=");
    let r = call(auth::router(app.state.clone()), "auth-login-malformed.json", "").await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
    // The source IP reached the audit log.
    let events =
        app.state.store.list_audit(&tollgate_domain::AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    let login = events.iter().find(|e| e.action == "user.login").expect("login audited");
    assert!(login.ip.as_deref().is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok()), "{:?}", login.ip);
}

#[tokio::test]
async fn account_and_api_keys_function_fixtures() {
    let app = TestApp::new().await;
    call(auth::router(app.state.clone()), "auth-register.json", "").await;
    let login = call(auth::router(app.state.clone()), "auth-login.json", "").await;
    let token = login.body["access_token"].as_str().unwrap().to_string();

    let r = call(account::router(app.state.clone()), "account-profile.json", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["email"], "fixture@example.com");
    let r = call(account::router(app.state.clone()), "account-profile.json", "bad-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = call(api_keys::router(app.state.clone()), "api-keys-create.json", &token).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = call(api_keys::router(app.state.clone()), "api-keys-list.json", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"][0]["name"], "fixture key");
    // A route of another group is not served by this function.
    let r = call(api_keys::router(app.state.clone()), "account-profile.json", &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_function_fixtures() {
    let r = call(tollgate_routes::public_router(&[]), "public-health.json", "").await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let r = call(tollgate_routes::public_router(&[]), "public-openapi.json", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["paths"]["/api/user/api-keys"].is_object());
}

#[tokio::test]
async fn gateway_function_fixture() {
    let app = TestApp::new().await;
    let (access, _) = app.user("gw-fixture@example.com").await;
    let key = app
        .call(
            axum::http::Method::POST,
            "/api/user/api-keys",
            Some(serde_json::json!({"name": "fixture"})),
            Some(&access),
        )
        .await;
    let key = key.body["secret"].as_str().unwrap().to_string();
    let router = tollgate_lambda::with_api_gateway_context(gateway::router(app.platform.gateway.clone()));
    let r = send(&router, lambda_event_with("gateway-echo.json", &[("{{API_KEY}}", &key)])).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["path"].as_str(), r.body["query"].as_str()), (Some("hello"), Some("lang=en")));
    // API Gateway's source IP is the client IP passed upstream.
    assert_eq!(r.body["headers"]["x-forwarded-for"], "203.0.113.42");
    assert_eq!(r.headers["x-quota-used"], "1");
    let r = send(&router, lambda_event_with("gateway-echo.json", &[("{{API_KEY}}", "sk_live_bad")])).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_api_key"));
}

/// Metering without the proxy, as API Gateway hands it over: a project made through the
/// api-keys function, a key in it, a batch of calls reported to the gateway function
/// (`track-batch.json`: 3 events, 7 units) and the key verified there with the project's
/// verify secret (`verify.json`).
#[tokio::test]
async fn projects_track_and_verify_function_fixtures() {
    let app = TestApp::new().await;
    call(auth::router(app.state.clone()), "auth-register.json", "").await;
    let login = call(auth::router(app.state.clone()), "auth-login.json", "").await;
    let token = login.body["access_token"].as_str().unwrap().to_string();
    // Free allows the default project only.
    let org = app.stored_user("fixture@example.com").await.default_org_id;
    let plan = crate::gateway::put_on_plan(app.state.store.as_ref(), &org, |p| p.max_projects = 2).await;

    let keys = api_keys::router(app.state.clone());
    let r = call(keys.clone(), "projects-create.json", &token).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["name"].as_str(), r.body["default"].as_bool()), (Some("fixture project"), Some(false)));
    let project = r.body["id"].as_str().unwrap().to_string();
    let post = |path: String, body| request(axum::http::Method::POST, &path, body, Some(&token), None);
    let key =
        send(&keys, post(format!("/api/user/projects/{project}/api-keys"), Some(serde_json::json!({"name": "srv"}))))
            .await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    let key = key.body["secret"].as_str().unwrap().to_string();

    let gateway = tollgate_lambda::with_api_gateway_context(gateway::router(app.platform.gateway.clone()));
    let r = send(&gateway, lambda_event_with("track-batch.json", &[("{{API_KEY}}", &key)])).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!((r.body["accepted"].as_u64(), r.body["rejected"].as_u64()), (Some(3), Some(0)));
    assert_eq!(r.body["counted_units"], 7);
    assert_eq!(r.headers["x-quota-used"], "7");
    // Events without a client id are named after API Gateway's request id; a client id is
    // namespaced by the organization.
    assert_eq!(r.body["results"][0]["id"], "bXk07trackBA=.0");
    assert_eq!(r.body["results"][1]["id"], format!("{org}:call-7f3a-0002"));

    let secret = send(&keys, post(format!("/api/user/projects/{project}/verify-secret"), None)).await;
    assert_eq!(secret.status, StatusCode::CREATED, "{:?}", secret.body);
    let secret = secret.body["verify_secret"].as_str().unwrap().to_string();
    let verify =
        |secret: &str| lambda_event_with("verify.json", &[("{{VERIFY_SECRET}}", secret), ("{{API_KEY}}", &key)]);
    let r = send(&gateway, verify(&secret)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["valid"].as_bool(), r.body["code"].as_str()), (Some(true), Some("ok")), "{:?}", r.body);
    // The batch's 7 units and this verification's 1.
    assert_eq!(r.body["remaining"].as_u64(), plan.monthly_limit.map(|l| l - 8));
    assert_eq!(r.body["plan"]["id"], plan.id.as_str());
    let r = send(&gateway, verify("pvs_0000000000000000000000000000000000000000")).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
}

/// The gateway function never forwards a path that climbs out of the endpoint's base, as
/// API Gateway hands it over (`rawPath` as the client sent it). `lambda_http` resolves plain
/// and `%2e` dot segments while it builds the request (such a path then no longer starts with
/// `/api/v1/svc`); what it leaves (encoded slashes, `..;`) the gateway refuses.
#[tokio::test]
async fn gateway_function_refuses_path_traversal() {
    let (upstream, seen) = recording_upstream().await;
    let app = TestApp::new().await;
    let (access, _) = app.user("gw-traversal@example.com").await;
    let key = app
        .call(axum::http::Method::POST, "/api/user/api-keys", Some(serde_json::json!({"name": "k"})), Some(&access))
        .await;
    let key = key.body["secret"].as_str().unwrap().to_string();
    let admin = app.admin_token().await;
    let endpoint = serde_json::json!({"name": "svc", "method": "ANY", "path": "/svc/{*rest}", "upstream_url": format!("http://{upstream}/base/v1"), "cost_units": 1, "public": false});
    let r = app.call(axum::http::Method::POST, "/api/admin/endpoints", Some(endpoint), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let router = tollgate_lambda::with_api_gateway_context(gateway::router(app.platform.gateway.clone()));
    let call = |traversal: &str| {
        send(
            &router,
            lambda_event_with("gateway-traversal.json", &[("{{API_KEY}}", &key), ("{{TRAVERSAL}}", traversal)]),
        )
    };
    for traversal in ["ok%2F..%2F..%2Fsecret", "..;/..;/..;/secret", "ok%5c..%5c..%5csecret", "%2e%2e;/secret"] {
        let r = call(traversal).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_path"), "{traversal}: {:?}", r.body);
    }
    for resolved in ["../../../secret", "%2e%2e/%2e%2e/%2e%2e/secret", "ok/../../../../secret"] {
        let r = call(resolved).await;
        assert!(r.status.is_client_error(), "{resolved}: {:?}", r.body);
    }
    assert!(seen.lock().unwrap().is_empty(), "the upstream was reached: {:?}", seen.lock().unwrap());
    let r = call("items/7").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(seen.lock().unwrap().as_slice(), ["/base/v1/items/7"]);
}

#[tokio::test]
async fn usage_billing_and_admin_function_fixtures() {
    let app = TestApp::new().await;
    let (access, _) = app.user("metering-fixture@example.com").await;
    let r = call(usage::router(app.state.clone()), "usage-summary.json", &access).await;
    assert_eq!((r.status, r.body["used"].as_u64()), (StatusCode::OK, Some(0)), "{:?}", r.body);
    let r = call(billing::router(app.state.clone()), "billing-subscription.json", &access).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["plan"]["name"], "Free");
    let r = call(billing::router(app.state.clone()), "billing-plans.json", "").await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(3));
    // The plan catalog is the admin-billing function's (admin's routes call no Stripe).
    let r = call(admin::billing_router(app.state.clone()), "admin-plans-list.json", &access).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"));
    let admin_token = app.admin_token().await;
    let r = call(admin::billing_router(app.state.clone()), "admin-plans-list.json", &admin_token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = call(admin::router(app.state.clone()), "admin-plans-list.json", &admin_token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not admin's: {:?}", r.body);
}

/// The notifications worker's SQS fixture through the Lambda glue: the quota alert is
/// mailed (to the outbox here, SES on Lambda) with its numbers, the body that is not a
/// notification is the one failure reported, and the same event again mails nothing.
#[tokio::test]
async fn notifications_worker_fixture_mails_the_alert_and_reports_the_poison_message() {
    let app = TestApp::new().await;
    let (access, _) = app.user("notified@example.com").await;
    let profile = app.call(axum::http::Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    let org = tollgate_domain::Id::from_string(profile.body["organization_id"].as_str().unwrap());
    let subscription =
        tollgate_app::current_subscription(app.state.store.as_ref(), &org, app.clock_now()).await.unwrap().0;
    let period = tollgate_domain::Period::containing(app.clock_now()).key;
    let raw = std::fs::read_to_string(format!("{}/../events/sqs/notifications-batch.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("{{ORG_ID}}", org.as_str())
        .replace("{{SUBSCRIPTION_ID}}", subscription.id.as_str())
        .replace("{{PERIOD}}", period.as_str());
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&raw).unwrap();
    let sender = tollgate_outbound::ReqwestWebhookSender::new(false);
    let handle = |event| {
        let (app, sender) = (&app, &sender);
        tollgate_lambda::sqs::handle_batch(event, move |messages| {
            notifications_worker::process_batch(
                app.state.store.as_ref(),
                app.state.mailer.as_ref(),
                notifications_worker::Webhooks { sender, allow_insecure: false },
                messages,
                app.clock_now(),
            )
        })
    };
    let response = handle(event.clone()).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, ["9e8f7a6b-5c4d-4e3f-8a2b-1c0d9e8f7a65"]);
    let mails = || -> Vec<_> { app.outbox().into_iter().filter(|m| m.kind == "quota.threshold_reached").collect() };
    assert_eq!(mails().len(), 1);
    assert!(mails()[0].text_body.contains("Used: 800 of 1,000 units (80.0%)"), "{}", mails()[0].text_body);
    assert_eq!(mails()[0].to.as_str(), "notified@example.com");
    handle(event).await;
    assert_eq!(mails().len(), 1, "a redelivered alert is not mailed again");
}

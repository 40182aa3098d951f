//! Router tests of the metering route groups: `admin` (plans, subscriptions, endpoints),
//! `billing` (price list, the user's subscription) and `usage` (summary, call log,
//! per-endpoint statistics, time series), on the embedded store.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tollgate_domain::{AuditQuery, Id, Period, UsageEvent};
use tollgate_tests::app::TestApp;

/// The user's organization id.
async fn org_of(app: &TestApp, token: &str) -> Id {
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    Id::from_string(r.body["organization_id"].as_str().unwrap())
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(token)).await;
    r.body["id"].as_str().unwrap().to_string()
}

fn names(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, Option<String>)> {
    let events = app.state.store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    events.into_iter().map(|e| (e.action, e.actor_id.map(|a| a.to_string()))).collect()
}

#[tokio::test]
async fn admin_routes_require_the_admin_role() {
    let app = TestApp::new().await;
    let (user, _) = app.user("pleb@example.com").await;
    let routes = [
        (Method::GET, "/api/admin/plans", None),
        (Method::POST, "/api/admin/plans", Some(json!({"name": "X", "price": 0, "rate_limit": 1}))),
        (Method::PUT, "/api/admin/plans/plan_pro", Some(json!({"price": 1}))),
        (Method::DELETE, "/api/admin/plans/plan_pro", None),
        (Method::GET, "/api/admin/subscriptions", None),
        (Method::PUT, "/api/admin/subscriptions/sub_x", Some(json!({"status": "canceled"}))),
        (Method::POST, "/api/admin/subscriptions/sub_x/cancel", None),
        (Method::GET, "/api/admin/endpoints", None),
        (
            Method::POST,
            "/api/admin/endpoints",
            Some(json!({"name": "x", "method": "GET", "path": "/x", "upstream_url": "builtin:echo"})),
        ),
        (Method::PUT, "/api/admin/endpoints/ep_echo", Some(json!({"cost_units": 5}))),
        (Method::DELETE, "/api/admin/endpoints/ep_echo", None),
    ];
    for (method, path, body) in routes {
        let r = app.call(method.clone(), path, body.clone(), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} without a token: {:?}", r.body);
        let r = app.call(method.clone(), path, body, Some(&user)).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"), "{method} {path} as a user");
    }
    // Nothing changed.
    let r = app.call(Method::GET, "/api/plans", None, None).await;
    assert_eq!(names(&r.body), ["Free", "Pro", "Business"]);
    assert_eq!(r.body["data"][1]["price"], 900);
}

#[tokio::test]
async fn the_price_list_is_public_and_shows_active_plans_only() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/api/plans", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(names(&r.body), ["Free", "Pro", "Business"], "cheapest first");
    let free = &r.body["data"][0];
    for field in [
        "name",
        "billing_type",
        "price",
        "currency",
        "rate_limit",
        "burst",
        "monthly_limit",
        "overage_price",
        "retention_days",
        "max_api_keys",
        "features",
        "status",
    ] {
        assert!(free.get(field).is_some(), "plan field {field}");
    }
    assert_eq!((free["monthly_limit"].as_u64(), free["currency"].as_str()), (Some(1000), Some("usd")));

    let admin = app.admin_token().await;
    let r = app
        .call(Method::PUT, "/api/admin/plans/plan_business", Some(json!({"status": "archived"})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(Method::GET, "/api/plans", None, None).await;
    assert_eq!(names(&r.body), ["Free", "Pro"]);
    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&admin)).await;
    assert_eq!(names(&r.body), ["Free", "Pro", "Business"], "the admin sees archived plans");
}

#[tokio::test]
async fn admin_creates_updates_and_deletes_plans() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let admin_id = user_id(&app, &admin).await;

    let plan = json!({
        "name": "Startup", "billing_type": "hybrid", "price": 1900, "currency": "eur", "rate_limit": 300,
        "monthly_limit": 10000, "overage_price": 40, "retention_days": 14, "max_api_keys": 5,
        "features": {"support": "email"}
    });
    let r = app.call(Method::POST, "/api/admin/plans", Some(plan.clone()), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("plan_") && id.len() > 10, "{id}");
    assert_eq!((r.body["status"].as_str(), r.body["burst"].as_u64()), (Some("active"), None));
    assert_eq!(r.body["features"]["support"], "email");

    // Validation: each of these is one bad field.
    let bad = [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"price": -1}),
        json!({"currency": "EUR"}),
        json!({"currency": "euro"}),
        json!({"rate_limit": 0}),
        json!({"rate_limit": 1_000_001}),
        json!({"monthly_limit": 0}),
        json!({"overage_price": -5}),
        json!({"overage_price": null}),
        json!({"retention_days": 0}),
        json!({"retention_days": 3651}),
        json!({"max_api_keys": 1001}),
        json!({"features": [1, 2]}),
    ];
    for patch in bad {
        let mut body = plan.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.call(Method::POST, "/api/admin/plans", Some(body), Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{patch}: {:?}", r.body);
    }
    let r = app
        .call(
            Method::POST,
            "/api/admin/plans",
            Some(json!({"name": "X", "price": 0, "rate_limit": 10, "extra": 1})),
            Some(&admin),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    // Defaults for what is left out.
    let r = app
        .call(
            Method::POST,
            "/api/admin/plans",
            Some(json!({"name": "Tiny", "price": 100, "rate_limit": 10})),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["billing_type"].as_str(), r.body["currency"].as_str()), (Some("subscription"), Some("usd")));
    assert!(r.body["monthly_limit"].is_null(), "unlimited by default");
    let tiny = r.body["id"].as_str().unwrap().to_string();

    // Partial update: only the fields given change; null clears a nullable field.
    let r = app
        .call(
            Method::PUT,
            &format!("/api/admin/plans/{id}"),
            Some(json!({"price": 2500, "monthly_limit": null, "burst": 20})),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["price"].as_i64(), r.body["burst"].as_u64(), r.body["name"].as_str()),
        (Some(2500), Some(20), Some("Startup"))
    );
    assert!(r.body["monthly_limit"].is_null());
    assert_eq!(r.body["overage_price"], 40);
    let r = app
        .call(
            Method::PUT,
            &format!("/api/admin/plans/{id}"),
            Some(json!({"billing_type": "pay_as_you_go", "overage_price": null})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "the whole plan is validated"
    );
    let r = app.call(Method::PUT, "/api/admin/plans/plan_doesnotexist", Some(json!({"price": 1})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.call(Method::PUT, "/api/admin/plans/not-a-plan", Some(json!({"price": 1})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A plan nobody uses is deleted.
    let r = app.call(Method::DELETE, &format!("/api/admin/plans/{tiny}"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["deleted"].as_bool(), r.body["archived"].as_bool()), (Some(true), Some(false)));
    let r = app.call(Method::DELETE, &format!("/api/admin/plans/{tiny}"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A plan with a subscriber is archived instead.
    let (user, _) = app.user("sub@example.com").await;
    let sub = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    let sub_id = sub.body["subscription"]["id"].as_str().unwrap().to_string();
    let r = app
        .call(Method::PUT, &format!("/api/admin/subscriptions/{sub_id}"), Some(json!({"plan_id": id})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.call(Method::DELETE, &format!("/api/admin/plans/{id}"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["deleted"].as_bool(), r.body["archived"].as_bool()), (Some(false), Some(true)));
    assert_eq!(r.body["plan"]["status"], "archived");
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    assert_eq!(r.body["plan"]["name"], "Startup", "the subscriber keeps the archived plan");
    assert!(!names(&app.call(Method::GET, "/api/plans", None, None).await.body).contains(&"Startup".to_string()));

    // The default plan cannot go.
    let r = app.call(Method::DELETE, "/api/admin/plans/plan_free", None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "default_plan"));

    let actions = audit_actions(&app).await;
    for action in ["plan.create", "plan.update", "plan.delete", "plan.archive", "subscription.update"] {
        assert!(
            actions.iter().any(|(a, actor)| a == action && actor.as_deref() == Some(admin_id.as_str())),
            "{action} audited with the admin as actor: {actions:?}"
        );
    }
}

#[tokio::test]
async fn admin_changes_and_cancels_a_subscription() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user("customer@example.com").await;
    let (other, _) = app.user("other@example.com").await;
    let uid = user_id(&app, &user).await;

    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["plan"]["name"], "Free");
    assert_eq!(r.body["subscription"]["status"], "active");
    app.call(Method::GET, "/api/user/subscription", None, Some(&other)).await;

    let r = app.call(Method::GET, &format!("/api/admin/subscriptions?user_id={uid}"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!((data[0]["plan_name"].as_str(), data[0]["plan_id"].as_str()), (Some("Free"), Some("plan_free")));
    let sub_id = data[0]["id"].as_str().unwrap().to_string();
    let r = app.call(Method::GET, "/api/admin/subscriptions", None, Some(&admin)).await;
    assert!(r.body["data"].as_array().unwrap().len() >= 2);
    let r = app.call(Method::GET, "/api/admin/subscriptions?user_id=usr_nobody", None, Some(&admin)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 0);
    let r = app.call(Method::GET, "/api/admin/subscriptions?limit=0", None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"));

    let path = format!("/api/admin/subscriptions/{sub_id}");
    let r = app.call(Method::PUT, &path, Some(json!({"plan_id": "plan_pro"})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["plan_id"].as_str(), r.body["plan_name"].as_str()), (Some("plan_pro"), Some("Pro")));
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    assert_eq!((r.body["plan"]["name"].as_str(), r.body["usage"]["limit"].as_u64()), (Some("Pro"), Some(50_000)));
    let r = app.call(Method::GET, "/api/admin/subscriptions?plan_id=plan_pro", None, Some(&admin)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    let r = app.call(Method::PUT, &path, Some(json!({"plan_id": "plan_nope"})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
    app.call(Method::PUT, "/api/admin/plans/plan_business", Some(json!({"status": "archived"})), Some(&admin)).await;
    let r = app.call(Method::PUT, &path, Some(json!({"plan_id": "plan_business"})), Some(&admin)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        "archived plans take no one new"
    );
    let r = app.call(Method::PUT, &path, Some(json!({})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.call(Method::PUT, &path, Some(json!({"status": "bogus"})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let r = app
        .call(
            Method::PUT,
            "/api/admin/subscriptions/sub_doesnotexist",
            Some(json!({"status": "past_due"})),
            Some(&admin),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));

    let r = app.call(Method::PUT, &path, Some(json!({"status": "past_due"})), Some(&admin)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("past_due")));

    let r = app.call(Method::POST, &format!("{path}/cancel"), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "canceled");
    assert!(r.body["canceled_at"].is_string());
    assert_eq!(r.body["plan_name"], "Pro");
    let again = app.call(Method::POST, &format!("{path}/cancel"), None, Some(&admin)).await;
    assert_eq!(
        (again.status, &again.body["canceled_at"]),
        (StatusCode::OK, &r.body["canceled_at"]),
        "canceling twice is harmless"
    );
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    assert_eq!(r.body["subscription"]["status"], "canceled");
    let r = app.call(Method::POST, "/api/admin/subscriptions/sub_doesnotexist/cancel", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Reactivating clears the cancellation.
    let r = app.call(Method::PUT, &path, Some(json!({"status": "active"})), Some(&admin)).await;
    assert_eq!((r.body["status"].as_str(), r.body["canceled_at"].is_null()), (Some("active"), true));

    // The other user's subscription was never touched.
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&other)).await;
    assert_eq!(
        (r.body["plan"]["name"].as_str(), r.body["subscription"]["status"].as_str()),
        (Some("Free"), Some("active"))
    );
    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "subscription.cancel"));
}

#[tokio::test]
async fn admin_manages_endpoints() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let r = app.call(Method::GET, "/api/admin/endpoints", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"][0]["id"], "ep_echo");

    let weather = json!({"name": "weather", "method": "get", "path": "/weather/{city}", "upstream_url": "https://weather.example.com", "cost_units": 3});
    let r = app.call(Method::POST, "/api/admin/endpoints", Some(weather.clone()), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"), "{id}");
    assert_eq!(
        (r.body["method"].as_str(), r.body["cost_units"].as_u64(), r.body["public"].as_bool()),
        (Some("GET"), Some(3), Some(false))
    );

    let r = app.call(Method::POST, "/api/admin/endpoints", Some(weather.clone()), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "endpoint_exists"), "same method and path");
    for (field, value) in [
        ("path", json!("weather")),
        ("path", json!("/a/{*rest}/b")),
        ("method", json!("FETCH")),
        ("upstream_url", json!("ftp://x")),
        ("cost_units", json!(0)),
        ("name", json!("")),
    ] {
        let mut body = weather.clone();
        body[field] = value.clone();
        body["path"] = if field == "path" { value } else { json!("/other") };
        let r = app.call(Method::POST, "/api/admin/endpoints", Some(body), Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{field}: {:?}", r.body);
    }

    let path = format!("/api/admin/endpoints/{id}");
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"cost_units": 5, "rate_limit": 30, "description": "Forecasts"})),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["cost_units"].as_u64(), r.body["rate_limit"].as_u64(), r.body["path"].as_str()),
        (Some(5), Some(30), Some("/weather/{city}"))
    );
    let r = app.call(Method::PUT, &path, Some(json!({"rate_limit": null})), Some(&admin)).await;
    assert!(r.body["rate_limit"].is_null());
    let r = app.call(Method::PUT, &path, Some(json!({"path": "/echo/{*rest}"})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "endpoint_exists"), "collides with the echo endpoint");
    let r = app.call(Method::PUT, &path, Some(json!({"upstream_url": "nope"})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .call(Method::PUT, "/api/admin/endpoints/ep_doesnotexist", Some(json!({"cost_units": 2})), Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app.call(Method::DELETE, &path, None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = app.call(Method::DELETE, &path, None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/api/admin/endpoints", None, Some(&admin)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let actions = audit_actions(&app).await;
    for action in ["endpoint.create", "endpoint.update", "endpoint.delete"] {
        assert!(actions.iter().any(|(a, _)| a == action), "{action}");
    }
}

#[tokio::test]
async fn a_new_user_is_on_the_free_plan_with_nothing_used() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/api/user/subscription", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (user, _) = app.user("new@example.com").await;
    let r = app.call(Method::GET, "/api/user/subscription", None, Some(&user)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["plan"]["name"], "Free");
    let period = Period::containing(app.clock_now());
    assert_eq!(r.body["period"]["key"], period.key.as_str());
    let u = &r.body["usage"];
    assert_eq!((u["used"].as_u64(), u["limit"].as_u64(), u["percent"].as_f64()), (Some(0), Some(1000), Some(0.0)));
    assert_eq!(
        (u["overage_units"].as_u64(), u["projected_cost"].as_i64(), u["currency"].as_str()),
        (Some(0), Some(0), Some("usd"))
    );

    let r = app.call(Method::GET, "/api/user/usage/summary", None, Some(&user)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["used"].as_u64(), r.body["limit"].as_u64(), r.body["plan_name"].as_str()),
        (Some(0), Some(1000), Some("Free"))
    );
}

/// Records one call as the usage worker would: the log entry, the aggregates and the counter.
#[allow(clippy::too_many_arguments)]
async fn record(
    app: &TestApp,
    n: &mut u32,
    org: &Id,
    key: &str,
    endpoint: &str,
    status: u16,
    latency_ms: u32,
    cost: u32,
    at: DateTime<Utc>,
) {
    *n += 1;
    let period = Period::containing(at);
    let event = UsageEvent {
        id: format!("req_{org}_{n}"),
        org_id: org.clone(),
        key_id: Id::from_string(key),
        project_id: None,
        source: tollgate_domain::UsageSource::Proxy,
        endpoint_id: Id::from_string(endpoint),
        method: "GET".into(),
        path: format!("/api/v1/echo/{n}"),
        status,
        latency_ms,
        cost_units: cost,
        ip: None,
        timestamp: at,
        period: period.key.clone(),
        metadata: None,
    };
    let expires = app.clock_now() + Duration::days(30);
    assert!(app.state.store.record_usage(&event, expires).await.unwrap());
    app.state.store.add_usage(org, &period.key, u64::from(cost), None, expires).await.unwrap();
}

#[tokio::test]
async fn usage_reports_are_correct_and_stay_within_the_tenant() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice@example.com").await;
    let (bob, _) = app.user("bob@example.com").await;
    let (a, b) = (org_of(&app, &alice).await, org_of(&app, &bob).await);
    let period = Period::containing(app.clock_now());
    let t0 = period.start + Duration::hours(1);
    let mut n = 0;
    record(&app, &mut n, &a, "key_a", "ep_echo", 200, 3, 1, t0).await;
    record(&app, &mut n, &a, "key_a", "ep_echo", 200, 40, 1, t0 + Duration::minutes(10)).await;
    record(&app, &mut n, &a, "key_b", "ep_echo", 503, 900, 1, t0 + Duration::minutes(20)).await;
    record(&app, &mut n, &a, "key_a", "ep_gone", 404, 8, 2, t0 + Duration::days(1)).await;
    record(&app, &mut n, &b, "key_c", "ep_echo", 200, 3, 1, t0).await;
    let get = |path: String, token: &str| {
        let token = token.to_string();
        let app = &app;
        async move { app.call(Method::GET, &path, None, Some(&token)).await }
    };

    // Summary: from the period counter.
    let r = get("/api/user/usage/summary".into(), &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["used"].as_u64(), r.body["limit"].as_u64(), r.body["percent"].as_f64()),
        (Some(5), Some(1000), Some(0.5))
    );
    assert_eq!(
        (r.body["period"]["key"].as_str(), r.body["projected_cost"].as_i64()),
        (Some(period.key.as_str()), Some(0))
    );
    let r = get("/api/user/subscription".into(), &alice).await;
    assert_eq!(r.body["usage"]["used"], 5);
    let r = get("/api/user/usage/summary".into(), &bob).await;
    assert_eq!(r.body["used"], 1);

    // The call log: newest first, filters, pagination.
    let ids = |r: &tollgate_tests::app::TestResponse| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
    };
    let r = get("/api/user/usage/detailed".into(), &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(ids(&r).len(), 4);
    assert_eq!(r.body["data"][0]["endpoint_id"], "ep_gone", "newest first");
    assert!(r.body["next_cursor"].is_null());
    assert_eq!(ids(&get("/api/user/usage/detailed?key_id=key_a".into(), &alice).await).len(), 3);
    assert_eq!(ids(&get("/api/user/usage/detailed?key_id=key_unknown".into(), &alice).await).len(), 0);
    assert_eq!(ids(&get("/api/user/usage/detailed?endpoint_id=ep_echo".into(), &alice).await).len(), 3);
    let r = get("/api/user/usage/detailed?status=503".into(), &alice).await;
    assert_eq!((ids(&r).len(), r.body["data"][0]["latency_ms"].as_u64()), (1, Some(900)));
    let from = (t0 + Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (t0 + Duration::minutes(25)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = get(format!("/api/user/usage/detailed?from={from}&to={to}"), &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["data"].as_array().unwrap().iter().map(|e| e["latency_ms"].as_u64().unwrap()).collect::<Vec<_>>(),
        [900, 40]
    );
    let page1 = get("/api/user/usage/detailed?limit=3".into(), &alice).await;
    let cursor = page1.body["next_cursor"].as_str().expect("a next page").to_string();
    let page2 = get(format!("/api/user/usage/detailed?limit=3&cursor={cursor}"), &alice).await;
    assert_eq!(page2.status, StatusCode::OK, "{:?}", page2.body);
    assert!(page2.body["next_cursor"].is_null());
    let mut all = ids(&page1);
    all.extend(ids(&page2));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "pages neither overlap nor skip");
    for bad in ["from=yesterday", "to=2026-13-01", "limit=0", "limit=5000", "status=abc", "cursor=garbage"] {
        let r = get(format!("/api/user/usage/detailed?{bad}"), &alice).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}: {:?}", r.body);
    }
    // Bob sees only his call, whatever he filters on.
    let r = get("/api/user/usage/detailed".into(), &bob).await;
    assert_eq!(ids(&r).len(), 1);
    assert_eq!(r.body["data"][0]["key_id"], "key_c");
    assert_eq!(ids(&get("/api/user/usage/detailed?key_id=key_a".into(), &bob).await).len(), 0);
    let r = get(format!("/api/user/usage/detailed?limit=1&cursor={cursor}"), &bob).await;
    assert!(ids(&r).iter().all(|id| id.contains(b.as_str())), "a cursor does not open another tenant's log");

    // Per endpoint (default range: the current period).
    let r = get("/api/user/usage/by-endpoint".into(), &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let data = r.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{data:?}");
    let echo = &data[0];
    assert_eq!((echo["endpoint_id"].as_str(), echo["name"].as_str()), (Some("ep_echo"), Some("echo")));
    assert_eq!(
        (echo["count"].as_u64(), echo["status_5xx"].as_u64(), echo["cost_units"].as_u64()),
        (Some(3), Some(1), Some(3))
    );
    assert!((echo["error_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 0.001);
    assert_eq!(
        (echo["p50_ms"].as_u64(), echo["p95_ms"].as_u64(), echo["p99_ms"].as_u64()),
        (Some(50), Some(1000), Some(1000))
    );
    assert!((echo["avg_latency_ms"].as_f64().unwrap() - 314.3).abs() < 0.01);
    let gone = &data[1];
    assert_eq!(
        (gone["endpoint_id"].as_str(), gone["count"].as_u64(), gone["error_rate"].as_f64()),
        (Some("ep_gone"), Some(1), Some(1.0))
    );
    assert!(gone["name"].is_null(), "a deleted endpoint has no name");
    let day2 = (period.start + Duration::days(1)).format("%Y-%m-%d");
    let r = get(
        format!("/api/user/usage/by-endpoint?from={day2}&to={}", (period.start + Duration::days(2)).format("%Y-%m-%d")),
        &alice,
    )
    .await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1, "{:?}", r.body);
    let r = get("/api/user/usage/by-endpoint".into(), &bob).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["count"], 1);
    let r = get("/api/user/usage/by-endpoint?from=2020-01-01&to=2026-01-01".into(), &alice).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "more than 400 days");

    // Time series: daily over the period by default, every day present, oldest first.
    let r = get("/api/user/usage/timeseries".into(), &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let points = r.body["data"].as_array().unwrap();
    assert_eq!(points.len() as i64, (period.end - period.start).num_days());
    assert_eq!(points[0]["bucket_start"].as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap()), Some(period.start));
    assert_eq!((points[0]["count"].as_u64(), points[0]["errors"].as_u64()), (Some(3), Some(1)));
    assert_eq!((points[1]["count"].as_u64(), points[1]["cost_units"].as_u64()), (Some(1), Some(2)));
    assert_eq!(points.iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(), 4);
    let hour_to = (period.start + Duration::hours(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = get(
        format!("/api/user/usage/timeseries?granularity=hour&from={}&to={hour_to}", period.start.format("%Y-%m-%d")),
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let counts: Vec<u64> = r.body["data"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, [0, 3, 0]);
    let r = get("/api/user/usage/timeseries".into(), &bob).await;
    assert_eq!(r.body["data"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).sum::<u64>(), 1);
    for bad in [
        "granularity=week",
        "granularity=hour&from=2026-01-01&to=2026-03-01",
        "from=2024-01-01&to=2026-01-01",
        "from=2026-03-01&to=2026-02-01",
    ] {
        let r = get(format!("/api/user/usage/timeseries?{bad}"), &alice).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}: {:?}", r.body);
    }
    for path in ["summary", "detailed", "by-endpoint", "timeseries"] {
        let r = app.call(Method::GET, &format!("/api/user/usage/{path}"), None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

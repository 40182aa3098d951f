//! Usage statistics by project: the `project_id` filter of every `/api/user/usage` route,
//! the sources and labels of by-endpoint rows, and `GET /api/user/usage/analytics`.
//!
//! Calls are recorded straight into the store (`record_usage_batch`, as the usage worker
//! does), with the ids of keys created through the API and the store.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};
use tollgate_domain::{
    tracked_endpoint_id, verify_endpoint_id, ApiKey, Id, NewApiKey, Period, Project, UsageEvent, UsageRecord,
    UsageSource,
};
use tollgate_tests::app::{TestApp, TestResponse};

/// Every usage route, with a query that is valid on each.
const ROUTES: [&str; 5] = ["summary?", "detailed?", "by-endpoint?", "timeseries?granularity=hour&", "analytics?"];

/// The tracked endpoint of the tests.
const USERS: &str = "/users/{id}";

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn get(app: &TestApp, access: &str, path: &str) -> TestResponse {
    app.call(Method::GET, &format!("/api/user/usage/{path}"), None, Some(access)).await
}

/// A signed-up user: their access token and organization.
async fn member(app: &TestApp, email: &str) -> (String, Id) {
    let (access, _) = app.user(email).await;
    let user = app.stored_user(email).await;
    let memberships = app.state.store.memberships_of_user(&user.id).await.unwrap();
    (access, memberships[0].org_id.clone())
}

/// A key created through the API (in the organization's default project).
async fn api_key(app: &TestApp, access: &str, name: &str) -> Id {
    let r = app.call(Method::POST, "/api/user/api-keys", Some(json!({ "name": name })), Some(access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    Id::from_string(r.body["key"]["id"].as_str().unwrap())
}

/// Calls of `key` (of `project`) to `endpoint`; their source follows from the endpoint id.
struct Call<'a> {
    org: &'a Id,
    key: &'a Id,
    project: Option<&'a Id>,
    endpoint: &'a Id,
}

impl Call<'_> {
    /// One call at `when`.
    fn at(&self, when: DateTime<Utc>, status: u16, latency_ms: u32, cost_units: u32) -> UsageEvent {
        let (source, tracked) = tollgate_domain::endpoint_label(self.endpoint);
        let (method, path) = tracked.unwrap_or(("GET", "/api/v1/echo/x"));
        UsageEvent {
            id: Id::generate("req").to_string(),
            org_id: self.org.clone(),
            key_id: self.key.clone(),
            project_id: self.project.cloned(),
            source,
            endpoint_id: self.endpoint.clone(),
            method: method.into(),
            path: path.into(),
            status,
            latency_ms,
            cost_units,
            ip: None,
            timestamp: when,
            period: Period::containing(when).key,
            metadata: None,
        }
    }

    /// `n` calls at `when`, all answered `status` in `latency_ms`.
    fn times(&self, n: usize, when: DateTime<Utc>, status: u16, latency_ms: u32, cost_units: u32) -> Vec<UsageEvent> {
        (0..n).map(|_| self.at(when, status, latency_ms, cost_units)).collect()
    }
}

async fn record(app: &TestApp, events: Vec<UsageEvent>) {
    let expires_at = app.clock_now() + Duration::days(30);
    let records: Vec<UsageRecord> = events.into_iter().map(|event| UsageRecord { event, expires_at }).collect();
    let recorded = app.state.store.record_usage_batch(&records).await.expect("record usage");
    assert!(recorded.iter().all(|r| *r));
}

/// The second day of the current period, midnight UTC: its calls count in the period.
fn test_day(app: &TestApp) -> DateTime<Utc> {
    Period::containing(app.clock_now()).start + Duration::days(1)
}

/// The default project's calls of the day (20 in all, with 2 keys):
/// - the echo endpoint (proxied, key 1) at 10:xx: 3 x 200 in 3 ms, 1 x 500 in 40 ms, 1 unit each;
/// - `track:GET /users/{id}` (key 2) at 11:xx: 10 x 200 in 8 ms, 3 x 404 in 30 ms, 500 in
///   60 ms and 500 in 900 ms, 2 units each;
/// - one verified call (key 1) at 12:xx: 200 in 3 ms, 1 unit.
fn default_project_calls(org: &Id, project: &Id, key1: &Id, key2: &Id, day: DateTime<Utc>) -> Vec<UsageEvent> {
    let echo = Id::from_string("ep_echo");
    let users = tracked_endpoint_id(UsageSource::Track, "GET", USERS);
    let verify = verify_endpoint_id();
    let proxied = Call { org, key: key1, project: Some(project), endpoint: &echo };
    let tracked = Call { org, key: key2, project: Some(project), endpoint: &users };
    let verified = Call { org, key: key1, project: Some(project), endpoint: &verify };
    let (h10, h11, h12) = (day + Duration::hours(10), day + Duration::hours(11), day + Duration::hours(12));
    let mut calls = proxied.times(3, h10, 200, 3, 1);
    calls.push(proxied.at(h10 + Duration::minutes(5), 500, 40, 1));
    calls.extend(tracked.times(10, h11, 200, 8, 2));
    calls.extend(tracked.times(3, h11 + Duration::minutes(1), 404, 30, 2));
    calls.push(tracked.at(h11 + Duration::minutes(2), 500, 60, 2));
    calls.push(tracked.at(h11 + Duration::minutes(3), 500, 900, 2));
    calls.push(verified.at(h12, 200, 3, 1));
    calls
}

/// (endpoint_id, source, name, method, path, count) of by-endpoint rows.
fn rows(data: &Value) -> Vec<(String, String, Value, Value, Value, u64)> {
    data.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["endpoint_id"].as_str().unwrap().to_string(),
                r["source"].as_str().unwrap().to_string(),
                r["name"].clone(),
                r["method"].clone(),
                r["path"].clone(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// (hour of the bucket, count) of the non-empty points of a series.
fn busy_hours(points: &Value) -> Vec<(String, u64)> {
    points
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["count"].as_u64().unwrap() > 0)
        .map(|p| (p["bucket_start"].as_str().unwrap()[11..13].to_string(), p["count"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn analytics_of_the_default_project() {
    let app = TestApp::new().await;
    let (access, org) = member(&app, "analytics@example.com").await;
    let (_, other_org) = member(&app, "other-tenant@example.com").await;
    let project = Project::default_id(&org);
    let (key1, key2) = (api_key(&app, &access, "web").await, api_key(&app, &access, "server").await);
    let day = test_day(&app);
    let mut calls = default_project_calls(&org, &project, &key1, &key2, day);
    // A key no listing of the organization has: its call counts for the organization, in
    // no project (a project's statistics are those of its keys).
    let echo = Id::from_string("ep_echo");
    let unlisted = Id::from_string("key_notlisted");
    let unlisted_call = Call { org: &org, key: &unlisted, project: None, endpoint: &echo };
    calls.push(unlisted_call.at(day + Duration::hours(10), 200, 3, 1));
    // Another organization's calls never show.
    let other_key = Id::from_string("key_othertenant");
    let other_tenant = Call { org: &other_org, key: &other_key, project: None, endpoint: &echo };
    calls.extend(other_tenant.times(7, day + Duration::hours(10), 500, 3, 1));
    record(&app, calls).await;
    let range = format!("from={}&to={}", rfc3339(day), rfc3339(day + Duration::days(1)));
    let of_project = format!("project_id={project}&{range}");

    let r = get(&app, &access, &format!("analytics?{of_project}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let a = &r.body;
    assert_eq!((a["granularity"].clone(), a["project_id"].clone()), (json!("hour"), json!(project.as_str())));
    assert_eq!((a["from"].clone(), a["to"].clone()), (json!(rfc3339(day)), json!(rfc3339(day + Duration::days(1)))));
    let totals = ["calls", "cost_units", "status_2xx", "status_4xx", "status_5xx"].map(|f| a[f].as_u64().unwrap());
    assert_eq!(totals, [20, 35, 14, 3, 3]);
    assert_eq!(
        (a["error_rate_4xx"].as_f64(), a["error_rate_5xx"].as_f64(), a["error_rate"].as_f64()),
        (Some(0.15), Some(0.15), Some(0.3))
    );
    // (4 x 3 + 10 x 8 + 3 x 30 + 40 + 60 + 900) / 20.
    assert_eq!(a["avg_latency_ms"].as_f64(), Some(59.1));
    // Histogram bucket bounds: rank 10 is an 8 ms call, rank 19 the 60 ms one, rank 20 900 ms.
    assert_eq!([&a["p50_ms"], &a["p95_ms"], &a["p99_ms"]], [&json!(10), &json!(75), &json!(1000)]);
    assert_eq!(a["by_source"], json!({"proxy": 4, "track": 15, "verify": 1}));
    let top = rows(&a["top_endpoints"]);
    assert_eq!(
        top,
        [
            ("track:GET /users/{id}".into(), "track".into(), Value::Null, json!("GET"), json!(USERS), 15),
            ("ep_echo".into(), "proxy".into(), json!("echo"), json!("GET"), json!("/echo/{*rest}"), 4),
            (
                "verify:POST /api/v1/verify".into(),
                "verify".into(),
                Value::Null,
                json!("POST"),
                json!("/api/v1/verify"),
                1
            ),
        ]
    );
    let tracked = &a["top_endpoints"][0];
    assert_eq!((tracked["status_4xx"].as_u64(), tracked["error_rate"].as_f64()), (Some(3), Some(0.3333)));
    assert_eq!(a["timeseries"].as_array().unwrap().len(), 24, "one point per hour of the day");
    assert_eq!(busy_hours(&a["timeseries"]), [("10".into(), 4), ("11".into(), 15), ("12".into(), 1)]);

    // `top` cuts the list; the totals stay.
    let r = get(&app, &access, &format!("analytics?{of_project}&top=2")).await;
    assert_eq!(r.body["top_endpoints"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["calls"], 20);

    // The whole organization: the unlisted key's call too, nothing of the other tenant.
    let r = get(&app, &access, &format!("analytics?{range}")).await;
    assert_eq!((r.body["calls"].as_u64(), r.body["project_id"].clone()), (Some(21), Value::Null));
    assert_eq!(r.body["by_source"], json!({"proxy": 5, "track": 15, "verify": 1}));

    // Default range: the current period (hourly); beyond 31 days, daily aggregates.
    let r = get(&app, &access, &format!("analytics?project_id={project}")).await;
    assert_eq!(
        (r.status, r.body["granularity"].clone(), r.body["calls"].as_u64()),
        (StatusCode::OK, json!("hour"), Some(20))
    );
    let long = format!("from={}&to={}", rfc3339(day - Duration::days(40)), rfc3339(day + Duration::days(1)));
    let r = get(&app, &access, &format!("analytics?project_id={project}&{long}")).await;
    assert_eq!((r.body["granularity"].clone(), r.body["calls"].as_u64()), (json!("day"), Some(20)));
    assert_eq!(r.body["timeseries"].as_array().unwrap().len(), 41);
    assert_eq!(r.body["timeseries"][40]["count"], 20);

    // by-endpoint and timeseries: the same rows and points as analytics.
    let r = get(&app, &access, &format!("by-endpoint?{of_project}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(rows(&r.body["data"]), top);
    assert_eq!(r.body["data"], a["top_endpoints"]);
    let r = get(&app, &access, &format!("by-endpoint?{range}")).await;
    assert_eq!(r.body["data"][1]["count"], 5, "the organization's echo calls include the unlisted key's");
    let r = get(&app, &access, &format!("timeseries?granularity=hour&{of_project}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["data"], a["timeseries"]);
    let r = get(&app, &access, &format!("timeseries?granularity=hour&{range}")).await;
    assert_eq!(busy_hours(&r.body["data"])[0], ("10".into(), 5));

    // Summary: the quota is the organization's; the project adds its own calls of the period.
    let whole = get(&app, &access, "summary").await;
    assert_eq!(whole.status, StatusCode::OK, "{:?}", whole.body);
    assert!(whole.body.get("project").is_none(), "{:?}", whole.body);
    let r = get(&app, &access, &format!("summary?project_id={project}")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["project"], json!({"project_id": project.as_str(), "calls": 20, "cost_units": 35}));
    for field in ["used", "limit", "percent", "plan_id"] {
        assert_eq!(r.body[field], whole.body[field], "{field}");
    }

    // The call log takes the project and source filters.
    let r = get(&app, &access, &format!("detailed?project_id={project}&source=track")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = get(&app, &access, "detailed?source=elsewhere").await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{:?}", r.body);
}

/// An id that cannot be a project's is 404 on every route, before any lookup.
#[tokio::test]
async fn an_implausible_project_is_not_found_on_every_route() {
    let app = TestApp::new().await;
    let (access, org) = member(&app, "implausible@example.com").await;
    let default_key = Project::default_id(&org).as_str().replace("prj_", "key_");
    for route in ROUTES {
        for id in ["nope", "prj_", "prj_a-b", "org_abc", default_key.as_str()] {
            let r = get(&app, &access, &format!("{route}project_id={id}")).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{route}{id}: {:?}", r.body);
        }
        // A blank filter is no filter.
        let r = get(&app, &access, &format!("{route}project_id=")).await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {:?}", r.body);
    }
}

#[tokio::test]
async fn bad_ranges_and_tops_are_400() {
    let app = TestApp::new().await;
    let (access, org) = member(&app, "ranges@example.com").await;
    let project = Project::default_id(&org);
    let bad = [
        "from=2026-03-01&to=2026-03-01",
        "from=2026-03-02&to=2026-03-01",
        "from=2025-01-01&to=2026-02-06",
        "from=yesterday",
        "to=2026-13-01",
        "top=0",
        "top=101",
        "top=ten",
    ];
    for query in bad {
        for scope in [String::new(), format!("project_id={project}&")] {
            let r = get(&app, &access, &format!("analytics?{scope}{query}")).await;
            assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{scope}{query}: {:?}", r.body);
        }
    }
    for path in [
        "by-endpoint?from=2026-03-02&to=2026-03-01",
        "timeseries?granularity=hour&from=2026-01-01&to=2026-03-01",
        "detailed?from=2026-03-02&to=2026-03-01",
    ] {
        let r = get(&app, &access, &format!("{path}&project_id={project}")).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{path}: {:?}", r.body);
    }
    for top in [1, 100] {
        let r = get(&app, &access, &format!("analytics?top={top}")).await;
        assert_eq!(r.status, StatusCode::OK, "top={top}: {:?}", r.body);
    }
}

#[tokio::test]
async fn the_spec_documents_the_project_filter_and_analytics() {
    let app = TestApp::new().await;
    let spec = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    let params = |path: &str| -> Vec<String> {
        spec["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    for route in ["summary", "detailed", "by-endpoint", "timeseries", "analytics"] {
        let path = format!("/api/user/usage/{route}");
        assert!(params(&path).contains(&"project_id".to_string()), "{path}");
        let responses = &spec["paths"][path.as_str()]["get"]["responses"];
        assert!(responses["404"].is_object(), "{path}: the 404 of an unknown project");
    }
    assert_eq!(params("/api/user/usage/analytics"), ["project_id", "from", "to", "top"]);
    assert!(params("/api/user/usage/detailed").contains(&"source".to_string()));
    let schemas = &spec["components"]["schemas"];
    assert!(schemas["EndpointUsage"]["properties"]["source"].is_object());
    for field in ["by_source", "top_endpoints", "timeseries", "error_rate_5xx", "p99_ms"] {
        assert!(schemas["UsageAnalytics"]["properties"][field].is_object(), "{field}");
    }
}

/// A key of `project`, stored directly (the key routes do not take a project yet).
async fn key_in(app: &TestApp, org: &Id, project: &Id) -> Id {
    let now = app.clock_now();
    let new = NewApiKey::generate();
    let key = ApiKey {
        id: Id::generate(tollgate_domain::id::prefix::API_KEY),
        org_id: org.clone(),
        project_id: project.clone(),
        created_by: Id::from_string("usr_test"),
        name: "mobile".into(),
        display_prefix: new.display_prefix.clone(),
        last4: new.last4.clone(),
        created_at: now,
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
        rotated_at: None,
        scopes: None,
    };
    app.state.store.create_api_key(&key, &new.current_secret(&key.id, org, now), 10, now).await.expect("create key");
    key.id
}

#[tokio::test]
async fn projects_split_the_statistics() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    let (access, org) = member(&app, "two-projects@example.com").await;
    let default = Project::default_id(&org);
    store.ensure_project(&Project::default_for(&org, now)).await.unwrap();
    let mobile = Project::new(&org, "Mobile", None, now).unwrap();
    store.create_project(&mobile, 10).await.unwrap();
    let (key1, key2) = (api_key(&app, &access, "web").await, api_key(&app, &access, "server").await);
    let mobile_key = key_in(&app, &org, &mobile.id).await;
    let day = test_day(&app);
    let mut calls = default_project_calls(&org, &default, &key1, &key2, day);
    let echo = Id::from_string("ep_echo");
    let orders = tracked_endpoint_id(UsageSource::Track, "POST", "/orders");
    let mobile_proxied = Call { org: &org, key: &mobile_key, project: Some(&mobile.id), endpoint: &echo };
    let mobile_tracked = Call { org: &org, key: &mobile_key, project: Some(&mobile.id), endpoint: &orders };
    calls.extend(mobile_proxied.times(2, day + Duration::hours(9), 200, 3, 1));
    calls.extend(mobile_tracked.times(3, day + Duration::hours(13), 503, 600, 4));
    record(&app, calls).await;
    let range = format!("from={}&to={}", rfc3339(day), rfc3339(day + Duration::days(1)));

    let r = get(&app, &access, &format!("analytics?project_id={}&{range}", mobile.id)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let totals = ["calls", "cost_units", "status_2xx", "status_5xx"].map(|f| r.body[f].as_u64().unwrap());
    assert_eq!(totals, [5, 14, 2, 3]);
    assert_eq!((r.body["error_rate_5xx"].as_f64(), r.body["p99_ms"].as_u64()), (Some(0.6), Some(1000)));
    assert_eq!(r.body["by_source"], json!({"proxy": 2, "track": 3, "verify": 0}));
    let ids: Vec<Value> =
        r.body["top_endpoints"].as_array().unwrap().iter().map(|e| e["endpoint_id"].clone()).collect();
    assert_eq!(ids, [json!("track:POST /orders"), json!("ep_echo")]);
    assert_eq!(busy_hours(&r.body["timeseries"]), [("09".into(), 2), ("13".into(), 3)]);
    let r = get(&app, &access, &format!("analytics?project_id={default}&{range}")).await;
    assert_eq!(r.body["calls"], 20);
    let r = get(&app, &access, &format!("analytics?{range}")).await;
    assert_eq!(r.body["calls"], 25);

    let r = get(&app, &access, &format!("by-endpoint?project_id={}&{range}", mobile.id)).await;
    assert_eq!(
        rows(&r.body["data"])[0],
        ("track:POST /orders".into(), "track".into(), Value::Null, json!("POST"), json!("/orders"), 3)
    );
    let r = get(&app, &access, &format!("timeseries?granularity=hour&project_id={}&{range}", mobile.id)).await;
    assert_eq!(busy_hours(&r.body["data"]), [("09".into(), 2), ("13".into(), 3)]);
    let r = get(&app, &access, &format!("summary?project_id={}", mobile.id)).await;
    assert_eq!(r.body["project"], json!({"project_id": mobile.id.as_str(), "calls": 5, "cost_units": 14}));

    // The call log: the project's calls, of one source.
    let r = get(&app, &access, &format!("detailed?project_id={}", mobile.id)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5, "{:?}", r.body);
    let r = get(&app, &access, &format!("detailed?project_id={}&source=track", mobile.id)).await;
    let logged: Vec<&Value> = r.body["data"].as_array().unwrap().iter().collect();
    assert_eq!(logged.len(), 3);
    assert!(logged.iter().all(|e| e["source"] == "track" && e["project_id"] == mobile.id.as_str()));
    let r = get(&app, &access, &format!("detailed?project_id={default}&source=verify")).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);

    // Another organization's projects (its default one included) and unknown ones are 404.
    let (_, other_org) = member(&app, "someone-else@example.com").await;
    let theirs = Project::new(&other_org, "Theirs", None, now).unwrap();
    store.create_project(&theirs, 10).await.unwrap();
    let their_default = Project::default_id(&other_org);
    for route in ROUTES {
        for id in [theirs.id.as_str(), their_default.as_str(), "prj_doesnotexist"] {
            let r = get(&app, &access, &format!("{route}project_id={id}")).await;
            assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{route}{id}: {:?}", r.body);
        }
        let r = get(&app, &access, &format!("{route}project_id={}", mobile.id)).await;
        assert_eq!(r.status, StatusCode::OK, "{route}: {:?}", r.body);
    }
}

//! The admin dashboard's analytics at a million logged calls: a SQLite data directory gets
//! `orgs` signed-up customers and `calls` calls spread over the last 30 days (recorded as the
//! usage worker records them, so the logs, the aggregates and the daily metrics rollup all
//! hold them), then each `/api/admin/analytics/...` route is timed through the router, in
//! process, over those 30 days. The routes read the rollup and the billing records, never
//! the logs, so their time follows the days and the active organizations, not the calls.

use chrono::{Duration as Days, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_domain::{Id, Role, Store, UsageEvent, UsageRecord, UsageSource};
use tollgate_embedded::SqliteStore;
use tollgate_tests::app::{TempDir, TestApp};

/// The routes timed, and whether each takes the 30 days seeded as its range (the revenue
/// routes take months: their default, the last 12).
pub const ROUTES: [(&str, bool); 6] = [
    ("/api/admin/analytics/users", true),
    ("/api/admin/analytics/usage", true),
    ("/api/admin/analytics/top-customers", true),
    ("/api/admin/analytics/mrr", false),
    ("/api/admin/analytics/revenue", false),
    ("/api/admin/analytics/churn", false),
];

/// One route's times.
pub struct RouteTime {
    pub route: &'static str,
    pub median: Duration,
    pub max: Duration,
}

/// What was seeded and how long each route took.
pub struct AnalyticsBench {
    pub calls: usize,
    pub orgs: usize,
    pub endpoints: usize,
    pub seed: Duration,
    pub routes: Vec<RouteTime>,
}

/// Seeds `calls` calls of `orgs` customers over 30 days on `endpoints` endpoints (batches of
/// 1,000, as the usage worker writes them), then times each route `reps` times.
pub async fn measure(calls: usize, orgs: usize, endpoints: usize, reps: usize) -> AnalyticsBench {
    let dir = TempDir::new("bench-analytics");
    let sqlite = SqliteStore::open(&dir.0.join(tollgate_local::DB_FILE)).expect("sqlite");
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let now = Utc::now();
    let first_day = tollgate_domain::Granularity::Day.bucket_start(now) - Days::days(29);
    let started = Instant::now();
    let mut org_ids = Vec::with_capacity(orgs);
    for i in 0..orgs {
        let (mut user, org, owner) = tollgate_store_contract::new_user(Role::User, first_day + Days::minutes(i as i64));
        user.company_name = Some(format!("Customer {i}"));
        store.create_user(&user, &org, &owner).await.expect("create user");
        org_ids.push(org.id);
    }
    let endpoint_ids: Vec<Id> = (0..endpoints).map(|i| Id::from_string(format!("ep_bench{i}"))).collect();
    let expires_at = now + Days::days(30);
    let span_ms = (now - first_day).num_milliseconds().max(1) as usize;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..calls {
        // Skewed like real traffic: customer `k` gets about 1/(k+1) of the share of the first.
        let org = &org_ids[(i * 7919 % (orgs * orgs)).isqrt() % orgs];
        let timestamp = first_day + Days::milliseconds((i * span_ms / calls) as i64);
        let event = UsageEvent {
            id: tollgate_domain::id::request_id(),
            org_id: org.clone(),
            key_id: Id::from_string(format!("key_{}", org.as_str())),
            project_id: None,
            source: UsageSource::Proxy,
            endpoint_id: endpoint_ids[i % endpoints].clone(),
            method: "GET".into(),
            path: "/api/v1/bench/x".into(),
            status: match i % 50 {
                0 => 500,
                1..=3 => 404,
                _ => 200,
            },
            latency_ms: (i % 400) as u32,
            cost_units: 1,
            ip: None,
            timestamp,
            period: tollgate_domain::Period::containing(timestamp).key,
            metadata: None,
        };
        batch.push(UsageRecord { event, expires_at });
        if batch.len() == 1000 || i + 1 == calls {
            store.record_usage_batch(&batch).await.expect("record usage");
            batch.clear();
        }
    }
    let seed = started.elapsed();
    let app = TestApp::on_store_without_worker(dir, store.clone()).await;
    let admin = app.admin_token().await;
    let range = format!("?from={}&to={}", first_day.format("%Y-%m-%d"), now.format("%Y-%m-%d"));
    let mut routes = Vec::new();
    for (route, takes_days) in ROUTES {
        let path = if takes_days { format!("{route}{range}") } else { route.to_string() };
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            let r = app.call(axum::http::Method::GET, &path, None, Some(&admin)).await;
            times.push(t.elapsed());
            assert_eq!(r.status, axum::http::StatusCode::OK, "{path}: {:?}", r.body);
            if route.ends_with("/usage") {
                assert_eq!(
                    r.body["calls"].as_u64(),
                    Some(calls as u64),
                    "every seeded call is in the platform's usage"
                );
            }
        }
        times.sort();
        routes.push(RouteTime { route, median: times[times.len() / 2], max: times[times.len() - 1] });
    }
    AnalyticsBench { calls, orgs, endpoints, seed, routes }
}

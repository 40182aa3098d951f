//! Cases for `PlanRepository`, `SubscriptionRepository` and `EndpointRepository`.
//!
//! The store may hold the default catalog (Free, Pro, Business, the echo endpoint) and data
//! of other cases: every case uses fresh random ids, paths and organizations, and looks only
//! at what it created.

use crate::{concurrently, now_ms, unique, SharedStore, CONCURRENT_TASKS};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    BillingType, Endpoint, Id, Plan, PlanBillingIds, PlanStatus, RevenueChange, StoreError, Subscription,
    SubscriptionBilling, SubscriptionQuery, SubscriptionStatus, BUILTIN_ECHO,
};

/// A new active subscription-type plan with a unique id `plan_<random>` (not stored yet).
pub fn new_plan(name: &str, price: i64, now: DateTime<Utc>) -> Plan {
    Plan {
        id: Id::generate("plan"),
        name: name.into(),
        description: None,
        billing_type: BillingType::Subscription,
        price,
        currency: "usd".into(),
        rate_limit: 60,
        burst: None,
        monthly_limit: Some(1_000),
        overage_price: None,
        retention_days: 7,
        max_api_keys: 2,
        max_projects: 3,
        features: serde_json::json!({}),
        status: PlanStatus::Active,
        billing: None,
        created_at: now,
        updated_at: now,
    }
}

/// The subscription listing of `org_id` and `plan_id` (None: any), at most `limit`.
fn listing(org_id: Option<&Id>, plan_id: Option<&Id>, limit: u32) -> SubscriptionQuery {
    SubscriptionQuery { org_id: org_id.cloned(), plan_id: plan_id.cloned(), limit, cursor: None }
}

/// A new active subscription of `org_id` to `plan_id` (not stored yet).
pub fn new_subscription(org_id: &Id, plan_id: &Id, now: DateTime<Utc>) -> Subscription {
    Subscription {
        id: Id::generate("sub"),
        org_id: org_id.clone(),
        plan_id: plan_id.clone(),
        status: SubscriptionStatus::Active,
        cancel_at_period_end: false,
        canceled_at: None,
        billing: SubscriptionBilling::default(),
        created_at: now,
        updated_at: now,
    }
}

/// A new endpoint (not stored yet).
pub fn new_endpoint(method: &str, path: &str, now: DateTime<Utc>) -> Endpoint {
    Endpoint {
        id: Id::generate("ep"),
        name: unique("endpoint"),
        description: None,
        method: method.into(),
        path: path.into(),
        upstream_url: BUILTIN_ECHO.into(),
        cost_units: 1,
        rate_limit: None,
        public: false,
        scope: None,
        created_at: now,
        updated_at: now,
    }
}

/// A path no other case or run uses: `/contract-<random>/<rest>`.
fn unique_path(rest: &str) -> String {
    format!("/{}/{rest}", unique("contract"))
}

pub async fn plans_create_get_update_round_trip(store: &SharedStore) {
    let now = now_ms();
    let mut plan = new_plan("Contract Starter", 1_500, now);
    plan.description = Some("For the contract suite".into());
    plan.burst = Some(10);
    plan.features = serde_json::json!({
        "support": ["email", "chat"],
        "sla": "99.9",
        "seats": 3,
        "beta": true,
        "nested": {"x": null}
    });
    store.create_plan(&plan).await.expect("create_plan");
    let got = store.get_plan(&plan.id).await.unwrap();
    assert_eq!(got, Some(plan.clone()), "create/get round trip (features JSON, nullable fields)");
    assert_eq!(got.map(|p| p.max_projects), Some(3), "max_projects round trip");

    let dup = Plan { id: plan.id.clone(), ..new_plan("Another name", 1, now) };
    assert!(
        matches!(store.create_plan(&dup).await, Err(StoreError::AlreadyExists("plan"))),
        "a second plan with the same id is AlreadyExists(\"plan\")"
    );
    assert_eq!(store.get_plan(&plan.id).await.unwrap(), Some(plan.clone()), "a rejected duplicate changes nothing");

    let later = now + Duration::seconds(5);
    let updated = Plan {
        id: plan.id.clone(),
        name: "Contract Scale".into(),
        description: None,
        billing_type: BillingType::Hybrid,
        price: 4_900,
        currency: "eur".into(),
        rate_limit: 1_200,
        burst: None,
        monthly_limit: None,
        overage_price: Some(75),
        retention_days: 90,
        max_api_keys: 25,
        max_projects: 7,
        features: serde_json::json!({"support": "priority", "regions": ["eu", "us"]}),
        status: PlanStatus::Archived,
        billing: Some(PlanBillingIds {
            product_id: "prod_contract".into(),
            base_price_id: Some("price_base".into()),
            meter_id: Some("mtr_contract".into()),
            meter_event_name: Some("tollgate_contract".into()),
            metered_price_id: Some("price_metered".into()),
        }),
        // created_at is kept by update_plan whatever the argument says.
        created_at: later,
        updated_at: later,
    };
    store.update_plan(&updated).await.expect("update_plan");
    let listed = store.list_plans().await.unwrap().into_iter().find(|p| p.id == plan.id).map(|p| p.max_projects);
    assert_eq!(listed, Some(7), "update_plan writes max_projects, list_plans reads it");
    assert_eq!(
        store.get_plan(&plan.id).await.unwrap(),
        Some(Plan { created_at: plan.created_at, ..updated.clone() }),
        "update_plan replaces every field but id and created_at"
    );

    // Back from null to values.
    let again = Plan {
        description: Some("again".into()),
        burst: Some(3),
        monthly_limit: Some(10_000_000_000),
        overage_price: None,
        billing_type: BillingType::PayAsYouGo,
        status: PlanStatus::Active,
        features: serde_json::json!({}),
        billing: None,
        created_at: plan.created_at,
        ..updated.clone()
    };
    store.update_plan(&again).await.expect("update_plan");
    assert_eq!(store.get_plan(&plan.id).await.unwrap(), Some(again), "nullable fields go back from null to values");

    let missing = new_plan("missing", 1, now);
    assert!(
        matches!(store.update_plan(&missing).await, Err(StoreError::NotFound("plan"))),
        "update_plan of a missing plan is NotFound(\"plan\")"
    );
    assert_eq!(store.get_plan(&missing.id).await.unwrap(), None, "a failed update creates nothing");
    assert!(store.delete_plan_if_unused(&plan.id).await.unwrap(), "cleanup");
}

pub async fn plans_list_cheapest_first_ties_by_name(store: &SharedStore) {
    let now = now_ms();
    let tag = unique("order");
    let b = new_plan(&format!("{tag} B"), 2_000, now);
    let a = new_plan(&format!("{tag} A"), 2_000, now);
    let cheap = new_plan(&format!("{tag} Z"), 100, now);
    let mut archived = new_plan(&format!("{tag} C"), 5_000, now);
    archived.status = PlanStatus::Archived;
    for p in [&b, &archived, &a, &cheap] {
        store.create_plan(p).await.expect("create_plan");
    }
    let ids = [a.id.clone(), b.id.clone(), cheap.id.clone(), archived.id.clone()];
    let listed: Vec<Plan> = store.list_plans().await.unwrap().into_iter().filter(|p| ids.contains(&p.id)).collect();
    assert_eq!(listed, vec![cheap, a, b, archived], "cheapest first, ties by name, archived plans included");
    let all = store.list_plans().await.unwrap();
    assert!(
        all.windows(2).all(|w| (w[0].price, &w[0].name) <= (w[1].price, &w[1].name)),
        "the whole list is ordered by price then name"
    );
    for id in &ids {
        assert!(store.delete_plan_if_unused(id).await.unwrap(), "cleanup");
    }
}

pub async fn delete_plan_only_when_unused(store: &SharedStore) {
    let now = now_ms();
    let unused = new_plan("Contract unused", 700, now);
    let used = new_plan("Contract used", 800, now);
    store.create_plan(&unused).await.expect("create_plan");
    store.create_plan(&used).await.expect("create_plan");
    let org = Id::generate(prefix::ORG);
    store.ensure_subscription(&new_subscription(&org, &used.id, now)).await.expect("ensure_subscription");

    assert!(store.delete_plan_if_unused(&unused.id).await.unwrap(), "an unused plan is deleted");
    assert_eq!(store.get_plan(&unused.id).await.unwrap(), None, "deleted");
    assert!(
        matches!(store.delete_plan_if_unused(&unused.id).await, Err(StoreError::NotFound("plan"))),
        "deleting a missing plan is NotFound(\"plan\")"
    );
    assert!(!store.delete_plan_if_unused(&used.id).await.unwrap(), "a plan a subscription refers to is not deleted");
    assert_eq!(store.get_plan(&used.id).await.unwrap(), Some(used), "and stays unchanged");
}

pub async fn subscription_ensure_keeps_the_first(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let first = new_subscription(&org, &Id::generate("plan"), now);
    assert_eq!(store.ensure_subscription(&first).await.unwrap(), first, "the first ensure stores and returns it");
    let second = new_subscription(&org, &Id::generate("plan"), now + Duration::seconds(1));
    assert_eq!(
        store.ensure_subscription(&second).await.unwrap(),
        first,
        "a second ensure returns the first subscription"
    );
    assert_eq!(store.get_subscription(&second.id).await.unwrap(), None, "and stores nothing");
    assert_eq!(store.get_subscription(&first.id).await.unwrap(), Some(first.clone()), "get_subscription by id");
    assert_eq!(store.subscription_of_org(&org).await.unwrap(), Some(first), "subscription_of_org");
    assert_eq!(
        store.subscription_of_org(&Id::generate(prefix::ORG)).await.unwrap(),
        None,
        "an org without a subscription"
    );
    assert_eq!(store.get_subscription(&Id::generate("sub")).await.unwrap(), None, "unknown subscription id");
}

pub async fn subscription_ensure_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let plan = Id::generate("plan");
    let results = concurrently(store, |s, _| {
        let (org, plan) = (org.clone(), plan.clone());
        async move { s.ensure_subscription(&new_subscription(&org, &plan, now)).await.map_err(|e| e.to_string()) }
    })
    .await;
    let first = results[0].clone().expect("ensure_subscription");
    assert!(
        results.iter().all(|r| r.as_ref() == Ok(&first)),
        "all {CONCURRENT_TASKS} concurrent ensures return the same subscription: {results:?}"
    );
    assert_eq!(store.subscription_of_org(&org).await.unwrap(), Some(first.clone()), "the one stored");
    assert_eq!(
        store.list_subscriptions(&listing(Some(&org), None, 0)).await.unwrap(),
        vec![first],
        "exactly one subscription for the org"
    );
}

pub async fn subscriptions_list_filters_and_update(store: &SharedStore) {
    let now = now_ms();
    let plan_a = Id::generate("plan");
    let plan_b = Id::generate("plan");
    let (org1, org2, org3) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let s1 = new_subscription(&org1, &plan_a, now - Duration::seconds(3));
    let s2 = new_subscription(&org2, &plan_a, now - Duration::seconds(2));
    let s3 = new_subscription(&org3, &plan_b, now - Duration::seconds(1));
    for s in [&s1, &s2, &s3] {
        store.ensure_subscription(s).await.expect("ensure_subscription");
    }
    assert_eq!(
        store.list_subscriptions(&listing(None, Some(&plan_a), 0)).await.unwrap(),
        vec![s2.clone(), s1.clone()],
        "plan filter, newest first"
    );
    assert_eq!(store.list_subscriptions(&listing(None, Some(&plan_a), 1)).await.unwrap(), vec![s2.clone()], "limit");
    assert_eq!(store.list_subscriptions(&listing(Some(&org3), None, 0)).await.unwrap(), vec![s3.clone()], "org filter");
    assert_eq!(
        store.list_subscriptions(&listing(Some(&org1), Some(&plan_a), 10)).await.unwrap(),
        vec![s1.clone()],
        "org and plan filters together"
    );
    assert_eq!(
        store.list_subscriptions(&listing(Some(&org1), Some(&plan_b), 10)).await.unwrap(),
        vec![],
        "filters that match nothing"
    );
    let all = store.list_subscriptions(&listing(None, None, 1000)).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].created_at >= w[1].created_at), "unfiltered: newest first");

    let later = now + Duration::seconds(10);
    let updated = Subscription {
        plan_id: plan_b.clone(),
        status: SubscriptionStatus::Canceled,
        cancel_at_period_end: true,
        canceled_at: Some(later),
        billing: SubscriptionBilling {
            customer_id: Some("cus_contract".into()),
            provider_subscription_id: Some("sub_contract".into()),
            current_period_start: Some(now),
            current_period_end: Some(later),
            pending_plan_id: Some(plan_a.clone()),
            past_due_since: Some(later),
        },
        updated_at: later,
        ..s1.clone()
    };
    store.update_subscription(&updated).await.expect("update_subscription");
    assert_eq!(store.get_subscription(&s1.id).await.unwrap(), Some(updated.clone()), "update round trip");
    assert_eq!(
        store.list_subscriptions(&listing(None, Some(&plan_b), 0)).await.unwrap(),
        vec![s3.clone(), updated.clone()],
        "the plan filter follows the update"
    );
    let back = Subscription {
        status: SubscriptionStatus::PastDue,
        cancel_at_period_end: false,
        canceled_at: None,
        billing: SubscriptionBilling { customer_id: Some("cus_contract".into()), ..Default::default() },
        updated_at: later + Duration::seconds(1),
        ..updated
    };
    store.update_subscription(&back).await.expect("update_subscription");
    assert_eq!(store.subscription_of_org(&org1).await.unwrap(), Some(back), "nullable canceled_at goes back to null");
    let missing = new_subscription(&Id::generate(prefix::ORG), &plan_a, now);
    assert!(
        matches!(store.update_subscription(&missing).await, Err(StoreError::NotFound("subscription"))),
        "update of a missing subscription is NotFound(\"subscription\")"
    );
    assert_eq!(store.subscription_of_org(&missing.org_id).await.unwrap(), None, "a failed update creates nothing");
}

pub async fn endpoints_crud_with_unique_method_and_path(store: &SharedStore) {
    let now = now_ms();
    let path = unique_path("items/{id}");
    let mut e1 = new_endpoint("GET", &path, now);
    e1.description = Some("Reads an item".into());
    e1.rate_limit = Some(30);
    e1.upstream_url = "https://upstream.example.com/v2".into();
    e1.cost_units = 3;
    store.create_endpoint(&e1).await.expect("create_endpoint");
    assert_eq!(store.get_endpoint(&e1.id).await.unwrap(), Some(e1.clone()), "create/get round trip");

    let same_route = new_endpoint("GET", &path, now);
    assert!(
        matches!(store.create_endpoint(&same_route).await, Err(StoreError::AlreadyExists("endpoint"))),
        "same method and path is AlreadyExists(\"endpoint\")"
    );
    assert_eq!(store.get_endpoint(&same_route.id).await.unwrap(), None);
    let same_id = Endpoint { id: e1.id.clone(), ..new_endpoint("GET", &unique_path("other"), now) };
    assert!(
        matches!(store.create_endpoint(&same_id).await, Err(StoreError::AlreadyExists("endpoint"))),
        "same id is AlreadyExists(\"endpoint\")"
    );
    assert_eq!(store.get_endpoint(&e1.id).await.unwrap(), Some(e1.clone()), "rejected creates change nothing");

    let e2 = new_endpoint("POST", &path, now);
    store.create_endpoint(&e2).await.expect("same path with another method is fine");

    let later = now + Duration::seconds(5);
    let updated = Endpoint {
        name: unique("renamed"),
        description: None,
        method: "PUT".into(),
        path: unique_path("moved/{*rest}"),
        upstream_url: BUILTIN_ECHO.into(),
        cost_units: 7,
        rate_limit: None,
        public: true,
        // created_at is kept by update_endpoint whatever the argument says.
        created_at: later,
        updated_at: later,
        ..e1.clone()
    };
    store.update_endpoint(&updated).await.expect("update_endpoint");
    assert_eq!(
        store.get_endpoint(&e1.id).await.unwrap(),
        Some(Endpoint { created_at: e1.created_at, ..updated.clone() }),
        "update_endpoint replaces every field but id and created_at"
    );
    let updated = Endpoint { created_at: e1.created_at, ..updated };

    let collide = Endpoint { method: "POST".into(), path: path.clone(), ..updated.clone() };
    assert!(
        matches!(store.update_endpoint(&collide).await, Err(StoreError::AlreadyExists("endpoint"))),
        "updating onto another endpoint's method and path is AlreadyExists(\"endpoint\")"
    );
    assert_eq!(store.get_endpoint(&e1.id).await.unwrap(), Some(updated.clone()), "a rejected update changes nothing");
    // The old route of e1 is free again.
    let reuse = new_endpoint("GET", &path, now);
    store.create_endpoint(&reuse).await.expect("a route freed by an update can be taken");

    let missing = new_endpoint("GET", &unique_path("missing"), now);
    assert!(
        matches!(store.update_endpoint(&missing).await, Err(StoreError::NotFound("endpoint"))),
        "update of a missing endpoint is NotFound(\"endpoint\")"
    );
    assert_eq!(store.get_endpoint(&missing.id).await.unwrap(), None);

    store.delete_endpoint(&e2.id).await.expect("delete_endpoint");
    assert_eq!(store.get_endpoint(&e2.id).await.unwrap(), None, "deleted");
    assert!(
        matches!(store.delete_endpoint(&e2.id).await, Err(StoreError::NotFound("endpoint"))),
        "deleting a missing endpoint is NotFound(\"endpoint\")"
    );
    let again = new_endpoint("POST", &path, now);
    store.create_endpoint(&again).await.expect("a deleted endpoint's route can be taken");
    for e in [&updated, &reuse, &again] {
        store.delete_endpoint(&e.id).await.expect("cleanup");
    }
}

pub async fn endpoints_list_by_path_then_method(store: &SharedStore) {
    let now = now_ms();
    let base = format!("/{}", unique("contract-list"));
    let b_get = new_endpoint("GET", &format!("{base}/b"), now);
    let a_post = new_endpoint("POST", &format!("{base}/a"), now);
    let a_any = new_endpoint("ANY", &format!("{base}/a"), now);
    let a_get = new_endpoint("GET", &format!("{base}/a"), now);
    for e in [&b_get, &a_post, &a_any, &a_get] {
        store.create_endpoint(e).await.expect("create_endpoint");
    }
    let listed: Vec<Endpoint> =
        store.list_endpoints().await.unwrap().into_iter().filter(|e| e.path.starts_with(&base)).collect();
    assert_eq!(listed, vec![a_any.clone(), a_get.clone(), a_post.clone(), b_get.clone()], "by path, then method");
    let all = store.list_endpoints().await.unwrap();
    assert!(
        all.windows(2).all(|w| (&w[0].path, &w[0].method) <= (&w[1].path, &w[1].method)),
        "the whole list is ordered by path then method"
    );
    for e in [&b_get, &a_post, &a_any, &a_get] {
        store.delete_endpoint(&e.id).await.expect("cleanup");
    }
}

/// The ledger rows of `orgs` only (the store may hold other cases' rows).
fn ledger_of(rows: Vec<RevenueChange>, orgs: &[&Id]) -> Vec<RevenueChange> {
    rows.into_iter().filter(|r| orgs.contains(&&r.org_id)).collect()
}

pub async fn revenue_ledger_records_subscription_changes(store: &SharedStore) {
    let t0 = now_ms();
    let day = Duration::days(1);
    let free = new_plan("Contract free", 0, t0);
    let (small, large) = (new_plan("Contract small", 1_000, t0), new_plan("Contract large", 3_000, t0));
    for p in [&free, &small, &large] {
        store.create_plan(p).await.expect("create_plan");
    }
    let (org1, org2) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let orgs = [&org1, &org2];
    let s1 = new_subscription(&org1, &free.id, t0);
    let s2 = new_subscription(&org2, &small.id, t0);
    store.ensure_subscription(&s1).await.expect("ensure free");
    store.ensure_subscription(&s2).await.expect("ensure small");
    // A second ensure of an organization that has one writes nothing.
    store.ensure_subscription(&new_subscription(&org2, &large.id, t0 + day)).await.expect("ensure again");

    let change = |sub: &Subscription, plan: &Plan, status: SubscriptionStatus, at: DateTime<Utc>| Subscription {
        plan_id: plan.id.clone(),
        status,
        canceled_at: (status == SubscriptionStatus::Canceled).then_some(at),
        updated_at: at,
        ..sub.clone()
    };
    let steps = [
        (&large, SubscriptionStatus::Active, t0 + day),      // upgrade: 0 -> 3000
        (&large, SubscriptionStatus::PastDue, t0 + day * 2), // same price: no row
        (&small, SubscriptionStatus::PastDue, t0 + day * 3), // downgrade: 3000 -> 1000
        (&small, SubscriptionStatus::Canceled, t0 + day * 40), // cancellation: 1000 -> 0
        (&small, SubscriptionStatus::Active, t0 + day * 50), // reactivation: 0 -> 1000
    ];
    for (plan, status, at) in steps {
        store.update_subscription(&change(&s1, plan, status, at)).await.expect("update_subscription");
    }
    let row = |org: &Id, at, before, after, plan_before: Option<&Plan>, plan_after: &Plan| RevenueChange {
        org_id: org.clone(),
        at,
        mrr_before: before,
        mrr_after: after,
        currency: "usd".into(),
        plan_before: plan_before.map(|p| p.id.clone()),
        plan_after: plan_after.id.clone(),
    };
    let expected = vec![
        row(&org2, t0, 0, 1_000, None, &small),
        row(&org1, t0 + day, 0, 3_000, Some(&free), &large),
        row(&org1, t0 + day * 3, 3_000, 1_000, Some(&large), &small),
        row(&org1, t0 + day * 40, 1_000, 0, Some(&small), &small),
        row(&org1, t0 + day * 50, 0, 1_000, Some(&small), &small),
    ];
    let all = store.revenue_changes(t0, t0 + day * 51).await.expect("revenue_changes");
    assert_eq!(ledger_of(all, &orgs), expected, "one row per change of MRR or plan, oldest first, across months");
    let first_days = store.revenue_changes(t0, t0 + day).await.unwrap();
    assert_eq!(ledger_of(first_days, &orgs), expected[..1], "`to` is exclusive");
    let middle = store.revenue_changes(t0 + day * 3, t0 + day * 41).await.unwrap();
    assert_eq!(ledger_of(middle, &orgs), expected[2..4], "`from` is inclusive");

    let positions = |at| async move {
        let mut p = ledger_of(store.revenue_positions(at).await.expect("revenue_positions"), &orgs);
        p.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        p
    };
    assert_eq!(positions(t0).await, vec![], "nothing strictly before the first row");
    let mut at_45 = vec![expected[0].clone(), expected[3].clone()];
    at_45.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    assert_eq!(positions(t0 + day * 45).await, at_45, "each organization's latest row before the time");
    let mut at_end = vec![expected[0].clone(), expected[4].clone()];
    at_end.sort_by(|a, b| a.org_id.cmp(&b.org_id));
    assert_eq!(positions(t0 + day * 60).await, at_end);

    let missing = new_subscription(&Id::generate(prefix::ORG), &large.id, t0 + day * 55);
    assert!(matches!(store.update_subscription(&missing).await, Err(StoreError::NotFound("subscription"))));
    let after = store.revenue_changes(t0 + day * 51, t0 + day * 60).await.unwrap();
    assert_eq!(ledger_of(after, &[&missing.org_id]), vec![], "a failed update records nothing");
}

pub async fn endpoint_scope_round_trips_and_clears(store: &SharedStore) {
    let now = now_ms();
    let e = Endpoint { scope: Some("weather".into()), ..new_endpoint("GET", &unique_path("forecast"), now) };
    store.create_endpoint(&e).await.expect("create_endpoint");
    assert_eq!(store.get_endpoint(&e.id).await.unwrap(), Some(e.clone()), "get keeps the scope");
    assert!(store.list_endpoints().await.unwrap().contains(&e), "list keeps the scope");

    let moved = Endpoint { scope: Some("maps.v2:read".into()), updated_at: now + Duration::seconds(1), ..e.clone() };
    store.update_endpoint(&moved).await.expect("update to another scope");
    assert_eq!(store.get_endpoint(&e.id).await.unwrap(), Some(moved.clone()), "update changes the scope");

    let cleared = Endpoint { scope: None, updated_at: now + Duration::seconds(2), ..moved };
    store.update_endpoint(&cleared).await.expect("update clearing the scope");
    assert_eq!(store.get_endpoint(&e.id).await.unwrap(), Some(cleared), "an update without a scope clears it");
    store.delete_endpoint(&e.id).await.expect("clean up");
}

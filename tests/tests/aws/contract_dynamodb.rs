//! The store contract against the DynamoDB adapter, on moto (single-threaded, loopback):
//! one test per case, each on a fresh table; then what only DynamoDB has.
//! Needs Python 3 with `pip install 'moto[server]'`.

use std::sync::Arc;
use tollgate_store_contract::SharedStore;
use tollgate_tests::moto::MotoServer;

/// A fresh table for one case, on the moto server the cases running at the same time share.
async fn fresh_store() -> (SharedStore, Arc<MotoServer>) {
    let moto = MotoServer::shared();
    let store = moto.dynamo_store().await;
    (Arc::new(store), moto)
}

tollgate_store_contract::store_contract_tests!(fresh_store());

/// What the shared contract cannot see: the table's schema, decoding of damaged items, and
/// audit listing across day partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_adapter_specifics() {
    use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
    use chrono::{Duration, Utc};
    use tollgate_domain::{
        AuditEvent, AuditLog, AuditQuery, Id, SessionRepository, StoreError, TokenHash, UserRepository,
    };

    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    let client = moto.dynamodb_client();

    let table = client.describe_table().table_name(store.table()).send().await.unwrap();
    let gsis = table.table().unwrap().global_secondary_indexes();
    assert_eq!(gsis.len(), 1);
    assert_eq!(gsis[0].index_name(), Some("GSI1"));
    let ttl = client.describe_time_to_live().table_name(store.table()).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    // A damaged item is reported as corrupt, naming the attribute, not as a panic or "absent".
    let id = Id::generate("usr");
    client
        .put_item()
        .table_name(store.table())
        .item("PK", AttributeValue::S(format!("USER#{id}")))
        .item("SK", AttributeValue::S("PROFILE".into()))
        .item("id", AttributeValue::S(id.to_string()))
        .send()
        .await
        .unwrap();
    match store.get_user(&id).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("user item"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let unknown = TokenHash::of("never issued");
    let new = tollgate_domain::RefreshToken {
        hash: TokenHash::of("new"),
        family_id: Id::generate("rfm"),
        user_id: id.clone(),
        created_at: Utc::now(),
        expires_at: Utc::now() + Duration::days(1),
        rotated_at: None,
    };
    assert!(matches!(store.rotate_refresh_token(&unknown, &new, Utc::now()).await, Err(StoreError::NotFound(_))));

    // Without an org filter the listing walks day partitions back from `before`.
    let before = Utc::now();
    let days_ago = |d: i64| AuditEvent::new("test.event", before - Duration::days(d));
    let (today, yesterday, last_week) = (days_ago(0), days_ago(1), days_ago(7));
    let today = AuditEvent { at: today.at - Duration::seconds(1), ..today };
    for e in [&last_week, &today, &yesterday] {
        store.record_audit(e).await.unwrap();
    }
    let listed = store.list_audit(&AuditQuery { org_id: None, before: Some(before), limit: 10 }).await.unwrap();
    assert_eq!(listed, vec![today.clone(), yesterday.clone(), last_week.clone()]);
    let listed = store.list_audit(&AuditQuery { org_id: None, before: Some(before), limit: 2 }).await.unwrap();
    assert_eq!(listed, vec![today, yesterday]);
}

/// Catalog and usage details the shared contract cannot see: the plan subscriber counter
/// follows subscriptions that move between plans, and the DynamoDB requests each hot or
/// worker operation makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_catalog_and_usage_specifics() {
    use chrono::{Duration, Utc};
    use tollgate_domain::{
        Id, PeriodKey, PlanRepository, RateWindow, Subscription, SubscriptionRepository, UsageCharge, UsageCounter,
        UsageEvent, UsageIncrement, UsageLog, UsageLogQuery, UsageRecord,
    };
    use tollgate_store_contract::{new_event, new_plan, new_subscription};

    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    // The harness counts exactly (see MotoServer::request_count).
    let requests = || async { moto.request_count() };

    let now = tollgate_store_contract::now_ms();
    let (a, b) = (new_plan("A", 100, now), new_plan("B", 200, now));
    store.create_plan(&a).await.unwrap();
    store.create_plan(&b).await.unwrap();
    let org = Id::generate("org");
    let sub = store.ensure_subscription(&new_subscription(&org, &a.id, now)).await.unwrap();
    assert!(!store.delete_plan_if_unused(&a.id).await.unwrap(), "A has a subscriber");
    let moved = Subscription { plan_id: b.id.clone(), updated_at: now + Duration::seconds(1), ..sub.clone() };
    store.update_subscription(&moved).await.unwrap();
    // An update that keeps the plan leaves the counters alone.
    store.update_subscription(&Subscription { updated_at: now + Duration::seconds(2), ..moved.clone() }).await.unwrap();
    assert!(!store.delete_plan_if_unused(&b.id).await.unwrap(), "the subscriber moved to B");
    assert!(store.delete_plan_if_unused(&a.id).await.unwrap(), "and A is free");
    // A later ensure for the same org loses and adds no subscriber.
    let loser = new_subscription(&org, &b.id, now);
    assert_eq!(store.ensure_subscription(&loser).await.unwrap().id, sub.id);
    store.update_subscription(&Subscription { plan_id: Id::generate("plan"), ..moved }).await.unwrap();
    assert!(store.delete_plan_if_unused(&b.id).await.unwrap(), "counted once, released once");

    // Requests per operation.
    let expires = Utc::now() + Duration::days(7);
    let event: UsageEvent = new_event(&org, &Id::generate("key"), &Id::generate("ep"), now);
    let mut costs = Vec::new();
    let before = requests().await;
    store.add_usage(&org, &PeriodKey::from_string("2026-11"), 1, Some(10), expires).await.unwrap();
    costs.push(("add_usage", requests().await - before, 1));
    let before = requests().await;
    assert!(store.record_usage(&event, expires).await.unwrap());
    costs.push(("record_usage", requests().await - before, 1));
    let before = requests().await;
    assert!(!store.record_usage(&event, expires).await.unwrap());
    costs.push(("record_usage (duplicate)", requests().await - before, 1));
    // A batch of one key and endpoint within an hour: one transaction (50 Puts, 2 updates),
    // also when some ids were recorded before (the transaction is cancelled and retried
    // without them: 2).
    let batch: Vec<UsageRecord> = (0..50)
        .map(|i| UsageRecord {
            event: new_event(&org, &event.key_id, &event.endpoint_id, now + Duration::milliseconds(i + 1)),
            expires_at: expires,
        })
        .collect();
    let before = requests().await;
    assert_eq!(store.record_usage_batch(&batch[..40]).await.unwrap(), vec![true; 40]);
    costs.push(("record_usage_batch (40 events)", requests().await - before, 1));
    let before = requests().await;
    let flags = store.record_usage_batch(&batch).await.unwrap();
    assert_eq!(flags, (0..50).map(|i| i >= 40).collect::<Vec<_>>());
    costs.push(("record_usage_batch (50 events, 40 recorded before)", requests().await - before, 2));

    // Charges with a shared rate window: one conditional write, two for the first charge of
    // a bucket in a minute (the count fails, the window is opened), plus one GetItem when the
    // counter item does not exist yet.
    let period = PeriodKey::from_string("2026-12");
    let window = RateWindow::containing("key:k1", now.timestamp(), 2);
    let charge = |rate: &RateWindow| UsageCharge {
        org_id: org.clone(),
        period: period.clone(),
        cost: 1,
        hard_limit: Some(100),
        expires_at: expires,
        rate: Some(rate.clone()),
    };
    let next = RateWindow { window_start: window.window_start + 60, ..window.clone() };
    let steps = [
        ("charge (first of the period)", &window, UsageIncrement::Counted { used: 1 }, 3),
        ("charge (window open)", &window, UsageIncrement::Counted { used: 2 }, 1),
        ("charge (window full)", &window, UsageIncrement::RateLimited { used: 2 }, 1),
        ("charge (first of the next minute)", &next, UsageIncrement::Counted { used: 3 }, 2),
        ("charge (next minute, open)", &next, UsageIncrement::Counted { used: 4 }, 1),
    ];
    for (op, rate, outcome, want) in steps {
        let before = requests().await;
        assert_eq!(store.charge(&charge(rate)).await.unwrap(), outcome, "{op}");
        costs.push((op, requests().await - before, want));
    }

    let before = requests().await;
    let q = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };
    let (logged, _) = store.query_usage(&q, now).await.unwrap();
    assert_eq!(logged.len(), 51);
    assert_eq!(logged.last(), Some(&event));
    costs.push(("query_usage (one org, one page)", requests().await - before, 1));
    let before = requests().await;
    assert!(store.get_subscription(&sub.id).await.unwrap().is_some());
    costs.push(("get_subscription", requests().await - before, 1));
    let before = requests().await;
    assert!(store.subscription_of_org(&org).await.unwrap().is_some());
    costs.push(("subscription_of_org", requests().await - before, 1));
    println!("DynamoDB requests per operation: {costs:?}");
    for (op, got, want) in costs {
        assert_eq!(got, want, "{op}");
    }
}

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
    let listed = store.list_audit(&AuditQuery { before: Some(before), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed, vec![today.clone(), yesterday.clone(), last_week.clone()]);
    let listed = store.list_audit(&AuditQuery { before: Some(before), limit: 2, ..Default::default() }).await.unwrap();
    assert_eq!(listed, vec![today, yesterday]);
}

/// Teams details the shared contract cannot see: users stored before the listing entries
/// are listed after `backfill_user_listing`; an organization item from before the owner
/// count has one owner; the audit cursor walks across day partitions without an org.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_team_specifics() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use chrono::Duration;
    use tollgate_domain::{AuditEvent, AuditQuery, OrgRole, Role, StoreError, UserQuery};
    use tollgate_store_contract::{add_member, create_team, register};

    let moto = MotoServer::start();
    let dynamo = moto.dynamo_store().await;
    let store: SharedStore = Arc::new(dynamo.clone());
    let client = moto.dynamodb_client();
    let now = tollgate_store_contract::now_ms();
    let key = |pk: String, sk: &str| {
        std::collections::HashMap::from([
            ("PK".to_string(), AttributeValue::S(pk)),
            ("SK".to_string(), AttributeValue::S(sk.to_string())),
        ])
    };

    // A user from before the listing entries: not listed until the backfill.
    let (user, _, _) = register(&store, Role::User, now).await;
    let by_email = UserQuery { q: Some(user.email.to_string()), ..Default::default() };
    assert_eq!(store.users_page(&by_email).await.unwrap().0, vec![user.clone()]);
    for sk in ["BYCREATED", "BYEMAIL"] {
        let k = key(format!("USER#{}", user.id), sk);
        client.delete_item().table_name(dynamo.table()).set_key(Some(k)).send().await.unwrap();
    }
    assert_eq!(store.users_page(&by_email).await.unwrap().0, vec![], "no entries, not listed");
    assert_eq!(dynamo.backfill_user_listing().await.unwrap(), 2, "the two missing entries");
    assert_eq!(store.users_page(&by_email).await.unwrap().0, vec![user.clone()], "listed again");
    assert_eq!(dynamo.backfill_user_listing().await.unwrap(), 0, "idempotent");

    // Organization items without `owners` (from before the count) have one owner.
    let remove_owner_count = |org_id: tollgate_domain::Id| {
        client
            .update_item()
            .table_name(dynamo.table())
            .set_key(Some(key(format!("ORG#{org_id}"), "META")))
            .update_expression("REMOVE #owners")
            .expression_attribute_names("#owners", "owners")
            .send()
    };
    let (owner, org) = create_team(&store, now).await;
    remove_owner_count(org.id.clone()).await.unwrap();
    let result = store.set_member_role(&org.id, &owner.id, OrgRole::Admin).await;
    assert!(matches!(result, Err(StoreError::Conflict("last owner"))), "{result:?}");
    let second = add_member(&store, &org, OrgRole::Owner, now + Duration::seconds(1)).await;
    store.set_member_role(&org.id, &owner.id, OrgRole::Admin).await.expect("one of two owners steps down");
    let result = store.remove_member(&org.id, &second.id).await;
    assert!(matches!(result, Err(StoreError::Conflict("last owner"))), "{result:?}");

    // Without an org the cursor walks day partitions back, one event a page.
    let before = now + Duration::seconds(1);
    let target = tollgate_domain::Id::generate("t").to_string();
    let events: Vec<AuditEvent> = [0, 1, 1, 7]
        .into_iter()
        .map(|d| AuditEvent::new("test.event", now - Duration::days(d)).target(target.clone()))
        .collect();
    for e in &events {
        store.record_audit(e).await.unwrap();
    }
    let mut expected = events.clone();
    expected.sort_by(|x, y| (y.at, &y.id).cmp(&(x.at, &x.id)));
    let mut query = AuditQuery { target: Some(target.clone()), before: Some(before), limit: 1, ..Default::default() };
    let mut walked = Vec::new();
    loop {
        let (page, next) = store.audit_page(&query).await.unwrap();
        walked.extend(page);
        match next {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(walked, expected);
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
    // The transaction, then the metrics rollup's two ADDs (the platform's endpoint-day and
    // the organization's day); a duplicate records nothing and adds nothing to the rollup.
    costs.push(("record_usage", requests().await - before, 3));
    let before = requests().await;
    assert!(!store.record_usage(&event, expires).await.unwrap());
    costs.push(("record_usage (duplicate)", requests().await - before, 1));
    // A batch of one key and endpoint within an hour: one transaction (50 Puts, 2 updates),
    // also when some ids were recorded before (the transaction is cancelled and retried
    // without them: 2), and the rollup's two ADDs.
    let batch: Vec<UsageRecord> = (0..50)
        .map(|i| UsageRecord {
            event: new_event(&org, &event.key_id, &event.endpoint_id, now + Duration::milliseconds(i + 1)),
            expires_at: expires,
        })
        .collect();
    let before = requests().await;
    assert_eq!(store.record_usage_batch(&batch[..40]).await.unwrap(), vec![true; 40]);
    costs.push(("record_usage_batch (40 events)", requests().await - before, 3));
    let before = requests().await;
    let flags = store.record_usage_batch(&batch).await.unwrap();
    assert_eq!(flags, (0..50).map(|i| i >= 40).collect::<Vec<_>>());
    costs.push(("record_usage_batch (50 events, 40 recorded before)", requests().await - before, 4));

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

/// Projects where only DynamoDB can look: a delete interrupted after marking the project
/// `deleting` is finished by the next call; a finished delete leaves a tombstone and no
/// verify-secret lookup item; items written before projects existed (keys without
/// `project_id`, plans without `max_projects`, log entries without `source`) read with their
/// defaults; and the DynamoDB requests each project operation makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_project_specifics() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use chrono::Duration;
    use tollgate_domain::{
        ApiKey, ApiKeyRepository, Id, NewVerifySecret, Plan, PlanRepository, Project, ProjectRepository, StoreError,
        UsageEvent, UsageLog, UsageLogQuery, UsageSource,
    };
    use tollgate_store_contract::{new_event, new_key, new_plan, new_project, now_ms};

    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    let client = moto.dynamodb_client();
    let table = store.table().to_string();
    let requests = || moto.request_count();
    let s = |v: &str| AttributeValue::S(v.to_string());
    // A raw UpdateItem, for what the store never writes itself (an interrupted delete, items
    // from before projects existed).
    let raw_update = |pk: String, sk: String, expr: &'static str, names: Vec<(&'static str, &'static str)>| {
        let mut req =
            client.update_item().table_name(&table).key("PK", s(&pk)).key("SK", s(&sk)).update_expression(expr);
        for (placeholder, attribute) in names {
            req = req.expression_attribute_names(placeholder, attribute);
        }
        req
    };
    let raw_get = |pk: String, sk: String| {
        client.get_item().table_name(&table).key("PK", s(&pk)).key("SK", s(&sk)).consistent_read(true).send()
    };

    let now = now_ms();
    let org = Id::generate("org");
    let mut costs = Vec::new();

    let before = requests();
    let default = store.ensure_project(&Project::default_for(&org, now)).await.unwrap();
    costs.push(("ensure_project (new)", requests() - before, 1));
    let before = requests();
    assert_eq!(store.ensure_project(&Project::default_for(&org, now)).await.unwrap(), default);
    costs.push(("ensure_project (stored already)", requests() - before, 1));
    let secret = NewVerifySecret::generate();
    let p = Project {
        verify_secret_hash: Some(secret.hash.clone()),
        ..new_project(&org, "Doomed", now + Duration::milliseconds(1))
    };
    let before = requests();
    store.create_project(&p, 10).await.unwrap();
    costs.push(("create_project", requests() - before, 1));
    let before = requests();
    assert_eq!(store.find_project_by_verify_secret(&secret.hash).await.unwrap(), Some(p.clone()));
    costs.push(("find_project_by_verify_secret", requests() - before, 1));
    let before = requests();
    assert_eq!(store.get_project(&org, &p.id).await.unwrap(), Some(p.clone()));
    costs.push(("get_project", requests() - before, 1));
    let before = requests();
    assert_eq!(store.list_projects(&org).await.unwrap(), vec![default.clone(), p.clone()]);
    costs.push(("list_projects", requests() - before, 1));
    let before = requests();
    store.update_project(&Project { updated_at: now + Duration::seconds(1), ..p.clone() }).await.unwrap();
    costs.push(("update_project (same secret)", requests() - before, 2));

    let mut keys = Vec::new();
    for i in 0..3 {
        let (mut key, secret) = new_key(&org, now + Duration::milliseconds(i), None);
        key.project_id = p.id.clone();
        let before = requests();
        store.create_api_key(&key, &secret, 10, now).await.unwrap();
        costs.push(("create_api_key", requests() - before, 3));
        keys.push(key);
    }

    // A delete interrupted after its first transaction: the project marked `deleting`, its
    // lookup item gone, the count lowered; one key revoked before the interruption.
    let project_sk = format!("PROJECT#{}", p.id);
    raw_update(
        format!("ORG#{org}"),
        project_sk.clone(),
        "SET #st = :deleting REMOVE verify_secret_hash",
        vec![("#st", "state")],
    )
    .expression_attribute_values(":deleting", s("deleting"))
    .send()
    .await
    .unwrap();
    raw_update(format!("ORG#{org}"), "PROJECTS".into(), "ADD #n :minus", vec![("#n", "n")])
        .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name(&table)
        .key("PK", s(&format!("VERIFYSECRET#{}", secret.hash.as_str())))
        .key("SK", s("VERIFYSECRET"))
        .send()
        .await
        .unwrap();
    store.revoke_api_key(&org, &keys[0].id, now).await.unwrap();

    assert_eq!(store.get_project(&org, &p.id).await.unwrap(), None, "a project being deleted is hidden");
    assert_eq!(store.list_projects(&org).await.unwrap(), vec![default.clone()], "and not listed");
    assert_eq!(store.find_project_by_verify_secret(&secret.hash).await.unwrap(), None);
    let (mut late, late_secret) = new_key(&org, now, None);
    late.project_id = p.id.clone();
    let result = store.create_api_key(&late, &late_secret, 10, now).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "no key in a project being deleted: {result:?}");
    let result = store.ensure_project(&p).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "ensure of a project being deleted: {result:?}");
    let result = store.update_project(&p).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "update of a project being deleted: {result:?}");
    let result = store.create_project(&p, 10).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists("project"))), "its id stays taken: {result:?}");

    // The retried delete revokes the rest and leaves the tombstone: 1 GetItem, 1 Query, per
    // key left a GetItem and a transaction, 1 UpdateItem.
    let at = now + Duration::seconds(2);
    let before = requests();
    assert_eq!(store.delete_project(&org, &p.id, at).await.unwrap(), 2, "the keys the retried delete revoked");
    costs.push(("delete_project (resumed, 2 keys to revoke)", requests() - before, 7));
    for key in &keys {
        let stored = store.get_api_key(&org, &key.id).await.unwrap().unwrap();
        assert!(stored.revoked_at.is_some(), "{} revoked", key.id);
    }
    let pk = format!("ORG#{org}");
    let tombstone = raw_get(pk.clone(), project_sk.clone()).await.unwrap();
    let tombstone = tombstone.item.expect("the deleted project's tombstone is kept");
    assert_eq!(tombstone.get("state"), Some(&s("deleted")));
    assert!(tombstone.contains_key("deleted_at") && !tombstone.contains_key("verify_secret_hash"));
    let count = raw_get(pk.clone(), "PROJECTS".into()).await.unwrap().item.unwrap();
    assert_eq!(count.get("n"), Some(&AttributeValue::N("1".into())), "only the default project counts");
    let result = store.delete_project(&org, &p.id, at).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "a finished delete is not repeated: {result:?}");

    // A delete from the start: 1 GetItem, 1 transaction (mark), 1 Query, 1 UpdateItem; the
    // verify secret's lookup item goes with the mark.
    let s2 = NewVerifySecret::generate();
    let q = Project { verify_secret_hash: Some(s2.hash.clone()), ..new_project(&org, "Short-lived", now) };
    store.create_project(&q, 10).await.unwrap();
    let before = requests();
    assert_eq!(store.delete_project(&org, &q.id, at).await.unwrap(), 0);
    costs.push(("delete_project (no keys)", requests() - before, 4));
    let lookup = raw_get(format!("VERIFYSECRET#{}", s2.hash.as_str()), "VERIFYSECRET".into()).await.unwrap();
    assert!(lookup.item.is_none(), "the verify secret's lookup item is deleted");

    // A key stored before projects existed (no `project_id`) is in the default project.
    let (key, key_secret) = new_key(&org, now, None);
    store.create_api_key(&key, &key_secret, 10, now).await.unwrap();
    raw_update(pk.clone(), format!("APIKEY#{}", key.id), "REMOVE project_id", vec![]).send().await.unwrap();
    raw_update(format!("KEYHASH#{}", key_secret.hash.as_str()), "KEYHASH".into(), "REMOVE project_id", vec![])
        .send()
        .await
        .unwrap();
    let expected = ApiKey { project_id: Project::default_id(&org), ..key.clone() };
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap(), Some(expected.clone()));
    assert_eq!(store.find_api_key_by_hash(&key_secret.hash).await.unwrap().map(|(k, _)| k), Some(expected));

    // A plan stored before projects existed (no `max_projects`) gets the default for its price.
    let plan = new_plan("Old", 900, now);
    store.create_plan(&plan).await.unwrap();
    raw_update(format!("PLAN#{}", plan.id), "PLAN".into(), "REMOVE max_projects", vec![]).send().await.unwrap();
    let read = store.get_plan(&plan.id).await.unwrap().unwrap();
    assert_eq!(read.max_projects, Plan::default_max_projects(&plan.id, 900));
    assert_eq!(read, Plan { max_projects: read.max_projects, ..plan });

    // A log entry written before tracked calls existed (no `source`, no `project_id`) is a
    // proxied call, also for the source filter.
    let expires = now + Duration::days(1);
    let old = new_event(&org, &key.id, &Id::generate("ep"), now);
    let tracked = UsageEvent {
        source: UsageSource::Track,
        metadata: Some(serde_json::json!({"plan": "gold", "n": 3})),
        ..new_event(&org, &key.id, &Id::generate("ep"), now + Duration::milliseconds(1))
    };
    store.record_usage(&old, expires).await.unwrap();
    store.record_usage(&tracked, expires).await.unwrap();
    raw_update(format!("USAGEEVT#{}", old.id), "EVENT".into(), "REMOVE #src, project_id", vec![("#src", "source")])
        .send()
        .await
        .unwrap();
    let old = UsageEvent { project_id: None, ..old };
    let by_source = |source| UsageLogQuery { org_id: Some(org.clone()), source: Some(source), ..Default::default() };
    let (proxied, _) = store.query_usage(&by_source(UsageSource::Proxy), now).await.unwrap();
    assert_eq!(proxied, vec![old.clone()]);
    let (tracked_only, _) = store.query_usage(&by_source(UsageSource::Track), now).await.unwrap();
    assert_eq!(tracked_only, vec![tracked]);

    println!("DynamoDB requests per project operation: {costs:?}");
    for (op, got, want) in costs {
        assert_eq!(got, want, "{op}");
    }
}

/// Retention on DynamoDB is its TTL: the items the SQLite retention pass deletes carry `ttl`
/// (epoch seconds of their expiry), which the shared contract cannot see. Job runs carry
/// their `expires_at`; a refresh family the expiry of its newest token, moved on by rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_expiring_items_carry_ttl() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use chrono::{DateTime, Duration, Utc};
    use tollgate_domain::{Housekeeping, Id, JobName, JobRunRepository, PruneReport, SessionRepository};
    use tollgate_store_contract::{new_family, new_job_run, next_token, now_ms};

    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    let client = moto.dynamodb_client();
    let ttl_of = |pk: String, sk: String| {
        let req = client
            .get_item()
            .table_name(store.table())
            .key("PK", AttributeValue::S(pk))
            .key("SK", AttributeValue::S(sk))
            .consistent_read(true);
        async move {
            let item = req.send().await.unwrap().item.expect("the item exists");
            item.get("ttl").map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
        }
    };
    let secs = |t: DateTime<Utc>| Some(t.timestamp());

    let now = now_ms();
    let run = new_job_run(JobName::Retention, now);
    assert!(store.claim_job_run(&run, now - Duration::minutes(15)).await.unwrap());
    assert_eq!(ttl_of(format!("JOB#{}", run.job), format!("RUN#{}", run.slot)).await, secs(run.expires_at));

    let (family, first) = new_family(&Id::generate("usr"), now);
    store.create_family(&family, &first).await.unwrap();
    assert_eq!(ttl_of(format!("RFAM#{}", family.id), "FAMILY".into()).await, secs(first.expires_at));
    let second = next_token(&family, now + Duration::days(1));
    store.rotate_refresh_token(&first.hash, &second, now + Duration::days(1)).await.unwrap();
    assert_eq!(ttl_of(format!("RFAM#{}", family.id), "FAMILY".into()).await, secs(second.expires_at), "moved on");

    let report = store.prune_expired(now, 100).await.unwrap();
    assert_eq!(report, PruneReport { by_ttl: true, ..Default::default() });
}

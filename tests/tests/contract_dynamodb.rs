//! The store contract against the DynamoDB adapter, on moto (single-threaded, loopback).
//! Needs Python 3 with `pip install 'moto[server]'`.

use std::sync::Arc;
use tollgate_tests::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_meets_the_contract() {
    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    let setup_calls = moto.request_count();

    tollgate_store_contract::run_all(Arc::new(store)).await;

    println!(
        "DynamoDB calls made by the contract suite: {}",
        moto.request_count() - setup_calls
    );
}

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
    let ttl = client
        .describe_time_to_live()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
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
    assert!(matches!(
        store.rotate_refresh_token(&unknown, &new, Utc::now()).await,
        Err(StoreError::NotFound(_))
    ));

    // Without an org filter the listing walks day partitions back from `before`.
    let before = Utc::now();
    let days_ago = |d: i64| AuditEvent::new("test.event", before - Duration::days(d));
    let (today, yesterday, last_week) = (days_ago(0), days_ago(1), days_ago(7));
    let today = AuditEvent {
        at: today.at - Duration::seconds(1),
        ..today
    };
    for e in [&last_week, &today, &yesterday] {
        store.record_audit(e).await.unwrap();
    }
    let listed = store
        .list_audit(&AuditQuery {
            org_id: None,
            before: Some(before),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![today.clone(), yesterday.clone(), last_week.clone()]);
    let listed = store
        .list_audit(&AuditQuery {
            org_id: None,
            before: Some(before),
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![today, yesterday]);
}

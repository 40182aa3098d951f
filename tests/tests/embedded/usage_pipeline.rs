//! The usage pipeline after the gateway: usage events through the queue into the usage
//! worker, on both targets.
//!
//! - The SQS fixtures in `events/sqs/` through `usage_worker::process_batch` and through the
//!   Lambda handler (`handle_sqs_event`, partial batch failures).
//! - The local durable queue (`SqliteQueue`) drained by the local server's worker until
//!   empty: good events recorded once, the poison message dead-lettered after 5 attempts.
//!
//! `SqsQueue` (the AWS adapter of the `Queue` port) against moto's SQS is in the AWS tests
//! (`tests/aws/sqs_queue.rs`).

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tollgate_domain::{
    AggregateQuery, Granularity, Id, Queue, QueueMessage, QueueName, Store, Subscription, SubscriptionStatus,
    UsageEvent, UsageLogQuery,
};
use tollgate_embedded::SqliteQueue;
use tollgate_local::workers::{drain_usage_once, spawn_usage_worker_with, UsageWorkerConfig};
use tollgate_tests::app::TestApp;

/// The organization every fixture event belongs to.
const FIXTURE_ORG: &str = "org_7Hq2mK9xLp3vRt8wYz1a";
const POISON_MESSAGE_ID: &str = "f3b2a1c0-9e8d-4c7b-a6f5-e4d3c2b1a098";

fn fixture(name: &str) -> SqsEvent {
    let path = format!("{}/../events/sqs/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{path} is not an SQS event: {e}"))
}

/// `(messageId, body)` of every record, as the worker takes them.
fn messages(event: &SqsEvent) -> Vec<(String, String)> {
    event.records.iter().map(|r| (r.message_id.clone().unwrap(), r.body.clone().unwrap())).collect()
}

/// Shortly after the fixtures' events (2026-11-20 10:15-10:16 UTC).
fn fixture_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 17, 0).unwrap()
}

async fn logged(store: &dyn Store, org: &str, now: DateTime<Utc>) -> Vec<UsageEvent> {
    let query = UsageLogQuery { org_id: Some(Id::from_string(org)), limit: 100, ..Default::default() };
    store.query_usage(&query, now).await.expect("query usage").0
}

/// Calls counted in the org's hourly aggregates over the day of `at`.
async fn aggregated_calls(store: &dyn Store, org: &str, at: DateTime<Utc>) -> u64 {
    let from = Granularity::Day.bucket_start(at);
    let query = AggregateQuery {
        org_id: Id::from_string(org),
        granularity: Granularity::Hour,
        from,
        to: from + ChronoDuration::days(1),
    };
    store.usage_aggregates(&query).await.expect("aggregates").iter().map(|a| a.count).sum()
}

fn event(id: &str, org: &Id, at: DateTime<Utc>) -> UsageEvent {
    UsageEvent {
        id: id.into(),
        org_id: org.clone(),
        key_id: Id::from_string("key_pipeline"),
        project_id: None,
        source: tollgate_domain::UsageSource::Proxy,
        endpoint_id: Id::from_string("ep_echo"),
        method: "GET".into(),
        path: format!("/api/v1/echo/{id}"),
        status: 200,
        latency_ms: 9,
        cost_units: 1,
        ip: Some("198.51.100.7".into()),
        timestamp: at,
        period: tollgate_domain::Period::containing(at).key,
        metadata: None,
    }
}

#[tokio::test]
async fn fixture_batch_records_each_event_once() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let batch = fixture("usage-batch.json");
    assert_eq!(batch.records.len(), 3);

    let failed = usage_worker::process_batch(store, None, messages(&batch), fixture_now()).await;
    assert!(failed.is_empty(), "{failed:?}");
    // The redelivered first event (another messageId, same event id) was counted once.
    let logs = logged(store, FIXTURE_ORG, fixture_now()).await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(
        logs.iter().map(|e| e.id.as_str()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["Uq3ZcgYRIAMEbzw=", "Uq3ZdhJ9oAMEb0A="])
    );
    assert_eq!(aggregated_calls(store, FIXTURE_ORG, fixture_now()).await, 2);

    // The whole batch again (SQS redelivers after a timeout): still nothing counted twice.
    let failed = usage_worker::process_batch(store, None, messages(&batch), fixture_now()).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(logs.len(), logged(store, FIXTURE_ORG, fixture_now()).await.len());
    assert_eq!(aggregated_calls(store, FIXTURE_ORG, fixture_now()).await, 2);

    // Retention follows the org's plan: a new org is on Free (7 days), counted from the
    // event's timestamp (the last fixture event is at 10:15:31).
    let ts = Utc.with_ymd_and_hms(2026, 11, 20, 10, 15, 30).unwrap();
    assert_eq!(logged(store, FIXTURE_ORG, ts + ChronoDuration::days(7) - ChronoDuration::seconds(1)).await.len(), 2);
    assert_eq!(logged(store, FIXTURE_ORG, ts + ChronoDuration::days(7) + ChronoDuration::seconds(2)).await.len(), 0);
    let sub = store.subscription_of_org(&Id::from_string(FIXTURE_ORG)).await.unwrap().expect("put on Free");
    assert_eq!(sub.plan_id.as_str(), tollgate_domain::FREE_PLAN_ID);
}

#[tokio::test]
async fn retention_is_the_plan_of_each_org() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    let pro = Id::from_string("org_on_pro");
    store
        .ensure_subscription(&Subscription {
            id: Id::generate("sub"),
            org_id: pro.clone(),
            plan_id: Id::from_string("plan_pro"),
            status: SubscriptionStatus::Active,
            cancel_at_period_end: false,
            canceled_at: None,
            billing: Default::default(),
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let free = Id::from_string("org_on_free");
    let batch = [event("req_pro_1", &pro, now), event("req_free_1", &free, now), event("req_pro_2", &pro, now)]
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("m{i}"), serde_json::to_string(e).unwrap()))
        .collect();
    assert!(usage_worker::process_batch(store, None, batch, now).await.is_empty());
    let in_8_days = now + ChronoDuration::days(8);
    assert_eq!(logged(store, "org_on_pro", in_8_days).await.len(), 2, "Pro keeps logs 30 days");
    assert_eq!(logged(store, "org_on_free", in_8_days).await.len(), 0, "Free keeps logs 7 days");
    assert_eq!(logged(store, "org_on_pro", now + ChronoDuration::days(31)).await.len(), 0);
}

#[tokio::test]
async fn poison_fixture_fails_only_the_poison_message() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let failed =
        usage_worker::process_batch(store, None, messages(&fixture("usage-batch-poison.json")), fixture_now()).await;
    assert_eq!(failed, [POISON_MESSAGE_ID]);
    let logs = logged(store, FIXTURE_ORG, fixture_now()).await;
    assert_eq!(logs.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["Uq3Zf0kXIAMEb1Q="]);
    // A JSON body of the wrong shape is poison too.
    let failed =
        usage_worker::process_batch(store, None, vec![("m-json".into(), r#"{"id":"x"}"#.into())], fixture_now()).await;
    assert_eq!(failed, ["m-json"]);
}

#[tokio::test]
async fn lambda_handler_reports_partial_batch_failures() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();

    let response =
        tollgate_tests::app::handle_sqs_event(store, fixture("usage-batch-poison.json"), fixture_now()).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [POISON_MESSAGE_ID]);
    // The wire shape Lambda reads for ReportBatchItemFailures.
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], POISON_MESSAGE_ID);

    let response = tollgate_tests::app::handle_sqs_event(store, fixture("usage-batch.json"), fixture_now()).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    assert_eq!(serde_json::to_value(&response).unwrap()["batchItemFailures"], serde_json::json!([]));
    assert_eq!(logged(store, FIXTURE_ORG, fixture_now()).await.len(), 3);

    // A record without a messageId cannot be reported alone: a failure of it is reported
    // with an empty identifier, which makes Lambda retry the whole batch.
    let mut event = fixture("usage-batch-poison.json");
    event.records[1].message_id = None;
    let response = tollgate_tests::app::handle_sqs_event(store, event, fixture_now()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, "");
}

/// Waits until `queue` has no message left (or panics after 20 s).
async fn wait_until_empty(queue: &SqliteQueue) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while queue.depth(QueueName::Usage).await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "queue not drained in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_queue_drained_by_the_worker_dead_letters_poison() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    let org = Id::from_string("org_local_pipeline");
    // Its own queue file: the app's own worker drains the platform queue, not this one.
    let queue = Arc::new(SqliteQueue::open(&app.dir.0.join("pipeline-queue.db")).unwrap());
    assert_eq!(queue.max_attempts(), 5);

    let good = [event("req_local_1", &org, now), event("req_local_2", &org, now)];
    let mut batch: Vec<QueueMessage> = good.iter().map(UsageEvent::to_message).collect();
    batch.insert(1, QueueMessage { id: "req_poison".into(), body: "{not json".into() });
    queue.send(QueueName::Usage, &batch).await.unwrap();
    // Sending again while queued changes nothing.
    queue.send(QueueName::Usage, &batch[..1]).await.unwrap();
    assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 3);

    let config = UsageWorkerConfig {
        visibility: Duration::from_secs(5),
        idle_poll: Duration::from_millis(10),
        batch_linger: Duration::from_millis(10),
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        ..UsageWorkerConfig::default()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = spawn_usage_worker_with(app.state.clone(), queue.clone(), None, stopped, config.clone());
    wait_until_empty(&queue).await;

    let logs = logged(store, org.as_str(), now).await;
    assert_eq!(
        logs.iter().map(|e| e.id.as_str()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["req_local_1", "req_local_2"])
    );
    assert_eq!(aggregated_calls(store, org.as_str(), now).await, 2);
    let dead = queue.dead_letters(QueueName::Usage).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0].id.as_str(), dead[0].body.as_str(), dead[0].attempts), ("req_poison", "{not json", 5));

    // Not retried again: the worker keeps polling and finds nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(queue.dead_letters(QueueName::Usage).await.unwrap(), dead);
    assert_eq!(queue.depth(QueueName::Usage).await.unwrap(), 0);

    // A send wakes the idle worker; a redelivered event is acknowledged, not counted again.
    queue.send(QueueName::Usage, &batch[..1]).await.unwrap();
    wait_until_empty(&queue).await;
    assert_eq!(logged(store, org.as_str(), now).await.len(), 2);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("worker stops on shutdown").unwrap();
    let report = drain_usage_once(&app.state, &queue, &config).await.unwrap();
    assert_eq!(report.received, 0);
}

#[tokio::test]
async fn drain_rounds_retry_with_backoff_then_dead_letter() {
    let app = TestApp::new().await;
    let now = app.clock_now();
    let org = Id::from_string("org_drain_rounds");
    let queue = SqliteQueue::open(&app.dir.0.join("rounds-queue.db")).unwrap();
    let good = event("req_round_1", &org, now);
    queue
        .send(
            QueueName::Usage,
            &[
                QueueMessage { id: good.id.clone(), body: serde_json::to_string(&good).unwrap() },
                QueueMessage { id: "req_bad".into(), body: "[]".into() },
            ],
        )
        .await
        .unwrap();
    let config = UsageWorkerConfig {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    let mut rounds = BTreeMap::new();
    for round in 1..=10 {
        let report = drain_usage_once(&app.state, &queue, &config).await.unwrap();
        rounds.insert(round, (report.received, report.succeeded, report.retried, report.dead_lettered));
        if queue.depth(QueueName::Usage).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(rounds[&1], (2, 1, 1, 0));
    for r in 2..=4 {
        assert_eq!(rounds[&r], (1, 0, 1, 0), "round {r}");
    }
    assert_eq!(rounds[&5], (1, 0, 0, 1));
    assert_eq!(rounds.len(), 5);
    assert_eq!(queue.dead_letters(QueueName::Usage).await.unwrap()[0].attempts, 5);
}

/// Metered billing without Stripe in the usage worker: after a batch, one report request per
/// organization (and period) with new events *and* a subscription at the payment provider
/// goes to the billing queue, for the webhook worker; a duplicate batch asks for nothing.
#[tokio::test]
async fn a_batch_asks_the_billing_worker_to_report_each_paying_organization_once() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    let paying = Id::from_string("org_paying_at_stripe");
    let mut sub = tollgate_app::current_subscription(store, &paying, now).await.unwrap().0;
    sub.billing.provider_subscription_id = Some("sub_1PayingAtStripe".into());
    store.update_subscription(&sub).await.unwrap();
    let free = Id::from_string("org_not_at_stripe");
    let batch: Vec<(String, String)> =
        [event("req_paying_1", &paying, now), event("req_free_1", &free, now), event("req_paying_2", &paying, now)]
            .iter()
            .enumerate()
            .map(|(i, e)| (format!("m{i}"), serde_json::to_string(e).unwrap()))
            .collect();
    let billing = SqliteQueue::open_in_memory().unwrap();
    assert!(usage_worker::process_batch(store, Some(&billing), batch.clone(), now).await.is_empty());
    let requests = billing.receive(QueueName::StripeEvents, 10, Duration::from_secs(30), Utc::now()).await.unwrap();
    let tasks: Vec<tollgate_app::billing::BillingTask> =
        requests.iter().map(|m| serde_json::from_str(&m.body).expect("a billing task")).collect();
    let period = tollgate_domain::Period::containing(now).key;
    assert_eq!(tasks, [tollgate_app::billing::BillingTask::ReportUsage { org_id: paying, period }]);
    // The same events again are duplicates: nothing new to report.
    assert!(usage_worker::process_batch(store, Some(&billing), batch, now).await.is_empty());
    assert_eq!(billing.depth(QueueName::StripeEvents).await.unwrap(), 1, "only the first request, still in flight");
}

//! The scheduled jobs on the DynamoDB store (single-threaded moto), through the scheduler
//! function's handler: a period closes once however the runs overlap, quota alerts go out
//! once, and retention leaves the deleting to the table's TTL.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use tollgate_app::jobs::JobPorts;
use tollgate_domain::{
    Id, JobName, Period, QueueName, SubscriptionRepository, UsageCharge, UsageCounter, UsageReportRepository,
};
use tollgate_embedded::SqliteQueue;
use tollgate_tests::moto::MotoServer;

fn event(job: JobName, at: DateTime<Utc>) -> scheduler::ScheduledJobEvent {
    scheduler::ScheduledJobEvent { job: job.as_str().to_string(), at: Some(at) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_on_dynamodb_close_once_alert_once_and_leave_retention_to_ttl() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let now = Utc::now();
    tollgate_app::seed_catalog(store.as_ref(), now).await.unwrap();
    let org = Id::generate("org");
    let (sub, plan) = tollgate_app::current_subscription(store.as_ref(), &org, now).await.unwrap();
    let limit = plan.monthly_limit.expect("the Free plan has a quota");
    let month = Period::containing(now);
    let charge = |cost| UsageCharge {
        org_id: org.clone(),
        period: month.key.clone(),
        cost,
        hard_limit: None,
        expires_at: month.end + Duration::days(400),
        rate: None,
    };
    // 80 % of the quota, counted without the gateway (its alert never raised).
    store.charge(&charge(limit * 8 / 10)).await.unwrap();
    let queue = Arc::new(SqliteQueue::open_in_memory().unwrap());
    let ports = JobPorts { store: store.clone(), queue: queue.clone(), payments: None, backups: None, webhooks: None };

    let first = scheduler::handle(&ports, &event(JobName::QuotaAlerts, now), now, |_| {}).await.unwrap();
    assert_eq!(first["alerts_sent"], 1, "{first}");
    // The schedule firing again in the same hour is skipped; a later hour finds nothing new.
    let again = scheduler::handle(&ports, &event(JobName::QuotaAlerts, now), now, |_| {}).await.unwrap();
    assert_eq!(again["status"], "skipped");
    let later = now + Duration::hours(1);
    let next_hour = scheduler::handle(&ports, &event(JobName::QuotaAlerts, later), later, |_| {}).await.unwrap();
    assert_eq!(next_hour["alerts_sent"], 0, "{next_hour}");
    let queued = queue.receive(QueueName::Notifications, 10, std::time::Duration::from_secs(30), now).await.unwrap();
    assert_eq!(queued.len(), 1, "one alert queued");
    assert!(queued[0].body.contains("\"threshold_percent\":80"), "{}", queued[0].body);

    // The first second of next month: two overlapping runs, one closes.
    let boundary = month.end + Duration::seconds(1);
    let close = event(JobName::PeriodClose, boundary);
    let (a, b) = tokio::join!(
        scheduler::handle(&ports, &close, boundary, |_| {}),
        tollgate_app::jobs::run_job(
            &ports,
            JobName::PeriodClose,
            tollgate_domain::JobTrigger::Manual,
            boundary,
            boundary
        ),
    );
    let (a, b) = (a.unwrap(), tollgate_app::jobs::run_summary(&b.unwrap()));
    let closed = a["closed"].as_u64().unwrap() + b["closed"].as_u64().unwrap();
    assert_eq!(closed, 1, "{a} {b}");
    let snapshot = store.usage_snapshot(&org, &month.key).await.unwrap().expect("closed");
    assert_eq!((snapshot.counted, snapshot.plan_id.clone()), (limit * 8 / 10, sub.plan_id.clone()));
    assert_eq!(store.usage(&org, &month.key).await.unwrap(), limit * 8 / 10, "the closed counter stays readable");
    assert!(store.subscription_of_org(&org).await.unwrap().is_some());

    let retention = scheduler::handle(&ports, &event(JobName::Retention, now), now, |_| {}).await.unwrap();
    assert_eq!(retention["removed"]["by_ttl"], true, "{retention}");
    let backup = scheduler::handle(&ports, &event(JobName::Backup, now), now, |_| {}).await.unwrap();
    assert_eq!(backup["skipped"], true, "{backup}");
}

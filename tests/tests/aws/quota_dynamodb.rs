//! The gateway's quota on the DynamoDB adapter, on single-threaded moto: exact under
//! concurrency, and one DynamoDB request per `add_usage` whether it counts or refuses.
//! Needs Python 3 with `pip install 'moto[server]'`.

use chrono::{Duration, Utc};
use std::sync::Arc;
use tollgate_domain::{Id, PeriodKey, UsageCounter, UsageIncrement};
use tollgate_tests::moto::MotoServer;

const TASKS: usize = 200;
const LIMIT: u64 = 50;

/// The harness counts exactly (see MotoServer::request_count).
async fn settled_request_count(moto: &MotoServer) -> usize {
    moto.request_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_is_exact_under_concurrency_with_one_request_per_call() {
    let moto = MotoServer::start();
    let store = Arc::new(moto.dynamo_store().await);
    let org = Id::generate("org");
    let period = PeriodKey::from_string(format!("2026-11-{}", tollgate_domain::id::random_base62(6)));
    let expires = Utc::now() + Duration::days(40);

    let before = settled_request_count(&moto).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let (store, barrier, org, period) = (Arc::clone(&store), Arc::clone(&barrier), org.clone(), period.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.add_usage(&org, &period, 1, Some(LIMIT), expires).await
            })
        })
        .collect();
    let mut counted = Vec::new();
    let mut refused = 0;
    for h in handles {
        match h.await.expect("task panicked").expect("add_usage") {
            UsageIncrement::Counted { used } => counted.push(used),
            UsageIncrement::LimitReached { used } => {
                assert_eq!(used, LIMIT, "a refused add reports the full counter");
                refused += 1;
            }
            other => panic!("no rate window was given: {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    let requests = settled_request_count(&moto).await - before;

    counted.sort_unstable();
    assert_eq!((counted.len(), refused), (LIMIT as usize, TASKS - LIMIT as usize));
    assert_eq!(counted, (1..=LIMIT).collect::<Vec<_>>(), "each counted add saw a distinct total");
    assert_eq!(store.usage(&org, &period).await.unwrap(), LIMIT);
    println!(
        "{TASKS} concurrent add_usage on moto: {requests} DynamoDB requests ({:.2} per call) in {elapsed:?}",
        requests as f64 / TASKS as f64
    );
    assert_eq!(requests, TASKS, "one UpdateItem per add_usage, counted or refused");

    // Sequentially, each outcome is one request: counted, refused (the current total comes
    // back with the failed condition), and unlimited.
    let fresh = PeriodKey::from_string(format!("2026-12-{}", tollgate_domain::id::random_base62(6)));
    for (cost, limit, expected) in [
        (2, Some(3), UsageIncrement::Counted { used: 2 }),
        (2, Some(3), UsageIncrement::LimitReached { used: 2 }),
        (5, None, UsageIncrement::Counted { used: 7 }),
    ] {
        let before = settled_request_count(&moto).await;
        assert_eq!(store.add_usage(&org, &fresh, cost, limit, expires).await.unwrap(), expected);
        assert_eq!(settled_request_count(&moto).await - before, 1, "{expected:?} took one request");
    }
}

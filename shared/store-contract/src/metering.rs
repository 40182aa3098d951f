//! Cases for `UsageCounter` and `UsageLog`.

use crate::{concurrently_n, now_ms, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    AggregateQuery, Granularity, Id, PeriodKey, RateWindow, StoreError, UsageAggregate, UsageCharge, UsageEvent,
    UsageIncrement, UsageLogQuery, UsageRecord, UsageSource,
};

/// How many tasks the quota case starts at once on one counter (limit
/// [`CONCURRENT_QUOTA_LIMIT`], cost 1 each). A slow emulator may run the suite with a
/// smaller number by calling [`usage_counter_is_exact_under_concurrency_with`] itself.
pub const CONCURRENT_QUOTA_TASKS: usize = 200;
/// The hard limit of the quota case.
pub const CONCURRENT_QUOTA_LIMIT: u64 = 50;

/// A period key no other case uses, shaped like a real one.
fn period() -> PeriodKey {
    PeriodKey::from_string(format!("2026-11-{}", tollgate_domain::id::random_base62(8)))
}

/// A new usage event of `org_id` at `at` (not recorded yet).
pub fn new_event(org_id: &Id, key_id: &Id, endpoint_id: &Id, at: DateTime<Utc>) -> UsageEvent {
    UsageEvent {
        id: Id::generate("req").as_str().to_string(),
        org_id: org_id.clone(),
        key_id: key_id.clone(),
        project_id: Some(tollgate_domain::Project::default_id(org_id)),
        source: UsageSource::Proxy,
        endpoint_id: endpoint_id.clone(),
        method: "GET".into(),
        path: "/api/v1/echo/contract".into(),
        status: 200,
        latency_ms: 12,
        cost_units: 1,
        ip: None,
        timestamp: at,
        period: PeriodKey::from_string("2026-11"),
        metadata: None,
    }
}

pub async fn usage_counter_adds_up_to_the_hard_limit(store: &SharedStore) {
    let now = now_ms();
    let expires = now + Duration::days(40);
    let org = Id::generate(prefix::ORG);
    let (p1, p2) = (period(), period());
    assert_eq!(store.usage(&org, &p1).await.unwrap(), 0, "a missing counter is 0");
    assert_eq!(
        store.add_usage(&org, &p1, 3, None, expires).await.unwrap(),
        UsageIncrement::Counted { used: 3 },
        "no limit: the first add creates the counter"
    );
    assert_eq!(
        store.add_usage(&org, &p1, 1_000_000, None, expires).await.unwrap(),
        UsageIncrement::Counted { used: 1_000_003 },
        "no limit: anything is counted"
    );

    let limit = Some(5);
    let steps = [
        (2, UsageIncrement::Counted { used: 2 }),
        (2, UsageIncrement::Counted { used: 4 }),
        (2, UsageIncrement::LimitReached { used: 4 }),
        (1, UsageIncrement::Counted { used: 5 }),
        (1, UsageIncrement::LimitReached { used: 5 }),
    ];
    for (i, (cost, expected)) in steps.into_iter().enumerate() {
        assert_eq!(
            store.add_usage(&org, &p2, cost, limit, expires).await.unwrap(),
            expected,
            "limit 5, step {i}: cost {cost}"
        );
    }
    assert_eq!(store.usage(&org, &p2).await.unwrap(), 5, "refused adds count nothing");
    assert_eq!(store.usage(&org, &p1).await.unwrap(), 1_000_003, "periods are independent");
    assert_eq!(store.usage(&Id::generate(prefix::ORG), &p1).await.unwrap(), 0, "organizations are independent");

    let p3 = period();
    assert_eq!(
        store.add_usage(&org, &p3, 6, limit, expires).await.unwrap(),
        UsageIncrement::LimitReached { used: 0 },
        "a first add above the limit is refused too"
    );
    assert_eq!(store.usage(&org, &p3).await.unwrap(), 0, "and counts nothing");
    assert_eq!(
        store.add_usage(&org, &p3, 5, limit, expires).await.unwrap(),
        UsageIncrement::Counted { used: 5 },
        "a first add exactly at the limit is counted"
    );
    assert_eq!(
        store.add_usage(&org, &p3, 0, limit, expires).await.unwrap(),
        UsageIncrement::Counted { used: 5 },
        "a zero cost at the limit is counted (changes nothing)"
    );
}

pub async fn usage_counter_is_exact_under_concurrency(store: &SharedStore) {
    usage_counter_is_exact_under_concurrency_with(store, CONCURRENT_QUOTA_TASKS).await;
}

/// The quota case with `tasks` concurrent adds of cost 1 against a hard limit of
/// [`CONCURRENT_QUOTA_LIMIT`] (`tasks` should exceed it).
pub async fn usage_counter_is_exact_under_concurrency_with(store: &SharedStore, tasks: usize) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let p = period();
    let limit = CONCURRENT_QUOTA_LIMIT;
    let results = concurrently_n(store, tasks, |s, _| {
        let (org, p) = (org.clone(), p.clone());
        async move { s.add_usage(&org, &p, 1, Some(limit), now + Duration::days(40)).await.map_err(|e| e.to_string()) }
    })
    .await;
    let mut counted: Vec<u64> = results
        .iter()
        .filter_map(|r| match r {
            Ok(UsageIncrement::Counted { used }) => Some(*used),
            _ => None,
        })
        .collect();
    counted.sort_unstable();
    let refused =
        results.iter().filter(|r| matches!(r, Ok(UsageIncrement::LimitReached { used }) if *used == limit)).count();
    let expected_counted = (limit as usize).min(tasks);
    assert_eq!(
        (counted.len(), refused),
        (expected_counted, tasks - expected_counted),
        "{tasks} concurrent adds of 1 with a hard limit of {limit}: exactly {expected_counted} counted, \
         the rest refused with used = {limit}: {results:?}"
    );
    assert_eq!(counted, (1..=expected_counted as u64).collect::<Vec<_>>(), "each counted add saw a distinct total");
    assert_eq!(
        store.usage(&org, &p).await.unwrap(),
        expected_counted as u64,
        "the counter holds exactly the counted adds"
    );
}

/// A charge of `cost` to (`org`, `period`) with an optional hard limit and rate window.
fn charge(org: &Id, period: &PeriodKey, cost: u64, hard_limit: Option<u64>, rate: Option<&RateWindow>) -> UsageCharge {
    UsageCharge {
        org_id: org.clone(),
        period: period.clone(),
        cost,
        hard_limit,
        expires_at: now_ms() + Duration::days(40),
        rate: rate.cloned(),
    }
}

/// A window of a fresh bucket (each bucket is used with one organization and period, as the
/// gateway's key buckets are) starting at the minute of `now`.
fn window(now: DateTime<Utc>, limit: u32) -> RateWindow {
    RateWindow::containing(unique("key"), now.timestamp(), limit)
}

pub async fn usage_charge_with_a_rate_window(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let p = period();
    let w = window(now, 3);
    for used in [2, 4, 6] {
        assert_eq!(
            store.charge(&charge(&org, &p, 2, Some(100), Some(&w))).await.unwrap(),
            UsageIncrement::Counted { used },
            "window limit 3: charges 1..3 are counted"
        );
    }
    assert_eq!(
        store.charge(&charge(&org, &p, 2, Some(100), Some(&w))).await.unwrap(),
        UsageIncrement::RateLimited { used: 6 },
        "the 4th in the window is refused, reporting the period's total"
    );
    assert_eq!(store.usage(&org, &p).await.unwrap(), 6, "a rate-limited charge counts nothing");
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(100), None)).await.unwrap(),
        UsageIncrement::Counted { used: 7 },
        "a charge without a window is not held by it"
    );
    let other = window(now, 1);
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(100), Some(&other))).await.unwrap(),
        UsageIncrement::Counted { used: 8 },
        "another bucket has its own window"
    );
    let next = RateWindow { window_start: w.window_start + RateWindow::SECONDS, ..w.clone() };
    for used in [10, 12, 14] {
        assert_eq!(
            store.charge(&charge(&org, &p, 2, Some(100), Some(&next))).await.unwrap(),
            UsageIncrement::Counted { used },
            "the next minute is a new window with its own 3"
        );
    }
    assert_eq!(
        store.charge(&charge(&org, &p, 2, Some(100), Some(&next))).await.unwrap(),
        UsageIncrement::RateLimited { used: 14 }
    );
    assert_eq!(
        store.charge(&charge(&org, &p, 2, Some(100), Some(&w))).await.unwrap(),
        UsageIncrement::RateLimited { used: 14 },
        "windows only move forward: a charge stamped with the previous minute counts in the newer, full one"
    );
    assert_eq!(store.usage(&org, &p).await.unwrap(), 14);
    let closed = window(now, 0);
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(100), Some(&closed))).await.unwrap(),
        UsageIncrement::RateLimited { used: 14 },
        "a limit of 0 refuses every charge"
    );

    // Rate limit and quota together (hard limit 2).
    let p = period();
    let full = window(now, 1);
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(2), Some(&full))).await.unwrap(),
        UsageIncrement::Counted { used: 1 }
    );
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(2), Some(&full))).await.unwrap(),
        UsageIncrement::RateLimited { used: 1 },
        "a full window refuses below the quota"
    );
    assert_eq!(store.charge(&charge(&org, &p, 1, Some(2), None)).await.unwrap(), UsageIncrement::Counted { used: 2 });
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(2), Some(&full))).await.unwrap(),
        UsageIncrement::RateLimited { used: 2 },
        "a full window wins over a reached limit"
    );
    assert_eq!(
        store.charge(&charge(&org, &p, 5, Some(2), Some(&full))).await.unwrap(),
        UsageIncrement::RateLimited { used: 2 },
        "also for a cost above the hard limit"
    );
    let room = window(now, 2);
    assert_eq!(
        store.charge(&charge(&org, &p, 1, Some(2), Some(&room))).await.unwrap(),
        UsageIncrement::LimitReached { used: 2 },
        "a window with room: the quota refuses"
    );
    assert_eq!(
        store.charge(&charge(&org, &p, 5, Some(2), Some(&room))).await.unwrap(),
        UsageIncrement::LimitReached { used: 2 }
    );
    // The two refusals above did not count in `room`'s window: it still has its 2.
    for used in [3, 4] {
        assert_eq!(
            store.charge(&charge(&org, &p, 1, None, Some(&room))).await.unwrap(),
            UsageIncrement::Counted { used },
            "a charge refused by the quota takes no place in the window"
        );
    }
    assert_eq!(
        store.charge(&charge(&org, &p, 1, None, Some(&room))).await.unwrap(),
        UsageIncrement::RateLimited { used: 4 }
    );
    assert_eq!(store.usage(&org, &p).await.unwrap(), 4);
}

/// How many charges the rate-window concurrency case starts on each of its two buckets,
/// and the buckets' window limits.
const RATE_TASKS: [(usize, u32); 2] = [(40, 10), (20, 5)];

pub async fn usage_rate_window_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let p = period();
    // Two buckets of one organization at once (on one counter item in a store that keeps
    // windows there), under a quota far above them.
    let windows: Vec<RateWindow> = RATE_TASKS.iter().map(|&(_, limit)| window(now, limit)).collect();
    let bucket_of: Vec<usize> =
        RATE_TASKS.iter().enumerate().flat_map(|(b, &(tasks, _))| std::iter::repeat_n(b, tasks)).collect();
    let tasks = bucket_of.len();
    let results = concurrently_n(store, tasks, |s, i| {
        let c = charge(&org, &p, 1, Some(1_000_000), Some(&windows[bucket_of[i]]));
        async move { s.charge(&c).await.map_err(|e| e.to_string()) }
    })
    .await;
    let mut totals: Vec<u64> = Vec::new();
    for (b, &(n, limit)) in RATE_TASKS.iter().enumerate() {
        let mine: Vec<_> = results.iter().zip(&bucket_of).filter(|(_, &of)| of == b).map(|(r, _)| r).collect();
        let counted: Vec<u64> = mine
            .iter()
            .filter_map(|r| match r {
                Ok(UsageIncrement::Counted { used }) => Some(*used),
                _ => None,
            })
            .collect();
        let limited = mine.iter().filter(|r| matches!(r, Ok(UsageIncrement::RateLimited { .. }))).count();
        assert_eq!(
            (counted.len(), limited),
            (limit as usize, n - limit as usize),
            "{n} concurrent charges in a window of {limit}: exactly {limit} counted, the rest rate-limited: {mine:?}"
        );
        totals.extend(counted);
    }
    totals.sort_unstable();
    let expected: u64 = RATE_TASKS.iter().map(|&(_, limit)| u64::from(limit)).sum();
    assert_eq!(totals, (1..=expected).collect::<Vec<_>>(), "each counted charge saw a distinct total");
    assert_eq!(store.usage(&org, &p).await.unwrap(), expected, "the counter holds exactly the counted charges");
}

/// Aggregates of `events` as the store should keep them, sorted by (bucket, key, endpoint).
fn expected_aggregates(events: &[&UsageEvent], granularity: Granularity) -> Vec<UsageAggregate> {
    let mut out: Vec<UsageAggregate> = Vec::new();
    for e in events {
        let empty = UsageAggregate::empty_for(e, granularity);
        let slot = out.iter().position(|a| {
            (a.bucket_start, &a.key_id, &a.endpoint_id) == (empty.bucket_start, &empty.key_id, &empty.endpoint_id)
        });
        let agg = match slot {
            Some(i) => &mut out[i],
            None => {
                out.push(empty);
                out.last_mut().expect("just pushed")
            }
        };
        agg.add(e);
    }
    sort_aggregates(&mut out);
    out
}

fn sort_aggregates(aggs: &mut [UsageAggregate]) {
    aggs.sort_by(|a, b| (a.bucket_start, &a.key_id, &a.endpoint_id).cmp(&(b.bucket_start, &b.key_id, &b.endpoint_id)));
}

/// The store's aggregates, oldest first; ties (same bucket) put in a fixed order.
async fn aggregates(
    store: &SharedStore,
    org_id: &Id,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<UsageAggregate> {
    let mut got =
        store.usage_aggregates(&AggregateQuery { org_id: org_id.clone(), granularity, from, to }).await.unwrap();
    assert!(got.windows(2).all(|w| w[0].bucket_start <= w[1].bucket_start), "usage_aggregates: oldest first");
    sort_aggregates(&mut got);
    got
}

/// Two consecutive hours of one day, in the past: 10:00 and 11:00 UTC yesterday.
fn two_hours(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    let day = Granularity::Day.bucket_start(now) - Duration::days(1);
    let h1 = day + Duration::hours(10);
    (day, h1, h1 + Duration::hours(1))
}

/// Five events of one organization over two hours (not recorded): e1..e3 in the first
/// hour (statuses 200/404/503, one on another endpoint), e4 and e5 in the second (one with
/// another key). e1, e3 and e5 are of the default project, e2 of none (from before
/// projects), e4 of another project; e3 is tracked (with metadata), e4 verified, the others
/// proxied. Returns them oldest first.
fn five_events(org: &Id, h1: DateTime<Utc>, h2: DateTime<Utc>) -> Vec<UsageEvent> {
    let (k1, k2) = (Id::generate(prefix::API_KEY), Id::generate(prefix::API_KEY));
    let (ep1, ep2) = (Id::generate("ep"), Id::generate("ep"));
    let at = |h: DateTime<Utc>, min: i64| h + Duration::minutes(min) + Duration::milliseconds(123);
    let mut e1 = new_event(org, &k1, &ep1, at(h1, 1));
    e1.latency_ms = 3;
    e1.ip = Some("203.0.113.7".into());
    let mut e2 = new_event(org, &k1, &ep1, at(h1, 2));
    e2.status = 404;
    e2.latency_ms = 30;
    e2.cost_units = 2;
    e2.method = "POST".into();
    e2.path = "/api/v1/items".into();
    e2.project_id = None;
    let mut e3 = new_event(org, &k1, &ep2, at(h1, 3));
    e3.status = 503;
    e3.latency_ms = 700;
    e3.source = UsageSource::Track;
    e3.metadata = Some(serde_json::json!({"plan": "gold", "items": [1, 2], "nested": {"ok": true, "none": null}}));
    let mut e4 = new_event(org, &k1, &ep1, at(h2, 1));
    e4.status = 201;
    e4.latency_ms = 7;
    e4.cost_units = 5;
    e4.ip = Some("2001:db8::1".into());
    e4.project_id = Some(Id::generate(prefix::PROJECT));
    e4.source = UsageSource::Verify;
    let mut e5 = new_event(org, &k2, &ep1, at(h2, 2));
    e5.latency_ms = 12_000;
    vec![e1, e2, e3, e4, e5]
}

pub async fn usage_record_once_with_hourly_and_daily_aggregates(store: &SharedStore) {
    let now = now_ms();
    let expires = now + Duration::days(7);
    let org = Id::generate(prefix::ORG);
    let (day, h1, h2) = two_hours(now);
    let events = five_events(&org, h1, h2);
    for e in &events {
        assert!(store.record_usage(e, expires).await.unwrap(), "the first record of an event id is true");
    }
    let all: Vec<&UsageEvent> = events.iter().collect();
    let hours = aggregates(store, &org, Granularity::Hour, h1, h2 + Duration::hours(1)).await;
    assert_eq!(
        hours,
        expected_aggregates(&all, Granularity::Hour),
        "hourly aggregates: one per (hour, key, endpoint) with counts, cost, status classes, latency"
    );
    // A spot check by hand, independent of `UsageAggregate::add`.
    let first = &hours[0];
    assert_eq!(first.bucket_start, h1);
    let h1_ep1 = hours
        .iter()
        .find(|a| a.bucket_start == h1 && a.endpoint_id == events[0].endpoint_id)
        .expect("aggregate of e1 and e2");
    assert_eq!(
        (h1_ep1.count, h1_ep1.cost_units, h1_ep1.status_2xx, h1_ep1.status_4xx, h1_ep1.status_5xx),
        (2, 3, 1, 1, 0),
        "e1 + e2 counts"
    );
    assert_eq!(h1_ep1.latency_sum_ms, 33);
    assert_eq!(h1_ep1.latency_buckets, vec![1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], "3 ms and 30 ms buckets");
    assert_eq!(hours.len(), 4, "h1: (k1, ep1), (k1, ep2); h2: (k1, ep1), (k2, ep1)");

    let days = aggregates(store, &org, Granularity::Day, day, day + Duration::days(1)).await;
    assert_eq!(days, expected_aggregates(&all, Granularity::Day), "daily aggregates");
    let d = days
        .iter()
        .find(|a| a.key_id == events[0].key_id && a.endpoint_id == events[0].endpoint_id)
        .expect("daily aggregate of (k1, ep1)");
    assert_eq!(
        (d.count, d.cost_units, d.status_2xx, d.status_4xx, d.latency_sum_ms),
        (3, 8, 2, 1, 40),
        "daily (k1, ep1): e1 + e2 + e4"
    );

    assert_eq!(
        aggregates(store, &org, Granularity::Hour, h1, h2).await,
        expected_aggregates(&all[..3], Granularity::Hour),
        "bucket starts in [from, to): `to` is exclusive"
    );
    assert_eq!(
        aggregates(store, &org, Granularity::Hour, h2, h2 + Duration::minutes(1)).await,
        expected_aggregates(&all[3..], Granularity::Hour),
        "`from` is inclusive"
    );
    assert_eq!(
        aggregates(store, &Id::generate(prefix::ORG), Granularity::Hour, h1, now).await,
        vec![],
        "another organization has none"
    );

    // Redelivery: the same ids change nothing, even with other contents.
    let mut again = events[1].clone();
    again.cost_units = 100;
    again.status = 500;
    assert!(!store.record_usage(&again, expires).await.unwrap(), "the same event id again is false");
    assert!(!store.record_usage(&events[4], expires).await.unwrap());
    assert_eq!(
        aggregates(store, &org, Granularity::Hour, h1, h2 + Duration::hours(1)).await,
        hours,
        "hourly aggregates unchanged by a duplicate"
    );
    assert_eq!(
        aggregates(store, &org, Granularity::Day, day, day + Duration::days(1)).await,
        days,
        "daily aggregates unchanged by a duplicate"
    );
    let (logged, _) = store
        .query_usage(&UsageLogQuery { org_id: Some(org.clone()), status: Some(404), ..Default::default() }, now)
        .await
        .unwrap();
    assert_eq!(logged, vec![events[1].clone()], "the log keeps the first delivery");
}

pub async fn usage_record_batch_dedupes_and_merges_aggregates(store: &SharedStore) {
    let now = now_ms();
    let expires = now + Duration::days(7);
    let org = Id::generate(prefix::ORG);
    let (day, h1, h2) = two_hours(now);
    let events = five_events(&org, h1, h2);
    let [e1, e2, e3, e4, e5] = [0, 1, 2, 3, 4].map(|i| events[i].clone());
    let batch = |events: &[&UsageEvent]| -> Vec<UsageRecord> {
        events.iter().map(|&e| UsageRecord { event: e.clone(), expires_at: expires }).collect()
    };
    assert_eq!(store.record_usage_batch(&[]).await.unwrap(), Vec::<bool>::new(), "an empty batch");

    assert!(store.record_usage(&e5, expires).await.unwrap());
    // The same id twice in one batch, the second with other contents.
    let mut e1_again = e1.clone();
    e1_again.status = 500;
    e1_again.cost_units = 100;
    assert_eq!(
        store.record_usage_batch(&batch(&[&e1, &e2, &e3, &e1_again, &e4])).await.unwrap(),
        vec![true, true, true, false, true],
        "a later copy of an id in the batch is false"
    );
    // A second batch adding to the aggregates the first one wrote: e6 shares e1's hour, key
    // and endpoint, e7 e4's.
    let mut e6 = new_event(&org, &e1.key_id, &e1.endpoint_id, e1.timestamp + Duration::minutes(10));
    e6.status = 502;
    e6.latency_ms = 2_600;
    e6.cost_units = 3;
    let mut e7 = new_event(&org, &e4.key_id, &e4.endpoint_id, e4.timestamp + Duration::minutes(5));
    e7.status = 429;
    e7.latency_ms = 0;
    assert_eq!(
        store.record_usage_batch(&batch(&[&e5, &e6, &e2, &e6, &e7])).await.unwrap(),
        vec![false, true, false, false, true],
        "ids recorded before (alone or in an earlier batch) are false"
    );

    // A batch larger than one store transaction may hold, a tenth of it recorded before.
    let (k3, ep3) = (Id::generate(prefix::API_KEY), Id::generate("ep"));
    let many: Vec<UsageEvent> = (0..150)
        .map(|i: u32| {
            let mut e = new_event(&org, &k3, &ep3, h2 + Duration::seconds(i64::from(i) * 10));
            e.status = [200, 404, 503, 302][i as usize % 4];
            e.latency_ms = (i * 37) % 3_000;
            e.cost_units = i % 3;
            e
        })
        .collect();
    let before: Vec<&UsageEvent> = many.iter().step_by(10).collect();
    assert_eq!(store.record_usage_batch(&batch(&before)).await.unwrap(), vec![true; before.len()]);
    let flags = store.record_usage_batch(&batch(&many.iter().collect::<Vec<_>>())).await.unwrap();
    assert_eq!(flags, (0..many.len()).map(|i| i % 10 != 0).collect::<Vec<_>>(), "each event's own answer, in order");

    let mut all: Vec<&UsageEvent> = vec![&e1, &e2, &e3, &e4, &e5, &e6, &e7];
    all.extend(&many);
    assert_eq!(
        aggregates(store, &org, Granularity::Hour, h1, h2 + Duration::hours(1)).await,
        expected_aggregates(&all, Granularity::Hour),
        "hourly aggregates: the sums of the events recorded once each"
    );
    assert_eq!(
        aggregates(store, &org, Granularity::Day, day, day + Duration::days(1)).await,
        expected_aggregates(&all, Granularity::Day),
        "daily aggregates"
    );
    let hours = aggregates(store, &org, Granularity::Hour, h1, h2).await;
    let h1_ep1 =
        hours.iter().find(|a| a.key_id == e1.key_id && a.endpoint_id == e1.endpoint_id).expect("(h1, k1, ep1)");
    assert_eq!(
        (h1_ep1.count, h1_ep1.cost_units, h1_ep1.status_2xx, h1_ep1.status_4xx, h1_ep1.status_5xx),
        (3, 6, 1, 1, 1),
        "e1 + e2 (first batch) + e6 (second batch), by hand"
    );
    assert_eq!(h1_ep1.latency_sum_ms, 3 + 30 + 2_600);
    assert_eq!(h1_ep1.latency_buckets, vec![1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    let (logged, _) = store
        .query_usage(&UsageLogQuery { org_id: Some(org.clone()), status: Some(500), ..Default::default() }, now)
        .await
        .unwrap();
    assert_eq!(logged, vec![], "the in-batch duplicate of e1 (status 500) left no entry");
}

async fn query(store: &SharedStore, q: UsageLogQuery, now: DateTime<Utc>) -> Vec<UsageEvent> {
    let (page, next) = store.query_usage(&q, now).await.unwrap();
    assert_eq!(next, None, "a query that fits one page has no next cursor");
    page
}

pub async fn usage_query_filters(store: &SharedStore) {
    let now = now_ms();
    let expires = now + Duration::days(7);
    let org = Id::generate(prefix::ORG);
    let (_, h1, h2) = two_hours(now);
    let events = five_events(&org, h1, h2);
    for e in &events {
        assert!(store.record_usage(e, expires).await.unwrap());
    }
    // Another organization's event with the same key, endpoint and time.
    let other = new_event(&Id::generate(prefix::ORG), &events[0].key_id, &events[0].endpoint_id, events[0].timestamp);
    assert!(store.record_usage(&other, expires).await.unwrap());
    let [e1, e2, e3, e4, e5] = [0, 1, 2, 3, 4].map(|i| events[i].clone());
    let by_org = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };

    assert_eq!(
        query(store, by_org.clone(), now).await,
        vec![e5.clone(), e4.clone(), e3.clone(), e2.clone(), e1.clone()],
        "org filter: newest first, every field round-trips (project_id, source and metadata included)"
    );
    let default_project = e1.project_id.clone();
    assert_eq!(
        query(store, UsageLogQuery { project_id: default_project.clone(), ..by_org.clone() }, now).await,
        vec![e5.clone(), e3.clone(), e1.clone()],
        "project filter (an event without a project is in none)"
    );
    assert_eq!(
        query(store, UsageLogQuery { project_id: e4.project_id.clone(), ..by_org.clone() }, now).await,
        vec![e4.clone()],
        "project filter, another project"
    );
    assert_eq!(
        query(store, UsageLogQuery { source: Some(UsageSource::Proxy), ..by_org.clone() }, now).await,
        vec![e5.clone(), e2.clone(), e1.clone()],
        "source filter"
    );
    assert_eq!(
        query(store, UsageLogQuery { source: Some(UsageSource::Track), ..by_org.clone() }, now).await,
        vec![e3.clone()],
        "source filter, tracked calls"
    );
    assert_eq!(
        query(
            store,
            UsageLogQuery {
                project_id: default_project.clone(),
                source: Some(UsageSource::Proxy),
                to: Some(h2),
                ..by_org.clone()
            },
            now
        )
        .await,
        vec![e1.clone()],
        "project, source and time filters together"
    );
    assert_eq!(
        query(
            store,
            UsageLogQuery {
                project_id: default_project.clone(),
                key_id: Some(e1.key_id.clone()),
                endpoint_id: Some(e3.endpoint_id.clone()),
                ..by_org.clone()
            },
            now
        )
        .await,
        vec![e3.clone()],
        "project, key and endpoint filters together"
    );
    assert_eq!(
        query(
            store,
            UsageLogQuery {
                project_id: e4.project_id.clone(),
                source: Some(UsageSource::Verify),
                status: Some(201),
                from: Some(h2),
                ..by_org.clone()
            },
            now
        )
        .await,
        vec![e4.clone()],
        "project, source, status and from together"
    );
    assert_eq!(
        query(
            store,
            UsageLogQuery { project_id: default_project, source: Some(UsageSource::Verify), ..by_org.clone() },
            now
        )
        .await,
        vec![],
        "project and source that match nothing together"
    );
    assert_eq!(
        query(store, UsageLogQuery { key_id: Some(e5.key_id.clone()), ..Default::default() }, now).await,
        vec![e5.clone()],
        "key filter alone"
    );
    assert_eq!(
        query(store, UsageLogQuery { key_id: Some(e1.key_id.clone()), ..by_org.clone() }, now).await,
        vec![e4.clone(), e3.clone(), e2.clone(), e1.clone()],
        "org and key filters"
    );
    assert_eq!(
        query(store, UsageLogQuery { endpoint_id: Some(e3.endpoint_id.clone()), ..by_org.clone() }, now).await,
        vec![e3.clone()],
        "endpoint filter"
    );
    assert_eq!(
        query(store, UsageLogQuery { status: Some(200), ..by_org.clone() }, now).await,
        vec![e5.clone(), e1.clone()],
        "status filter (exact status, not class)"
    );
    assert_eq!(
        query(store, UsageLogQuery { from: Some(h2), ..by_org.clone() }, now).await,
        vec![e5.clone(), e4.clone()],
        "from"
    );
    assert_eq!(
        query(store, UsageLogQuery { to: Some(h2), ..by_org.clone() }, now).await,
        vec![e3.clone(), e2.clone(), e1.clone()],
        "to"
    );
    assert_eq!(
        query(store, UsageLogQuery { from: Some(e2.timestamp), to: Some(e4.timestamp), ..by_org.clone() }, now).await,
        vec![e3.clone(), e2.clone()],
        "`from` is inclusive, `to` exclusive"
    );
    // Every filter but the org: e1 and the other org's event (same timestamp, so either
    // order is newest first).
    let mut got = query(
        store,
        UsageLogQuery {
            key_id: Some(e1.key_id.clone()),
            endpoint_id: Some(e1.endpoint_id.clone()),
            status: Some(200),
            from: Some(h1),
            to: Some(h2),
            ..Default::default()
        },
        now,
    )
    .await;
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let mut want = vec![e1.clone(), other.clone()];
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, want, "all filters together, across organizations");
}

pub async fn usage_query_pages_with_a_cursor(store: &SharedStore) {
    let now = now_ms();
    let expires = now + Duration::days(7);
    let org = Id::generate(prefix::ORG);
    let (key, ep) = (Id::generate(prefix::API_KEY), Id::generate("ep"));
    let t = now - Duration::minutes(10);
    // Two events share a timestamp: the cursor must still visit each exactly once.
    let offsets = [0, 1, 1, 2, 3];
    let events: Vec<UsageEvent> =
        offsets.iter().map(|&s| new_event(&org, &key, &ep, t + Duration::seconds(s))).collect();
    for e in &events {
        assert!(store.record_usage(e, expires).await.unwrap());
    }
    let mut seen: Vec<UsageEvent> = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store
            .query_usage(
                &UsageLogQuery { org_id: Some(org.clone()), limit: 2, cursor: cursor.take(), ..Default::default() },
                now,
            )
            .await
            .unwrap();
        sizes.push(page.len());
        seen.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(sizes.len() < 10, "pagination does not end: {sizes:?}");
    }
    assert_eq!(sizes, vec![2, 2, 1], "pages of 2, 2 and 1, the last with no cursor");
    assert!(seen.windows(2).all(|w| w[0].timestamp >= w[1].timestamp), "newest first across pages");
    let mut seen_ids: Vec<&str> = seen.iter().map(|e| e.id.as_str()).collect();
    seen_ids.sort_unstable();
    let mut want: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    want.sort_unstable();
    assert_eq!(seen_ids, want, "every entry exactly once");

    let (page, next) = store
        .query_usage(&UsageLogQuery { org_id: Some(org.clone()), limit: 5, ..Default::default() }, now)
        .await
        .unwrap();
    assert_eq!((page.len(), next), (5, None), "a page that holds everything has no cursor");
    assert_eq!(page, seen, "the same order with a bigger page");

    let bad = store
        .query_usage(
            &UsageLogQuery {
                org_id: Some(org.clone()),
                cursor: Some("%%% not a cursor %%%".into()),
                ..Default::default()
            },
            now,
        )
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)), "a cursor no page returned is InvalidCursor: {bad:?}");
}

pub async fn usage_query_skips_expired_entries(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let (key, ep) = (Id::generate(prefix::API_KEY), Id::generate("ep"));
    let old = new_event(&org, &key, &ep, now - Duration::days(8));
    let at_now = new_event(&org, &key, &ep, now - Duration::days(7));
    let live = new_event(&org, &key, &ep, now - Duration::days(1));
    assert!(store.record_usage(&old, now - Duration::days(1)).await.unwrap());
    assert!(store.record_usage(&at_now, now).await.unwrap());
    assert!(store.record_usage(&live, now + Duration::days(6)).await.unwrap());
    let q = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };
    assert_eq!(
        query(store, q.clone(), now).await,
        vec![live.clone()],
        "entries whose expires_at <= now are not returned"
    );
    assert_eq!(
        query(store, q, now - Duration::days(2)).await,
        vec![live, at_now, old],
        "expiry is judged at the `now` passed in"
    );
}

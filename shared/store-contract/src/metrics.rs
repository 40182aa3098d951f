//! Cases for `MetricsRollup`: the daily rollup kept by `record_usage_batch` and `create_user`.

use crate::metering::new_event;
use crate::users::new_user;
use crate::SharedStore;
use chrono::{DateTime, Duration, TimeZone, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    platform_org_id, AggregateQuery, DayCount, Granularity, Id, OrgCalls, Role, StoreError, UsageRecord,
};

/// A day no other case (and no earlier run, most likely) has data on: the rollup is
/// platform-wide, so a case cannot tell its rows from others by id.
fn quiet_day() -> DateTime<Utc> {
    let offset: u64 = tollgate_domain::id::random_base62(6).bytes().map(u64::from).product();
    Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).unwrap() + Duration::days((offset % 5000) as i64)
}

pub async fn metrics_rollup_counts_signups_per_day(store: &SharedStore) {
    let day = quiet_day();
    let mut first = None;
    for at in [day + Duration::hours(1), day + Duration::hours(23), day + Duration::days(1) + Duration::hours(5)] {
        let (user, org, owner) = new_user(Role::User, at);
        store.create_user(&user, &org, &owner).await.unwrap();
        first.get_or_insert(user);
    }
    // A refused registration counts nothing.
    let (mut again, org, owner) = new_user(Role::User, day + Duration::hours(2));
    again.email = first.expect("created").email;
    assert!(matches!(store.create_user(&again, &org, &owner).await, Err(StoreError::AlreadyExists("email"))));
    assert_eq!(
        store.signups_per_day(day, day + Duration::days(3)).await.unwrap(),
        [DayCount { day, count: 2 }, DayCount { day: day + Duration::days(1), count: 1 }],
        "signups per day, days without any left out"
    );
    assert_eq!(
        store.signups_per_day(day + Duration::days(1), day + Duration::days(2)).await.unwrap(),
        [DayCount { day: day + Duration::days(1), count: 1 }],
        "days in [from, to)"
    );
    assert_eq!(store.signups_per_day(day, day + Duration::days(1)).await.unwrap().len(), 1, "`to` is exclusive");
}

pub async fn metrics_rollup_follows_recorded_usage_once(store: &SharedStore) {
    let day = quiet_day();
    let next = day + Duration::days(1);
    let (org_a, org_b) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let key = Id::generate(prefix::API_KEY);
    let (ep1, ep2) = (Id::generate("ep"), Id::generate("ep"));
    let expires = Utc::now() + Duration::days(1);
    let mut events = [
        new_event(&org_a, &key, &ep1, day + Duration::hours(1)),
        new_event(&org_a, &key, &ep1, day + Duration::hours(2)),
        new_event(&org_a, &key, &ep2, day + Duration::hours(3)),
        new_event(&org_b, &key, &ep1, day + Duration::hours(4)),
        new_event(&org_a, &key, &ep1, next + Duration::hours(1)),
    ];
    events[2].status = 503;
    events[2].latency_ms = 700;
    events[2].cost_units = 4;
    let mut records: Vec<UsageRecord> =
        events.iter().map(|e| UsageRecord { event: e.clone(), expires_at: expires }).collect();
    // The same id twice in the batch counts once.
    records.push(records[0].clone());
    store.record_usage_batch(&records).await.unwrap();

    let (a, b, e1, e2) = (&org_a, &org_b, &ep1, &ep2);
    let check = |when: &'static str| async move {
        assert_eq!(
            store.active_orgs_per_day(day, day + Duration::days(3)).await.unwrap(),
            [DayCount { day, count: 2 }, DayCount { day: next, count: 1 }],
            "active organizations per day ({when})"
        );
        assert_eq!(
            store.top_orgs_by_calls(day, day + Duration::days(2), 10).await.unwrap(),
            [
                OrgCalls { org_id: a.clone(), calls: 4, cost_units: 7 },
                OrgCalls { org_id: b.clone(), calls: 1, cost_units: 1 }
            ],
            "top organizations by calls ({when})"
        );
        let query = AggregateQuery {
            org_id: platform_org_id(),
            granularity: Granularity::Day,
            from: day,
            to: day + Duration::days(2),
        };
        let platform = store.usage_aggregates(&query).await.unwrap();
        let rows: Vec<_> = platform
            .iter()
            .map(|a| (a.bucket_start, a.endpoint_id.clone(), a.count, a.status_5xx, a.latency_sum_ms))
            .collect();
        let mut expected =
            vec![(day, e1.clone(), 3, 0, 36), (day, e2.clone(), 1, 1, 700), (next, e1.clone(), 1, 0, 12)];
        expected.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        assert_eq!(rows, expected, "the platform's daily aggregates per endpoint ({when})");
        assert!(platform.iter().all(|a| a.key_id == platform_org_id()), "key id `*`");
    };
    check("recorded").await;
    assert_eq!(
        store.top_orgs_by_calls(day, day + Duration::days(2), 1).await.unwrap(),
        [OrgCalls { org_id: org_a.clone(), calls: 4, cost_units: 7 }],
        "at most `limit`"
    );
    assert_eq!(
        store.top_orgs_by_calls(next, next + Duration::days(1), 10).await.unwrap(),
        [OrgCalls { org_id: org_a.clone(), calls: 1, cost_units: 1 }],
        "only the days asked for"
    );
    // Redelivered: nothing moves.
    assert_eq!(store.record_usage_batch(&records).await.unwrap(), vec![false; records.len()]);
    check("after a redelivery").await;
}

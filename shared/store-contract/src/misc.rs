//! Cases for `AttemptCounter`, `AuditLog` and `IdempotencyStore`.

use crate::{concurrently, now_ms, unique, SharedStore};
use chrono::Duration;
use tollgate_domain::id::prefix;
use tollgate_domain::{AuditEvent, AuditQuery, Id};

pub async fn attempt_counters_by_bucket_and_window(store: &SharedStore) {
    let now = now_ms();
    let bucket = unique("login:ip:127.0.0.1");
    let window = Duration::minutes(15);
    let w1 = now;
    let w2 = w1 + window;

    assert_eq!(store.attempts(&bucket, w1).await.unwrap(), 0, "an unknown bucket counts 0");
    for expected in 1..=3 {
        assert_eq!(
            store.add_attempt(&bucket, w1, w1 + window).await.unwrap(),
            expected,
            "add_attempt returns the new count"
        );
    }
    assert_eq!(store.attempts(&bucket, w1).await.unwrap(), 3);
    assert_eq!(store.add_attempt(&bucket, w2, w2 + window).await.unwrap(), 1, "a new window starts at 1");
    assert_eq!(store.attempts(&bucket, w1).await.unwrap(), 3, "windows are separate");
    let other = unique("login:account");
    assert_eq!(store.attempts(&other, w1).await.unwrap(), 0, "buckets are separate");

    store.release_attempt(&bucket, w1).await.expect("release_attempt");
    assert_eq!(store.attempts(&bucket, w1).await.unwrap(), 2, "a released attempt no longer counts");
    assert_eq!(store.add_attempt(&bucket, w1, w1 + window).await.unwrap(), 3, "counting goes on from there");
    store.release_attempt(&other, w1).await.expect("releasing from an unknown bucket is fine");
    assert_eq!(store.attempts(&other, w1).await.unwrap(), 0, "and creates no count (never below zero)");
    assert_eq!(store.add_attempt(&other, w1, w1 + window).await.unwrap(), 1, "nor a negative one");
    store.release_attempt(&other, w1).await.unwrap();
    store.release_attempt(&other, w1).await.unwrap();
    assert_eq!(store.attempts(&other, w1).await.unwrap(), 0, "releasing past zero stops at zero");
    store.clear_attempts(&other, w1).await.unwrap();

    store.clear_attempts(&bucket, w1).await.expect("clear_attempts");
    assert_eq!(store.attempts(&bucket, w1).await.unwrap(), 0, "a cleared window counts 0");
    assert_eq!(store.attempts(&bucket, w2).await.unwrap(), 1, "clearing one window leaves the other");
    assert_eq!(store.add_attempt(&bucket, w1, w1 + window).await.unwrap(), 1, "counting restarts after a clear");
    store.clear_attempts(&other, w1).await.expect("clearing an unknown bucket is fine");
}

pub async fn attempt_counter_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let bucket = unique("login:ip:10.0.0.1");
    let counts = concurrently(store, |s, _| {
        let bucket = bucket.clone();
        async move { s.add_attempt(&bucket, now, now + Duration::minutes(15)).await.unwrap() }
    })
    .await;
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    let expected: Vec<u32> = (1..=crate::CONCURRENT_TASKS as u32).collect();
    assert_eq!(sorted, expected, "every concurrent add sees a distinct new count: {counts:?}");
    assert_eq!(store.attempts(&bucket, now).await.unwrap(), crate::CONCURRENT_TASKS as u32);
}

pub async fn audit_log_lists_newest_first_with_filters(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let other_org = Id::generate(prefix::ORG);
    let actor = Id::generate(prefix::USER);
    let event = |secs: i64, org: &Id, action: &str| {
        AuditEvent::new(action, now - Duration::seconds(secs))
            .actor(&actor)
            .org(org)
            .target(format!("key_{secs}"))
            .ip(Some("203.0.113.7".into()))
            .details(serde_json::json!({ "step": secs, "nested": { "ok": true }, "list": [1, "two"] }))
    };
    let e1 = event(4, &org, "api_key.create");
    let e2 = event(3, &org, "api_key.rotate");
    let e3 = event(2, &other_org, "api_key.create");
    let e4 = event(1, &org, "api_key.revoke");
    let anonymous = AuditEvent::new("user.login_failed", now - Duration::milliseconds(500)).target(unique("someone"));
    for e in [&e1, &e3, &e2, &e4, &anonymous] {
        store.record_audit(e).await.expect("record_audit");
    }

    let by_org = |before, limit| AuditQuery { org_id: Some(org.clone()), before, limit };
    assert_eq!(
        store.list_audit(&by_org(None, 0)).await.unwrap(),
        vec![e4.clone(), e2.clone(), e1.clone()],
        "an org's events, newest first, exact round trip (limit 0 means the default)"
    );
    assert_eq!(store.list_audit(&by_org(None, 2)).await.unwrap(), vec![e4.clone(), e2.clone()], "limit");
    assert_eq!(
        store.list_audit(&by_org(Some(e4.at), 10)).await.unwrap(),
        vec![e2.clone(), e1.clone()],
        "`before` is exclusive"
    );
    assert_eq!(store.list_audit(&by_org(Some(e4.at), 1)).await.unwrap(), vec![e2.clone()], "before and limit");
    assert_eq!(
        store.list_audit(&AuditQuery { org_id: Some(other_org.clone()), before: None, limit: 10 }).await.unwrap(),
        vec![e3.clone()],
        "org filter"
    );

    let all = store.list_audit(&AuditQuery { org_id: None, before: Some(now), limit: 1000 }).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "unfiltered: newest first");
    assert!(all.iter().all(|e| e.at < now), "unfiltered: `before` holds");
    for e in [&anonymous, &e4, &e3, &e1] {
        assert!(all.contains(e), "unfiltered: every org's and anonymous events are listed ({})", e.action);
    }
    let capped =
        store.list_audit(&AuditQuery { org_id: Some(org.clone()), before: None, limit: u32::MAX }).await.unwrap();
    assert_eq!(capped.len(), 3, "a huge limit is capped, not an error");
}

pub async fn idempotency_claims(store: &SharedStore) {
    let now = now_ms();
    let scope = unique("usage_event");
    let key = unique("req");
    let until = now + Duration::hours(1);
    assert!(store.claim(&scope, &key, now, until).await.unwrap(), "the first claim wins");
    assert!(!store.claim(&scope, &key, now, until).await.unwrap(), "a second claim loses");
    assert!(
        !store.claim(&scope, &key, now + Duration::minutes(30), until + Duration::minutes(30)).await.unwrap(),
        "a claim loses while the first has not expired"
    );
    assert!(store.is_claimed(&scope, &key, now).await.unwrap(), "is_claimed sees the claim");
    assert!(!store.is_claimed(&scope, &unique("req"), now).await.unwrap(), "is_claimed: another key is not claimed");
    assert!(!store.is_claimed(&scope, &key, until).await.unwrap(), "is_claimed: not once the claim has expired");
    assert!(store.claim(&unique("webhook"), &key, now, until).await.unwrap(), "scopes are separate");
    assert!(store.claim(&scope, &unique("req"), now, until).await.unwrap(), "keys are separate");

    let after = until + Duration::seconds(1);
    assert!(
        store.claim(&scope, &key, after, after + Duration::hours(1)).await.unwrap(),
        "an expired claim can be re-claimed"
    );
    assert!(!store.claim(&scope, &key, after, after + Duration::hours(1)).await.unwrap(), "the re-claim holds");
}

pub async fn idempotency_claim_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let scope = unique("stripe_event");
    let key = unique("evt");
    let results = concurrently(store, |s, _| {
        let (scope, key) = (scope.clone(), key.clone());
        async move { s.claim(&scope, &key, now, now + Duration::hours(1)).await.map_err(|e| e.to_string()) }
    })
    .await;
    let wins = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let losses = results.iter().filter(|r| matches!(r, Ok(false))).count();
    assert_eq!((wins, losses), (1, crate::CONCURRENT_TASKS - 1), "exactly one concurrent claim wins: {results:?}");
}

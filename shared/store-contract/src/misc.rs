//! Cases for `AttemptCounter`, `AuditLog` and `IdempotencyStore`.

use crate::{concurrently, now_ms, unique, SharedStore};
use chrono::Duration;
use tollgate_domain::id::prefix;
use tollgate_domain::{AuditEvent, AuditQuery, Id, StoreError};

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

    let by_org = |before, limit| AuditQuery { org_id: Some(org.clone()), before, limit, ..Default::default() };
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
        store
            .list_audit(&AuditQuery { org_id: Some(other_org.clone()), limit: 10, ..Default::default() })
            .await
            .unwrap(),
        vec![e3.clone()],
        "org filter"
    );

    let all = store.list_audit(&AuditQuery { before: Some(now), limit: 1000, ..Default::default() }).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "unfiltered: newest first");
    assert!(all.iter().all(|e| e.at < now), "unfiltered: `before` holds");
    for e in [&anonymous, &e4, &e3, &e1] {
        assert!(all.contains(e), "unfiltered: every org's and anonymous events are listed ({})", e.action);
    }
    let capped = store
        .list_audit(&AuditQuery { org_id: Some(org.clone()), limit: u32::MAX, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(capped.len(), 3, "a huge limit is capped, not an error");
}

/// What the store should answer for `query` among `events`: the matching ones, newest
/// first with ties by id (descending).
fn expected_audit(events: &[AuditEvent], query: &AuditQuery) -> Vec<AuditEvent> {
    let mut out: Vec<AuditEvent> = events.iter().filter(|e| query.matches(e)).cloned().collect();
    out.sort_by(|x, y| (y.at, &y.id).cmp(&(x.at, &x.id)));
    out
}

/// Every page of `query` from the first on, checking each is full but the last.
async fn walk_audit(store: &SharedStore, query: &AuditQuery) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    let mut query = query.clone();
    for _ in 0..100 {
        let (page, next) = store.audit_page(&query).await.expect("audit_page");
        all.extend(page.iter().cloned());
        match next {
            Some(cursor) => {
                assert_eq!(page.len() as u32, query.page_size(), "a page with a next one is full");
                query.cursor = Some(cursor);
            }
            None => return all,
        }
    }
    panic!("audit_page did not end");
}

pub async fn audit_page_filters_by_actor_action_resource_target_and_time(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let (alice, bob) = (Id::generate(prefix::USER), Id::generate(prefix::USER));
    let target = unique("key");
    let at = |secs: i64| now - Duration::seconds(secs);
    let events = vec![
        AuditEvent::new("api_key.create", at(9)).actor(&alice).org(&org).target(target.clone()),
        AuditEvent::new("api_key.revoke", at(8)).actor(&bob).org(&org).target(target.clone()),
        AuditEvent::new("api_key_rotation.start", at(7)).actor(&alice).org(&org),
        AuditEvent::new("user.login", at(6)).actor(&alice).org(&org).user_agent(Some("Mozilla/5.0 (X11)".into())),
        AuditEvent::new("user.login_failed", at(5)).org(&org).target(unique("someone")),
        AuditEvent::new("member.role.change", at(4)).actor(&bob).org(&org).target(alice.to_string()),
        AuditEvent::new("logout", at(3)).actor(&bob).org(&org),
        AuditEvent::new("api_key.create", at(2)).actor(&alice).target(target.clone()),
    ];
    for e in &events {
        store.record_audit(e).await.expect("record_audit");
    }
    let read = store.list_audit(&AuditQuery { org_id: Some(org.clone()), ..Default::default() }).await.unwrap();
    let ua = read.iter().find(|e| e.action == "user.login").and_then(|e| e.user_agent.clone());
    assert_eq!(ua.as_deref(), Some("Mozilla/5.0 (X11)"), "the user agent round-trips");

    let in_org = || AuditQuery { org_id: Some(org.clone()), ..Default::default() };
    // The walk without an organization is bounded by `from` so it reads a few days at most.
    let recent = || AuditQuery { from: Some(now - Duration::hours(1)), ..Default::default() };
    let cases = [
        ("org", in_org()),
        ("actor", AuditQuery { actor_id: Some(alice.clone()), ..in_org() }),
        ("actor without org", AuditQuery { actor_id: Some(alice.clone()), ..recent() }),
        ("exact action", AuditQuery { action: Some("api_key.create".into()), ..in_org() }),
        ("action prefix", AuditQuery { action: Some("api_key.*".into()), ..in_org() }),
        ("action prefix without dot", AuditQuery { action: Some("user.login*".into()), ..in_org() }),
        ("action prefix of everything", AuditQuery { action: Some("*".into()), ..in_org() }),
        ("unknown action", AuditQuery { action: Some("api_key".into()), ..in_org() }),
        ("resource type", AuditQuery { resource_type: Some("api_key".into()), ..in_org() }),
        ("dotted resource type", AuditQuery { resource_type: Some("member.role".into()), ..in_org() }),
        ("resource type of an action without a dot", AuditQuery { resource_type: Some("logout".into()), ..in_org() }),
        ("target", AuditQuery { target: Some(target.clone()), ..in_org() }),
        ("target without org", AuditQuery { target: Some(target.clone()), ..recent() }),
        ("from is inclusive", AuditQuery { from: Some(at(6)), ..in_org() }),
        ("before is exclusive", AuditQuery { before: Some(at(6)), ..in_org() }),
        ("from and before", AuditQuery { from: Some(at(8)), before: Some(at(4)), ..in_org() }),
        ("empty range", AuditQuery { from: Some(at(4)), before: Some(at(4)), ..in_org() }),
        (
            "everything",
            AuditQuery {
                actor_id: Some(bob.clone()),
                action: Some("api_key.*".into()),
                resource_type: Some("api_key".into()),
                target: Some(target.clone()),
                from: Some(at(9)),
                before: Some(at(7)),
                ..in_org()
            },
        ),
    ];
    for (name, query) in cases {
        let expected = expected_audit(&events, &query);
        let (page, next) = store.audit_page(&query).await.expect("audit_page");
        assert_eq!((page, next), (expected.clone(), None), "{name}");
        let paged = walk_audit(store, &AuditQuery { limit: 2, ..query.clone() }).await;
        assert_eq!(paged, expected, "{name}, two a page");
    }
}

pub async fn audit_page_cursor_walks_ties_once(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let (actor, other) = (Id::generate(prefix::USER), Id::generate(prefix::USER));
    // Groups of events at the same millisecond, mixed with another actor's.
    let mut events = Vec::new();
    for (i, secs) in [5, 5, 5, 4, 3, 3, 3, 3, 2, 1].into_iter().enumerate() {
        let who = if i % 3 == 2 { &other } else { &actor };
        events.push(AuditEvent::new("api_key.rotate", now - Duration::seconds(secs)).actor(who).org(&org));
    }
    for e in &events {
        store.record_audit(e).await.expect("record_audit");
    }
    let all = AuditQuery { org_id: Some(org.clone()), ..Default::default() };
    let expected = expected_audit(&events, &all);
    for limit in [1, 2, 3, 4, 10] {
        let walked = walk_audit(store, &AuditQuery { limit, ..all.clone() }).await;
        assert_eq!(walked, expected, "every event once, newest first with ties by id, {limit} a page");
    }
    // Filtered pages are full too (the store reads past the events that do not match).
    let mine = AuditQuery { actor_id: Some(actor.clone()), limit: 2, ..all.clone() };
    assert_eq!(walk_audit(store, &mine).await, expected_audit(&events, &mine), "filtered, two a page");
    let (first, next) = store.audit_page(&AuditQuery { limit: 3, ..all.clone() }).await.unwrap();
    assert_eq!(first, expected[..3].to_vec());
    let resumed = AuditQuery { cursor: next, limit: 3, before: Some(now), ..all.clone() };
    assert_eq!(store.audit_page(&resumed).await.unwrap().0, expected[3..6].to_vec(), "a cursor with other filters");

    for garbage in ["", "garbage", "12:", "not a time#aud_1"] {
        let query = AuditQuery { cursor: Some(garbage.into()), ..all.clone() };
        let result = store.audit_page(&query).await;
        assert!(matches!(result, Err(StoreError::InvalidCursor)), "cursor {garbage:?}: {result:?}");
    }
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

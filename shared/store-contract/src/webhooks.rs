//! Cases for `WebhookRepository`.

use crate::{concurrently, now_ms, SharedStore, CONCURRENT_TASKS};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::webhook::{generate_secret, ENDPOINT_ID_PREFIX};
use tollgate_domain::{
    DeliveryAttempt, DeliveryStatus, Id, StoreError, WebhookDelivery, WebhookEndpoint, MAX_ENDPOINTS_PER_ORG,
};

/// A new endpoint of `org_id` (not stored yet).
pub fn new_webhook(org_id: &Id, now: DateTime<Utc>) -> WebhookEndpoint {
    WebhookEndpoint {
        id: Id::generate(ENDPOINT_ID_PREFIX),
        org_id: org_id.clone(),
        url: "https://hooks.example.com/tollgate".into(),
        events: vec!["quota.exceeded".into(), "trial.ending".into()],
        description: Some("Billing alerts".into()),
        secret: generate_secret(),
        created_at: now,
        updated_at: now,
    }
}

/// A new pending delivery of `event_id` to `endpoint`, due at `due`.
fn new_delivery(endpoint: &WebhookEndpoint, event_id: &str, now: DateTime<Utc>, due: DateTime<Utc>) -> WebhookDelivery {
    let body = format!(r#"{{"id":"{event_id}","type":"quota.exceeded","created":{},"data":{{}}}}"#, now.timestamp());
    WebhookDelivery::new(endpoint, event_id, "quota.exceeded", body, now, due)
}

pub async fn webhooks_create_list_get_update_delete_with_tenant_isolation(store: &SharedStore) {
    let now = now_ms();
    let (org, other_org) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let a = new_webhook(&org, now - Duration::seconds(2));
    let b = WebhookEndpoint { events: vec!["*".into()], description: None, ..new_webhook(&org, now) };
    let foreign = new_webhook(&other_org, now);
    for e in [&a, &b, &foreign] {
        store.create_webhook(e, MAX_ENDPOINTS_PER_ORG).await.expect("create_webhook");
    }
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![a.clone(), b.clone()], "oldest first, exact round trip");
    assert_eq!(store.list_webhooks(&other_org).await.unwrap(), vec![foreign.clone()], "lists are per org");
    assert_eq!(store.get_webhook(&org, &a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_webhook(&other_org, &a.id).await.unwrap(), None, "invisible from another org");
    assert_eq!(store.get_webhook(&org, &foreign.id).await.unwrap(), None, "another org's endpoint is invisible");

    let dup = WebhookEndpoint { id: a.id.clone(), ..new_webhook(&org, now) };
    let r = store.create_webhook(&dup, MAX_ENDPOINTS_PER_ORG).await;
    assert!(matches!(r, Err(StoreError::AlreadyExists("webhook"))), "a duplicate id: {r:?}");

    let later = now + Duration::seconds(5);
    let updated = WebhookEndpoint {
        url: "https://other.example.com/h".into(),
        events: vec!["*".into()],
        description: None,
        secret: generate_secret(),
        updated_at: later,
        ..a.clone()
    };
    store.update_webhook(&updated).await.expect("update_webhook");
    assert_eq!(store.get_webhook(&org, &a.id).await.unwrap(), Some(updated.clone()));
    let moved = WebhookEndpoint { org_id: other_org.clone(), ..updated.clone() };
    let r = store.update_webhook(&moved).await;
    assert!(matches!(r, Err(StoreError::NotFound("webhook"))), "update from another org: {r:?}");
    assert_eq!(store.get_webhook(&org, &a.id).await.unwrap(), Some(updated.clone()), "unchanged");

    let r = store.delete_webhook(&other_org, &a.id).await;
    assert!(matches!(r, Err(StoreError::NotFound("webhook"))), "delete from another org: {r:?}");
    store.delete_webhook(&org, &a.id).await.expect("delete_webhook");
    assert_eq!(store.get_webhook(&org, &a.id).await.unwrap(), None);
    assert_eq!(store.list_webhooks(&org).await.unwrap(), vec![b.clone()]);
    let r = store.delete_webhook(&org, &a.id).await;
    assert!(matches!(r, Err(StoreError::NotFound("webhook"))), "a second delete: {r:?}");
}

pub async fn webhook_limit_counts_and_frees_on_delete(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let first = new_webhook(&org, now);
    store.create_webhook(&first, 2).await.unwrap();
    store.create_webhook(&new_webhook(&org, now), 2).await.unwrap();
    let r = store.create_webhook(&new_webhook(&org, now), 2).await;
    assert!(matches!(r, Err(StoreError::LimitReached("webhooks"))), "third of 2: {r:?}");
    store.create_webhook(&new_webhook(&Id::generate(prefix::ORG), now), 2).await.expect("the limit is per org");
    store.delete_webhook(&org, &first.id).await.unwrap();
    store.create_webhook(&new_webhook(&org, now), 2).await.expect("a delete frees a place");
    assert_eq!(store.list_webhooks(&org).await.unwrap().len(), 2);
}

pub async fn webhook_limit_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let results = concurrently(store, |store, _| {
        let org = org.clone();
        async move { store.create_webhook(&new_webhook(&org, now), MAX_ENDPOINTS_PER_ORG).await }
    })
    .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, MAX_ENDPOINTS_PER_ORG as usize, "{CONCURRENT_TASKS} concurrent creates: {results:?}");
    assert!(
        results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::LimitReached("webhooks")))),
        "the others are LimitReached: {results:?}"
    );
    assert_eq!(store.list_webhooks(&org).await.unwrap().len(), MAX_ENDPOINTS_PER_ORG as usize);
}

pub async fn webhook_deliveries_are_idempotent_and_listed_newest_first(store: &SharedStore) {
    let now = now_ms();
    let (org, other_org) = (Id::generate(prefix::ORG), Id::generate(prefix::ORG));
    let endpoint = new_webhook(&org, now);
    store.create_webhook(&endpoint, MAX_ENDPOINTS_PER_ORG).await.unwrap();
    let older = new_delivery(&endpoint, "evt_older", now - Duration::seconds(10), now);
    let newer = new_delivery(&endpoint, "evt_newer", now, now);
    assert!(store.create_webhook_delivery(&older).await.unwrap(), "stored");
    assert!(store.create_webhook_delivery(&newer).await.unwrap(), "stored");
    // The same event again, later (a redelivered notification): the same id, nothing new.
    let again = new_delivery(&endpoint, "evt_older", now + Duration::seconds(30), now + Duration::seconds(30));
    assert_eq!(again.id, older.id);
    assert!(!store.create_webhook_delivery(&again).await.unwrap(), "a second delivery of one event is refused");
    let results = concurrently(store, |store, _| {
        let d = new_delivery(&endpoint, "evt_raced", now, now);
        async move { store.create_webhook_delivery(&d).await.expect("create_webhook_delivery") }
    })
    .await;
    assert_eq!(results.iter().filter(|c| **c).count(), 1, "one of {CONCURRENT_TASKS} concurrent creates: {results:?}");

    let listed = store.list_webhook_deliveries(&org, &endpoint.id, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[2], "evt_older", "newest first: {ids:?}");
    assert_eq!(listed[2], older, "exact round trip of the first stored");
    assert_eq!(store.list_webhook_deliveries(&org, &endpoint.id, 1).await.unwrap().len(), 1, "limit");
    assert!(store.list_webhook_deliveries(&other_org, &endpoint.id, 10).await.unwrap().is_empty(), "tenant isolation");
    assert_eq!(store.get_webhook_delivery(&org, &older.id).await.unwrap(), Some(older.clone()));
    assert_eq!(store.get_webhook_delivery(&other_org, &older.id).await.unwrap(), None, "tenant isolation");
    assert_eq!(store.get_webhook_delivery(&org, &Id::generate("whd")).await.unwrap(), None);
}

pub async fn webhook_deliveries_due_and_conditional_attempts(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let endpoint = new_webhook(&org, now);
    store.create_webhook(&endpoint, MAX_ENDPOINTS_PER_ORG).await.unwrap();
    // Due long ago (so deliveries left by other cases or runs sort after), now, and later.
    let past = now - Duration::days(3650);
    let first = new_delivery(&endpoint, &crate::unique("evt"), now, past);
    let second = new_delivery(&endpoint, &crate::unique("evt"), now, past + Duration::seconds(1));
    let later = new_delivery(&endpoint, &crate::unique("evt"), now, now + Duration::minutes(5));
    for d in [&later, &second, &first] {
        assert!(store.create_webhook_delivery(d).await.unwrap());
    }
    let due = store.due_webhook_deliveries(now, 2).await.unwrap();
    assert_eq!(due.iter().map(|d| &d.id).collect::<Vec<_>>(), vec![&first.id, &second.id], "oldest due first, limit");
    let due_now = store.due_webhook_deliveries(now, 1000).await.unwrap();
    assert!(!due_now.iter().any(|d| d.id == later.id), "not due yet");
    assert!(store
        .due_webhook_deliveries(now + Duration::minutes(5), 1000)
        .await
        .unwrap()
        .iter()
        .any(|d| d.id == later.id));

    // An attempt that fails: recorded once, the delivery stays pending with a later time.
    let failed = DeliveryAttempt { at: now, status_code: Some(503), latency_ms: 12, error: None };
    let retrying = first.after_attempt(failed, 0.0);
    store.record_webhook_attempt(&retrying, 0).await.expect("record the first attempt");
    let r = store.record_webhook_attempt(&retrying, 0).await;
    assert!(matches!(r, Err(StoreError::Conflict("webhook delivery"))), "the same attempt twice: {r:?}");
    let stored = store.get_webhook_delivery(&org, &first.id).await.unwrap().unwrap();
    assert_eq!(stored, retrying, "exact round trip of the attempt");
    assert_eq!((stored.attempts, stored.status, stored.last_status_code), (1, DeliveryStatus::Pending, Some(503)));
    assert!(!store.due_webhook_deliveries(now, 1000).await.unwrap().iter().any(|d| d.id == first.id), "moved later");

    // Two workers record the same second attempt: one wins.
    let ok = DeliveryAttempt { at: now, status_code: Some(200), latency_ms: 7, error: None };
    let done = stored.after_attempt(ok, 0.0);
    let results = concurrently(store, |store, _| {
        let done = done.clone();
        async move { store.record_webhook_attempt(&done, 1).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    let stored = store.get_webhook_delivery(&org, &first.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.next_attempt_at), (DeliveryStatus::Succeeded, 2, None));
    assert_eq!(stored.attempt_log.len(), 2);
    assert!(
        !store.due_webhook_deliveries(now + Duration::days(1), 1000).await.unwrap().iter().any(|d| d.id == first.id),
        "a finished delivery is never due"
    );
    let missing = new_delivery(&endpoint, "evt_missing", now, now);
    let r = store.record_webhook_attempt(&missing.after_attempt(done.attempt_log[0].clone(), 0.0), 0).await;
    assert!(matches!(r, Err(StoreError::NotFound("webhook delivery"))), "{r:?}");
}

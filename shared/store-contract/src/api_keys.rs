//! Cases for `ApiKeyRepository`.

use crate::{concurrently, ensure_default_project, new_project, now_ms, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{ApiKey, Id, KeyRejection, KeyRotation, KeySecret, NewApiKey, StoreError, TokenHash};

/// A new key of `org_id`'s default project with its first secret (not stored yet): store
/// the project first (`ensure_default_project`).
pub fn new_key(org_id: &Id, created_at: DateTime<Utc>, expires_at: Option<DateTime<Utc>>) -> (ApiKey, KeySecret) {
    let plain = NewApiKey::generate();
    let key = ApiKey {
        id: Id::generate(prefix::API_KEY),
        org_id: org_id.clone(),
        project_id: tollgate_domain::Project::default_id(org_id),
        created_by: Id::generate(prefix::USER),
        name: format!("key {}", &plain.last4),
        display_prefix: plain.display_prefix.clone(),
        last4: plain.last4.clone(),
        created_at,
        last_used_at: None,
        expires_at,
        revoked_at: None,
        rotated_at: None,
        scopes: None,
    };
    let secret = plain.current_secret(&key.id, org_id, created_at);
    (key, secret)
}

/// A rotation of `key` to a fresh secret at `now`, the outgoing secret valid until `old_valid_until`.
pub fn rotation(key: &ApiKey, now: DateTime<Utc>, old_valid_until: DateTime<Utc>) -> KeyRotation {
    KeyRotation::new(&key.id, &key.org_id, &NewApiKey::generate(), now, old_valid_until)
}

const MANY: u32 = 100;

async fn create(store: &SharedStore, org_id: &Id, at: DateTime<Utc>) -> (ApiKey, KeySecret) {
    let (key, secret) = new_key(org_id, at, None);
    store.create_api_key(&key, &secret, MANY, at).await.expect("create_api_key under the limit");
    (key, secret)
}

/// Asserts that `hash` cannot be used at `now`: not found, or found and refused.
async fn assert_unusable(
    store: &SharedStore,
    hash: &TokenHash,
    now: DateTime<Utc>,
    expected: KeyRejection,
    what: &str,
) {
    if let Some((key, secret)) = store.find_api_key_by_hash(hash).await.unwrap() {
        assert_eq!(key.check_usable(&secret, now), Err(expected), "{what}");
    }
}

pub async fn api_keys_create_list_get_with_tenant_isolation(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let other_org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    ensure_default_project(store, &other_org, now).await;
    let (k1, _) = create(store, &org, now - Duration::seconds(2)).await;
    // A key of another project of the org.
    let project = new_project(&org, "Second", now);
    store.create_project(&project, MANY).await.expect("create_project");
    let (mut k2, s2) = new_key(&org, now - Duration::seconds(1), Some(now + Duration::days(30)));
    k2.project_id = project.id.clone();
    store.create_api_key(&k2, &s2, MANY, now).await.expect("create_api_key");
    let (k3, _) = create(store, &org, now).await;
    let (foreign, _) = create(store, &other_org, now).await;

    assert_eq!(
        store.list_api_keys(&org).await.unwrap(),
        vec![k3.clone(), k2.clone(), k1.clone()],
        "newest first, exact round trip (project_id included)"
    );
    assert_eq!(
        (k1.project_id.clone(), k2.project_id.clone()),
        (tollgate_domain::Project::default_id(&org), project.id.clone()),
        "each key in its project"
    );
    assert_eq!(
        store.find_api_key_by_hash(&s2.hash).await.unwrap().map(|(k, _)| k),
        Some(k2.clone()),
        "find_api_key_by_hash returns the key with its project"
    );
    assert_eq!(store.get_api_key(&org, &k2.id).await.unwrap(), Some(k2.clone()), "get_api_key in its org");
    assert_eq!(store.get_api_key(&other_org, &k2.id).await.unwrap(), None, "a key is invisible from another org");
    assert_eq!(store.get_api_key(&org, &foreign.id).await.unwrap(), None, "another org's key is invisible");
    assert_eq!(store.get_api_key(&org, &Id::generate(prefix::API_KEY)).await.unwrap(), None, "unknown key");
    assert_eq!(store.list_api_keys(&other_org).await.unwrap(), vec![foreign], "lists are per org");
    assert!(store.list_api_keys(&Id::generate(prefix::ORG)).await.unwrap().is_empty(), "an org without keys");
}

pub async fn api_key_limit_counts_only_usable_keys(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let (a, sa) = new_key(&org, now, None);
    store.create_api_key(&a, &sa, 2, now).await.expect("first key under max_active=2");
    let (b, sb) = new_key(&org, now, Some(now + Duration::seconds(1)));
    store.create_api_key(&b, &sb, 2, now).await.expect("second key under max_active=2");

    let (c, sc) = new_key(&org, now, None);
    let result = store.create_api_key(&c, &sc, 2, now).await;
    assert!(
        matches!(result, Err(StoreError::LimitReached("active api keys"))),
        "a third key with max_active=2: expected LimitReached(\"active api keys\"), got {result:?}"
    );
    assert_eq!(store.get_api_key(&org, &c.id).await.unwrap(), None, "a refused key is not stored");
    assert_eq!(store.find_api_key_by_hash(&sc.hash).await.unwrap(), None, "a refused key's secret is not stored");

    // Two seconds on, `b` has expired and no longer counts.
    let later = now + Duration::seconds(2);
    store.create_api_key(&c, &sc, 2, later).await.expect("an expired key does not count");
    let (d, sd) = new_key(&org, later, None);
    let result = store.create_api_key(&d, &sd, 2, later).await;
    assert!(matches!(result, Err(StoreError::LimitReached(_))), "a and c are usable: got {result:?}");

    store.revoke_api_key(&org, &a.id, later).await.expect("revoke a");
    store.create_api_key(&d, &sd, 2, later).await.expect("a revoked key does not count");
    assert_eq!(store.list_api_keys(&org).await.unwrap().len(), 4, "revoked and expired keys are still listed");
}

pub async fn api_key_limit_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let results = concurrently(store, |s, _| {
        let (key, secret) = new_key(&org, now, None);
        async move { s.create_api_key(&key, &secret, 5, now).await }
    })
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited = results.iter().filter(|r| matches!(r, Err(StoreError::LimitReached(_)))).count();
    assert_eq!(
        (ok, limited),
        (5, crate::CONCURRENT_TASKS - 5),
        "max_active=5 with {} concurrent creates: {results:?}",
        crate::CONCURRENT_TASKS
    );
    assert_eq!(store.list_api_keys(&org).await.unwrap().len(), 5, "exactly max_active keys stored");
}

pub async fn api_key_find_by_hash_and_revoke(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let (key, secret) = create(store, &org, now).await;
    assert_eq!(
        store.find_api_key_by_hash(&secret.hash).await.unwrap(),
        Some((key.clone(), secret.clone())),
        "find_api_key_by_hash returns the key and its current secret"
    );
    assert_eq!(store.find_api_key_by_hash(&TokenHash::of("sk_live_nope")).await.unwrap(), None, "unknown hash");

    let result = store.revoke_api_key(&Id::generate(prefix::ORG), &key.id, now).await;
    assert!(matches!(result, Err(StoreError::NotFound("api key"))), "revoke from another org: got {result:?}");
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap().and_then(|k| k.revoked_at), None, "still live");
    let result = store.revoke_api_key(&org, &Id::generate(prefix::API_KEY), now).await;
    assert!(matches!(result, Err(StoreError::NotFound("api key"))), "revoke an unknown key: got {result:?}");

    let at = now + Duration::seconds(1);
    let revoked = store.revoke_api_key(&org, &key.id, at).await.expect("revoke_api_key");
    assert_eq!(revoked, ApiKey { revoked_at: Some(at), ..key.clone() }, "revoke returns the revoked key");
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap(), Some(revoked.clone()), "the revocation is stored");
    let again = store.revoke_api_key(&org, &key.id, at + Duration::seconds(5)).await.expect("revoke again");
    assert_eq!(again, revoked, "revoking a revoked key returns it unchanged");
    assert_unusable(store, &secret.hash, at, KeyRejection::Revoked, "a revoked key's secret is refused").await;
}

pub async fn api_key_rotation_with_grace_period(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let (key, s1) = create(store, &org, now).await;

    let t1 = now + Duration::seconds(1);
    let grace1 = t1 + Duration::hours(1);
    let r2 = rotation(&key, t1, grace1);
    let rotated = store.rotate_api_key(&org, &key.id, &r2, t1).await.expect("rotate");
    let expected = ApiKey {
        display_prefix: r2.display_prefix.clone(),
        last4: r2.last4.clone(),
        rotated_at: Some(t1),
        ..key.clone()
    };
    assert_eq!(rotated, expected, "rotate returns the key with the new prefix, last4 and rotated_at");
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap(), Some(expected.clone()), "the rotation is stored");

    let (k, old) =
        store.find_api_key_by_hash(&s1.hash).await.unwrap().expect("the old secret is found in its grace period");
    assert_eq!(old.valid_until, Some(grace1), "the old secret is valid until old_valid_until");
    assert_eq!(k.check_usable(&old, t1), Ok(()), "the old secret works during the grace period");
    let (_, current) = store.find_api_key_by_hash(&r2.new_secret.hash).await.unwrap().expect("the new secret is found");
    assert_eq!(current, r2.new_secret, "the new secret is current (valid_until None)");

    // A second rotation ends the first secret's grace at once and starts one for the second.
    let t2 = t1 + Duration::seconds(1);
    let grace2 = t2 + Duration::hours(1);
    let r3 = rotation(&key, t2, grace2);
    store.rotate_api_key(&org, &key.id, &r3, t2).await.expect("rotate again");
    assert_unusable(store, &s1.hash, t2, KeyRejection::Rotated, "an older secret ends at the next rotation").await;
    let (_, second) =
        store.find_api_key_by_hash(&r2.new_secret.hash).await.unwrap().expect("the previous secret is in its grace");
    assert_eq!(second.valid_until, Some(grace2));
    let (_, third) =
        store.find_api_key_by_hash(&r3.new_secret.hash).await.unwrap().expect("the newest secret is found");
    assert_eq!(third.valid_until, None);

    // `old_valid_until = now` ends the previous secret at once.
    let t3 = t2 + Duration::seconds(1);
    store.rotate_api_key(&org, &key.id, &rotation(&key, t3, t3), t3).await.expect("rotate without grace");
    assert_unusable(store, &r3.new_secret.hash, t3, KeyRejection::Rotated, "no grace: the previous secret ends now")
        .await;
    assert_unusable(store, &r2.new_secret.hash, t3, KeyRejection::Rotated, "the grace of an older secret ended").await;

    let r5 = rotation(&key, t3, t3);
    let result = store.rotate_api_key(&Id::generate(prefix::ORG), &key.id, &r5, t3).await;
    assert!(matches!(result, Err(StoreError::NotFound("api key"))), "rotate from another org: got {result:?}");
    let result = store.rotate_api_key(&org, &Id::generate(prefix::API_KEY), &r5, t3).await;
    assert!(matches!(result, Err(StoreError::NotFound("api key"))), "rotate an unknown key: got {result:?}");

    store.revoke_api_key(&org, &key.id, t3).await.expect("revoke");
    let result = store.rotate_api_key(&org, &key.id, &r5, t3).await;
    assert!(
        matches!(result, Err(StoreError::Conflict("api key revoked"))),
        "rotating a revoked key: expected Conflict(\"api key revoked\"), got {result:?}"
    );
    assert_eq!(
        store.find_api_key_by_hash(&r5.new_secret.hash).await.unwrap(),
        None,
        "a refused rotation stores no secret"
    );
}

pub async fn revoke_all_api_keys_counts(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let other_org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    ensure_default_project(store, &other_org, now).await;
    let (a, _) = create(store, &org, now).await;
    create(store, &org, now).await;
    create(store, &org, now).await;
    let (foreign, _) = create(store, &other_org, now).await;
    store.revoke_api_key(&org, &a.id, now).await.unwrap();

    let at = now + Duration::seconds(1);
    assert_eq!(store.revoke_all_api_keys(&org, at).await.unwrap(), 2, "only the unrevoked keys are counted");
    for key in store.list_api_keys(&org).await.unwrap() {
        let expected = if key.id == a.id { now } else { at };
        assert_eq!(key.revoked_at, Some(expected), "every key revoked, earlier revocations kept");
    }
    assert_eq!(store.revoke_all_api_keys(&org, at).await.unwrap(), 0, "nothing left to revoke");
    assert_eq!(
        store.get_api_key(&other_org, &foreign.id).await.unwrap().and_then(|k| k.revoked_at),
        None,
        "another org's keys are untouched"
    );
}

/// `mark_api_key_used` only moves forward, stays inside the organization, ignores unknown keys.
pub async fn mark_api_key_used_moves_forward_only(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let (key, _) = create(store, &org, now).await;
    let later = now + Duration::minutes(5);
    store.mark_api_key_used(&org, &key.id, later).await.unwrap();
    let last_used = |k: Option<ApiKey>| k.expect("key").last_used_at;
    assert_eq!(last_used(store.get_api_key(&org, &key.id).await.unwrap()), Some(later));
    store.mark_api_key_used(&org, &key.id, now).await.unwrap();
    assert_eq!(last_used(store.get_api_key(&org, &key.id).await.unwrap()), Some(later), "never moves backwards");
    let other_org = Id::generate(prefix::ORG);
    store.mark_api_key_used(&other_org, &key.id, later + Duration::minutes(1)).await.unwrap();
    assert_eq!(
        last_used(store.get_api_key(&org, &key.id).await.unwrap()),
        Some(later),
        "another org's call changes nothing"
    );
    store.mark_api_key_used(&org, &Id::generate(prefix::API_KEY), later).await.expect("unknown keys are ignored");
}

pub async fn api_key_scopes_round_trip_through_every_read(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let (plain, plain_secret) = create(store, &org, now).await;
    let (mut scoped, secret) = new_key(&org, now, None);
    scoped.scopes = Some(vec!["weather".into(), "maps.v2:read".into()]);
    store.create_api_key(&scoped, &secret, MANY, now).await.expect("create a scoped key");

    assert_eq!(store.get_api_key(&org, &scoped.id).await.unwrap(), Some(scoped.clone()), "get keeps the scopes");
    let listed = store.list_api_keys(&org).await.unwrap();
    assert!(listed.contains(&scoped) && listed.contains(&plain), "list keeps scopes and their absence");
    let (found, _) = store.find_api_key_by_hash(&secret.hash).await.unwrap().expect("found by hash");
    assert_eq!(found.scopes, scoped.scopes, "the gateway's lookup sees the scopes");
    let (found, _) = store.find_api_key_by_hash(&plain_secret.hash).await.unwrap().expect("found by hash");
    assert_eq!(found.scopes, None, "a key without scopes reads back without them");

    // A rotation writes a new lookup item: it carries the scopes too.
    let later = now + Duration::seconds(1);
    let r = rotation(&scoped, later, later);
    let rotated = store.rotate_api_key(&org, &scoped.id, &r, later).await.expect("rotate");
    assert_eq!(rotated.scopes, scoped.scopes, "rotation keeps the scopes");
    let (found, _) = store.find_api_key_by_hash(&r.new_secret.hash).await.unwrap().expect("the new secret");
    assert_eq!(found.scopes, scoped.scopes, "the new secret's lookup carries the scopes");
}

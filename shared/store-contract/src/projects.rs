//! Cases for `ProjectRepository`, and how projects bound `ApiKeyRepository`.

use crate::{concurrently, new_key, now_ms, SharedStore, CONCURRENT_TASKS};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{ApiKey, Id, KeyRejection, NewVerifySecret, Project, StoreError, TokenHash};

const MANY: u32 = 100;

/// Stores `org_id`'s default project unless it is stored already (as the services do
/// before an organization's first key) and returns the stored one.
pub async fn ensure_default_project(store: &SharedStore, org_id: &Id, now: DateTime<Utc>) -> Project {
    store.ensure_project(&Project::default_for(org_id, now)).await.expect("ensure_project (the default project)")
}

/// A new project of `org_id` named `name` (not stored yet).
pub fn new_project(org_id: &Id, name: &str, now: DateTime<Utc>) -> Project {
    Project::new(org_id, name, None, now).expect("a valid project")
}

/// Stores a new project of `org_id` under a generous limit and returns it.
async fn create(store: &SharedStore, org_id: &Id, name: &str, now: DateTime<Utc>) -> Project {
    let p = new_project(org_id, name, now);
    store.create_project(&p, MANY).await.expect("create_project under the limit");
    p
}

/// Stores a new key of `project` (with its organization) and returns it with its secret.
async fn create_key_in(
    store: &SharedStore,
    project: &Project,
    now: DateTime<Utc>,
) -> (ApiKey, tollgate_domain::KeySecret) {
    let (mut key, secret) = new_key(&project.org_id, now, None);
    key.project_id = project.id.clone();
    store.create_api_key(&key, &secret, MANY, now).await.expect("create_api_key in an existing project");
    (key, secret)
}

pub async fn projects_create_list_get_update_with_tenant_isolation(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let other_org = Id::generate(prefix::ORG);
    let mut p1 = new_project(&org, "Web", now - Duration::seconds(2));
    p1.description = Some("The web shop".into());
    store.create_project(&p1, MANY).await.expect("create_project");
    let mut p2 = new_project(&org, "Mobile", now - Duration::seconds(1));
    p2.verify_secret_hash = Some(NewVerifySecret::generate().hash);
    store.create_project(&p2, MANY).await.expect("create_project");
    let foreign = create(store, &other_org, "Foreign", now).await;

    assert_eq!(
        store.list_projects(&org).await.unwrap(),
        vec![p1.clone(), p2.clone()],
        "oldest first, exact round trip"
    );
    assert_eq!(store.get_project(&org, &p2.id).await.unwrap(), Some(p2.clone()), "get_project in its org");
    assert_eq!(store.get_project(&other_org, &p1.id).await.unwrap(), None, "a project is invisible from another org");
    assert_eq!(store.get_project(&org, &foreign.id).await.unwrap(), None, "another org's project is invisible");
    assert_eq!(store.get_project(&org, &Id::generate(prefix::PROJECT)).await.unwrap(), None, "unknown project");
    assert_eq!(store.list_projects(&other_org).await.unwrap(), vec![foreign.clone()], "lists are per org");
    assert!(store.list_projects(&Id::generate(prefix::ORG)).await.unwrap().is_empty(), "an org without projects");

    let dup = Project { id: p1.id.clone(), ..new_project(&org, "Duplicate", now) };
    let result = store.create_project(&dup, MANY).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists("project"))),
        "a second project with the same id: expected AlreadyExists(\"project\"), got {result:?}"
    );
    assert_eq!(
        store.get_project(&org, &p1.id).await.unwrap(),
        Some(p1.clone()),
        "a rejected duplicate changes nothing"
    );

    // update_project writes name, description, verify_secret_hash and updated_at; nothing else.
    let later = now + Duration::seconds(5);
    let updated = Project {
        name: "Web shop".into(),
        description: None,
        verify_secret_hash: Some(NewVerifySecret::generate().hash),
        updated_at: later,
        ..p1.clone()
    };
    store.update_project(&Project { created_at: later, ..updated.clone() }).await.expect("update_project");
    assert_eq!(
        store.get_project(&org, &p1.id).await.unwrap(),
        Some(updated.clone()),
        "update_project writes name, description, verify_secret_hash and updated_at (created_at kept)"
    );
    let back = Project { description: Some("again".into()), verify_secret_hash: None, ..updated.clone() };
    store.update_project(&back).await.expect("update_project");
    assert_eq!(store.get_project(&org, &p1.id).await.unwrap(), Some(back.clone()), "nullable fields go both ways");

    let result = store.update_project(&Project { org_id: other_org.clone(), ..back.clone() }).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "update from another org: got {result:?}");
    assert_eq!(store.get_project(&org, &p1.id).await.unwrap(), Some(back), "a refused update changes nothing");
    assert_eq!(store.get_project(&other_org, &p1.id).await.unwrap(), None, "and creates nothing");
    let missing = new_project(&org, "Missing", now);
    let result = store.update_project(&missing).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "update of an unknown project: got {result:?}");
    assert_eq!(store.get_project(&org, &missing.id).await.unwrap(), None, "a failed update creates nothing");
}

pub async fn project_limit_counts_the_organizations_projects(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    let a = new_project(&org, "A", now);
    store.create_project(&a, 2).await.expect("the default project and a: max_projects 2");
    let b = new_project(&org, "B", now);
    let result = store.create_project(&b, 2).await;
    assert!(
        matches!(result, Err(StoreError::LimitReached("projects"))),
        "a third project with max_projects=2 (the default one counts): expected LimitReached(\"projects\"), \
         got {result:?}"
    );
    assert_eq!(store.get_project(&org, &b.id).await.unwrap(), None, "a refused project is not stored");
    store.create_project(&b, 3).await.expect("under a higher limit");

    store.delete_project(&org, &a.id, now).await.expect("delete_project");
    let c = new_project(&org, "C", now);
    store.create_project(&c, 3).await.expect("a deleted project does not count");
    let result = store.create_project(&new_project(&org, "D", now), 3).await;
    assert!(matches!(result, Err(StoreError::LimitReached("projects"))), "default, b and c: got {result:?}");
    store.create_project(&new_project(&Id::generate(prefix::ORG), "E", now), 1).await.expect("limits are per org");
}

pub async fn project_limit_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    ensure_default_project(store, &org, now).await;
    create(store, &org, "Existing", now).await;
    let results = concurrently(store, |s, i| {
        let p = new_project(&org, &format!("Concurrent {i}"), now);
        async move { s.create_project(&p, 5).await }
    })
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let limited = results.iter().filter(|r| matches!(r, Err(StoreError::LimitReached("projects")))).count();
    assert_eq!(
        (ok, limited),
        (3, CONCURRENT_TASKS - 3),
        "max_projects=5 with 2 projects stored and {CONCURRENT_TASKS} concurrent creates: {results:?}"
    );
    assert_eq!(store.list_projects(&org).await.unwrap().len(), 5, "exactly max_projects projects stored");
}

pub async fn ensure_project_keeps_the_first_and_ignores_the_limit(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let a = new_project(&org, "A", now - Duration::seconds(1));
    store.create_project(&a, 1).await.expect("create_project: the first of max 1");

    let first = Project::default_for(&org, now);
    assert_eq!(store.ensure_project(&first).await.unwrap(), first, "the first ensure stores and returns it");
    let second = Project { name: "Another name".into(), updated_at: now + Duration::seconds(1), ..first.clone() };
    assert_eq!(store.ensure_project(&second).await.unwrap(), first, "a second ensure returns the stored one");
    assert_eq!(
        store.list_projects(&org).await.unwrap(),
        vec![a.clone(), first.clone()],
        "ensure_project applies no limit (two projects, where create_project allowed one)"
    );
    let result = store.create_project(&new_project(&org, "B", now), 2).await;
    assert!(matches!(result, Err(StoreError::LimitReached("projects"))), "the ensured one counts: got {result:?}");

    store.delete_project(&org, &a.id, now).await.expect("delete_project");
    let result = store.ensure_project(&a).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("project"))),
        "ensure of a deleted project's id: expected NotFound(\"project\"), got {result:?}"
    );
    assert_eq!(store.list_projects(&org).await.unwrap(), vec![first], "and stores nothing");
}

pub async fn ensure_project_is_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let results = concurrently(store, |s, i| {
        let p = Project { name: format!("Default {i}"), ..Project::default_for(&org, now) };
        async move { s.ensure_project(&p).await.map_err(|e| e.to_string()) }
    })
    .await;
    let first = results[0].clone().expect("ensure_project");
    assert!(
        results.iter().all(|r| r.as_ref() == Ok(&first)),
        "all {CONCURRENT_TASKS} concurrent ensures return the same project: {results:?}"
    );
    assert_eq!(store.list_projects(&org).await.unwrap(), vec![first], "exactly one project stored");
}

pub async fn delete_project_revokes_its_keys(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let default = ensure_default_project(store, &org, now).await;
    let p = create(store, &org, "Doomed", now).await;
    let (k1, s1) = create_key_in(store, &p, now - Duration::seconds(3)).await;
    let (k2, _) = create_key_in(store, &p, now - Duration::seconds(2)).await;
    let (k3, _) = create_key_in(store, &p, now - Duration::seconds(1)).await;
    store.revoke_api_key(&org, &k3.id, now).await.expect("revoke k3");
    let (kept, kept_secret) = create_key_in(store, &default, now).await;

    let other_org = Id::generate(prefix::ORG);
    let result = store.delete_project(&other_org, &p.id, now).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "delete from another org: got {result:?}");
    assert_eq!(store.get_project(&org, &p.id).await.unwrap(), Some(p.clone()), "still there");
    assert_eq!(store.get_api_key(&org, &k1.id).await.unwrap(), Some(k1.clone()), "its keys untouched");

    let at = now + Duration::seconds(1);
    assert_eq!(
        store.delete_project(&org, &p.id, at).await.expect("delete_project"),
        2,
        "the count of keys this call revoked (k3 was revoked before)"
    );
    assert_eq!(store.get_project(&org, &p.id).await.unwrap(), None, "a deleted project is gone");
    assert_eq!(store.list_projects(&org).await.unwrap(), vec![default.clone()], "and not listed");
    assert_eq!(
        store.list_api_keys(&org).await.unwrap(),
        vec![
            kept.clone(),
            ApiKey { revoked_at: Some(now), ..k3.clone() },
            ApiKey { revoked_at: Some(at), ..k2.clone() },
            ApiKey { revoked_at: Some(at), ..k1.clone() },
        ],
        "its keys are still listed, revoked (earlier revocations kept); other projects' keys untouched"
    );
    let (found, secret) = store.find_api_key_by_hash(&s1.hash).await.unwrap().expect("a revoked key is still found");
    assert_eq!(found, ApiKey { revoked_at: Some(at), ..k1.clone() }, "found by hash, revoked");
    assert_eq!(found.check_usable(&secret, at), Err(KeyRejection::Revoked));
    let (found, secret) = store.find_api_key_by_hash(&kept_secret.hash).await.unwrap().expect("the other key");
    assert_eq!(found.check_usable(&secret, at), Ok(()), "another project's key stays usable");

    let result = store.delete_project(&org, &p.id, at).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "a second delete: got {result:?}");

    let (mut key, secret) = new_key(&org, at, None);
    key.project_id = p.id.clone();
    let result = store.create_api_key(&key, &secret, MANY, at).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("project"))),
        "a key in a deleted project: expected NotFound(\"project\"), got {result:?}"
    );
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap(), None, "a refused key is not stored");
    assert_eq!(store.find_api_key_by_hash(&secret.hash).await.unwrap(), None, "nor its secret");
    key.project_id = Id::generate(prefix::PROJECT);
    let result = store.create_api_key(&key, &secret, MANY, at).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "a key in an unknown project: got {result:?}");
    let foreign = ensure_default_project(store, &other_org, now).await;
    key.project_id = foreign.id.clone();
    let result = store.create_api_key(&key, &secret, MANY, at).await;
    assert!(matches!(result, Err(StoreError::NotFound("project"))), "a key in another org's project: got {result:?}");
    assert_eq!(store.get_api_key(&org, &key.id).await.unwrap(), None, "nothing stored in the key's org");
    assert_eq!(store.list_api_keys(&other_org).await.unwrap(), vec![], "nor in the project's");
}

pub async fn find_project_by_verify_secret(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let (s1, s2) = (NewVerifySecret::generate(), NewVerifySecret::generate());
    let p = Project { verify_secret_hash: Some(s1.hash.clone()), ..new_project(&org, "Verified", now) };
    store.create_project(&p, MANY).await.expect("create_project");
    create(store, &org, "Without a secret", now).await;
    assert_eq!(store.find_project_by_verify_secret(&s1.hash).await.unwrap(), Some(p.clone()), "found by hash");
    assert_eq!(store.find_project_by_verify_secret(&TokenHash::of("pvs_nope")).await.unwrap(), None, "unknown hash");

    let rotated = Project { verify_secret_hash: Some(s2.hash.clone()), updated_at: now, ..p.clone() };
    store.update_project(&rotated).await.expect("update_project");
    assert_eq!(store.find_project_by_verify_secret(&s1.hash).await.unwrap(), None, "a replaced hash is not found");
    assert_eq!(store.find_project_by_verify_secret(&s2.hash).await.unwrap(), Some(rotated), "the new one is");

    store.delete_project(&org, &p.id, now).await.expect("delete_project");
    assert_eq!(store.find_project_by_verify_secret(&s2.hash).await.unwrap(), None, "not after a delete");
}

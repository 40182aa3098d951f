//! Cases for `ManagementTokenRepository`.

use crate::{now_ms, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{Id, ManagementScope, ManagementToken, NewManagementToken, StoreError, TokenHash};

/// A new token with `scopes` (not stored yet) and the hash of its secret.
pub fn new_management_token(scopes: Vec<ManagementScope>, now: DateTime<Utc>) -> (ManagementToken, TokenHash) {
    let secret = NewManagementToken::generate();
    let token = ManagementToken {
        id: Id::generate(prefix::MANAGEMENT_TOKEN),
        name: unique("token"),
        display_prefix: secret.display_prefix.clone(),
        scopes,
        created_by: Id::generate(prefix::USER),
        created_at: now,
        expires_at: Some(now + Duration::days(30)),
        revoked_at: None,
        last_used_at: None,
    };
    (token, secret.hash)
}

pub async fn management_tokens_create_find_list_revoke(store: &SharedStore) {
    let now = now_ms();
    let (a, hash_a) = new_management_token(vec![ManagementScope::ReadCustomers, ManagementScope::WritePlans], now);
    let (b, hash_b) = new_management_token(vec![ManagementScope::ReadInvoices], now + Duration::milliseconds(1));
    let b = ManagementToken { expires_at: None, ..b };
    store.create_management_token(&a, &hash_a).await.expect("create a");
    store.create_management_token(&b, &hash_b).await.expect("create b");
    assert!(
        matches!(store.create_management_token(&a, &TokenHash::of("other")).await, Err(StoreError::AlreadyExists(_))),
        "the same id is AlreadyExists"
    );
    let (c, _) = new_management_token(vec![ManagementScope::ReadPlans], now);
    assert!(
        matches!(store.create_management_token(&c, &hash_a).await, Err(StoreError::AlreadyExists(_))),
        "the same hash is AlreadyExists"
    );
    assert_eq!(
        store.find_management_token_by_hash(&TokenHash::of("other")).await.unwrap(),
        None,
        "nothing half-written"
    );

    assert_eq!(store.find_management_token_by_hash(&hash_a).await.unwrap(), Some(a.clone()), "found by hash");
    assert_eq!(store.find_management_token_by_hash(&hash_b).await.unwrap(), Some(b.clone()));
    assert_eq!(store.find_management_token_by_hash(&TokenHash::of("nope")).await.unwrap(), None);
    let listed = store.list_management_tokens().await.unwrap();
    let pos = |id: &Id| listed.iter().position(|t| t.id == *id).expect("listed");
    assert!(pos(&b.id) < pos(&a.id), "newest first");
    assert_eq!(listed[pos(&a.id)], a);

    let used = now + Duration::seconds(5);
    store.mark_management_token_used(&a.id, used).await.unwrap();
    store.mark_management_token_used(&a.id, now).await.unwrap();
    store.mark_management_token_used(&Id::generate(prefix::MANAGEMENT_TOKEN), used).await.expect("unknown is ignored");
    let found = store.find_management_token_by_hash(&hash_a).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(used), "last use only moves forward");

    let at = now + Duration::seconds(10);
    let revoked = store.revoke_management_token(&a.id, at).await.expect("revoke");
    assert_eq!(revoked, ManagementToken { revoked_at: Some(at), last_used_at: Some(used), ..a.clone() });
    let again = store.revoke_management_token(&a.id, at + Duration::seconds(1)).await.expect("revoke again");
    assert_eq!(again.revoked_at, Some(at), "a second revocation changes nothing");
    assert_eq!(store.find_management_token_by_hash(&hash_a).await.unwrap().unwrap().revoked_at, Some(at));
    assert!(matches!(
        store.revoke_management_token(&Id::generate(prefix::MANAGEMENT_TOKEN), at).await,
        Err(StoreError::NotFound("management token"))
    ));
}

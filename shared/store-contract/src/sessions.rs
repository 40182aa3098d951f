//! Cases for `SessionRepository`.

use crate::{concurrently, now_ms, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::token::generate_secret_token;
use tollgate_domain::{
    ActionToken, ActionTokenKind, Id, RefreshFamily, RefreshToken, RotateOutcome, StoreError, TokenHash,
};

/// A new family of `user_id` with its first token (not stored yet).
pub fn new_family(user_id: &Id, now: DateTime<Utc>) -> (RefreshFamily, RefreshToken) {
    let family = RefreshFamily {
        id: Id::generate(prefix::REFRESH_FAMILY),
        user_id: user_id.clone(),
        created_at: now,
        revoked_at: None,
        revoked_reason: None,
    };
    let first = next_token(&family, now);
    (family, first)
}

/// A new unrotated token of `family`.
pub fn next_token(family: &RefreshFamily, now: DateTime<Utc>) -> RefreshToken {
    RefreshToken {
        hash: TokenHash::of(&generate_secret_token()),
        family_id: family.id.clone(),
        user_id: family.user_id.clone(),
        created_at: now,
        expires_at: now + Duration::days(30),
        rotated_at: None,
    }
}

async fn family_of(store: &SharedStore, token: &RefreshToken) -> RefreshFamily {
    store.find_refresh_token(&token.hash).await.unwrap().expect("token of the family is stored").1
}

pub async fn refresh_family_create_find_rotate(store: &SharedStore) {
    let now = now_ms();
    let user_id = Id::generate(prefix::USER);
    let (family, t1) = new_family(&user_id, now);
    store.create_family(&family, &t1).await.expect("create_family");
    assert_eq!(
        store.find_refresh_token(&t1.hash).await.unwrap(),
        Some((t1.clone(), family.clone())),
        "find_refresh_token returns the token and its family"
    );
    assert_eq!(store.find_refresh_token(&TokenHash::of("unknown")).await.unwrap(), None, "unknown token");

    let later = now + Duration::seconds(1);
    let t2 = next_token(&family, later);
    let outcome = store.rotate_refresh_token(&t1.hash, &t2, later).await.expect("rotate");
    assert_eq!(outcome, RotateOutcome::Rotated, "the first rotation of a live token");
    let (old, _) = store.find_refresh_token(&t1.hash).await.unwrap().expect("the rotated token is kept");
    assert_eq!(old.rotated_at, Some(later), "the old token is marked rotated at `now`");
    assert_eq!(
        store.find_refresh_token(&t2.hash).await.unwrap(),
        Some((t2.clone(), family.clone())),
        "the new token is stored in the same family"
    );

    let t3 = next_token(&family, later);
    let outcome = store.rotate_refresh_token(&t1.hash, &t3, later).await.expect("rotate again");
    assert_eq!(outcome, RotateOutcome::AlreadyRotated, "rotating a rotated token is a reuse");
    assert_eq!(store.find_refresh_token(&t3.hash).await.unwrap(), None, "a reuse stores nothing");

    let t4 = next_token(&family, later);
    let result = store.rotate_refresh_token(&TokenHash::of("no such token"), &t4, later).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("refresh token"))),
        "rotating an unknown token: expected NotFound(\"refresh token\"), got {result:?}"
    );
    assert_eq!(store.find_refresh_token(&t4.hash).await.unwrap(), None, "a failed rotation stores nothing");

    let t5 = next_token(&family, later);
    assert_eq!(
        store.rotate_refresh_token(&t2.hash, &t5, later).await.unwrap(),
        RotateOutcome::Rotated,
        "the chain continues"
    );
}

pub async fn refresh_rotation_is_atomic_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let (family, t1) = new_family(&Id::generate(prefix::USER), now);
    store.create_family(&family, &t1).await.expect("create_family");
    let candidates: Vec<RefreshToken> = (0..crate::CONCURRENT_TASKS).map(|_| next_token(&family, now)).collect();

    let outcomes = concurrently(store, |s, i| {
        let (old, new) = (t1.hash.clone(), candidates[i].clone());
        async move { s.rotate_refresh_token(&old, &new, now).await.map_err(|e| e.to_string()) }
    })
    .await;
    let rotated = outcomes.iter().filter(|o| matches!(o, Ok(RotateOutcome::Rotated))).count();
    let reused = outcomes.iter().filter(|o| matches!(o, Ok(RotateOutcome::AlreadyRotated))).count();
    assert_eq!(
        (rotated, reused),
        (1, crate::CONCURRENT_TASKS - 1),
        "exactly one concurrent rotation wins: {outcomes:?}"
    );

    let mut stored = 0;
    for (token, outcome) in candidates.iter().zip(&outcomes) {
        let found = store.find_refresh_token(&token.hash).await.unwrap().is_some();
        assert_eq!(found, matches!(outcome, Ok(RotateOutcome::Rotated)), "only the winner's new token is stored");
        stored += usize::from(found);
    }
    assert_eq!(stored, 1);
}

pub async fn revoke_family_is_idempotent(store: &SharedStore) {
    let now = now_ms();
    let (family, t1) = new_family(&Id::generate(prefix::USER), now);
    store.create_family(&family, &t1).await.expect("create_family");

    let at = now + Duration::seconds(1);
    store.revoke_family(&family.id, "logout", at).await.expect("revoke_family");
    let revoked = family_of(store, &t1).await;
    assert_eq!((revoked.revoked_at, revoked.revoked_reason.as_deref()), (Some(at), Some("logout")), "family revoked");

    store.revoke_family(&family.id, "reuse_detected", at + Duration::seconds(5)).await.expect("revoke again");
    let again = family_of(store, &t1).await;
    assert_eq!(
        (again.revoked_at, again.revoked_reason.as_deref()),
        (Some(at), Some("logout")),
        "a second revoke keeps the first reason and time"
    );
}

pub async fn revoke_user_families_keeps_one(store: &SharedStore) {
    let now = now_ms();
    let user_id = Id::generate(prefix::USER);
    let (keep, keep_t) = new_family(&user_id, now);
    let (other, other_t) = new_family(&user_id, now);
    let (earlier, earlier_t) = new_family(&user_id, now);
    let (foreign, foreign_t) = new_family(&Id::generate(prefix::USER), now);
    for (f, t) in [(&keep, &keep_t), (&other, &other_t), (&earlier, &earlier_t), (&foreign, &foreign_t)] {
        store.create_family(f, t).await.expect("create_family");
    }
    store.revoke_family(&earlier.id, "logout", now).await.unwrap();

    let at = now + Duration::seconds(1);
    let n = store.revoke_user_families(&user_id, Some(&keep.id), "password_changed", at).await.unwrap();
    assert_eq!(n, 1, "only the unrevoked family that is not kept is counted");
    assert_eq!(family_of(store, &keep_t).await.revoked_at, None, "the kept family stays live");
    let o = family_of(store, &other_t).await;
    assert_eq!((o.revoked_at, o.revoked_reason.as_deref()), (Some(at), Some("password_changed")));
    let e = family_of(store, &earlier_t).await;
    assert_eq!((e.revoked_at, e.revoked_reason.as_deref()), (Some(now), Some("logout")), "already revoked: unchanged");
    assert_eq!(family_of(store, &foreign_t).await.revoked_at, None, "another user's family is untouched");

    let n = store.revoke_user_families(&user_id, None, "account_deleted", at).await.unwrap();
    assert_eq!(n, 1, "without `keep` the last live family goes too");
    assert_eq!(family_of(store, &keep_t).await.revoked_reason.as_deref(), Some("account_deleted"));
    assert_eq!(store.revoke_user_families(&user_id, None, "again", at).await.unwrap(), 0, "nothing left to revoke");
}

/// A new action token (not stored yet) and its plaintext's hash.
pub fn new_action_token(kind: ActionTokenKind, now: DateTime<Utc>, ttl: Duration) -> ActionToken {
    ActionToken {
        hash: TokenHash::of(&generate_secret_token()),
        kind,
        user_id: Id::generate(prefix::USER),
        created_at: now,
        expires_at: now + ttl,
    }
}

pub async fn action_tokens_are_single_use(store: &SharedStore) {
    let now = now_ms();
    let token = new_action_token(ActionTokenKind::VerifyEmail, now, Duration::hours(1));
    store.create_action_token(&token).await.expect("create_action_token");

    let wrong = store.consume_action_token(&token.hash, ActionTokenKind::ResetPassword, now).await.unwrap();
    assert_eq!(wrong, None, "a token of another kind is not consumed");
    let got = store.consume_action_token(&token.hash, ActionTokenKind::VerifyEmail, now).await.unwrap();
    assert_eq!(got, Some(token.clone()), "the first consume returns the token (the wrong-kind attempt did not use it)");
    let again = store.consume_action_token(&token.hash, ActionTokenKind::VerifyEmail, now).await.unwrap();
    assert_eq!(again, None, "a token works once");

    let short = new_action_token(ActionTokenKind::ResetPassword, now, Duration::minutes(10));
    store.create_action_token(&short).await.expect("create_action_token");
    let late = store.consume_action_token(&short.hash, ActionTokenKind::ResetPassword, short.expires_at).await.unwrap();
    assert_eq!(late, None, "at its expiry the token no longer works");
    let late = store
        .consume_action_token(&short.hash, ActionTokenKind::ResetPassword, short.expires_at + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(late, None, "after its expiry the token no longer works");
    let in_time = store.consume_action_token(&short.hash, ActionTokenKind::ResetPassword, now).await.unwrap();
    assert_eq!(in_time, Some(short), "expired attempts did not use the token up");

    let unknown = store.consume_action_token(&TokenHash::of("nope"), ActionTokenKind::VerifyEmail, now).await.unwrap();
    assert_eq!(unknown, None, "unknown token");
}

pub async fn action_token_consumed_once_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let token = new_action_token(ActionTokenKind::ResetPassword, now, Duration::hours(1));
    store.create_action_token(&token).await.expect("create_action_token");
    let results =
        concurrently(store, |s, _| {
            let hash = token.hash.clone();
            async move {
                s.consume_action_token(&hash, ActionTokenKind::ResetPassword, now).await.map_err(|e| e.to_string())
            }
        })
        .await;
    let wins = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    let losses = results.iter().filter(|r| matches!(r, Ok(None))).count();
    assert_eq!((wins, losses), (1, crate::CONCURRENT_TASKS - 1), "exactly one concurrent consume wins: {results:?}");
}

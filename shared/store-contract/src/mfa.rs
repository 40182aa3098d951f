//! Cases for `MfaRepository`.

use crate::{concurrently, now_ms, SharedStore};
use chrono::Duration;
use tollgate_domain::id::prefix;
use tollgate_domain::totp::recovery_code_hash;
use tollgate_domain::{Id, MfaEnrollment, StoreError, TokenHash};

fn codes(tag: &str) -> Vec<TokenHash> {
    (0..10).map(|i| recovery_code_hash(&format!("{tag}-{i}"))).collect()
}

pub async fn mfa_enroll_confirm_and_delete(store: &SharedStore) {
    let now = now_ms();
    let (user, other) = (Id::generate(prefix::USER), Id::generate(prefix::USER));
    assert_eq!(store.get_mfa(&user).await.unwrap(), None, "absent until enrolled");

    let first = MfaEnrollment::new(&user, now);
    store.start_mfa_enrollment(&first).await.expect("start");
    assert_eq!(store.get_mfa(&user).await.unwrap(), Some(first.clone()), "exact round trip");
    assert_eq!(store.get_mfa(&other).await.unwrap(), None, "per user");

    // A new unconfirmed enrolment replaces the first; confirming with the old secret fails.
    let second = MfaEnrollment::new(&user, now + Duration::seconds(1));
    store.start_mfa_enrollment(&second).await.expect("replace an unconfirmed enrolment");
    assert_eq!(store.get_mfa(&user).await.unwrap(), Some(second.clone()));
    let recovery = codes("a");
    assert!(matches!(store.confirm_mfa(&user, &first.secret, 100, &recovery, now).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 0, "nothing written");

    let confirmed_at = now + Duration::seconds(2);
    store.confirm_mfa(&user, &second.secret, 100, &recovery, confirmed_at).await.expect("confirm");
    let stored = store.get_mfa(&user).await.unwrap().unwrap();
    assert_eq!(stored.confirmed_at, Some(confirmed_at));
    assert_eq!(stored.last_used_step, Some(100), "the confirming code's step is used");
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 10);
    assert!(
        matches!(store.confirm_mfa(&user, &second.secret, 101, &recovery, now).await, Err(StoreError::Conflict(_))),
        "confirmed once"
    );
    assert!(
        matches!(store.start_mfa_enrollment(&MfaEnrollment::new(&user, now)).await, Err(StoreError::Conflict(_))),
        "a confirmed enrolment is not replaced"
    );
    assert_eq!(store.get_mfa(&user).await.unwrap(), Some(stored), "unchanged");

    store.delete_mfa(&user).await.expect("delete");
    assert_eq!(store.get_mfa(&user).await.unwrap(), None);
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 0);
    assert!(!store.consume_recovery_code(&user, &recovery[0]).await.unwrap(), "codes gone with it");
    store.delete_mfa(&user).await.expect("idempotent");

    // Enrolling again: the new codes replace any earlier ones.
    let third = MfaEnrollment::new(&user, now);
    store.start_mfa_enrollment(&third).await.unwrap();
    let renewed = codes("b");
    store.confirm_mfa(&user, &third.secret, 7, &renewed, now).await.unwrap();
    assert!(!store.consume_recovery_code(&user, &recovery[1]).await.unwrap());
    assert!(store.consume_recovery_code(&user, &renewed[1]).await.unwrap());
}

pub async fn mfa_steps_only_move_forward_and_recovery_codes_work_once(store: &SharedStore) {
    let now = now_ms();
    let user = Id::generate(prefix::USER);
    assert!(!store.use_totp_step(&user, 1).await.unwrap(), "no enrolment, no step");
    let enrollment = MfaEnrollment::new(&user, now);
    store.start_mfa_enrollment(&enrollment).await.unwrap();
    let recovery = codes("c");
    store.confirm_mfa(&user, &enrollment.secret, 50, &recovery, now).await.unwrap();

    assert!(!store.use_totp_step(&user, 50).await.unwrap(), "the same step");
    assert!(!store.use_totp_step(&user, 49).await.unwrap(), "an earlier step");
    assert!(store.use_totp_step(&user, 51).await.unwrap());
    assert!(store.use_totp_step(&user, 53).await.unwrap(), "steps may be skipped");
    assert!(!store.use_totp_step(&user, 52).await.unwrap());
    assert_eq!(store.get_mfa(&user).await.unwrap().unwrap().last_used_step, Some(53));

    assert!(store.consume_recovery_code(&user, &recovery[3]).await.unwrap());
    assert!(!store.consume_recovery_code(&user, &recovery[3]).await.unwrap(), "once");
    assert!(!store.consume_recovery_code(&user, &recovery_code_hash("never-issued")).await.unwrap());
    let stranger = Id::generate(prefix::USER);
    assert!(!store.consume_recovery_code(&stranger, &recovery[4]).await.unwrap(), "another user's code");
    assert_eq!(store.recovery_codes_left(&user).await.unwrap(), 9);
}

pub async fn mfa_step_and_recovery_code_are_exact_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let user = Id::generate(prefix::USER);
    let enrollment = MfaEnrollment::new(&user, now);
    store.start_mfa_enrollment(&enrollment).await.unwrap();
    let recovery = codes("d");
    store.confirm_mfa(&user, &enrollment.secret, 10, &recovery, now).await.unwrap();

    let u = user.clone();
    let steps = concurrently(store, move |s, _| {
        let u = u.clone();
        async move { s.use_totp_step(&u, 11).await.unwrap() }
    })
    .await;
    assert_eq!(steps.iter().filter(|ok| **ok).count(), 1, "one login with the code passes");

    let (u, code) = (user.clone(), recovery[0].clone());
    let used = concurrently(store, move |s, _| {
        let (u, code) = (u.clone(), code.clone());
        async move { s.consume_recovery_code(&u, &code).await.unwrap() }
    })
    .await;
    assert_eq!(used.iter().filter(|ok| **ok).count(), 1, "a recovery code works once");
}

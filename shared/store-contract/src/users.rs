//! Cases for `UserRepository`.

use crate::{now_ms, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    Email, Id, Membership, OrgRole, Organization, Role, StoreError, User, UserQuery, UserSort, UserStatus,
};

/// A new user with their personal organization and owner membership (not stored yet).
/// The email is spelled in mixed case; `Email::parse` normalises it.
pub fn new_user(role: Role, now: DateTime<Utc>) -> (User, Organization, Membership) {
    let email = Email::parse(&format!("{}@Example.COM", unique("Contract"))).expect("valid email");
    new_user_with_email(email, role, now)
}

/// Like [`new_user`] with a given email.
pub fn new_user_with_email(email: Email, role: Role, now: DateTime<Utc>) -> (User, Organization, Membership) {
    let user_id = Id::generate(prefix::USER);
    let org_id = Id::generate(prefix::ORG);
    let user = User {
        id: user_id.clone(),
        email,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        company_name: Some("Analytical Engines".into()),
        role,
        status: UserStatus::Active,
        email_verified: false,
        default_org_id: org_id.clone(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let org = Organization {
        id: org_id.clone(),
        name: "Ada's org".into(),
        owner_id: user_id.clone(),
        personal: true,
        created_at: now,
    };
    let owner = Membership { org_id, user_id, role: OrgRole::Owner, created_at: now };
    (user, org, owner)
}

/// Creates a user (with org and membership) and returns them.
pub async fn register(store: &SharedStore, role: Role, now: DateTime<Utc>) -> (User, Organization, Membership) {
    let (user, org, owner) = new_user(role, now);
    store.create_user(&user, &org, &owner).await.expect("create_user of a fresh user");
    (user, org, owner)
}

pub async fn admin_exists_tracks_live_admins(store: &SharedStore) {
    let now = now_ms();
    let before = store.admin_exists().await.expect("admin_exists");
    register(store, Role::User, now).await;
    assert_eq!(store.admin_exists().await.unwrap(), before, "a plain user is not an admin");

    let (admin, _, _) = register(store, Role::Admin, now).await;
    assert!(store.admin_exists().await.unwrap(), "admin_exists is true once an admin exists");

    store.soft_delete_user(&admin.id, now).await.expect("delete admin");
    assert_eq!(
        store.admin_exists().await.unwrap(),
        before,
        "a deleted admin no longer counts (on a fresh store: false again)"
    );
}

pub async fn user_create_and_read_back(store: &SharedStore) {
    let now = now_ms();
    let (user, org, owner) = register(store, Role::User, now).await;

    let got = store.get_user(&user.id).await.unwrap();
    assert_eq!(got.as_ref(), Some(&user), "get_user returns exactly what was stored");

    let shouting = Email::parse(&user.email.as_str().to_uppercase()).unwrap();
    let by_email = store.find_user_by_email(&shouting).await.unwrap();
    assert_eq!(by_email.as_ref(), Some(&user), "find_user_by_email ignores case (Email::parse normalises)");

    assert_eq!(store.get_organization(&org.id).await.unwrap(), Some(org.clone()), "the personal org is stored");
    assert_eq!(store.memberships_of_user(&user.id).await.unwrap(), vec![owner], "the owner membership is stored");

    let nobody = Id::generate(prefix::USER);
    assert_eq!(store.get_user(&nobody).await.unwrap(), None, "unknown user id");
    assert_eq!(store.get_organization(&Id::generate(prefix::ORG)).await.unwrap(), None, "unknown org id");
    assert!(store.memberships_of_user(&nobody).await.unwrap().is_empty(), "no memberships for an unknown user");
    let stranger = Email::parse(&format!("{}@example.com", unique("nobody"))).unwrap();
    assert_eq!(store.find_user_by_email(&stranger).await.unwrap(), None, "unknown email");
}

pub async fn duplicate_email_is_rejected_with_nothing_written(store: &SharedStore) {
    let now = now_ms();
    let (first, _, _) = register(store, Role::User, now).await;

    let same_email = Email::parse(&first.email.as_str().to_uppercase()).unwrap();
    let (second, second_org, second_owner) = new_user_with_email(same_email, Role::User, now);
    let result = store.create_user(&second, &second_org, &second_owner).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists("email"))),
        "a second user with the same email: expected AlreadyExists(\"email\"), got {result:?}"
    );
    assert_eq!(store.get_user(&second.id).await.unwrap(), None, "the rejected user was not written");
    assert_eq!(store.get_organization(&second_org.id).await.unwrap(), None, "the rejected user's org was not written");
    assert!(
        store.memberships_of_user(&second.id).await.unwrap().is_empty(),
        "the rejected user's membership was not written"
    );
    let holder = store.find_user_by_email(&first.email).await.unwrap().map(|u| u.id);
    assert_eq!(holder, Some(first.id), "the email still belongs to the first user");
}

pub async fn update_user_round_trips_mutable_fields(store: &SharedStore) {
    let now = now_ms();
    let (user, _, _) = register(store, Role::User, now).await;

    let mut changed = user.clone();
    changed.first_name = "Grace".into();
    changed.last_name = "Hopper".into();
    changed.company_name = None;
    changed.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA".into();
    changed.role = Role::Admin;
    changed.status = UserStatus::Suspended;
    changed.email_verified = true;
    changed.updated_at = now + Duration::seconds(1);
    store.update_user(&changed).await.expect("update_user");
    assert_eq!(store.get_user(&user.id).await.unwrap(), Some(changed.clone()), "every mutable field is written");

    // Back again (the role too: other cases rely on admin_exists), and the email must not move.
    let mut back = changed.clone();
    back.company_name = Some("COBOL Inc.".into());
    back.role = Role::User;
    back.status = UserStatus::Active;
    back.updated_at = now + Duration::seconds(2);
    let mut with_other_email = back.clone();
    with_other_email.email = Email::parse(&format!("{}@example.com", unique("moved"))).unwrap();
    store.update_user(&with_other_email).await.expect("update_user");
    assert_eq!(
        store.get_user(&user.id).await.unwrap(),
        Some(back),
        "fields written again, email unchanged (update_user cannot change the email)"
    );

    let (ghost, _, _) = new_user(Role::User, now);
    let result = store.update_user(&ghost).await;
    assert!(
        matches!(result, Err(StoreError::NotFound("user"))),
        "update of an unknown user: expected NotFound(\"user\"), got {result:?}"
    );
    assert_eq!(store.get_user(&ghost.id).await.unwrap(), None, "update_user does not create users");
}

pub async fn soft_delete_hides_user_and_releases_email(store: &SharedStore) {
    let now = now_ms();
    let (user, org, _) = register(store, Role::User, now).await;
    let deleted_at = now + Duration::seconds(1);
    store.soft_delete_user(&user.id, deleted_at).await.expect("soft_delete_user");

    assert_eq!(store.find_user_by_email(&user.email).await.unwrap(), None, "a deleted user is not found by email");
    let kept = store.get_user(&user.id).await.unwrap().expect("a deleted user's record is kept");
    assert_eq!(kept.status, UserStatus::Deleted, "status is deleted");
    assert_eq!(kept.deleted_at, Some(deleted_at), "deleted_at is the given time");
    assert_eq!((&kept.email, &kept.first_name, kept.created_at), (&user.email, &user.first_name, user.created_at));
    assert!(store.get_organization(&org.id).await.unwrap().is_some(), "the org is kept");

    let result = store.update_user(&user).await;
    assert!(matches!(result, Err(StoreError::NotFound("user"))), "update of a deleted user: got {result:?}");
    let result = store.soft_delete_user(&user.id, deleted_at).await;
    assert!(matches!(result, Err(StoreError::NotFound("user"))), "second delete: expected NotFound, got {result:?}");
    let result = store.soft_delete_user(&Id::generate(prefix::USER), now).await;
    assert!(matches!(result, Err(StoreError::NotFound("user"))), "delete of an unknown user: got {result:?}");

    let (again, again_org, again_owner) =
        new_user_with_email(user.email.clone(), Role::User, now + Duration::seconds(2));
    store.create_user(&again, &again_org, &again_owner).await.expect("the released email can be registered again");
    let holder = store.find_user_by_email(&user.email).await.unwrap().map(|u| u.id);
    assert_eq!(holder, Some(again.id), "the email now finds the new user");
    assert_eq!(
        store.get_user(&user.id).await.unwrap().map(|u| u.status),
        Some(UserStatus::Deleted),
        "the old record is still there, deleted"
    );
}

/// Every page of `query` from the first on, checking each is full but the last; the users
/// in order.
async fn walk_users(store: &SharedStore, query: &UserQuery) -> Vec<User> {
    let mut all = Vec::new();
    let mut query = query.clone();
    for _ in 0..100 {
        let (page, next) = store.users_page(&query).await.expect("users_page");
        all.extend(page.iter().cloned());
        match next {
            Some(cursor) => {
                assert_eq!(page.len() as u32, query.page_size(), "a page with a next one is full");
                query.cursor = Some(cursor);
            }
            None => return all,
        }
    }
    panic!("users_page did not end");
}

pub async fn users_page_filters_sorts_and_pages(store: &SharedStore) {
    let now = now_ms();
    // A fragment only these users have, in a different field of each (and in other case).
    let tag = unique("Qz");
    let email = |local: &str| Email::parse(&format!("{local}@example.com")).unwrap();
    let user = |email_local: String, secs: i64| {
        let (mut u, o, m) = new_user_with_email(email(&email_local), Role::User, now - Duration::seconds(secs));
        u.company_name = None;
        (u, o, m)
    };
    let (mut a, oa, ma) = user(format!("{tag}-a"), 5);
    a.first_name = "Ann".into();
    let (mut b, ob, mb) = user(unique("b"), 3);
    b.first_name = format!("Bo{}", tag.to_uppercase());
    b.role = Role::Admin;
    let (mut c, oc, mc) = user(unique("c"), 3);
    c.last_name = format!("Mc{tag}");
    c.status = UserStatus::Suspended;
    let (mut d, od, md) = user(unique("d"), 2);
    d.company_name = Some(format!("{tag} Ltd"));
    let (mut e, oe, me) = user(unique("e"), 1);
    e.company_name = Some(format!("The {tag} company"));
    let (f, of, mf) = user(unique("f"), 4);
    for (u, o, m) in [(&a, &oa, &ma), (&b, &ob, &mb), (&c, &oc, &mc), (&d, &od, &md), (&e, &oe, &me), (&f, &of, &mf)] {
        store.create_user(u, o, m).await.expect("create_user");
    }
    store.soft_delete_user(&d.id, now).await.unwrap();
    let d = store.get_user(&d.id).await.unwrap().unwrap();
    let plan = Id::generate("plan");
    store.ensure_subscription(&crate::new_subscription(&e.default_org_id, &plan, now)).await.unwrap();
    // Another user's subscription to another plan, and a team organization's to this one:
    // only the personal organization counts.
    let other_plan = Id::generate("plan");
    store.ensure_subscription(&crate::new_subscription(&a.default_org_id, &other_plan, now)).await.unwrap();
    let (team, owner) = crate::new_team(&f, now);
    store.create_organization(&team, &owner).await.unwrap();
    store.ensure_subscription(&crate::new_subscription(&team.id, &plan, now)).await.unwrap();

    let by = |status, role, plan_id: Option<&Id>| UserQuery {
        q: Some(tag.to_uppercase()),
        status,
        role,
        plan_id: plan_id.cloned(),
        ..Default::default()
    };
    let ids = |users: Vec<User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
    let newest_first = |users: &[&User]| {
        let mut v: Vec<&User> = users.to_vec();
        v.sort_by(|x, y| (y.created_at, &y.id).cmp(&(x.created_at, &x.id)));
        v.into_iter().map(|u| u.id.clone()).collect::<Vec<_>>()
    };

    let (page, next) = store.users_page(&by(None, None, None)).await.unwrap();
    assert_eq!(next, None, "one page");
    assert_eq!(
        ids(page.clone()),
        newest_first(&[&a, &b, &c, &e]),
        "q matches email, first, last or company name, any case; deleted users are left out; newest first, ties by id"
    );
    assert_eq!(page.iter().find(|u| u.id == a.id), Some(&a), "exact round trip");
    assert_eq!(
        ids(store.users_page(&by(Some(UserStatus::Deleted), None, None)).await.unwrap().0),
        vec![d.id.clone()],
        "deleted users when asked for"
    );
    assert_eq!(
        ids(store.users_page(&by(Some(UserStatus::Suspended), None, None)).await.unwrap().0),
        vec![c.id.clone()],
        "status"
    );
    assert_eq!(
        ids(store.users_page(&by(Some(UserStatus::Active), None, None)).await.unwrap().0),
        newest_first(&[&a, &b, &e])
    );
    assert_eq!(ids(store.users_page(&by(None, Some(Role::Admin), None)).await.unwrap().0), vec![b.id.clone()], "role");
    assert_eq!(ids(store.users_page(&by(None, None, Some(&plan))).await.unwrap().0), vec![e.id.clone()], "plan");
    let only_plan = UserQuery { plan_id: Some(plan.clone()), ..Default::default() };
    assert_eq!(ids(store.users_page(&only_plan).await.unwrap().0), vec![e.id.clone()], "plan without q");
    let nobody = UserQuery { q: Some(unique("nobody")), ..Default::default() };
    assert_eq!(store.users_page(&nobody).await.unwrap(), (Vec::new(), None), "no match");

    // Each order, one page at a time: every user exactly once, in order.
    let live = [&a, &b, &c, &e];
    let mut oldest: Vec<&User> = live.to_vec();
    oldest.sort_by(|x, y| (x.created_at, &x.id).cmp(&(y.created_at, &y.id)));
    let mut by_email: Vec<&User> = live.to_vec();
    by_email.sort_by(|x, y| (x.email.as_str(), &x.id).cmp(&(y.email.as_str(), &y.id)));
    let expected = [
        (UserSort::NewestFirst, newest_first(&live)),
        (UserSort::OldestFirst, oldest.iter().map(|u| u.id.clone()).collect()),
        (UserSort::EmailAsc, by_email.iter().map(|u| u.id.clone()).collect()),
    ];
    for (sort, order) in expected {
        for limit in [1, 3] {
            let query = UserQuery { sort, limit, ..by(None, None, None) };
            assert_eq!(ids(walk_users(store, &query).await), order, "{sort:?}, {limit} a page");
        }
    }

    for garbage in ["", "garbage", "n:x:y", "2026-01-01T00:00:00Z"] {
        let query = UserQuery { cursor: Some(garbage.into()), ..by(None, None, None) };
        let result = store.users_page(&query).await;
        assert!(matches!(result, Err(StoreError::InvalidCursor)), "cursor {garbage:?}: {result:?}");
    }
}

//! Cases for `OrganizationRepository`: team organizations, members, invitations.

use crate::{concurrently_n, ensure_default_project, new_key, now_ms, register, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::id::prefix;
use tollgate_domain::{
    Email, Id, Invitation, Membership, OrgRole, Organization, Role, StoreError, StoredEnum, TokenHash, User,
    INVITATION_VALIDITY,
};

/// A team organization owned by `owner` and its owner membership, both at `now` (not stored yet).
pub fn new_team(owner: &User, now: DateTime<Utc>) -> (Organization, Membership) {
    let org = Organization {
        id: Id::generate(prefix::ORG),
        name: unique("Team"),
        owner_id: owner.id.clone(),
        personal: false,
        created_at: now,
    };
    let membership =
        Membership { org_id: org.id.clone(), user_id: owner.id.clone(), role: OrgRole::Owner, created_at: now };
    (org, membership)
}

/// A pending invitation to `org_id` with `role`, created at `now`, and its token (not stored yet).
pub fn new_invitation(org_id: &Id, invited_by: &Id, role: OrgRole, now: DateTime<Utc>) -> (Invitation, String) {
    let token = unique("invite-token");
    let invitation = Invitation {
        id: Id::generate("inv"),
        org_id: org_id.clone(),
        email: Email::parse(&format!("{}@example.com", unique("invitee"))).expect("valid email"),
        role,
        invited_by: invited_by.clone(),
        token_hash: TokenHash::of(&token),
        created_at: now,
        expires_at: now + INVITATION_VALIDITY,
        accepted_at: None,
        accepted_by: None,
    };
    (invitation, token)
}

/// Stores a team organization owned by a new user; returns the owner and the organization.
pub async fn create_team(store: &SharedStore, now: DateTime<Utc>) -> (User, Organization) {
    let (owner, _, _) = register(store, Role::User, now).await;
    let (org, membership) = new_team(&owner, now);
    store.create_organization(&org, &membership).await.expect("create_organization");
    (owner, org)
}

/// Adds a new user to `org` with `role` the only way there is: an accepted invitation.
pub async fn add_member(store: &SharedStore, org: &Organization, role: OrgRole, at: DateTime<Utc>) -> User {
    let (user, _, _) = register(store, Role::User, at).await;
    let (invitation, token) = new_invitation(&org.id, &org.owner_id, role, at);
    store.create_invitation(&invitation).await.expect("create_invitation");
    let joined = store.accept_invitation(&TokenHash::of(&token), &user.id, at).await.expect("accept_invitation");
    assert_eq!(joined, Some(Membership { org_id: org.id.clone(), user_id: user.id.clone(), role, created_at: at }));
    user
}

pub async fn organization_create_rename_and_list_members(store: &SharedStore) {
    let now = now_ms();
    let (owner, personal, personal_membership) = register(store, Role::User, now).await;
    let later = now + Duration::seconds(1);
    let (org, owner_membership) = new_team(&owner, later);
    store.create_organization(&org, &owner_membership).await.expect("create_organization");

    assert_eq!(store.get_organization(&org.id).await.unwrap(), Some(org.clone()), "stored as given");
    assert_eq!(store.get_membership(&org.id, &owner.id).await.unwrap(), Some(owner_membership.clone()));
    assert_eq!(
        store.memberships_of_user(&owner.id).await.unwrap(),
        vec![personal_membership, owner_membership.clone()],
        "the owner's memberships, oldest first"
    );
    let (_, again) = new_team(&owner, later);
    let result = store.create_organization(&org, &Membership { org_id: org.id.clone(), ..again }).await;
    assert!(
        matches!(result, Err(StoreError::AlreadyExists("organization"))),
        "an existing id: expected AlreadyExists(\"organization\"), got {result:?}"
    );

    store.rename_organization(&org.id, "Renamed").await.expect("rename_organization");
    let renamed = store.get_organization(&org.id).await.unwrap().expect("still there");
    assert_eq!(renamed, Organization { name: "Renamed".into(), ..org.clone() }, "only the name changed");
    let result = store.rename_organization(&Id::generate(prefix::ORG), "x").await;
    assert!(matches!(result, Err(StoreError::NotFound("organization"))), "rename of an unknown org: {result:?}");

    // Members join later than the owner, in an order that is not their ids' order.
    let viewer = add_member(store, &org, OrgRole::Viewer, now + Duration::seconds(3)).await;
    let manager = add_member(store, &org, OrgRole::Manager, now + Duration::seconds(2)).await;
    let members = store.list_members(&org.id).await.unwrap();
    let listed: Vec<(&Id, OrgRole)> = members.iter().map(|m| (&m.user_id, m.role)).collect();
    assert_eq!(
        listed,
        vec![(&owner.id, OrgRole::Owner), (&manager.id, OrgRole::Manager), (&viewer.id, OrgRole::Viewer)],
        "members, oldest first"
    );
    assert!(store.list_members(&personal.id).await.unwrap().iter().all(|m| m.user_id == owner.id));
    assert!(store.list_members(&Id::generate(prefix::ORG)).await.unwrap().is_empty(), "unknown org: no members");
    assert_eq!(store.get_membership(&personal.id, &viewer.id).await.unwrap(), None, "not a member there");
}

pub async fn set_member_role_keeps_an_owner(store: &SharedStore) {
    let now = now_ms();
    let (owner, org) = create_team(store, now).await;
    let member = add_member(store, &org, OrgRole::Member, now + Duration::seconds(1)).await;

    for role in <OrgRole as StoredEnum>::ALL.iter().copied().rev().chain([OrgRole::Admin]) {
        let changed = store.set_member_role(&org.id, &member.id, role).await.expect("set_member_role");
        assert_eq!(changed.role, role, "the stored membership is returned");
        assert_eq!((&changed.org_id, &changed.user_id), (&org.id, &member.id));
        assert_eq!(store.get_membership(&org.id, &member.id).await.unwrap(), Some(changed), "and stored");
    }
    // Now the member is an admin; the owner is the only owner.
    for role in [OrgRole::Admin, OrgRole::Viewer] {
        let result = store.set_member_role(&org.id, &owner.id, role).await;
        assert!(
            matches!(result, Err(StoreError::Conflict("last owner"))),
            "demoting the last owner: expected Conflict(\"last owner\"), got {result:?}"
        );
    }
    let kept = store.set_member_role(&org.id, &owner.id, OrgRole::Owner).await.expect("an owner may stay owner");
    assert_eq!(kept.role, OrgRole::Owner);

    store.set_member_role(&org.id, &member.id, OrgRole::Owner).await.expect("a second owner");
    store.set_member_role(&org.id, &owner.id, OrgRole::Viewer).await.expect("with two owners, one may step down");
    let result = store.set_member_role(&org.id, &member.id, OrgRole::Member).await;
    assert!(matches!(result, Err(StoreError::Conflict("last owner"))), "the other is now the last: {result:?}");
    assert_eq!(store.get_membership(&org.id, &member.id).await.unwrap().map(|m| m.role), Some(OrgRole::Owner));

    let stranger = Id::generate(prefix::USER);
    let result = store.set_member_role(&org.id, &stranger, OrgRole::Admin).await;
    assert!(matches!(result, Err(StoreError::NotFound("member"))), "not a member: {result:?}");
    let result = store.set_member_role(&Id::generate(prefix::ORG), &member.id, OrgRole::Admin).await;
    assert!(matches!(result, Err(StoreError::NotFound("member"))), "unknown org: {result:?}");
}

pub async fn remove_member_keeps_an_owner(store: &SharedStore) {
    let now = now_ms();
    let (owner, org) = create_team(store, now).await;
    let member = add_member(store, &org, OrgRole::Admin, now + Duration::seconds(1)).await;

    let result = store.remove_member(&org.id, &owner.id).await;
    assert!(matches!(result, Err(StoreError::Conflict("last owner"))), "the last owner stays: {result:?}");
    store.remove_member(&org.id, &member.id).await.expect("remove_member");
    assert_eq!(store.get_membership(&org.id, &member.id).await.unwrap(), None, "removed");
    assert!(
        store.memberships_of_user(&member.id).await.unwrap().iter().all(|m| m.org_id != org.id),
        "no longer among the user's memberships"
    );
    let result = store.remove_member(&org.id, &member.id).await;
    assert!(matches!(result, Err(StoreError::NotFound("member"))), "removed twice: {result:?}");

    // An owner may leave while another owner stays.
    let second = add_member(store, &org, OrgRole::Owner, now + Duration::seconds(2)).await;
    store.remove_member(&org.id, &owner.id).await.expect("one of two owners leaves");
    let result = store.remove_member(&org.id, &second.id).await;
    assert!(matches!(result, Err(StoreError::Conflict("last owner"))), "then the other is the last: {result:?}");
    let members: Vec<Id> = store.list_members(&org.id).await.unwrap().into_iter().map(|m| m.user_id).collect();
    assert_eq!(members, vec![second.id]);
}

pub async fn owners_demoting_each_other_concurrently_keep_one(store: &SharedStore) {
    let now = now_ms();
    for removing in [false, true] {
        let (owner, org) = create_team(store, now).await;
        let second = add_member(store, &org, OrgRole::Owner, now + Duration::seconds(1)).await;
        let pair = [owner.id.clone(), second.id.clone()];
        let results = concurrently_n(store, 2, |s, i| {
            let (org_id, other) = (org.id.clone(), pair[1 - i].clone());
            async move {
                if removing {
                    s.remove_member(&org_id, &other).await
                } else {
                    s.set_member_role(&org_id, &other, OrgRole::Member).await.map(|_| ())
                }
            }
        })
        .await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let refused = results.iter().filter(|r| matches!(r, Err(StoreError::Conflict("last owner")))).count();
        assert_eq!((wins, refused), (1, 1), "exactly one succeeds (removing: {removing}): {results:?}");
        let owners = store.list_members(&org.id).await.unwrap().into_iter().filter(|m| m.role == OrgRole::Owner);
        assert_eq!(owners.count(), 1, "one owner is left (removing: {removing})");
    }
}

pub async fn invitations_create_list_get_delete(store: &SharedStore) {
    let now = now_ms();
    let (owner, org) = create_team(store, now).await;
    let (_, other_org) = create_team(store, now).await;
    let invite = |role, secs| new_invitation(&org.id, &owner.id, role, now + Duration::seconds(secs)).0;
    let (first, second, third) = (invite(OrgRole::Member, 1), invite(OrgRole::Admin, 2), invite(OrgRole::Viewer, 3));
    // An expired invitation is still listed (the admin sees it and may withdraw it).
    let expired = Invitation { expires_at: now - Duration::seconds(1), ..invite(OrgRole::Manager, -10) };
    for inv in [&second, &first, &third, &expired] {
        store.create_invitation(inv).await.expect("create_invitation");
    }
    let result =
        store.create_invitation(&Invitation { token_hash: TokenHash::of(&unique("t")), ..first.clone() }).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists("invitation"))), "the same id twice: {result:?}");

    assert_eq!(
        store.list_invitations(&org.id).await.unwrap(),
        vec![third.clone(), second.clone(), first.clone(), expired.clone()],
        "newest first, exact round trip"
    );
    assert!(store.list_invitations(&other_org.id).await.unwrap().is_empty(), "another org's are not listed");
    assert_eq!(store.get_invitation(&org.id, &second.id).await.unwrap(), Some(second.clone()));
    assert_eq!(store.get_invitation(&other_org.id, &second.id).await.unwrap(), None, "only in its own org");
    assert_eq!(store.get_invitation(&org.id, &Id::generate("inv")).await.unwrap(), None, "unknown id");

    let result = store.delete_invitation(&other_org.id, &second.id).await;
    assert!(matches!(result, Err(StoreError::NotFound("invitation"))), "withdrawn from another org: {result:?}");
    store.delete_invitation(&org.id, &second.id).await.expect("delete_invitation");
    assert_eq!(store.get_invitation(&org.id, &second.id).await.unwrap(), None, "withdrawn");
    let result = store.delete_invitation(&org.id, &second.id).await;
    assert!(matches!(result, Err(StoreError::NotFound("invitation"))), "withdrawn twice: {result:?}");
    let result = store.accept_invitation(&second.token_hash, &owner.id, now).await;
    assert!(matches!(result, Ok(None)), "a withdrawn invitation's link no longer works: {result:?}");

    // An accepted one is no longer listed, nor withdrawn, but still readable.
    let (user, _, _) = register(store, Role::User, now).await;
    let at = now + Duration::seconds(5);
    store.accept_invitation(&first.token_hash, &user.id, at).await.unwrap().expect("accepted");
    assert_eq!(store.list_invitations(&org.id).await.unwrap(), vec![third.clone(), expired.clone()]);
    let accepted = store.get_invitation(&org.id, &first.id).await.unwrap().expect("kept");
    assert_eq!((accepted.accepted_at, accepted.accepted_by), (Some(at), Some(user.id.clone())));
    let result = store.delete_invitation(&org.id, &first.id).await;
    assert!(matches!(result, Err(StoreError::NotFound("invitation"))), "an accepted one: {result:?}");
}

pub async fn accept_invitation_works_once(store: &SharedStore) {
    let now = now_ms();
    let (owner, org) = create_team(store, now).await;
    let (invitation, token) = new_invitation(&org.id, &owner.id, OrgRole::Manager, now);
    store.create_invitation(&invitation).await.unwrap();
    let hash = TokenHash::of(&token);

    // Already a member: refused, and the invitation stays pending for someone else.
    let result = store.accept_invitation(&hash, &owner.id, now).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists("member"))), "already a member: {result:?}");
    assert_eq!(store.get_invitation(&org.id, &invitation.id).await.unwrap(), Some(invitation.clone()), "unchanged");
    assert_eq!(store.get_membership(&org.id, &owner.id).await.unwrap().map(|m| m.role), Some(OrgRole::Owner));

    assert_eq!(store.accept_invitation(&TokenHash::of("never issued"), &owner.id, now).await.unwrap(), None);

    // Two users race for the same link: one joins.
    let (a, _, _) = register(store, Role::User, now).await;
    let (b, _, _) = register(store, Role::User, now).await;
    let users = [a.id.clone(), b.id.clone()];
    let at = now + Duration::seconds(1);
    let results = concurrently_n(store, 2, |s, i| {
        let (hash, user) = (hash.clone(), users[i].clone());
        async move { s.accept_invitation(&hash, &user, at).await }
    })
    .await;
    let joined: Vec<&Membership> = results.iter().filter_map(|r| r.as_ref().ok().and_then(Option::as_ref)).collect();
    assert_eq!(joined.len(), 1, "the link works once: {results:?}");
    assert!(results.iter().all(Result::is_ok), "the loser gets None: {results:?}");
    let winner = joined[0].clone();
    assert_eq!((&winner.org_id, winner.role, winner.created_at), (&org.id, OrgRole::Manager, at));
    assert_eq!(store.get_membership(&org.id, &winner.user_id).await.unwrap(), Some(winner.clone()), "stored");
    let loser = if winner.user_id == a.id { &b.id } else { &a.id };
    assert_eq!(store.get_membership(&org.id, loser).await.unwrap(), None, "the loser did not join");
    assert!(store.memberships_of_user(&winner.user_id).await.unwrap().contains(&winner));
    assert_eq!(store.accept_invitation(&hash, loser, at).await.unwrap(), None, "used");

    // Expired: the link works until `expires_at`, exclusive.
    let (late, late_token) = new_invitation(&org.id, &owner.id, OrgRole::Member, now);
    store.create_invitation(&late).await.unwrap();
    let late_hash = TokenHash::of(&late_token);
    assert_eq!(store.accept_invitation(&late_hash, loser, late.expires_at).await.unwrap(), None, "expired");
    assert_eq!(store.get_membership(&org.id, loser).await.unwrap(), None);
    let joined = store.accept_invitation(&late_hash, loser, late.expires_at - Duration::seconds(1)).await.unwrap();
    assert!(joined.is_some(), "just before it expires it works");
}

pub async fn delete_organization_removes_members_and_invitations_and_revokes_keys(store: &SharedStore) {
    let now = now_ms();
    let (owner, org) = create_team(store, now).await;
    let member = add_member(store, &org, OrgRole::Member, now + Duration::seconds(1)).await;
    let (pending, token) = new_invitation(&org.id, &owner.id, OrgRole::Viewer, now);
    store.create_invitation(&pending).await.unwrap();
    ensure_default_project(store, &org.id, now).await;
    let (key, secret) = new_key(&org.id, now, None);
    store.create_api_key(&key, &secret, 10, now).await.expect("create_api_key");
    let (other_owner, other_org) = create_team(store, now).await;
    ensure_default_project(store, &other_org.id, now).await;
    let (other_key, other_secret) = new_key(&other_org.id, now, None);
    store.create_api_key(&other_key, &other_secret, 10, now).await.unwrap();

    let at = now + Duration::seconds(5);
    store.delete_organization(&org.id, at).await.expect("delete_organization");
    assert_eq!(store.get_organization(&org.id).await.unwrap(), None, "a deleted organization is not found");
    assert_eq!(store.get_membership(&org.id, &owner.id).await.unwrap(), None);
    assert!(store.list_members(&org.id).await.unwrap().is_empty(), "memberships are gone");
    for user in [&owner.id, &member.id] {
        let orgs: Vec<Id> = store.memberships_of_user(user).await.unwrap().into_iter().map(|m| m.org_id).collect();
        assert!(!orgs.contains(&org.id), "not among the user's memberships");
    }
    assert!(store.list_invitations(&org.id).await.unwrap().is_empty(), "invitations are gone");
    assert_eq!(store.get_invitation(&org.id, &pending.id).await.unwrap(), None);
    let (newcomer, _, _) = register(store, Role::User, now).await;
    assert_eq!(store.accept_invitation(&TokenHash::of(&token), &newcomer.id, at).await.unwrap(), None);
    let revoked = store.get_api_key(&org.id, &key.id).await.unwrap().expect("the key record is kept");
    assert_eq!(revoked.revoked_at, Some(at), "every key is revoked at `now`");
    let untouched = store.get_api_key(&other_org.id, &other_key.id).await.unwrap().unwrap();
    assert_eq!(untouched.revoked_at, None, "another organization's keys are not");
    assert_eq!(store.list_members(&other_org.id).await.unwrap().len(), 1);
    assert_eq!(
        store.get_membership(&other_org.id, &other_owner.id).await.unwrap().map(|m| m.role),
        Some(OrgRole::Owner)
    );

    let result = store.delete_organization(&org.id, at).await;
    assert!(matches!(result, Err(StoreError::NotFound("organization"))), "deleted twice: {result:?}");
    let result = store.rename_organization(&org.id, "Back").await;
    assert!(matches!(result, Err(StoreError::NotFound("organization"))), "renaming a deleted one: {result:?}");
    let result = store.delete_organization(&Id::generate(prefix::ORG), at).await;
    assert!(matches!(result, Err(StoreError::NotFound("organization"))), "an unknown one: {result:?}");
    let (_, again) = new_team(&owner, at);
    let result = store.create_organization(&org, &Membership { org_id: org.id.clone(), ..again }).await;
    assert!(matches!(result, Err(StoreError::AlreadyExists("organization"))), "its id stays taken: {result:?}");

    let result = store.delete_organization(&owner.default_org_id, at).await;
    assert!(
        matches!(result, Err(StoreError::Conflict("personal organization"))),
        "a personal organization is not deleted: {result:?}"
    );
    assert!(store.get_organization(&owner.default_org_id).await.unwrap().is_some());
}

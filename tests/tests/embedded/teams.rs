//! Organizations with roles: a team sharing one subscription and its keys, the permission
//! table on every organization-scoped and admin route (the route list read from the OpenAPI
//! document, so a new route cannot be missed), invitations and the last-owner rule.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tollgate_domain::{OrgRole, Permission};
use tollgate_tests::app::{gateway_request, TestApp, TestResponse};

/// `method path` as `token`, working on the organization `org` (`X-Org-Id`).
async fn call_in(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
    org: Option<&str>,
) -> TestResponse {
    let mut b = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(org) = org {
        b = b.header("x-org-id", org);
    }
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.send(b.body(body).unwrap()).await
}

/// One member of the team: their access token and user id.
struct Member {
    token: String,
    id: String,
}

/// Registers `email` and returns the member (not yet in any team).
async fn person(app: &TestApp, email: &str) -> Member {
    let (token, _) = app.user(email).await;
    Member { token, id: app.stored_user(email).await.id.to_string() }
}

/// A team: `owner` creates the organization, then invites and lets accept each of `roles`.
struct Team {
    org: String,
    owner: Member,
    members: Vec<(OrgRole, Member)>,
}

impl Team {
    fn as_role(&self, role: OrgRole) -> &Member {
        if role == OrgRole::Owner {
            return &self.owner;
        }
        &self.members.iter().find(|(r, _)| *r == role).expect("a member with this role").1
    }
}

async fn invite_and_join(app: &TestApp, org: &str, inviter: &Member, email: &str, role: OrgRole) -> Member {
    // Members are listed oldest first: one joining per second keeps the order plain.
    app.clock.advance(chrono::Duration::seconds(1));
    let member = person(app, email).await;
    let r = call_in(
        app,
        Method::POST,
        &format!("/api/user/orgs/{org}/invitations"),
        Some(json!({ "email": email, "role": role })),
        &inviter.token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "invite {email}: {:?}", r.body);
    let token = app.mailed_token(email, "invitation");
    let r = call_in(
        app,
        Method::POST,
        "/api/user/invitations/accept",
        Some(json!({ "token": token })),
        &member.token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "accept {email}: {:?}", r.body);
    assert_eq!(r.body["id"], org);
    assert_eq!(r.body["role"], json!(role));
    member
}

async fn team(app: &TestApp, name: &str, roles: &[OrgRole]) -> Team {
    let owner = person(app, &format!("owner@{name}.example")).await;
    let r = call_in(app, Method::POST, "/api/user/orgs", Some(json!({ "name": name })), &owner.token, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "create org: {:?}", r.body);
    assert_eq!(r.body["role"], "owner");
    let org = r.body["id"].as_str().unwrap().to_string();
    let mut members = Vec::new();
    for role in roles {
        let email = format!("{}@{name}.example", serde_json::to_value(role).unwrap().as_str().unwrap());
        members.push((*role, invite_and_join(app, &org, &owner, &email, *role).await));
    }
    Team { org, owner, members }
}

/// Done when: a team of three with different roles shares one subscription and its keys,
/// each allowed what the permission table says, and a viewer cannot create a key.
#[tokio::test]
async fn a_team_of_three_shares_one_subscription_and_its_keys() {
    let app = TestApp::new().await;
    let t = team(&app, "acme", &[OrgRole::Member, OrgRole::Viewer]).await;
    let (owner, member, viewer) = (&t.owner, t.as_role(OrgRole::Member), t.as_role(OrgRole::Viewer));
    let org = Some(t.org.as_str());

    // One subscription: each of them sees the same one, the team's, not their personal one.
    let mut subscriptions = Vec::new();
    for m in [owner, member, viewer] {
        let r = call_in(&app, Method::GET, "/api/user/subscription", None, &m.token, org).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["subscription"]["org_id"], t.org.as_str());
        subscriptions.push(r.body["subscription"]["id"].clone());
    }
    assert!(subscriptions.windows(2).all(|w| w[0] == w[1]), "one subscription: {subscriptions:?}");
    let personal = call_in(&app, Method::GET, "/api/user/subscription", None, &member.token, None).await;
    assert_ne!(personal.body["subscription"]["id"], subscriptions[0], "without X-Org-Id: the personal organization");

    // Keys: the owner and the member create keys in the team; the viewer cannot.
    let created =
        call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "ci"})), &owner.token, org).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let owner_key = created.body["secret"].as_str().unwrap().to_string();
    let owner_key_id = created.body["key"]["id"].as_str().unwrap().to_string();
    let by_member =
        call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "dev"})), &member.token, org).await;
    assert_eq!(by_member.status, StatusCode::CREATED, "{:?}", by_member.body);
    let refused =
        call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "nope"})), &viewer.token, org).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "permission_denied"), "{:?}", refused.body);
    // Whatever the body: the role is checked first.
    let refused = call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({})), &viewer.token, org).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Everyone reads the team's two keys (never a secret), and not in their personal org.
    for m in [owner, member, viewer] {
        let r = call_in(&app, Method::GET, "/api/user/api-keys", None, &m.token, org).await;
        assert_eq!(r.status, StatusCode::OK);
        let text = r.body.to_string();
        assert_eq!(r.body["data"].as_array().unwrap().len(), 2, "{text}");
        assert!(!text.contains(&owner_key), "no secret in a listing");
        let personal = call_in(&app, Method::GET, "/api/user/api-keys", None, &m.token, None).await;
        assert!(!personal.body.to_string().contains(&owner_key_id), "team keys stay in the team");
    }

    // The team's key meters against the team's organization, which every member reads.
    for _ in 0..3 {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/hi", Some(&owner_key), None)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let usage = call_in(&app, Method::GET, "/api/user/usage/summary", None, &viewer.token, org).await;
    assert_eq!(usage.status, StatusCode::OK, "{:?}", usage.body);
    assert_eq!(usage.body["used"], 3, "{:?}", usage.body);

    // Billing is the owner's (and admins' and managers'), not the member's or the viewer's.
    for m in [member, viewer] {
        let r = call_in(&app, Method::GET, "/api/user/billing/invoices", None, &m.token, org).await;
        assert_eq!(r.code(), "permission_denied", "{:?}", r.body);
    }
    let r = call_in(&app, Method::GET, "/api/user/billing/invoices", None, &owner.token, org).await;
    assert_ne!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    // The member revokes a team key; the viewer cannot.
    let path = format!("/api/user/api-keys/{owner_key_id}");
    let r = call_in(&app, Method::DELETE, &path, None, &viewer.token, org).await;
    assert_eq!(r.code(), "permission_denied");
    let r = call_in(&app, Method::DELETE, &path, None, &member.token, org).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The members list shows the three with their roles; a stranger sees nothing of it.
    let r = call_in(&app, Method::GET, &format!("/api/user/orgs/{}/members", t.org), None, &viewer.token, None).await;
    let roles: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["owner", "member", "viewer"]);
    let stranger = person(&app, "stranger@elsewhere.example").await;
    for path in [format!("/api/user/orgs/{}", t.org), format!("/api/user/orgs/{}/members", t.org)] {
        let r = call_in(&app, Method::GET, &path, None, &stranger.token, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = call_in(&app, Method::GET, "/api/user/api-keys", None, &stranger.token, org).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a non-member naming the team");
    let orgs = call_in(&app, Method::GET, "/api/user/orgs", None, &member.token, None).await;
    let names: Vec<&str> = orgs.body["data"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "personal and the team: {names:?}");
    assert_eq!(orgs.body["data"][1]["name"], "acme");
}

/// How a route is reached, for the isolation suite.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Works on the organization `X-Org-Id` names and needs this permission.
    Org(Permission),
    /// Names the organization in its path (`/api/user/orgs/{id}/...`) and needs this permission.
    PathOrg(Permission),
    /// The signed-in user's own (profile, password, their organizations): no organization.
    User,
    /// No account (sign-in, public catalog, the gateway, Stripe's webhook): not checked here.
    Public,
    /// The admin role.
    Admin,
}

/// Every route of the OpenAPI document, classified. A route missing here fails the suite.
fn access(method: &str, path: &str) -> Access {
    use Access::*;
    use Permission::*;
    // The 2FA routes of a signed-in admin, unlike the rest of admin sign-in, need the admin role.
    if path.starts_with("/api/admin/auth/2fa/") {
        return Admin;
    }
    if path.starts_with("/api/admin/auth/") || path.starts_with("/api/user/auth/") {
        return Public;
    }
    if path.starts_with("/api/admin/") {
        return Admin;
    }
    match (method, path) {
        ("get", "/api/plans") | ("post", "/api/stripe/webhook") => Public,
        (_, p) if p.starts_with("/api/v1") || p == "/health" || p == "/api/openapi.json" => Public,
        (_, "/api/user/account/profile") | ("put", "/api/user/account/password") | ("delete", "/api/user/account") => {
            User
        }
        ("get" | "post", "/api/user/orgs") | ("post", "/api/user/invitations/accept") => User,
        ("get", "/api/user/account/activity") => Org(Read),
        (_, p) if p.starts_with("/api/user/api-keys") || p.starts_with("/api/user/projects") => {
            Org(if method == "get" { Read } else { ManageKeys })
        }
        (_, p) if p.starts_with("/api/user/usage/") => Org(Read),
        ("get", "/api/user/subscription") => Org(Read),
        (_, p) if p.starts_with("/api/user/subscription/") || p.starts_with("/api/user/billing/") => Org(ManageBilling),
        (_, p) if p.starts_with("/api/user/webhooks") => Org(ManageWebhooks),
        ("get", "/api/user/notifications/settings") => Org(Read),
        ("put", "/api/user/notifications/settings") => Org(ManageWebhooks),
        ("get", "/api/user/orgs/{id}") | ("get", "/api/user/orgs/{id}/members") => PathOrg(Read),
        ("put", "/api/user/orgs/{id}") => PathOrg(ManageOrganization),
        ("delete", "/api/user/orgs/{id}") | ("get", "/api/user/orgs/{id}/export") => PathOrg(OwnOrganization),
        (_, "/api/user/orgs/{id}/invitations")
        | (_, "/api/user/orgs/{id}/invitations/{invitation_id}")
        | ("put", "/api/user/orgs/{id}/members/{user_id}") => PathOrg(ManageMembers),
        // Every member may leave; removing someone else is checked in the handler (the
        // team test covers it).
        ("delete", "/api/user/orgs/{id}/members/{user_id}") => PathOrg(Read),
        _ => panic!("classify {method} {path} in the isolation suite's access table"),
    }
}

/// `path` with its `{id}` set to `org` (for organization paths) and every other parameter set
/// to a plausible id that names nothing, so no call of the suite destroys what the next needs.
fn concrete(path: &str, org: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        let name = &rest[start + 1..end];
        out.push_str(match name {
            "id" if path.starts_with("/api/user/orgs/") => org,
            "user_id" => "usr_0000000000000000000000",
            "invitation_id" => "inv_0000000000000000000000",
            "name" => "no-such-job",
            _ => "xxx_0000000000000000000000",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every organization-scoped `/api/user/...` route answers each role exactly as the
/// permission table says (403 `permission_denied` without the permission, 404 for a
/// non-member), every `/api/admin/...` route refuses a non-admin, and no listing shows
/// another organization's rows.
#[tokio::test]
async fn every_route_answers_each_role_as_the_permission_table_says() {
    let app = TestApp::new().await;
    let t = team(&app, "isolated", &[OrgRole::Admin, OrgRole::Manager, OrgRole::Member, OrgRole::Viewer]).await;
    let admin_token = app.admin_token().await;

    // A stranger's organization with a key and a webhook: none of it may show in the team's.
    let stranger = person(&app, "stranger@other.example").await;
    let key =
        call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "theirs"})), &stranger.token, None).await;
    assert_eq!(key.status, StatusCode::CREATED);
    let foreign = [
        key.body["key"]["id"].as_str().unwrap().to_string(),
        app.stored_user("stranger@other.example").await.default_org_id.to_string(),
    ];
    // The team has a key of its own to list.
    let r =
        call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "ours"})), &t.owner.token, Some(&t.org))
            .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let spec = app.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut checked = 0;
    for (path, item) in spec.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let access = access(method, path);
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = concrete(path, &t.org);
            let body = matches!(m, Method::POST | Method::PUT).then(|| json!({}));
            let has_ids = path.contains('{') && !matches!(access, Access::PathOrg(_) if path.matches('{').count() == 1);
            match access {
                Access::Public | Access::User => continue,
                Access::Admin => {
                    let r = call_in(&app, m.clone(), &url, body.clone(), &t.owner.token, None).await;
                    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"), "{method} {path}");
                    let r = call_in(&app, m, &url, body, &admin_token, None).await;
                    assert_ne!(r.status, StatusCode::FORBIDDEN, "{method} {path} as admin: {:?}", r.body);
                }
                Access::Org(permission) | Access::PathOrg(permission) => {
                    let org = matches!(access, Access::Org(_)).then_some(t.org.as_str());
                    let r = call_in(&app, m.clone(), &url, body.clone(), &stranger.token, org).await;
                    assert_eq!(
                        (r.status, r.code()),
                        (StatusCode::NOT_FOUND, "not_found"),
                        "{method} {path} by a non-member"
                    );
                    for role in <OrgRole as tollgate_domain::StoredEnum>::ALL {
                        let r = call_in(&app, m.clone(), &url, body.clone(), &t.as_role(*role).token, org).await;
                        let what = format!("{method} {path} as {role:?}: {} {:?}", r.status, r.body);
                        if role.can(permission) {
                            assert_ne!(r.status, StatusCode::FORBIDDEN, "{what}");
                            if !has_ids {
                                assert_ne!(r.status, StatusCode::NOT_FOUND, "{what}");
                            }
                            if m == Method::GET {
                                let text = r.body.to_string();
                                assert!(foreign.iter().all(|f| !text.contains(f.as_str())), "foreign row in {what}");
                            }
                        } else {
                            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "permission_denied"), "{what}");
                        }
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "the suite checked {checked} routes");
    // The team's own key is listed to its viewer; the suite's calls destroyed nothing.
    let r =
        call_in(&app, Method::GET, "/api/user/api-keys", None, &t.as_role(OrgRole::Viewer).token, Some(&t.org)).await;
    assert!(r.body["data"].as_array().unwrap().iter().any(|k| k["name"] == "ours"), "{:?}", r.body);
}

/// Owners and admins manage members, only owners manage owners, and an organization always
/// keeps an owner; anyone may leave.
#[tokio::test]
async fn roles_change_within_the_rules_and_an_owner_always_remains() {
    let app = TestApp::new().await;
    let t = team(&app, "rules", &[OrgRole::Admin, OrgRole::Member]).await;
    let (owner, admin, member) = (&t.owner, t.as_role(OrgRole::Admin), t.as_role(OrgRole::Member));
    let member_path = |m: &Member| format!("/api/user/orgs/{}/members/{}", t.org, m.id);

    // The last owner can neither be demoted nor leave.
    let r = call_in(&app, Method::PUT, &member_path(owner), Some(json!({"role": "admin"})), &owner.token, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner"), "{:?}", r.body);
    let r = call_in(&app, Method::DELETE, &member_path(owner), None, &owner.token, None).await;
    assert_eq!(r.code(), "last_owner");

    // An admin may not make an owner, nor touch one, nor invite one.
    let r = call_in(&app, Method::PUT, &member_path(member), Some(json!({"role": "owner"})), &admin.token, None).await;
    assert_eq!(r.code(), "permission_denied");
    let r = call_in(&app, Method::DELETE, &member_path(owner), None, &admin.token, None).await;
    assert_eq!(r.code(), "permission_denied");
    let invite = format!("/api/user/orgs/{}/invitations", t.org);
    let r = call_in(
        &app,
        Method::POST,
        &invite,
        Some(json!({"email": "x@rules.example", "role": "owner"})),
        &admin.token,
        None,
    )
    .await;
    assert_eq!(r.code(), "permission_denied");
    // A member may not manage members at all.
    let r = call_in(&app, Method::DELETE, &member_path(admin), None, &member.token, None).await;
    assert_eq!(r.code(), "permission_denied");

    // The admin promotes the member to manager; the owner makes the admin an owner, who may
    // then let the first owner go.
    let r =
        call_in(&app, Method::PUT, &member_path(member), Some(json!({"role": "manager"})), &admin.token, None).await;
    assert_eq!((r.status, r.body["role"].as_str()), (StatusCode::OK, Some("manager")), "{:?}", r.body);
    let r = call_in(&app, Method::PUT, &member_path(admin), Some(json!({"role": "owner"})), &owner.token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = call_in(&app, Method::DELETE, &member_path(owner), None, &owner.token, None).await;
    assert_eq!(r.status, StatusCode::OK, "the first owner leaves: {:?}", r.body);
    let r = call_in(&app, Method::GET, &format!("/api/user/orgs/{}", t.org), None, &owner.token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "gone from the team");

    // Every change is in the organization's audit log with before and after.
    let events = app
        .state
        .store
        .list_audit(&tollgate_domain::AuditQuery {
            org_id: Some(tollgate_domain::Id::from_string(t.org.clone())),
            action: Some("member.*".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let changes: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(changes.contains(&"member.role_change") && changes.contains(&"member.remove"), "{changes:?}");
    let promoted = events.iter().find(|e| e.action == "member.role_change" && e.target.as_deref() == Some(&admin.id));
    let changes = &promoted.expect("the admin's promotion is audited").details["changes"];
    assert_eq!((&changes["before"]["role"], &changes["after"]["role"]), (&json!("admin"), &json!("owner")));
}

/// An invitation's link works once, for 7 days, unless withdrawn; a member is not invited twice.
#[tokio::test]
async fn an_invitation_link_works_once_within_seven_days() {
    let app = TestApp::new().await;
    let t = team(&app, "links", &[OrgRole::Member]).await;
    let invite = format!("/api/user/orgs/{}/invitations", t.org);
    let owner = &t.owner;

    // A member already: 409.
    let r = call_in(
        &app,
        Method::POST,
        &invite,
        Some(json!({"email": "member@links.example", "role": "viewer"})),
        &owner.token,
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_member"));

    // Once: the second accept fails, also for another account.
    let first = person(&app, "first@elsewhere.example").await;
    let second = person(&app, "second@elsewhere.example").await;
    let r = call_in(
        &app,
        Method::POST,
        &invite,
        Some(json!({"email": "first@elsewhere.example", "role": "viewer"})),
        &owner.token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = app.mailed_token("first@elsewhere.example", "invitation");
    let accept = |m: &Member| {
        let token = token.clone();
        let bearer = m.token.clone();
        let app = &app;
        async move {
            call_in(app, Method::POST, "/api/user/invitations/accept", Some(json!({"token": token})), &bearer, None)
                .await
        }
    };
    assert_eq!(accept(&first).await.status, StatusCode::OK);
    let again = accept(&second).await;
    assert_eq!((again.status, again.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));

    // Withdrawn: the link stops working; the listing no longer shows it.
    let r = call_in(
        &app,
        Method::POST,
        &invite,
        Some(json!({"email": "second@elsewhere.example", "role": "viewer"})),
        &owner.token,
        None,
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let withdrawn = app.mailed_token("second@elsewhere.example", "invitation");
    let listed = call_in(&app, Method::GET, &invite, None, &owner.token, None).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{:?}", listed.body);
    let r = call_in(&app, Method::DELETE, &format!("{invite}/{id}"), None, &owner.token, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call_in(
        &app,
        Method::POST,
        "/api/user/invitations/accept",
        Some(json!({"token": withdrawn})),
        &second.token,
        None,
    )
    .await;
    assert_eq!(r.code(), "invalid_field");

    // Expired after 7 days.
    let r = call_in(
        &app,
        Method::POST,
        &invite,
        Some(json!({"email": "second@elsewhere.example", "role": "viewer"})),
        &owner.token,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let late = app.mailed_token("second@elsewhere.example", "invitation");
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let r =
        call_in(&app, Method::POST, "/api/user/invitations/accept", Some(json!({"token": late})), &second.token, None)
            .await;
    assert_eq!(r.code(), "invalid_field", "expired: {:?}", r.body);
}

/// Deleting a team organization (owners only, confirmed by name) revokes its keys at the
/// gateway; a personal organization cannot be deleted.
#[tokio::test]
async fn deleting_an_organization_stops_its_keys_and_a_personal_one_stays() {
    let app = TestApp::with_cache_ttl(std::time::Duration::ZERO).await;
    let t = team(&app, "gone", &[OrgRole::Admin]).await;
    let org = Some(t.org.as_str());
    let r = call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), &t.owner.token, org).await;
    let key = r.body["secret"].as_str().unwrap().to_string();
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK);

    let path = format!("/api/user/orgs/{}", t.org);
    let r =
        call_in(&app, Method::DELETE, &path, Some(json!({"confirm": "gone"})), &t.as_role(OrgRole::Admin).token, None)
            .await;
    assert_eq!(r.code(), "permission_denied", "only owners delete");
    let r = call_in(&app, Method::DELETE, &path, Some(json!({"confirm": "wrong"})), &t.owner.token, None).await;
    assert_eq!(r.code(), "confirmation_required");
    let r = call_in(&app, Method::DELETE, &path, Some(json!({"confirm": "gone"})), &t.owner.token, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the team's key is revoked: {:?}", r.body);
    let r = call_in(&app, Method::GET, &path, None, &t.owner.token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call_in(&app, Method::GET, "/api/user/api-keys", None, &t.owner.token, org).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "X-Org-Id of a deleted organization");

    let personal = app.stored_user("owner@gone.example").await.default_org_id;
    let r = call_in(
        &app,
        Method::DELETE,
        &format!("/api/user/orgs/{personal}"),
        Some(json!({"confirm": "x"})),
        &t.owner.token,
        None,
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
}

/// The README's permission table is the one the code enforces.
#[test]
fn the_readme_permission_table_is_the_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("<!-- permissions:start").expect("the README has the permission table");
    let table_start = readme[start..].find('\n').unwrap() + start + 1;
    let end = readme.find("<!-- permissions:end -->").expect("the table ends");
    assert_eq!(&readme[table_start..end], tollgate_domain::permission_table_markdown());
}

/// An owner downloads the whole organization as JSON: members, keys without secrets,
/// subscription, usage and the audit trail; no other role may.
#[tokio::test]
async fn an_owner_exports_the_organization_as_json() {
    let app = TestApp::new().await;
    let t = team(&app, "export", &[OrgRole::Admin, OrgRole::Viewer]).await;
    let org = Some(t.org.as_str());
    let r = call_in(&app, Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), &t.owner.token, org).await;
    let secret = r.body["secret"].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&secret), None)).await.status,
            StatusCode::OK
        );
    }
    let path = format!("/api/user/orgs/{}/export", t.org);
    for role in [OrgRole::Admin, OrgRole::Viewer] {
        let r = call_in(&app, Method::GET, &path, None, &t.as_role(role).token, None).await;
        assert_eq!(r.code(), "permission_denied", "{role:?}");
    }

    let r = call_in(&app, Method::GET, &path, None, &t.owner.token, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains("export.json"));
    let doc = &r.body;
    assert_eq!(doc["format"], "tollgate.organization-export.v1");
    assert_eq!(doc["organization"]["id"], t.org.as_str());
    let emails: Vec<&str> = doc["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["owner@export.example", "admin@export.example", "viewer@export.example"]);
    assert_eq!(doc["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(doc["subscription"]["org_id"], t.org.as_str());
    assert!(doc["audit_events"].as_array().unwrap().iter().any(|e| e["action"] == "api_key.create"), "{doc}");
    assert!(doc["invoices"].is_array() && doc["usage_daily"].is_array() && doc["invitations"].is_array());
    let text = doc.to_string();
    assert!(!text.contains(&secret), "no key secret in an export");
    assert!(!text.contains("password_hash") && !text.contains("token_hash"), "no credential in an export");
}

//! The admins' user management on the embedded store: search, filters, order and pages;
//! a user's detail; create, update, delete; suspension (the gateway refuses the user's keys
//! within 5 seconds, sessions end); the admin's own account protected; the audit log with
//! its filters and pages; and an organization's own activity.

use crate::gateway::{put_on_plan, user_with_key};
use axum::http::{header, Method, StatusCode};
use chrono::{Duration, SecondsFormat};
use serde_json::{json, Value};
use std::time::Instant;
use tollgate_domain::id::prefix;
use tollgate_domain::{Id, Invitation, Membership, OrgRole, Organization, TokenHash};
use tollgate_tests::app::{gateway_answers_within, gateway_request, request, TestApp, TestResponse, PASSWORD};

/// The gateway's promise: suspension and revocation count within 5 seconds (plus one poll).
const FIVE_SECONDS: std::time::Duration = std::time::Duration::from_millis(5300);

/// A strong password for accounts made by an admin.
const NEW_PASSWORD: &str = "admin-made-pass-7";

/// Creates a user through the admin route; returns the created profile.
async fn create(app: &TestApp, admin: &str, email: &str, company: Option<&str>, role: &str) -> Value {
    let body = json!({
        "email": email,
        "password": NEW_PASSWORD,
        "first_name": "Grace",
        "last_name": "Hopper",
        "company_name": company,
        "role": role,
    });
    let r = app.call(Method::POST, "/api/admin/users", Some(body), Some(admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "create {email}: {:?}", r.body);
    r.body
}

/// `GET /api/admin/users?<query>` as the admin, which must answer 200.
async fn list(app: &TestApp, admin: &str, query: &str) -> Value {
    let r = app.call(Method::GET, &format!("/api/admin/users?{query}"), None, Some(admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
    r.body
}

/// The emails of a user page, in order.
fn emails(page: &Value) -> Vec<String> {
    page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect()
}

/// Every page of `GET <path>?<query>&limit=<limit>` (the items under `field`), following
/// `next_cursor`; also how many pages there were.
async fn all_pages(
    app: &TestApp,
    token: &str,
    path: &str,
    query: &str,
    field: &str,
    limit: u32,
) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let mut url = format!("{path}?{query}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let r = app.call(Method::GET, &url, None, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {:?}", r.body);
        let page = r.body[field].as_array().unwrap().clone();
        assert!(page.len() <= limit as usize);
        pages += 1;
        items.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (items, pages),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

/// Percent-encodes a query value (cursors are opaque).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The id of the account behind `token`.
async fn my_id(app: &TestApp, token: &str) -> String {
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(token)).await;
    r.body["id"].as_str().expect("profile id").to_string()
}

/// The time of the app's clock as a query value.
fn at(app: &TestApp) -> String {
    urlencode(&app.clock_now().to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[tokio::test]
async fn listing_searches_filters_sorts_and_pages() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    // One second apart, so the creation order is the time order.
    app.clock.advance(Duration::seconds(1));
    let alice = create(&app, &admin, "Alice@Search-Acme.test", Some("Rocket Works"), "user").await;
    app.clock.advance(Duration::seconds(1));
    create(&app, &admin, "bob@search-beta.test", Some("Bobcorp"), "user").await;
    app.clock.advance(Duration::seconds(1));
    create(&app, &admin, "carol@search-acme.test", None, "admin").await;
    app.clock.advance(Duration::seconds(1));
    let bob = app.stored_user("bob@search-beta.test").await;
    let r = app.call(Method::POST, &format!("/api/admin/users/{}/suspend", bob.id), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Never a password or its hash.
    let everyone = list(&app, &admin, "").await;
    for u in everyone["users"].as_array().unwrap() {
        assert!(u.get("password_hash").is_none() && u.get("password").is_none(), "{u}");
    }
    // Newest first by default: carol, bob, alice, then the bootstrap admin.
    assert_eq!(
        emails(&everyone),
        ["carol@search-acme.test", "bob@search-beta.test", "alice@search-acme.test", "root@example.com"]
    );
    assert!(everyone["next_cursor"].is_null());

    // A fragment of the email in any case; of the company; of a name.
    let mut acme = emails(&list(&app, &admin, "q=SEARCH-acme").await);
    acme.sort();
    assert_eq!(acme, ["alice@search-acme.test", "carol@search-acme.test"]);
    assert_eq!(emails(&list(&app, &admin, "q=rOcKeT").await), ["alice@search-acme.test"]);
    assert_eq!(emails(&list(&app, &admin, "q=bobcorp").await), ["bob@search-beta.test"]);
    assert_eq!(list(&app, &admin, "q=hopp").await["users"].as_array().unwrap().len(), 3);
    assert!(emails(&list(&app, &admin, "q=nobody-has-this").await).is_empty());

    // Status, role and plan.
    assert_eq!(emails(&list(&app, &admin, "status=suspended").await), ["bob@search-beta.test"]);
    assert_eq!(emails(&list(&app, &admin, "role=admin").await), ["carol@search-acme.test", "root@example.com"]);
    assert_eq!(emails(&list(&app, &admin, "role=user&status=active").await), ["alice@search-acme.test"]);
    let alice_org = Id::from_string(alice["organization_id"].as_str().unwrap());
    let plan = put_on_plan(app.state.store.as_ref(), &alice_org, |_| {}).await;
    assert_eq!(emails(&list(&app, &admin, &format!("plan={}", plan.id)).await), ["alice@search-acme.test"]);
    assert_eq!(emails(&list(&app, &admin, &format!("plan={}&q=bob", plan.id)).await), Vec::<String>::new());

    // The other orders.
    assert_eq!(
        emails(&list(&app, &admin, "sort=created_at").await),
        ["root@example.com", "alice@search-acme.test", "bob@search-beta.test", "carol@search-acme.test"]
    );
    assert_eq!(
        emails(&list(&app, &admin, "sort=email").await),
        ["alice@search-acme.test", "bob@search-beta.test", "carol@search-acme.test", "root@example.com"]
    );
    assert_eq!(emails(&list(&app, &admin, "sort=-created_at").await), emails(&everyone));

    // Pages of one, in every order, give the whole listing in the same order.
    for sort in ["-created_at", "created_at", "email"] {
        let whole = emails(&list(&app, &admin, &format!("sort={sort}")).await);
        let (paged, pages) = all_pages(&app, &admin, "/api/admin/users", &format!("sort={sort}"), "users", 1).await;
        let paged: Vec<String> = paged.iter().map(|u| u["email"].as_str().unwrap().to_string()).collect();
        assert_eq!((paged, pages), (whole, 4), "sort={sort}");
    }
    let (paged, _) = all_pages(&app, &admin, "/api/admin/users", "q=search", "users", 2).await;
    assert_eq!(paged.len(), 3);

    // Bad values are the client's error.
    for bad in ["status=gone", "role=root", "sort=name", "limit=0", "limit=1001", "limit=x", "cursor=not-a-cursor"] {
        let r = app.call(Method::GET, &format!("/api/admin/users?{bad}"), None, Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}: {:?}", r.body);
    }
}

#[tokio::test]
async fn detail_shows_organizations_subscription_usage_keys_invoices_and_security_events() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (access, key, org) = user_with_key(&app, "detail@example.com").await;
    for _ in 0..3 {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/metered", Some(&key), None)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    // An invoice mirrored from the payment provider, and one of another organization.
    let now = app.clock_now();
    let invoice = |id: &str, org: &Id| tollgate_domain::Invoice {
        id: id.into(),
        org_id: org.clone(),
        customer_id: "cus_detail".into(),
        subscription_id: None,
        number: Some("INV-1".into()),
        status: tollgate_domain::InvoiceStatus::Paid,
        amount_due: 900,
        amount_paid: 900,
        currency: "usd".into(),
        period_start: now,
        period_end: now,
        created_at: now,
        hosted_invoice_url: None,
    };
    app.state.store.upsert_invoice(&invoice("in_detail1", &org)).await.unwrap();
    app.state.store.upsert_invoice(&invoice("in_other1", &Id::generate(prefix::ORG))).await.unwrap();
    let user = app.stored_user("detail@example.com").await;

    let r = app.call(Method::GET, &format!("/api/admin/users/{}", user.id), None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let d = &r.body;
    assert_eq!(d["user"]["email"], "detail@example.com");
    assert!(d["user"].get("password_hash").is_none());
    assert_eq!(
        d["organizations"],
        json!([{"id": org, "name": "Engines", "role": "owner", "personal": true}]),
        "the personal organization (named after the company)"
    );
    assert_eq!(d["subscription"]["org_id"], json!(org));
    assert_eq!(d["plan"]["name"], "Free");
    assert_eq!(d["usage"]["used"], 3, "{:?}", d["usage"]);
    assert_eq!(d["usage"]["limit"], 1000);
    assert!(d["usage"]["period"]["key"].is_string());
    let keys = d["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["prefix"].as_str().unwrap().starts_with("sk_live_"));
    assert_eq!(keys[0]["status"], "active");
    let text = d.to_string();
    assert!(!text.contains(&key), "the key's secret never appears");
    assert!(!text.contains(&user.password_hash), "nor the password hash");
    assert!(keys[0].get("secret").is_none());
    let invoices: Vec<&str> = d["invoices"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(invoices, ["in_detail1"]);
    let events = d["security_events"].as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in ["user.register", "user.login", "api_key.create"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(events.iter().all(|e| e["actor_id"] == json!(user.id)));

    // At most the 20 most recent. The test clock stands still unless moved: the logins come
    // a second later, so "most recent" does not fall to the tie-break on random ids.
    app.clock.advance(Duration::seconds(1));
    for _ in 0..25 {
        app.login("detail@example.com", PASSWORD).await;
    }
    let r = app.call(Method::GET, &format!("/api/admin/users/{}", user.id), None, Some(&admin)).await;
    assert_eq!(r.body["security_events"].as_array().unwrap().len(), 20);
    assert_eq!(r.body["security_events"][0]["action"], "user.login");
    drop(access);

    for missing in ["usr_doesnotexist", "key_abc", "nonsense"] {
        let r = app.call(Method::GET, &format!("/api/admin/users/{missing}"), None, Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{missing}");
    }
}

#[tokio::test]
async fn create_update_and_delete_a_user() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let body = json!({
        "email": "created@example.com",
        "password": NEW_PASSWORD,
        "first_name": " Made ",
        "last_name": "ByAdmin",
        "role": "user",
        "email_verified": true,
    });
    let r = app.call(Method::POST, "/api/admin/users", Some(body.clone()), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["first_name"].as_str(), r.body["email_verified"].as_bool()), (Some("Made"), Some(true)));
    assert!(r.body["company_name"].is_null() && r.body.get("password_hash").is_none());
    let id = r.body["id"].as_str().unwrap().to_string();
    // The account works at once, with its personal organization on Free.
    let login = app.login("created@example.com", NEW_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
    let access = login.body["access_token"].as_str().unwrap().to_string();
    let sub = app.call(Method::GET, "/api/user/subscription", None, Some(&access)).await;
    assert_eq!(sub.body["plan"]["name"], "Free", "{:?}", sub.body);

    // The registration's rules.
    let r = app.call(Method::POST, "/api/admin/users", Some(body.clone()), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_taken"));
    let mut weak = body.clone();
    weak["email"] = json!("weak@example.com");
    weak["password"] = json!("short");
    let r = app.call(Method::POST, "/api/admin/users", Some(weak), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"));
    let mut bad = body.clone();
    bad["email"] = json!("not-an-email");
    let r = app.call(Method::POST, "/api/admin/users", Some(bad), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email"));
    let mut bad = body.clone();
    bad["email"] = json!("role@example.com");
    bad["role"] = json!("owner");
    let r = app.call(Method::POST, "/api/admin/users", Some(bad), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let mut bad = body.clone();
    bad["email"] = json!("name@example.com");
    bad["first_name"] = json!("  ");
    let r = app.call(Method::POST, "/api/admin/users", Some(bad), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));

    // A partial update; null clears the company.
    let path = format!("/api/admin/users/{id}");
    let r = app.call(Method::PUT, &path, Some(json!({"company_name": "Compilers"})), Some(&admin)).await;
    assert_eq!(r.body["company_name"], "Compilers", "{:?}", r.body);
    let change = json!({"first_name": "Renamed", "company_name": null, "role": "admin", "email_verified": false});
    let r = app.call(Method::PUT, &path, Some(change), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (
            &r.body["first_name"],
            &r.body["last_name"],
            &r.body["company_name"],
            &r.body["role"],
            &r.body["email_verified"]
        ),
        (&json!("Renamed"), &json!("ByAdmin"), &Value::Null, &json!("admin"), &json!(false))
    );
    let stored = app.stored_user("created@example.com").await;
    assert_eq!((stored.first_name.as_str(), stored.company_name.as_deref()), ("Renamed", None));
    for (bad, code) in [
        (json!({}), "invalid_body"),
        (json!({"email": "x@example.com"}), "invalid_body"),
        (json!({"password": "another-pass-1"}), "invalid_body"),
        (json!({"last_name": ""}), "invalid_field"),
    ] {
        let r = app.call(Method::PUT, &path, Some(bad.clone()), Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{bad}");
    }
    let r = app.call(Method::PUT, "/api/admin/users/usr_nobody", Some(json!({"first_name": "X"})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Delete: as the user's own deletion does.
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    let key = key.body["secret"].as_str().unwrap().to_string();
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let deleted_at = Instant::now();
    let r = app.call(Method::DELETE, &path, None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((&r.body["user"]["status"], &r.body["api_keys_revoked"]), (&json!("deleted"), &json!(1)));
    assert!(r.body["sessions_revoked"].as_u64().unwrap() >= 1);
    assert_eq!(app.login("created@example.com", NEW_PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = gateway_answers_within(&app.router, &key, StatusCode::UNAUTHORIZED, deleted_at, FIVE_SECONDS).await;
    assert_eq!(r.code(), "key_revoked");
    // A deleted user can be read, not changed or deleted again.
    let r = app.call(Method::GET, &path, None, Some(&admin)).await;
    assert_eq!(r.body["user"]["status"], "deleted");
    let r = app.call(Method::DELETE, &path, None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::PUT, &path, Some(json!({"first_name": "Back"})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The email is free again.
    assert_eq!(app.register("created@example.com").await.status, StatusCode::CREATED);
}

/// Suspension stops the user's keys at the gateway within 5 seconds (the gateway's cache
/// expiring, on the wall clock), also the keys another member created in an organization
/// the user owns; the user's sessions end; unsuspending lets them back in.
#[tokio::test]
async fn suspension_stops_keys_within_five_seconds_and_ends_sessions() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (access, key, _) = user_with_key(&app, "suspend@example.com").await;
    let refresh = app.login("suspend@example.com", PASSWORD).await.body["refresh_token"].as_str().unwrap().to_string();
    let owner = app.stored_user("suspend@example.com").await;

    // A team organization owned by the user, where a member made a key.
    let (member_access, member_key, _) = user_with_key(&app, "member@example.com").await;
    let member = app.stored_user("member@example.com").await;
    let team = team_owned_by(&app, &owner.id, &member.id).await;
    let mut req =
        request(Method::POST, "/api/user/api-keys", Some(json!({"name": "team"})), Some(&member_access), None);
    req.headers_mut().insert("x-org-id", team.as_str().parse().unwrap());
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let team_key = r.body["secret"].as_str().unwrap().to_string();

    // Each key works, and is now in the gateway's cache.
    for k in [&key, &team_key, &member_key] {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(k), None)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let path = format!("/api/admin/users/{}", owner.id);
    let suspended_at = Instant::now();
    let r =
        app.call(Method::POST, &format!("{path}/suspend"), Some(json!({"reason": "chargeback"})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "suspended");

    let r = gateway_answers_within(&app.router, &key, StatusCode::FORBIDDEN, suspended_at, FIVE_SECONDS).await;
    assert_eq!(r.code(), "account_suspended");
    let r = gateway_answers_within(&app.router, &team_key, StatusCode::FORBIDDEN, suspended_at, FIVE_SECONDS).await;
    assert_eq!(r.code(), "account_suspended", "the owner's organization's keys stop too");
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&member_key), None)).await;
    assert_eq!(r.status, StatusCode::OK, "the member's own keys still work");

    // Sessions: the access token is refused at once, the refresh token no longer works.
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_suspended"));
    let refreshed =
        app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_ne!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    assert_ne!(app.login("suspend@example.com", PASSWORD).await.status, StatusCode::OK);

    // Twice is a conflict; so is unsuspending an active user.
    let r = app.call(Method::POST, &format!("{path}/suspend"), None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
    let r = app.call(Method::POST, &format!("/api/admin/users/{}/unsuspend", member.id), None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
    // A reason over 500 characters is refused before anything changes.
    let long = json!({"reason": "x".repeat(501)});
    let r = app.call(Method::POST, &format!("/api/admin/users/{}/suspend", member.id), Some(long), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
    assert_eq!(app.stored_user("member@example.com").await.status, tollgate_domain::UserStatus::Active);

    // Unsuspended: keys work again within 5 seconds and the user signs in again; the
    // sessions the suspension ended stay ended.
    let unsuspended_at = Instant::now();
    let r = app.call(Method::POST, &format!("{path}/unsuspend"), None, Some(&admin)).await;
    assert_eq!((r.status, &r.body["status"]), (StatusCode::OK, &json!("active")), "{:?}", r.body);
    gateway_answers_within(&app.router, &key, StatusCode::OK, unsuspended_at, FIVE_SECONDS).await;
    gateway_answers_within(&app.router, &team_key, StatusCode::OK, unsuspended_at, FIVE_SECONDS).await;
    assert_eq!(app.login("suspend@example.com", PASSWORD).await.status, StatusCode::OK);
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "the access token is valid again until it expires");
    let refreshed =
        app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "{:?}", refreshed.body);
}

/// A team organization owned by `owner`, with `member` in it (joined by an invitation).
async fn team_owned_by(app: &TestApp, owner: &Id, member: &Id) -> Id {
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    let org = Organization {
        id: Id::generate(prefix::ORG),
        name: "Team".into(),
        owner_id: owner.clone(),
        personal: false,
        created_at: now,
    };
    let owner_membership =
        Membership { org_id: org.id.clone(), user_id: owner.clone(), role: OrgRole::Owner, created_at: now };
    store.create_organization(&org, &owner_membership).await.expect("create organization");
    let token = format!("invite-{}", org.id);
    let invitation = Invitation {
        id: Id::generate("inv"),
        org_id: org.id.clone(),
        email: tollgate_domain::Email::parse("member@example.com").unwrap(),
        role: OrgRole::Member,
        invited_by: owner.clone(),
        token_hash: TokenHash::of(&token),
        created_at: now,
        expires_at: now + tollgate_domain::INVITATION_VALIDITY,
        accepted_at: None,
        accepted_by: None,
    };
    store.create_invitation(&invitation).await.expect("create invitation");
    let joined = store.accept_invitation(&TokenHash::of(&token), member, now).await.expect("accept");
    assert!(joined.is_some(), "the member joined");
    org.id
}

#[tokio::test]
async fn an_admin_cannot_suspend_delete_or_demote_themselves() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let me = format!("/api/admin/users/{}", my_id(&app, &admin).await);
    let r = app.call(Method::POST, &format!("{me}/suspend"), None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "{:?}", r.body);
    let r = app.call(Method::DELETE, &me, None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
    let r = app.call(Method::PUT, &me, Some(json!({"role": "user"})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
    // Nothing changed, and changing their own names is fine.
    let r = app.call(Method::PUT, &me, Some(json!({"role": "admin", "first_name": "Root"})), Some(&admin)).await;
    assert_eq!((r.status, &r.body["role"], &r.body["status"]), (StatusCode::OK, &json!("admin"), &json!("active")));
    // Another admin can be demoted.
    let other = create(&app, &admin, "admin2@example.com", None, "admin").await;
    let path = format!("/api/admin/users/{}", other["id"].as_str().unwrap());
    let r = app.call(Method::PUT, &path, Some(json!({"role": "user"})), Some(&admin)).await;
    assert_eq!((r.status, &r.body["role"]), (StatusCode::OK, &json!("user")));
}

#[tokio::test]
async fn every_new_admin_route_requires_the_admin_role() {
    let app = TestApp::new().await;
    app.admin_token().await;
    let (user, _) = app.user("plain@example.com").await;
    let id = my_id(&app, &user).await;
    let routes = [
        (Method::GET, "/api/admin/users".to_string(), None),
        (Method::POST, "/api/admin/users".into(), Some(json!({}))),
        (Method::GET, format!("/api/admin/users/{id}"), None),
        (Method::PUT, format!("/api/admin/users/{id}"), Some(json!({"role": "admin"}))),
        (Method::DELETE, format!("/api/admin/users/{id}"), None),
        (Method::POST, format!("/api/admin/users/{id}/suspend"), None),
        (Method::POST, format!("/api/admin/users/{id}/unsuspend"), None),
        (Method::GET, "/api/admin/audit-logs".into(), None),
    ];
    for (method, path, body) in routes {
        let r = app.call(method.clone(), &path, body.clone(), Some(&user)).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"), "{method} {path}");
        let r = app.call(method.clone(), &path, body, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
    }
    let me = app.stored_user("plain@example.com").await;
    assert_eq!((me.role, me.status), (tollgate_domain::Role::User, tollgate_domain::UserStatus::Active));
}

/// Sends `method path` as the admin with a `User-Agent`.
async fn as_admin_with_agent(
    app: &TestApp,
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut req = request(method, path, body, Some(admin), Some([127, 0, 0, 9].into()));
    req.headers_mut().insert(header::USER_AGENT, "tollgate-admin-test/1.0".parse().unwrap());
    app.send(req).await
}

#[tokio::test]
async fn every_user_action_is_in_the_audit_log_with_filters_and_pages() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let admin_id = my_id(&app, &admin).await;
    app.clock.advance(Duration::seconds(1));
    let body = json!({
        "email": "audited@example.com", "password": NEW_PASSWORD, "first_name": "Au", "last_name": "Dited",
        "role": "user",
    });
    let created = as_admin_with_agent(&app, &admin, Method::POST, "/api/admin/users", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/admin/users/{id}");
    // One second between the actions, so the log's order is theirs.
    let mut times = Vec::new();
    let steps: [(Method, String, Option<Value>); 4] = [
        (Method::PUT, path.clone(), Some(json!({"last_name": "Changed", "email_verified": true}))),
        (Method::POST, format!("{path}/suspend"), Some(json!({"reason": "fraud check"}))),
        (Method::POST, format!("{path}/unsuspend"), None),
        (Method::DELETE, path.clone(), None),
    ];
    for (method, p, body) in steps {
        app.clock.advance(Duration::seconds(1));
        times.push(at(&app));
        let r = as_admin_with_agent(&app, &admin, method, &p, body).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {:?}", r.body);
    }
    app.clock.advance(Duration::seconds(1));
    let after_all = at(&app);

    let page = |query: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let r = app.call(Method::GET, &format!("/api/admin/audit-logs?{query}"), None, Some(admin)).await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
            r.body
        }
    };
    let actions = |page: &Value| -> Vec<String> {
        page["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
    };
    let all_five = ["user.delete", "user.unsuspend", "user.suspend", "user.update", "user.create"];

    // By resource: the five actions, newest first, each by the admin, with the request's
    // IP and user agent and what changed.
    let log = page(format!("resource_id={id}")).await;
    assert_eq!(actions(&log), all_five);
    assert!(log["next_cursor"].is_null());
    let events = log["events"].as_array().unwrap();
    for e in events {
        assert_eq!((&e["actor_id"], &e["target"]), (&json!(admin_id), &json!(id)), "{e}");
        assert_eq!((&e["ip"], &e["user_agent"]), (&json!("127.0.0.9"), &json!("tollgate-admin-test/1.0")), "{e}");
        assert!(e["details"]["changes"].is_object(), "{e}");
    }
    let text = log.to_string();
    assert!(!text.contains(NEW_PASSWORD) && !text.contains("password"), "no password or hash: {text}");
    let update = &events[3]["details"]["changes"];
    assert_eq!(
        update,
        &json!({"before": {"last_name": "Dited", "email_verified": false}, "after": {"last_name": "Changed", "email_verified": true}})
    );
    assert_eq!(events[4]["details"]["changes"]["after"]["email"], "audited@example.com");
    assert_eq!(events[4]["details"]["changes"]["before"], Value::Null);
    assert_eq!(
        events[2]["details"]["changes"],
        json!({"before": {"status": "active"}, "after": {"status": "suspended"}})
    );
    assert_eq!(events[2]["details"]["reason"], "fraud check");
    assert_eq!(events[1]["details"]["changes"]["after"], json!({"status": "active"}));
    assert_eq!(events[0]["details"]["changes"]["after"], json!({"status": "deleted"}));

    // Actor and action prefix; exact action; resource type; organization.
    assert_eq!(actions(&page(format!("actor={admin_id}&action=user.*")).await), all_five);
    assert_eq!(actions(&page(format!("actor={admin_id}&action=user.sus*")).await), ["user.suspend"]);
    assert_eq!(actions(&page(format!("action=user.unsuspend&resource_id={id}")).await), ["user.unsuspend"]);
    assert_eq!(actions(&page(format!("resource_type=user&resource_id={id}")).await), all_five);
    let org = created.body["organization_id"].as_str().unwrap();
    assert_eq!(actions(&page(format!("org={org}&action=user.*")).await), all_five);
    assert!(actions(&page(format!("actor={id}")).await).is_empty(), "the user did nothing themselves");
    assert!(actions(&page("resource_id=usr_nothing".into()).await).is_empty());

    // A time range: [from, to).
    let range = format!("resource_id={id}&from={}&to={}", times[1], times[3]);
    assert_eq!(actions(&page(range).await), ["user.unsuspend", "user.suspend"]);
    let range = format!("resource_id={id}&from={}&to={after_all}", times[3]);
    assert_eq!(actions(&page(range).await), ["user.delete"]);

    // Pages of two give the same five in the same order.
    let (paged, pages) =
        all_pages(&app, &admin, "/api/admin/audit-logs", &format!("resource_id={id}"), "events", 2).await;
    let paged: Vec<&str> = paged.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!((paged, pages), (all_five.to_vec(), 3));

    // Bad filters; and no route changes or deletes the log.
    for bad in ["from=yesterday", "to=2026-13-01", "action=user.*.x", "limit=0", "cursor=bogus"] {
        let r = app.call(Method::GET, &format!("/api/admin/audit-logs?{bad}"), None, Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{bad}: {:?}", r.body);
    }
    let r = app
        .call(Method::GET, &format!("/api/admin/audit-logs?from={after_all}&to={}", times[0]), None, Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "from after to");
    for method in [Method::PUT, Method::DELETE, Method::POST, Method::PATCH] {
        let r = app.call(method.clone(), "/api/admin/audit-logs", Some(json!({})), Some(&admin)).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

#[tokio::test]
async fn account_activity_shows_the_callers_organization_only() {
    let app = TestApp::new().await;
    let (a, _, a_org) = user_with_key(&app, "activity-a@example.com").await;
    let (b, _, b_org) = user_with_key(&app, "activity-b@example.com").await;
    app.clock.advance(Duration::seconds(1));
    let since = at(&app);
    // Two more key events in A's organization, one in B's.
    for (token, n) in [(&a, 2), (&b, 1)] {
        for i in 0..n {
            app.clock.advance(Duration::seconds(1));
            let r =
                app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": format!("k{i}")})), Some(token)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            let id = r.body["key"]["id"].as_str().unwrap();
            let r = app.call(Method::DELETE, &format!("/api/user/api-keys/{id}"), None, Some(token)).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
    }

    let activity = |token: &str, query: &str| {
        let url = format!("/api/user/account/activity?{query}");
        let token = token.to_string();
        let app = &app;
        async move { app.call(Method::GET, &url, None, Some(&token)).await }
    };
    let r = activity(&a, "").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let events = r.body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["org_id"] == json!(a_org)), "only A's organization: {events:?}");
    let a_actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(a_actions.contains(&"user.register") && a_actions.contains(&"api_key.create"), "{a_actions:?}");
    let b_events = activity(&b, "").await.body["events"].as_array().unwrap().clone();
    assert!(b_events.iter().all(|e| e["org_id"] == json!(b_org)));
    let a_ids: Vec<&Value> = events.iter().map(|e| &e["id"]).collect();
    assert!(b_events.iter().all(|e| !a_ids.contains(&&e["id"])), "no event in both");

    // Filters and pages, still within the organization.
    let keys = activity(&a, &format!("action=api_key.*&from={since}")).await.body;
    let key_actions: Vec<&str> =
        keys["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(key_actions.len(), 4, "two created, two revoked since: {key_actions:?}");
    assert!(key_actions.iter().all(|a| a.starts_with("api_key.")));
    let r = activity(&a, &format!("action=api_key.create&to={since}")).await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 1, "the first key, before: {:?}", r.body);
    let (paged, pages) = all_pages(&app, &a, "/api/user/account/activity", "action=api_key.*", "events", 2).await;
    assert_eq!((paged.len(), pages), (5, 3));
    assert!(paged.iter().all(|e| e["org_id"] == json!(a_org)));
    let r = activity(&a, "from=not-a-time").await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"));

    // Naming another organization is not found, as if it did not exist.
    let mut req = request(Method::GET, "/api/user/account/activity", None, Some(&a), None);
    req.headers_mut().insert("x-org-id", b_org.as_str().parse().unwrap());
    let r = app.send(req).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

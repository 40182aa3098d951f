use axum::http::{header, Method, StatusCode};
use serde_json::json;
use tollgate_domain::{AuditQuery, Email};
use tollgate_tests::app::{request, send, TestApp, PASSWORD};

#[tokio::test]
async fn register_creates_user_org_and_sends_verification_mail() {
    let app = TestApp::new().await;
    let r = app.register("Ada@Example.com").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    assert_eq!(r.body["user"]["email_verified"], false);
    assert!(r.body["user"].get("password_hash").is_none());
    let user = app.stored_user("ada@example.com").await;
    assert!(user.password_hash.starts_with("$argon2id$"));
    let org = app.state.store.get_organization(&user.default_org_id).await.unwrap().expect("personal org");
    assert_eq!(org.owner_id, user.id);
    assert!(org.personal);
    let token = app.mailed_token("ada@example.com", "verify_email");

    let r = app.call(Method::POST, "/api/user/auth/verify-email", Some(json!({"token": token})), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let (access, _) =
        (app.login("ada@example.com", PASSWORD).await.body["access_token"].as_str().unwrap().to_string(), ());
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.body["email_verified"], true);
    // A verification token works once.
    let r = app.call(Method::POST, "/api/user/auth/verify-email", Some(json!({"token": token})), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
}

#[tokio::test]
async fn duplicate_email_is_a_conflict_and_changes_nothing() {
    let app = TestApp::new().await;
    assert_eq!(app.register("dup@example.com").await.status, StatusCode::CREATED);
    let r = app.register("DUP@example.com").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_taken"));
    let events = app.state.store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "user.register").count(), 1);
}

#[tokio::test]
async fn invalid_registrations_get_clear_422s_and_create_nothing() {
    let app = TestApp::new().await;
    let base = json!({"email": "x@example.com", "password": PASSWORD, "first_name": "A", "last_name": "B"});
    let cases = [
        (json!({"email": "not-an-email"}), "invalid_email"),
        (json!({"password": "short1"}), "weak_password"),
        (json!({"password": "aaaaaaaaaaaa"}), "weak_password"),
        (json!({"first_name": "  "}), "invalid_field"),
        (json!({"last_name": "x".repeat(101)}), "invalid_field"),
        (json!({"role": "admin"}), "invalid_body"),
    ];
    for (patch, code) in cases {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.call(Method::POST, "/api/user/auth/register", Some(body.clone()), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{body}: {:?}", r.body);
    }
    let r = app.call(Method::POST, "/api/user/auth/register", Some(json!({"email": "x@example.com"})), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    assert!(app.state.store.find_user_by_email(&Email::parse("x@example.com").unwrap()).await.unwrap().is_none());
    assert!(app.outbox().is_empty());
}

#[tokio::test]
async fn login_sets_an_httponly_refresh_cookie_and_rejects_wrong_passwords() {
    let app = TestApp::new().await;
    app.register("login@example.com").await;
    let r = app.login("login@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("tollgate_refresh="), "{cookie}");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api", "Max-Age=604800"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    let r = app.login("login@example.com", "wrong-password-1").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let r = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
}

#[tokio::test]
async fn failed_logins_are_limited_per_account_and_per_ip() {
    let app = TestApp::new().await;
    app.register("victim@example.com").await;
    let ip = "203.0.113.7".parse().unwrap();
    let login = |email: &str, pw: &str| {
        request(Method::POST, "/api/user/auth/login", Some(json!({"email": email, "password": pw})), None, Some(ip))
    };
    for _ in 0..5 {
        assert_eq!(app.send(login("victim@example.com", "wrong-password-1")).await.status, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused until the window ends.
    let r = app.send(login("victim@example.com", PASSWORD)).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"));
    let retry: u64 = r.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    // Per IP: 20 failures across many accounts.
    for i in 0..15 {
        app.send(login(&format!("guess{i}@example.com"), "wrong-password-1")).await;
    }
    let r = app.send(login("other@example.com", PASSWORD)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A new window lets the account in again.
    app.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(app.send(login("victim@example.com", PASSWORD)).await.status, StatusCode::OK);
}

/// `n` logins sent at once, the i-th as `login(i)` = (client IP, email, password); the
/// statuses, sorted.
async fn concurrent_logins(
    app: &TestApp,
    n: usize,
    login: impl Fn(usize) -> (String, String, &'static str),
) -> Vec<u16> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let (ip, email, password) = login(i);
            let (router, ip) = (app.router.clone(), ip.parse().unwrap());
            let body = json!({"email": email, "password": password});
            tokio::spawn(async move {
                send(&router, request(Method::POST, "/api/user/auth/login", Some(body), None, Some(ip))).await.status
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for call in calls {
        statuses.push(call.await.unwrap().as_u16());
    }
    statuses.sort_unstable();
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_limits_hold_against_a_burst_of_parallel_guesses() {
    let app = TestApp::new().await;
    app.register("burst@example.com").await;
    let count = |statuses: &[u16], status: u16| statuses.iter().filter(|s| **s == status).count();
    let wrong = "wrong-password-1";

    // 30 wrong passwords for one account at once, from 30 IPs: 5 are tried, 25 refused.
    let statuses =
        concurrent_logins(&app, 30, |i| (format!("198.51.100.{i}"), "burst@example.com".into(), wrong)).await;
    assert_eq!((count(&statuses, 401), count(&statuses, 429)), (5, 25), "per account: {statuses:?}");

    // 40 guesses at once from one IP over 40 accounts: 20 are tried, 20 refused.
    let statuses = concurrent_logins(&app, 40, |i| ("203.0.113.99".into(), format!("g{i}@example.com"), wrong)).await;
    assert_eq!((count(&statuses, 401), count(&statuses, 429)), (20, 20), "per IP: {statuses:?}");

    // Successful logins are not failures: 25 in a row from one IP all get in, and the IP's
    // failure budget is intact afterwards.
    app.register("office@example.com").await;
    let office = |_| ("192.0.2.1".to_string(), "office@example.com".to_string(), PASSWORD);
    for _ in 0..25 {
        assert_eq!(concurrent_logins(&app, 1, office).await, [200]);
    }
    let statuses = concurrent_logins(&app, 20, |i| ("192.0.2.1".into(), format!("h{i}@example.com"), wrong)).await;
    assert_eq!(count(&statuses, 401), 20, "{statuses:?}");
}

/// An attempt refused by one limit is not counted against the other: 30 wrong logins at once
/// to one account from one IP (5 tried, 25 refused) use 5 of that IP's 20 failures, not more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_refused_by_a_limit_leave_the_other_limits_budget_alone() {
    let app = TestApp::new().await;
    app.register("target@example.com").await;
    let count = |statuses: &[u16], status: u16| statuses.iter().filter(|s| **s == status).count();
    let (ip, wrong) = ("198.51.100.77", "wrong-password-1");
    let statuses = concurrent_logins(&app, 30, |_| (ip.into(), "target@example.com".into(), wrong)).await;
    assert_eq!((count(&statuses, 401), count(&statuses, 429)), (5, 25), "burst: {statuses:?}");
    // 15 failures left for this IP: 15 more guesses are tried, the 16th is refused.
    let statuses = concurrent_logins(&app, 16, |i| (ip.into(), format!("other{i}@example.com"), wrong)).await;
    assert_eq!((count(&statuses, 401), count(&statuses, 429)), (15, 1), "after the burst: {statuses:?}");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = TestApp::new().await;
    let (_, first) = app.user("rot@example.com").await;
    let refresh = |t: &str| app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": t})), None);
    let r = refresh(&first).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert!(r.body["access_token"].as_str().is_some());

    // The old token again: theft is assumed, the family ends.
    let r = refresh(&first).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "refresh_token_reused"));
    let r = refresh(&second).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "refresh_token_revoked"));
    let events = app.state.store.list_audit(&AuditQuery { limit: 50, ..Default::default() }).await.unwrap();
    assert!(events.iter().any(|e| e.action == "session.refresh_reuse_detected"));
}

#[tokio::test]
async fn refresh_and_logout_work_with_the_cookie_alone() {
    let app = TestApp::new().await;
    let (_, token) = app.user("cookie@example.com").await;
    let with_cookie = |path: &str, t: &str| {
        let mut req = request(Method::POST, path, None, None, None);
        req.headers_mut().insert(header::COOKIE, format!("theme=dark; tollgate_refresh={t}").parse().unwrap());
        req
    };
    let r = app.send(with_cookie("/api/user/auth/refresh", &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = r.body["refresh_token"].as_str().unwrap().to_string();
    let r = app.send(with_cookie("/api/user/auth/logout", &new)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let r = app.send(with_cookie("/api/user/auth/refresh", &new)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "refresh_token_revoked"));
    // Logging out again is harmless; refreshing with nothing is a clear 401.
    assert_eq!(app.send(with_cookie("/api/user/auth/logout", &new)).await.status, StatusCode::NO_CONTENT);
    let r = app.call(Method::POST, "/api/user/auth/refresh", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_refresh_token"));
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": "nope"})), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_refresh_token"));
}

#[tokio::test]
async fn refresh_tokens_expire_after_seven_days() {
    let app = TestApp::new().await;
    let (_, token) = app.user("expiry@example.com").await;
    app.clock.advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": token})), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "refresh_token_expired"));
}

#[tokio::test]
async fn password_reset_flow_changes_password_and_ends_sessions() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user("reset@example.com").await;
    // Unknown accounts get the same answer and no mail.
    let r = app
        .call(Method::POST, "/api/user/auth/forgot-password", Some(json!({"email": "ghost@example.com"})), None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = app
        .call(Method::POST, "/api/user/auth/forgot-password", Some(json!({"email": "reset@example.com"})), None)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(app.outbox().iter().all(|m| m.to.as_str() != "ghost@example.com"));
    let token = app.mailed_token("reset@example.com", "reset_password");

    let weak = app
        .call(Method::POST, "/api/user/auth/reset-password", Some(json!({"token": token, "password": "weak"})), None)
        .await;
    assert_eq!(weak.code(), "weak_password");
    let r = app
        .call(
            Method::POST,
            "/api/user/auth/reset-password",
            Some(json!({"token": token, "password": "brand-new-pass-7"})),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.login("reset@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("reset@example.com", "brand-new-pass-7").await.status, StatusCode::OK);
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_eq!(r.code(), "refresh_token_revoked");
    let again = app
        .call(
            Method::POST,
            "/api/user/auth/reset-password",
            Some(json!({"token": token, "password": "another-pass-8"})),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn admin_login_requires_the_admin_role() {
    let app = TestApp::new().await;
    let config = tollgate_local::Config {
        admin_email: "root@example.com".into(),
        admin_password: Some("admin-pass-123".into()),
        ..tollgate_local::Config::from_env().unwrap()
    };
    let created = tollgate_local::bootstrap_admin(&app.state, &config).await.unwrap();
    assert!(matches!(created, tollgate_local::AdminBootstrap::Created { generated_password: None, .. }));
    assert!(matches!(
        tollgate_local::bootstrap_admin(&app.state, &config).await.unwrap(),
        tollgate_local::AdminBootstrap::AlreadyPresent
    ));

    let admin = |email: &str, pw: &str| {
        app.call(Method::POST, "/api/admin/auth/login", Some(json!({"email": email, "password": pw})), None)
    };
    let r = admin("root@example.com", "admin-pass-123").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["role"], "admin");
    let token = r.body["refresh_token"].as_str().unwrap().to_string();
    app.register("pleb@example.com").await;
    let r = admin("pleb@example.com", PASSWORD).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"));
    let r = admin("root@example.com", "wrong-pass-123").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::POST, "/api/admin/auth/logout", Some(json!({"refresh_token": token})), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

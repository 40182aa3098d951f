//! Admin two-factor authentication on the embedded store: enrolment with a TOTP secret,
//! confirmation with a code computed from it (the app's clock), the login's second step, wrong
//! and replayed codes, recovery codes, the login throttle, disabling, and
//! `ADMIN_REQUIRE_2FA`.

use axum::http::{header, Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use tollgate_domain::totp::{base32_decode, totp_code};
use tollgate_domain::AuditQuery;
use tollgate_http::Settings;
use tollgate_tests::app::{TestApp, TestResponse};

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "admin-pass-123";

/// The code an authenticator app shows for `secret` at `at`.
fn code(secret: &str, at: DateTime<Utc>) -> String {
    totp_code(&base32_decode(secret).expect("a base32 secret"), at)
}

/// A six-digit code that is not valid at `at` (nor a step either side).
fn wrong_code(secret: &str, at: DateTime<Utc>) -> String {
    let valid: Vec<String> = [-30, 0, 30].iter().map(|s| code(secret, at + Duration::seconds(*s))).collect();
    (0..).map(|i| format!("{:06}", i * 7919 % 1_000_000)).find(|c| !valid.contains(c)).unwrap()
}

async fn post(app: &TestApp, path: &str, body: Option<Value>, token: Option<&str>) -> TestResponse {
    app.call(Method::POST, path, body, token).await
}

/// Enrols and confirms the admin of `token`; returns (secret, recovery codes).
async fn enable_2fa(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = post(app, "/api/admin/auth/2fa/enroll", None, Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let r =
        post(app, "/api/admin/auth/2fa/confirm", Some(json!({"code": code(&secret, app.clock_now())})), Some(token))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let codes = r.body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    (secret, codes)
}

/// The password step of the admin login, which must ask for a second factor: its `mfa_token`.
async fn first_step(app: &TestApp) -> String {
    let r =
        post(app, "/api/admin/auth/login", Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["mfa_required"], json!(true), "{:?}", r.body);
    assert!(r.body.get("access_token").is_none() && r.body.get("refresh_token").is_none(), "no session yet");
    assert!(r.headers.get(header::SET_COOKIE).is_none(), "no cookie yet");
    r.body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, mfa_token: &str, code: &str) -> TestResponse {
    post(app, "/api/admin/auth/login/2fa", Some(json!({"mfa_token": mfa_token, "code": code})), None).await
}

/// Moves the app's clock to the next TOTP step (codes of the current one are used up).
fn next_step(app: &TestApp) {
    app.clock.advance(Duration::seconds(30));
}

/// Every audit event, as one string (to look for leaked secrets), and the actions.
async fn audit(app: &TestApp) -> (String, Vec<String>) {
    let events = app.state.store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap();
    (serde_json::to_string(&events).unwrap(), events.iter().map(|e| e.action.clone()).collect())
}

#[tokio::test]
async fn enrol_confirm_log_in_with_a_second_step_and_disable() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;

    // Enrolling twice: the second secret replaces the unconfirmed first.
    let r = post(&app, "/api/admin/auth/2fa/enroll", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let first = r.body["secret"].as_str().unwrap().to_string();
    let r = post(&app, "/api/admin/auth/2fa/enroll", None, Some(&admin)).await;
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(first, secret);
    assert_eq!(secret.len(), 32, "20 bytes in base32");
    assert_eq!(
        r.body["otpauth_uri"],
        json!(format!(
            "otpauth://totp/tollgate:root@example.com?secret={secret}&issuer=tollgate&algorithm=SHA1&digits=6&period=30"
        ))
    );
    // Until confirmed, the login needs no second step.
    let r = post(&app, "/api/admin/auth/login", Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})), None)
        .await;
    assert!(r.body["access_token"].is_string(), "{:?}", r.body);

    // A code of the replaced secret, or a wrong one, does not confirm.
    let now = app.clock_now();
    let r = post(&app, "/api/admin/auth/2fa/confirm", Some(json!({"code": code(&first, now)})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    let r = post(&app, "/api/admin/auth/2fa/disable", Some(json!({"code": code(&secret, now)})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "not enabled yet");

    let confirming = code(&secret, now);
    let r = post(&app, "/api/admin/auth/2fa/confirm", Some(json!({"code": confirming})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let recovery: Vec<String> =
        r.body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(recovery.len(), 10);
    for c in &recovery {
        assert!(c.len() == 11 && c.as_bytes()[5] == b'-', "XXXXX-XXXXX: {c}");
    }
    let r = post(&app, "/api/admin/auth/2fa/enroll", None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "already enabled");
    let r = post(&app, "/api/admin/auth/2fa/confirm", Some(json!({"code": confirming})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "confirmed once");

    // The login now needs a second step. The confirming code is used: it does not log in,
    // and the challenge it was sent with is spent.
    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &confirming).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"), "a replayed code");
    next_step(&app);
    let fresh = code(&secret, app.clock_now());
    let r = second_step(&app, &challenge, &fresh).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_token"), "one-time challenge");

    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &fresh).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["access_token"].is_string() && r.body["refresh_token"].is_string());
    assert!(r.headers.get(header::SET_COOKIE).is_some(), "the refresh cookie");
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "the session works: {:?}", r.body);

    // The same code once more (same step): refused, even on a new challenge.
    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &fresh).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"));

    // A recovery code works once, written in any case and with or without its dash.
    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &recovery[0].to_lowercase().replace('-', " ")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &recovery[0]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"), "used up");

    // A challenge expires after 5 minutes.
    let challenge = first_step(&app).await;
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let r = second_step(&app, &challenge, &code(&secret, app.clock_now())).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_token"));

    // Disabling takes a code too: a wrong one, then a recovery code.
    let now = app.clock_now();
    let r =
        post(&app, "/api/admin/auth/2fa/disable", Some(json!({"code": wrong_code(&secret, now)})), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    let r = post(&app, "/api/admin/auth/2fa/disable", Some(json!({"code": recovery[1]})), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = post(&app, "/api/admin/auth/login", Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})), None)
        .await;
    assert!(r.body["access_token"].is_string(), "one step again: {:?}", r.body);
    assert!(app.state.store.get_mfa(&app.stored_user(ADMIN_EMAIL).await.id).await.unwrap().is_none());

    // Audited, and never with a secret or a code.
    let (all, actions) = audit(&app).await;
    for action in ["user.2fa_enrolled", "user.2fa_disabled", "user.login_2fa_failed", "user.recovery_code_used"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| *a == "user.recovery_code_used").count(), 2);
    for leaked in [secret.as_str(), first.as_str(), confirming.as_str(), fresh.as_str()]
        .into_iter()
        .chain(recovery.iter().map(String::as_str))
    {
        assert!(!all.contains(leaked), "the audit log holds {leaked}");
    }
}

#[tokio::test]
async fn wrong_codes_count_against_the_login_throttle() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (secret, _) = enable_2fa(&app, &admin).await;
    next_step(&app);

    // The account allows 5 failures a window: wrong passwords and wrong codes alike.
    let r =
        post(&app, "/api/admin/auth/login", Some(json!({"email": ADMIN_EMAIL, "password": "wrong-pass-123"})), None)
            .await;
    assert_eq!(r.code(), "invalid_credentials");
    for _ in 0..4 {
        let challenge = first_step(&app).await;
        let r = second_step(&app, &challenge, &wrong_code(&secret, app.clock_now())).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_mfa_code"));
    }
    // The sixth attempt is refused, the right password included.
    let r = post(&app, "/api/admin/auth/login", Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})), None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"), "{:?}", r.body);
    assert!(r.headers.get(header::RETRY_AFTER).is_some());
    let (_, actions) = audit(&app).await;
    assert_eq!(actions.iter().filter(|a| *a == "user.login_2fa_failed").count(), 4);

    // After the window, a right code logs in and clears the account's failures.
    app.clock.advance(Duration::minutes(15));
    let challenge = first_step(&app).await;
    let r = second_step(&app, &challenge, &code(&secret, app.clock_now())).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn required_2fa_blocks_admin_routes_until_enrolled() {
    let app = TestApp::with_settings(Settings { admin_require_2fa: true, ..Settings::default() }).await;
    let admin = app.admin_token().await;

    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "mfa_enrollment_required"), "{:?}", r.body);
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&admin)).await;
    assert_eq!(r.code(), "mfa_enrollment_required");
    let r = post(&app, "/api/admin/auth/2fa/disable", Some(json!({"code": "123456"})), Some(&admin)).await;
    assert_eq!(r.code(), "mfa_enrollment_required", "only enrol and confirm are open");

    // A user is still refused as a non-admin.
    let (user, _) = app.user("ada@example.com").await;
    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&user)).await;
    assert_eq!(r.code(), "admin_required");

    // Enrolling and confirming are open; then every admin route is, with the same token.
    enable_2fa(&app, &admin).await;
    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Logout takes no access token: never refused.
    let r = post(&app, "/api/admin/auth/logout", None, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

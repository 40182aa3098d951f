//! Sign-in with an OpenID Connect provider, against the tiny provider of
//! `tollgate_tests::oidc` on loopback: the redirect's parameters, a new account, linking an
//! existing account through a verified email only, a suspended account, a wrong nonce, a
//! wrong audience, a replayed or expired state, and the routes without configuration.

use axum::http::{header, Method, StatusCode};
use chrono::Duration;
use serde_json::{json, Value};
use tollgate_domain::AuditQuery;
use tollgate_http::Settings;
use tollgate_tests::app::{TestApp, TestResponse};
use tollgate_tests::oidc::{OidcProvider, CLIENT_ID, REDIRECT_URI};

async fn setup() -> (TestApp, OidcProvider) {
    let provider = OidcProvider::start().await;
    let app = TestApp::with_settings(Settings { oidc: Some(provider.settings()), ..Settings::default() }).await;
    (app, provider)
}

/// `start`: its `Location`, checked to be the provider's authorization request.
async fn start(app: &TestApp, provider: &OidcProvider) -> String {
    let r = app.call(Method::GET, "/api/user/auth/oidc/start", None, None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.body);
    let location = r.headers.get(header::LOCATION).expect("a Location").to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}/authorize?", provider.issuer)), "{location}");
    location
}

async fn callback(app: &TestApp, code: &str, state: &str) -> TestResponse {
    app.call(Method::GET, &format!("/api/user/auth/oidc/callback?code={code}&state={state}"), None, None).await
}

/// start -> the provider with `claims` -> callback.
async fn sign_in(app: &TestApp, provider: &OidcProvider, claims: Value) -> TestResponse {
    let location = start(app, provider).await;
    let (code, state) = provider.authorize(&location, claims);
    callback(app, &code, &state).await
}

async fn audit(app: &TestApp) -> Vec<tollgate_domain::AuditEvent> {
    app.state.store.list_audit(&AuditQuery { limit: 1000, ..Default::default() }).await.unwrap()
}

#[tokio::test]
async fn the_redirect_carries_the_code_flow_parameters() {
    let (app, provider) = setup().await;
    let location = start(&app, &provider).await;
    let url = url::Url::parse(&location).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(q["code_challenge_method"], "S256");
    for p in ["state", "nonce", "code_challenge"] {
        assert!(q[p].len() >= 43, "{p}: {}", q[p]);
    }
    assert_ne!(q["nonce"], q["state"]);
    // Every start is a new sign-in.
    let again: std::collections::HashMap<String, String> =
        url::Url::parse(&start(&app, &provider).await).unwrap().query_pairs().into_owned().collect();
    assert_ne!(again["state"], q["state"]);
    assert_ne!(again["nonce"], q["nonce"]);
    assert_ne!(again["code_challenge"], q["code_challenge"]);
}

#[tokio::test]
async fn an_unknown_email_gets_a_new_account_and_a_session() {
    let (app, provider) = setup().await;
    let claims =
        json!({"email": "grace@example.com", "email_verified": true, "given_name": "Grace", "family_name": "Hopper"});
    let r = sign_in(&app, &provider, claims).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["refresh_token"].as_str().is_some());
    let cookie = r.headers.get(header::SET_COOKIE).expect("refresh cookie").to_str().unwrap();
    assert!(cookie.starts_with("tollgate_refresh="), "{cookie}");
    let user = app.stored_user("grace@example.com").await;
    assert!(user.email_verified);
    assert_eq!((user.first_name.as_str(), user.last_name.as_str()), ("Grace", "Hopper"));
    assert_eq!(r.body["user"]["id"], json!(user.id.to_string()));
    // The access token works.
    let token = r.body["access_token"].as_str().unwrap();
    let me = app.call(Method::GET, "/api/user/account/profile", None, Some(token)).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    // The random password is unknown to anyone.
    assert_eq!(app.login("grace@example.com", "correct-horse-42").await.status, StatusCode::UNAUTHORIZED);
    let events = audit(&app).await;
    let login = events.iter().find(|e| e.action == "user.login").expect("user.login");
    assert_eq!(login.details["method"], "oidc");
    let register = events.iter().find(|e| e.action == "user.register").expect("user.register");
    assert_eq!(register.details["method"], "oidc");

    // An unverified email makes an unverified account.
    let r = sign_in(&app, &provider, json!({"email": "new@example.com", "email_verified": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(!app.stored_user("new@example.com").await.email_verified);
}

#[tokio::test]
async fn an_existing_account_is_linked_only_through_a_verified_email() {
    let (app, provider) = setup().await;
    assert_eq!(app.register("ada@example.com").await.status, StatusCode::CREATED);
    let user = app.stored_user("ada@example.com").await;

    let r = sign_in(&app, &provider, json!({"email": "ada@example.com", "email_verified": false})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_not_verified"), "{:?}", r.body);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    let r = sign_in(&app, &provider, json!({"email": "ada@example.com"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_not_verified"), "no claim is not verified");
    assert!(!audit(&app).await.iter().any(|e| e.action == "user.oidc_linked" || e.action == "user.login"));

    let r = sign_in(&app, &provider, json!({"email": "ADA@example.com", "email_verified": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["id"], json!(user.id.to_string()), "the same account");
    let events = audit(&app).await;
    let linked = events.iter().find(|e| e.action == "user.oidc_linked").expect("user.oidc_linked");
    assert_eq!(linked.details["issuer"], json!(provider.issuer));
    assert_eq!(linked.details["subject"], "subject-1");
    assert!(events.iter().any(|e| e.action == "user.login" && e.details["method"] == "oidc"));
    // The password still works.
    assert_eq!(app.login("ada@example.com", tollgate_tests::app::PASSWORD).await.status, StatusCode::OK);

    // A suspended account is refused as at login.
    app.suspend("ada@example.com").await;
    let r = sign_in(&app, &provider, json!({"email": "ada@example.com", "email_verified": true})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_suspended"), "{:?}", r.body);
}

#[tokio::test]
async fn a_wrong_nonce_audience_or_issuer_is_refused() {
    let (app, provider) = setup().await;
    let base = json!({"email": "eve@example.com", "email_verified": true});
    for (claim, value) in [
        ("nonce", json!("another-nonce")),
        ("nonce", Value::Null),
        ("aud", json!("another-client")),
        ("iss", json!("http://127.0.0.1:1")),
        ("exp", json!(chrono::Utc::now().timestamp() - 3600)),
    ] {
        let mut claims = base.clone();
        claims[claim] = value.clone();
        let r = sign_in(&app, &provider, claims).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "invalid_id_token"),
            "{claim}={value}: {:?}",
            r.body
        );
    }
    assert!(app
        .state
        .store
        .find_user_by_email(&tollgate_domain::Email::parse("eve@example.com").unwrap())
        .await
        .unwrap()
        .is_none());
    // A code of another sign-in (its PKCE verifier differs): the provider refuses it.
    let first = start(&app, &provider).await;
    let second = start(&app, &provider).await;
    let (code, _) = provider.authorize(&first, base.clone());
    let (_, state) = provider.authorize(&second, base.clone());
    let r = callback(&app, &code, &state).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{:?}", r.body);
}

#[tokio::test]
async fn a_state_works_once_and_for_ten_minutes() {
    let (app, provider) = setup().await;
    let claims = json!({"email": "once@example.com", "email_verified": true});
    let location = start(&app, &provider).await;
    let (code, state) = provider.authorize(&location, claims.clone());
    assert_eq!(callback(&app, &code, &state).await.status, StatusCode::OK);
    let requests = provider.token_requests();
    let r = callback(&app, &code, &state).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_oidc_state"), "{:?}", r.body);
    assert_eq!(provider.token_requests(), requests, "a replayed state never reaches the provider");
    let r = callback(&app, &code, "made-up-state").await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_oidc_state"));

    let location = start(&app, &provider).await;
    let (code, state) = provider.authorize(&location, claims);
    app.clock.advance(Duration::minutes(11));
    let r = callback(&app, &code, &state).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_oidc_state"), "{:?}", r.body);

    let r = app.call(Method::GET, "/api/user/auth/oidc/callback?code=abc", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "bad_request"), "{:?}", r.body);
}

#[tokio::test]
async fn without_configuration_the_routes_answer_503() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/api/user/auth/oidc/start", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "oidc_not_configured"), "{:?}", r.body);
    let r = app.call(Method::GET, "/api/user/auth/oidc/callback?code=a&state=b", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "oidc_not_configured"), "{:?}", r.body);
}

/// The app signing in with the test server playing GitHub.
async fn github_setup() -> (TestApp, OidcProvider) {
    let provider = OidcProvider::start().await;
    let app = TestApp::with_settings(Settings { oidc: Some(provider.github_settings()), ..Settings::default() }).await;
    (app, provider)
}

/// start -> GitHub with `user` and `emails` -> callback.
async fn github_sign_in(app: &TestApp, provider: &OidcProvider, user: Value, emails: Value) -> TestResponse {
    let r = app.call(Method::GET, "/api/user/auth/oidc/start", None, None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{:?}", r.body);
    let location = r.headers[header::LOCATION].to_str().unwrap().to_string();
    let (code, state) = provider.authorize_github(&location, user, emails);
    callback(app, &code, &state).await
}

#[tokio::test]
async fn github_signs_in_with_its_verified_primary_email() {
    let (app, provider) = github_setup().await;
    // A new account from the primary email (not the profile's public one), verified.
    let user = json!({"id": 583231, "login": "octocat", "name": "Mona Lisa Octocat", "email": "public@example.com"});
    let emails = json!([
        {"email": "old@example.com", "primary": false, "verified": true},
        {"email": "mona@example.com", "primary": true, "verified": true},
    ]);
    let r = github_sign_in(&app, &provider, user, emails).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.headers.get(header::SET_COOKIE).is_some(), "the refresh cookie");
    let mona = app.stored_user("mona@example.com").await;
    assert!(mona.email_verified);
    assert_eq!((mona.first_name.as_str(), mona.last_name.as_str()), ("Mona", "Lisa Octocat"));
    assert_eq!(r.body["user"]["id"], json!(mona.id.to_string()));

    // An existing account is linked only when GitHub has verified its primary email.
    assert_eq!(app.register("ada@example.com").await.status, StatusCode::CREATED);
    let ada = json!({"id": 42, "login": "ada", "name": null});
    let unverified = json!([{"email": "ada@example.com", "primary": true, "verified": false}]);
    let r = github_sign_in(&app, &provider, ada.clone(), unverified).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_not_verified"), "{:?}", r.body);
    let verified = json!([{"email": "Ada@example.com", "primary": true, "verified": true}]);
    let r = github_sign_in(&app, &provider, ada, verified).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["id"], json!(app.stored_user("ada@example.com").await.id.to_string()));
    let linked = audit(&app).await.into_iter().find(|e| e.action == "user.oidc_linked").expect("user.oidc_linked");
    assert_eq!(linked.details, json!({"issuer": provider.issuer, "subject": "42"}));

    // No primary email: nothing to sign in with.
    let r = github_sign_in(&app, &provider, json!({"id": 7}), json!([])).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{:?}", r.body);
}

#[tokio::test]
async fn github_refusing_the_code_is_401_and_the_state_still_works_once() {
    let (app, provider) = github_setup().await;
    let user = json!({"id": 1, "name": "Eve"});
    let emails = json!([{"email": "eve@example.com", "primary": true, "verified": true}]);
    // A code of another sign-in (its PKCE verifier differs): GitHub answers 200 with `error`.
    let first = app.call(Method::GET, "/api/user/auth/oidc/start", None, None).await;
    let second = app.call(Method::GET, "/api/user/auth/oidc/start", None, None).await;
    let location = |r: &TestResponse| r.headers[header::LOCATION].to_str().unwrap().to_string();
    let (code, _) = provider.authorize_github(&location(&first), user.clone(), emails.clone());
    let (_, state) = provider.authorize_github(&location(&second), user, emails);
    let r = callback(&app, &code, &state).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_id_token"), "{:?}", r.body);
    let r = callback(&app, &code, &state).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_oidc_state"), "the state was used");
    assert!(app
        .state
        .store
        .find_user_by_email(&tollgate_domain::Email::parse("eve@example.com").unwrap())
        .await
        .unwrap()
        .is_none());
}

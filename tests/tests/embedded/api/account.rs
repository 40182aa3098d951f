use axum::http::{Method, StatusCode};
use serde_json::json;
use tollgate_tests::app::{TestApp, PASSWORD};

#[tokio::test]
async fn profile_read_and_update() {
    let app = TestApp::new().await;
    let (access, _) = app.user("prof@example.com").await;
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!((r.body["first_name"].as_str(), r.body["company_name"].as_str()), (Some("Ada"), Some("Engines")));
    let r = app
        .call(
            Method::PUT,
            "/api/user/account/profile",
            Some(json!({"first_name": " Augusta ", "company_name": ""})),
            Some(&access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["first_name"], "Augusta");
    assert!(r.body["company_name"].is_null());
    assert_eq!(r.body["last_name"], "Lovelace");
    let r = app
        .call(Method::PUT, "/api/user/account/profile", Some(json!({"email": "new@example.com"})), Some(&access))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.body["email"], "prof@example.com");
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::new().await;
    let (access, this_refresh) = app.user("pw@example.com").await;
    let other = app.login("pw@example.com", PASSWORD).await.body["refresh_token"].as_str().unwrap().to_string();

    let wrong = app
        .call(
            Method::PUT,
            "/api/user/account/password",
            Some(json!({"current_password": "nope-nope-1", "new_password": "new-pass-word-9"})),
            Some(&access),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "invalid_credentials"));
    let weak = app
        .call(
            Method::PUT,
            "/api/user/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
            Some(&access),
        )
        .await;
    assert_eq!(weak.code(), "weak_password");
    let r = app
        .call(
            Method::PUT,
            "/api/user/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "new-pass-word-9"})),
            Some(&access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let refresh = |t: &str| app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": t})), None);
    assert_eq!(refresh(&other).await.code(), "refresh_token_revoked");
    assert_eq!(refresh(&this_refresh).await.status, StatusCode::OK);
    assert_eq!(app.login("pw@example.com", "new-pass-word-9").await.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_the_account_revokes_keys_and_sessions_and_frees_the_email() {
    let app = TestApp::new().await;
    let (access, refresh) = app.user("gone@example.com").await;
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    let secret = key.body["secret"].as_str().unwrap().to_string();

    let r =
        app.call(Method::DELETE, "/api/user/account", Some(json!({"password": "wrong-pass-1"})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::DELETE, "/api/user/account", Some(json!({"password": PASSWORD})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let hash = tollgate_domain::ParsedKey::parse(&secret).unwrap().hash();
    let (k, _) = app
        .state
        .store
        .find_api_key_by_hash(&hash)
        .await
        .unwrap()
        .expect("revoked keys stay findable so the gateway can say 'revoked'");
    assert!(k.revoked_at.is_some());
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("gone@example.com", PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    // The address can be registered again, as a new account.
    let r = app.register("gone@example.com").await;
    assert_eq!(r.status, StatusCode::CREATED);
}

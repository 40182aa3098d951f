use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use serde_json::json;
use tollgate_domain::{KeyRejection, ParsedKey};
use tollgate_tests::app::TestApp;

#[tokio::test]
async fn create_list_and_the_secret_is_shown_once() {
    let app = TestApp::new().await;
    let (access, _) = app.user("keys@example.com").await;
    let r = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "production"})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk_live_"));
    ParsedKey::parse(&secret).expect("well-formed with a valid checksum");
    assert_eq!(r.body["key"]["status"], "active");
    assert_eq!(r.body["key"]["prefix"], &secret[..12]);
    assert_eq!(r.body["key"]["last4"], &secret[secret.len() - 4..]);

    let list = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!((list.body["active"].as_u64(), list.body["limit"].as_u64()), (Some(1), Some(2)));
    assert!(!list.body.to_string().contains(&secret), "listing must not show the secret");
    for field in ["created_at", "last_used_at", "expires_at", "status", "prefix", "last4", "name", "id"] {
        assert!(list.body["data"][0].get(field).is_some(), "{field}");
    }
    // Only the hash is stored.
    let hash = ParsedKey::parse(&secret).unwrap().hash();
    let (key, stored) = app.state.store.find_api_key_by_hash(&hash).await.unwrap().expect("found by hash");
    assert_eq!(key.id.as_str(), r.body["key"]["id"].as_str().unwrap());
    assert_eq!(stored.hash, hash);
}

#[tokio::test]
async fn revoked_and_expired_keys_are_reported_as_such() {
    let app = TestApp::new().await;
    let (access, _) = app.user("status@example.com").await;
    let soon = Utc::now() + Duration::hours(1);
    let a = app
        .call(Method::POST, "/api/user/api-keys", Some(json!({"name": "expiring", "expires_at": soon})), Some(&access))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let b = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "to revoke"})), Some(&access)).await;
    let b_id = b.body["key"]["id"].as_str().unwrap().to_string();

    let r = app.call(Method::DELETE, &format!("/api/user/api-keys/{b_id}"), None, Some(&access)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("revoked")));
    let again = app.call(Method::DELETE, &format!("/api/user/api-keys/{b_id}"), None, Some(&access)).await;
    assert_eq!(again.status, StatusCode::OK, "revoking twice is harmless");

    app.clock.advance(Duration::hours(2));
    let list = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    let statuses: Vec<_> =
        list.body["data"].as_array().unwrap().iter().map(|k| k["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(statuses, ["revoked", "expired"], "newest first");
    assert_eq!(list.body["active"], 0);

    // What the gateway will do with them: refuse, saying why.
    let now = app.clock_now();
    for (secret, why) in [
        (a.body["secret"].as_str().unwrap(), KeyRejection::Expired),
        (b.body["secret"].as_str().unwrap(), KeyRejection::Revoked),
    ] {
        let (key, s) =
            app.state.store.find_api_key_by_hash(&ParsedKey::parse(secret).unwrap().hash()).await.unwrap().unwrap();
        assert_eq!(key.check_usable(&s, now), Err(why));
    }
    let bad = app
        .call(
            Method::POST,
            "/api/user/api-keys",
            Some(json!({"name": "past", "expires_at": Utc::now() - Duration::days(1)})),
            Some(&access),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));
}

#[tokio::test]
async fn the_plans_active_key_limit_is_enforced() {
    // The Free plan allows 2 usable keys.
    let app = TestApp::new().await;
    let (access, _) = app.user("limit@example.com").await;
    let create = |n: &str| app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": n})), Some(&access));
    let first = create("1").await;
    assert_eq!(create("2").await.status, StatusCode::CREATED);
    let r = create("3").await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "key_limit_reached"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("Free"));
    let id = first.body["key"]["id"].as_str().unwrap();
    app.call(Method::DELETE, &format!("/api/user/api-keys/{id}"), None, Some(&access)).await;
    assert_eq!(create("3").await.status, StatusCode::CREATED, "a revoked key frees its slot");
}

#[tokio::test]
async fn rotation_with_a_grace_period() {
    let app = TestApp::new().await;
    let (access, _) = app.user("rotate@example.com").await;
    let created = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "rot"})), Some(&access)).await;
    let id = created.body["key"]["id"].as_str().unwrap().to_string();
    let old = created.body["secret"].as_str().unwrap().to_string();
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/api-keys/{id}/rotate"),
            Some(json!({"grace_period_seconds": 3600})),
            Some(&access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = r.body["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(r.body["key"]["id"], id.as_str(), "rotation keeps the key's identity");
    assert!(r.body["previous_secret_valid_until"].is_string());

    let usable = |secret: String| {
        let app = &app;
        async move {
            match app.state.store.find_api_key_by_hash(&ParsedKey::parse(&secret).unwrap().hash()).await.unwrap() {
                Some((k, s)) => k.check_usable(&s, app.clock_now()).is_ok(),
                None => false,
            }
        }
    };
    assert!(usable(new.clone()).await && usable(old.clone()).await, "both work during the grace period");
    app.clock.advance(Duration::minutes(61));
    assert!(usable(new.clone()).await && !usable(old.clone()).await, "only the new one after it");

    let r = app
        .call(
            Method::POST,
            &format!("/api/user/api-keys/{id}/rotate"),
            Some(json!({"grace_period_seconds": 999999})),
            Some(&access),
        )
        .await;
    assert_eq!(r.code(), "invalid_field");
    // Without a body: no grace.
    let r = app.call(Method::POST, &format!("/api/user/api-keys/{id}/rotate"), None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!usable(new).await);
}

#[tokio::test]
async fn another_tenants_keys_are_invisible() {
    let app = TestApp::new().await;
    let (alice, _) = app.user("alice@example.com").await;
    let (mallory, _) = app.user("mallory@example.com").await;
    let created = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "alice's"})), Some(&alice)).await;
    let id = created.body["key"]["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/user/api-keys/{id}")),
        (Method::DELETE, format!("/api/user/api-keys/{id}")),
        (Method::POST, format!("/api/user/api-keys/{id}/rotate")),
    ] {
        let r = app.call(method.clone(), &path, None, Some(&mallory)).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
    }
    let list = app.call(Method::GET, "/api/user/api-keys", None, Some(&mallory)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 0);
    let mine = app.call(Method::GET, &format!("/api/user/api-keys/{id}"), None, Some(&alice)).await;
    assert_eq!(mine.body["status"], "active", "alice's key untouched");
    let junk = app.call(Method::GET, "/api/user/api-keys/../../etc", None, Some(&alice)).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

//! Scopes end to end on the embedded store: endpoint groups and the API keys limited to
//! some of them at the gateway, and management tokens on the admin routes.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tollgate_tests::app::{gateway_request, TestApp};

/// Adds a built-in echo endpoint at `GET /api/v1/<group>/{*rest}` in the group `scope`.
async fn grouped_endpoint(app: &TestApp, admin: &str, path: &str, scope: Option<&str>) -> Value {
    let body = json!({"name": path, "method": "GET", "path": format!("/{path}/{{*rest}}"),
                      "upstream_url": "builtin:echo", "scope": scope});
    let r = app.call(Method::POST, "/api/admin/endpoints", Some(body), Some(admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["scope"], json!(scope), "the view shows the scope");
    r.body
}

/// Creates a key with `scopes` (absent when None); returns the answer's body.
async fn key_with(app: &TestApp, access: &str, scopes: Option<Value>) -> Value {
    let mut body = json!({"name": "scoped"});
    if let Some(s) = scopes {
        body["scopes"] = s;
    }
    let r = app.call(Method::POST, "/api/user/api-keys", Some(body), Some(access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

async fn used(app: &TestApp, access: &str) -> Value {
    let summary = app.call(Method::GET, "/api/user/usage/summary", None, Some(access)).await;
    summary.body["used"].clone()
}

#[tokio::test]
async fn scoped_keys_call_their_groups_and_ungrouped_endpoints_only() {
    // No caching: a catalog change shows at once.
    let app = TestApp::with_cache_ttl(std::time::Duration::ZERO).await;
    let admin = app.admin_token().await;
    grouped_endpoint(&app, &admin, "weather", Some("weather")).await;
    let maps = grouped_endpoint(&app, &admin, "maps", Some("maps")).await;
    let (access, _) = app.user("scoped@example.com").await;

    let created = key_with(&app, &access, Some(json!(["weather", "weather"]))).await;
    assert_eq!(created["key"]["scopes"], json!(["weather"]), "duplicates are dropped");
    let scoped = created["secret"].as_str().unwrap().to_string();
    let listed = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    assert_eq!(listed.body["data"][0]["scopes"], json!(["weather"]), "{:?}", listed.body);

    let call = |key: &str, path: &str| app.send(gateway_request(Method::GET, path, Some(key), None));
    let r = call(&scoped, "/api/v1/weather/today").await;
    assert_eq!(r.status, StatusCode::OK, "its group: {:?}", r.body);
    let r = call(&scoped, "/api/v1/maps/here").await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "insufficient_scope"), "{:?}", r.body);
    assert_eq!(used(&app, &access).await, 1, "the refused call is not counted");
    let r = call(&scoped, "/api/v1/echo/hi").await;
    assert_eq!(r.status, StatusCode::OK, "an ungrouped endpoint: {:?}", r.body);
    assert_eq!(used(&app, &access).await, 2);

    // A key without scopes calls every group.
    let unscoped = key_with(&app, &access, None).await;
    assert_eq!(unscoped["key"]["scopes"], Value::Null);
    let unscoped = unscoped["secret"].as_str().unwrap().to_string();
    for path in ["/api/v1/weather/a", "/api/v1/maps/b", "/api/v1/echo/c"] {
        assert_eq!(call(&unscoped, path).await.status, StatusCode::OK, "{path}");
    }

    // Clearing the group opens the endpoint to the scoped key.
    let r = app
        .call(
            Method::PUT,
            &format!("/api/admin/endpoints/{}", maps["id"].as_str().unwrap()),
            Some(json!({"scope": null})),
            Some(&admin),
        )
        .await;
    assert_eq!((r.status, &r.body["scope"]), (StatusCode::OK, &Value::Null), "{:?}", r.body);
    assert_eq!(call(&scoped, "/api/v1/maps/here").await.status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_scopes_are_invalid_fields() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (access, _) = app.user("bad-scopes@example.com").await;
    let too_many: Vec<String> = (0..21).map(|i| format!("g{i}")).collect();
    for scopes in [json!([]), json!(["Weather"]), json!(["a b"]), json!(too_many), json!([""])] {
        let body = json!({"name": "k", "scopes": scopes});
        let r = app.call(Method::POST, "/api/user/api-keys", Some(body), Some(&access)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{scopes}: {:?}", r.body);
    }
    let keys = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    assert_eq!(keys.body["data"], json!([]), "nothing was created");
    let body = json!({"name": "x", "method": "GET", "path": "/x", "upstream_url": "builtin:echo", "scope": "-x"});
    let r = app.call(Method::POST, "/api/admin/endpoints", Some(body), Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{:?}", r.body);
    // The project key route takes scopes too.
    let projects = app.call(Method::GET, "/api/user/projects", None, Some(&access)).await;
    let project = projects.body["data"][0]["id"].as_str().unwrap().to_string();
    let r = app
        .call(
            Method::POST,
            &format!("/api/user/projects/{project}/api-keys"),
            Some(json!({"name": "p", "scopes": ["weather"]})),
            Some(&access),
        )
        .await;
    assert_eq!((r.status, &r.body["key"]["scopes"]), (StatusCode::CREATED, &json!(["weather"])), "{:?}", r.body);
}

/// Creates a management token with `scopes` as the admin; returns the answer's body.
async fn management_token(app: &TestApp, admin: &str, scopes: &[&str], expires_at: Option<String>) -> Value {
    let body = json!({"name": format!("backend {}", scopes.join(" ")), "scopes": scopes, "expires_at": expires_at});
    let r = app.call(Method::POST, "/api/admin/tokens", Some(body), Some(admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn management_tokens_act_within_their_scopes() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let admin_id = app.call(Method::GET, "/api/user/account/profile", None, Some(&admin)).await.body["id"].clone();

    let created = management_token(&app, &admin, &["read:customers"], None).await;
    let reader = created["secret"].as_str().unwrap().to_string();
    let reader_id = created["token"]["id"].as_str().unwrap().to_string();
    assert!(reader.starts_with("tgm_") && reader.len() == 47, "{reader}");
    assert!(reader[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(created["token"]["scopes"], json!(["read:customers"]));
    assert_eq!(created["token"]["status"], "active");
    let listed = app.call(Method::GET, "/api/admin/tokens", None, Some(&admin)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"][0]["id"], created["token"]["id"]);
    assert!(!listed.body.to_string().contains(&reader[4..]), "the listing never shows the secret");

    // read:customers lists users, but may not create one.
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&reader)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new_user = json!({"email": "made-by-token@example.com", "password": "token-made-pass-7",
                          "first_name": "T", "last_name": "K", "role": "user"});
    let r = app.call(Method::POST, "/api/admin/users", Some(new_user.clone()), Some(&reader)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "insufficient_scope"), "{:?}", r.body);
    let r = app.call(Method::GET, "/api/admin/plans", None, Some(&reader)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "insufficient_scope"), "another resource");

    // write:plans creates a plan (and reads them: write implies read); the event names the token.
    let writer = management_token(&app, &admin, &["write:plans"], None).await;
    let writer_id = writer["token"]["id"].as_str().unwrap().to_string();
    let writer = writer["secret"].as_str().unwrap().to_string();
    let plan = json!({"name": "Made by the back end", "price": 500, "rate_limit": 60, "monthly_limit": 5000});
    let r = app.call(Method::POST, "/api/admin/plans", Some(plan), Some(&writer)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(app.call(Method::GET, "/api/admin/plans", None, Some(&writer)).await.status, StatusCode::OK);

    // No token manages tokens, nor reaches the routes without a scope.
    for (method, path) in [
        (Method::GET, "/api/admin/tokens"),
        (Method::POST, "/api/admin/tokens"),
        (Method::GET, "/api/admin/audit-logs"),
        (Method::GET, "/api/admin/endpoints"),
        (Method::GET, "/api/admin/jobs"),
    ] {
        let body = (method == Method::POST).then(|| json!({"name": "x", "scopes": ["read:plans"]}));
        let r = app.call(method.clone(), path, body, Some(&writer)).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "insufficient_scope"), "{method} {path}");
    }
    // A token is no user access token either.
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&writer)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Revoked, expired and unknown tokens are 401 invalid_token.
    let r = app.call(Method::DELETE, &format!("/api/admin/tokens/{reader_id}"), None, Some(&admin)).await;
    assert_eq!((r.status, &r.body["status"]), (StatusCode::OK, &json!("revoked")), "{:?}", r.body);
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&reader)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "revoked");
    let soon = (app.clock_now() + chrono::Duration::minutes(10)).to_rfc3339();
    let expiring = management_token(&app, &admin, &["read:customers"], Some(soon)).await;
    let expiring = expiring["secret"].as_str().unwrap().to_string();
    assert_eq!(app.call(Method::GET, "/api/admin/users", None, Some(&expiring)).await.status, StatusCode::OK);
    app.clock.advance(chrono::Duration::minutes(11));
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&expiring)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "expired");
    let unknown = format!("tgm_{}", "A".repeat(43));
    let r = app.call(Method::GET, "/api/admin/users", None, Some(&unknown)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"), "unknown");
    let r = app.call(Method::DELETE, "/api/admin/tokens/mgt_doesnotexist", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Invalid requests change nothing.
    for body in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["admin"]}),
        json!({"name": "", "scopes": ["read:plans"]}),
        json!({"name": "x", "scopes": ["read:plans"], "expires_at": "2000-01-01T00:00:00Z"}),
    ] {
        let r = app.call(Method::POST, "/api/admin/tokens", Some(body.clone()), Some(&admin)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"), "{body}");
    }

    // The audit log: create and revoke (never a secret), and the plan made with the token,
    // by the admin who created it, naming the token.
    let log = app.call(Method::GET, "/api/admin/audit-logs?action=management_token.*", None, Some(&admin)).await;
    let events = log.body["events"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["action"] == "management_token.create").count(), 3, "{events:?}");
    let revoke = events.iter().find(|e| e["action"] == "management_token.revoke").expect("revocation audited");
    assert_eq!((&revoke["target"], &revoke["actor_id"]), (&json!(reader_id), &admin_id), "{revoke:?}");
    assert!(!log.body.to_string().contains(&reader[4..]) && !log.body.to_string().contains(&writer[4..]));
    let log = app.call(Method::GET, "/api/admin/audit-logs?action=plan.create", None, Some(&admin)).await;
    let made = &log.body["events"][0];
    assert_eq!(made["actor_id"], admin_id, "{made:?}");
    assert_eq!(made["details"]["management_token"], json!(writer_id), "{made:?}");
}

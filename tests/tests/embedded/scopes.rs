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
        .call(Method::PUT, &format!("/api/admin/endpoints/{}", maps["id"].as_str().unwrap()),
              Some(json!({"scope": null})), Some(&admin))
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
        .call(Method::POST, &format!("/api/user/projects/{project}/api-keys"),
              Some(json!({"name": "p", "scopes": ["weather"]})), Some(&access))
        .await;
    assert_eq!((r.status, &r.body["key"]["scopes"]), (StatusCode::CREATED, &json!(["weather"])), "{:?}", r.body);
}

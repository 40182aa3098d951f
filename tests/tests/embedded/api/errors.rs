use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;
use tollgate_tests::app::TestApp;

fn raw(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::builder().method(Method::POST).uri(path);
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(body.into()).unwrap()
}

#[tokio::test]
async fn malformed_oversized_and_untyped_bodies_get_clear_4xx() {
    let app = TestApp::new().await;
    let r = app.send(raw("/api/user/auth/login", Some("application/json"), "{\"email\": ")).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
    let r = app.send(raw("/api/user/auth/login", None, "{}")).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let big = json!({"email": "a@example.com", "password": "x".repeat(100_000)}).to_string();
    let r = app.send(raw("/api/user/auth/register", Some("application/json"), big.clone())).await;
    assert_eq!((r.status, r.code()), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let r = app.send(raw("/api/user/auth/refresh", Some("application/json"), big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = app.send(raw("/api/user/auth/refresh", Some("application/json"), "[1,")).await;
    assert_eq!(r.code(), "malformed_json");
    let r = app.send(raw("/api/user/auth/login", Some("application/json"), "[]")).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    // Every error has the same shape.
    assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn bad_tokens_are_401_and_unknown_routes_404_json() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/api/user/api-keys", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_token"));
    let r = app.call(Method::GET, "/api/user/api-keys", None, Some("not.a.jwt")).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let other = tollgate_http::JwtKeys::from_secret(&[9u8; 32]).unwrap();
    let id = tollgate_domain::Id::generate("usr");
    let forged = other
        .issue(&id, &id, tollgate_domain::Role::Admin, &id, chrono::Utc::now(), chrono::Duration::minutes(5))
        .unwrap();
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&forged)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_token"));
    let expired = app
        .state
        .jwt
        .issue(
            &id,
            &id,
            tollgate_domain::Role::User,
            &id,
            chrono::Utc::now() - chrono::Duration::hours(1),
            chrono::Duration::minutes(15),
        )
        .unwrap();
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&expired)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "token_expired"));

    let r = app.call(Method::GET, "/api/nothing/here", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = app.call(Method::PATCH, "/api/user/auth/login", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    assert!(r.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn suspended_users_are_refused_with_403() {
    let app = TestApp::new().await;
    let (access, _) = app.user("sus@example.com").await;
    app.suspend("sus@example.com").await;
    let r = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_suspended"));
    let r = app.login("sus@example.com", tollgate_tests::app::PASSWORD).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "account_suspended"));
}

/// One JSON extractor for every body: a truncated body is 400 `malformed_json` on every
/// route, even when the part that arrived already names an unknown field.
#[tokio::test]
async fn a_truncated_body_is_malformed_json_on_every_json_route() {
    let app = TestApp::new().await;
    let (user, _) = app.user("trunc@example.com").await;
    let admin = app.admin_token().await;
    let truncated = "{\"email\": \"x@example.com\", \"pa";
    for (method, path, token) in [
        (Method::POST, "/api/user/api-keys", &user),
        (Method::PUT, "/api/user/account/profile", &user),
        (Method::PUT, "/api/user/account/password", &user),
        (Method::POST, "/api/admin/plans", &admin),
        (Method::POST, "/api/admin/endpoints", &admin),
        (Method::POST, "/api/user/auth/register", &user),
        (Method::POST, "/api/user/auth/login", &user),
        (Method::POST, "/api/user/auth/refresh", &user),
        (Method::POST, "/api/user/auth/logout", &user),
    ] {
        let mut req = raw(path, Some("application/json"), truncated);
        *req.method_mut() = method.clone();
        req.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        let r = app.send(req).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"), "{method} {path}: {:?}", r.body);
    }
    // A complete body of the wrong shape is still 422.
    let r = app.call(Method::POST, "/api/user/api-keys", Some(json!({"nope": 1})), Some(&user)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
    // `application/<x>+json` with parameters is JSON too.
    let mut req = raw("/api/user/api-keys", Some("application/vnd.api+json; charset=utf-8"), "{\"name\":\"k\"}");
    req.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {user}").parse().unwrap());
    assert_eq!(app.send(req).await.status, StatusCode::CREATED);
}

/// Routes whose body is optional take a JSON `null` as "no body".
#[tokio::test]
async fn optional_bodies_accept_json_null() {
    let app = TestApp::new().await;
    let (user, refresh) = app.user("null@example.com").await;
    let admin = app.admin_token().await;
    let null = |path: &str, token: &str| {
        let mut req = raw(path, Some("application/json"), "null");
        req.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        req
    };
    let r = app.send(null("/api/user/auth/refresh", &user)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "missing_refresh_token"), "{:?}", r.body);
    let key = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&user)).await;
    let id = key.body["key"]["id"].as_str().expect("key id").to_string();
    let r = app.send(null(&format!("/api/user/api-keys/{id}/rotate"), &user)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.send(null("/api/user/auth/logout", &user)).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.send(null("/api/admin/auth/logout", &admin)).await.status, StatusCode::NO_CONTENT);
    // The session is untouched by a logout that named none.
    let r = app.call(Method::POST, "/api/user/auth/refresh", Some(json!({"refresh_token": refresh})), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// The README's error table, the `ErrorCode` catalogue and the OpenAPI document's `code`
/// schema list the same codes, with the same statuses and descriptions.
#[tokio::test]
async fn the_error_catalogue_readme_and_spec_agree() {
    use tollgate_http::ErrorCode;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("<!-- error-codes:start").expect("the README has the error table");
    let end = readme.find("<!-- error-codes:end -->").expect("the table ends");
    let rows: Vec<(String, u16, String)> = readme[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').map(str::trim).collect();
            let code = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_string(), cells.get(1)?.parse().ok()?, cells.get(2)?.to_string()))
        })
        .collect();
    let catalogue: Vec<(String, u16, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_string(), c.status().as_u16(), c.description().to_string()))
        .collect();
    assert_eq!(rows, catalogue, "README table vs ErrorCode: regenerate the table from error_code.rs");

    let app = TestApp::new().await;
    let spec = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    let documented: Vec<&str> = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the ErrorCode schema")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, codes);
}

/// JSON Schema's `integer` (the spec's type for these fields) includes `5.0`: a number with a
/// zero fraction is accepted where an integer is, in required and optional bodies alike; a
/// real fraction is not. Found by schemathesis (scripts/fuzz-openapi.sh).
#[tokio::test]
async fn whole_numbers_written_with_a_fraction_are_integers() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let plan = json!({"name": "Floaty", "price": 900.0, "rate_limit": 300.0, "max_api_keys": 5.0});
    let r = app.call(Method::POST, "/api/admin/plans", Some(plan), Some(&admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["price"].clone(), r.body["rate_limit"].clone()), (json!(900), json!(300)));
    let r = app
        .call(Method::POST, "/api/admin/plans", Some(json!({"name": "x", "price": 1, "rate_limit": 2.5})), Some(&admin))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));

    let (access, _) = app.user("floaty@example.com").await;
    let r = app.call(Method::POST, "/api/user/api-keys", Some(json!({"name": "k"})), Some(&access)).await;
    let id = r.body["key"]["id"].as_str().unwrap().to_string();
    let rotate = format!("/api/user/api-keys/{id}/rotate");
    let r = app.call(Method::POST, &rotate, Some(json!({"grace_period_seconds": 60.0})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["previous_secret_valid_until"].is_string());
    let r = app.call(Method::POST, &rotate, Some(json!({"grace_period_seconds": 0.5})), Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
}

/// An optional body is absent only when it is empty: white space is no JSON, so with a JSON
/// content type it is 400 like any other malformed body (it was taken as absent, which the
/// spec does not say). Found by schemathesis (scripts/fuzz-openapi.sh).
#[tokio::test]
async fn an_optional_body_of_white_space_is_malformed() {
    let app = TestApp::new().await;
    let r = app.send(raw("/api/user/auth/logout", Some("application/json"), "\t\n")).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "malformed_json"));
    let r = app.send(raw("/api/user/auth/logout", Some("application/json"), "")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.send(raw("/api/user/auth/logout", None, "")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

/// Every body is a JSON object: an array is 422 `invalid_body`, even one whose items would
/// fill the fields in order (serde reads a struct from a sequence; the fuzzer found `PUT
/// /api/user/projects/{id}` accepting `[null, null]`).
#[tokio::test]
async fn an_array_body_is_refused_even_when_it_could_fill_the_fields() {
    let app = TestApp::new().await;
    let (access, _) = app.user("array-body@example.com").await;
    let before = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    for body in [json!([null, null]), json!(["Grace", "Hopper", null])] {
        let r = app.call(Method::PUT, "/api/user/account/profile", Some(body.clone()), Some(&access)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{body}: {:?}", r.body);
    }
    let after = app.call(Method::GET, "/api/user/account/profile", None, Some(&access)).await;
    assert_eq!(before.body, after.body, "nothing changed");
    let projects = app.call(Method::GET, "/api/user/projects", None, Some(&access)).await;
    let id = projects.body["data"][0]["id"].as_str().unwrap().to_string();
    let r = app.call(Method::PUT, &format!("/api/user/projects/{id}"), Some(json!([null, null])), Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));
}

use axum::http::{Method, StatusCode};
use serde_json::json;
use tollgate_tests::app::TestApp;

/// Every route the server answers is in the spec, and every path in the spec is routed.
#[tokio::test]
async fn the_spec_covers_every_route() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().expect("paths");
    let expected = [
        ("post", "/api/user/auth/register"),
        ("post", "/api/user/auth/login"),
        ("post", "/api/user/auth/logout"),
        ("post", "/api/user/auth/refresh"),
        ("post", "/api/user/auth/verify-email"),
        ("post", "/api/user/auth/resend-verification"),
        ("post", "/api/user/auth/forgot-password"),
        ("post", "/api/user/auth/reset-password"),
        ("get", "/api/user/auth/oidc/start"),
        ("get", "/api/user/auth/oidc/callback"),
        ("post", "/api/admin/auth/login"),
        ("post", "/api/admin/auth/login/2fa"),
        ("post", "/api/admin/auth/2fa/enroll"),
        ("post", "/api/admin/auth/2fa/confirm"),
        ("post", "/api/admin/auth/2fa/disable"),
        ("post", "/api/admin/auth/logout"),
        ("get", "/api/user/account/profile"),
        ("put", "/api/user/account/profile"),
        ("put", "/api/user/account/password"),
        ("delete", "/api/user/account"),
        ("get", "/api/user/account/activity"),
        ("get", "/api/user/webhooks"),
        ("post", "/api/user/webhooks"),
        ("get", "/api/user/webhooks/{id}"),
        ("put", "/api/user/webhooks/{id}"),
        ("delete", "/api/user/webhooks/{id}"),
        ("post", "/api/user/webhooks/{id}/test"),
        ("post", "/api/user/webhooks/{id}/rotate-secret"),
        ("get", "/api/user/webhooks/{id}/deliveries"),
        ("get", "/api/user/orgs"),
        ("post", "/api/user/orgs"),
        ("get", "/api/user/orgs/{id}"),
        ("put", "/api/user/orgs/{id}"),
        ("delete", "/api/user/orgs/{id}"),
        ("get", "/api/user/orgs/{id}/members"),
        ("put", "/api/user/orgs/{id}/members/{user_id}"),
        ("delete", "/api/user/orgs/{id}/members/{user_id}"),
        ("get", "/api/user/orgs/{id}/invitations"),
        ("post", "/api/user/orgs/{id}/invitations"),
        ("delete", "/api/user/orgs/{id}/invitations/{invitation_id}"),
        ("post", "/api/user/invitations/accept"),
        ("get", "/api/user/orgs/{id}/export"),
        ("get", "/api/user/notifications/settings"),
        ("put", "/api/user/notifications/settings"),
        ("get", "/api/user/api-keys"),
        ("post", "/api/user/api-keys"),
        ("get", "/api/user/api-keys/{id}"),
        ("delete", "/api/user/api-keys/{id}"),
        ("post", "/api/user/api-keys/{id}/rotate"),
        ("get", "/api/user/projects"),
        ("post", "/api/user/projects"),
        ("get", "/api/user/projects/{id}"),
        ("put", "/api/user/projects/{id}"),
        ("delete", "/api/user/projects/{id}"),
        ("post", "/api/user/projects/{id}/verify-secret"),
        ("get", "/api/user/projects/{id}/api-keys"),
        ("post", "/api/user/projects/{id}/api-keys"),
        ("get", "/api/user/usage/summary"),
        ("get", "/api/user/usage/detailed"),
        ("get", "/api/user/usage/by-endpoint"),
        ("get", "/api/user/usage/timeseries"),
        ("get", "/api/user/usage/analytics"),
        ("get", "/api/plans"),
        ("get", "/api/user/subscription"),
        ("post", "/api/user/subscription/upgrade"),
        ("post", "/api/user/subscription/downgrade"),
        ("post", "/api/user/subscription/cancel"),
        ("post", "/api/user/subscription/resume"),
        ("get", "/api/user/billing/payment-methods"),
        ("post", "/api/user/billing/payment-methods"),
        ("delete", "/api/user/billing/payment-methods/{id}"),
        ("post", "/api/user/billing/payment-methods/{id}/default"),
        ("get", "/api/user/billing/invoices"),
        ("post", "/api/user/billing/download-invoice/{id}"),
        ("get", "/api/admin/billing/invoices"),
        ("post", "/api/admin/billing/invoices"),
        ("post", "/api/admin/billing/invoices/{id}/mark-paid"),
        ("get", "/api/admin/billing/reconciliation"),
        ("get", "/api/admin/jobs"),
        ("post", "/api/admin/jobs/{name}/run"),
        ("post", "/api/stripe/webhook"),
        ("get", "/api/admin/plans"),
        ("post", "/api/admin/plans"),
        ("put", "/api/admin/plans/{id}"),
        ("delete", "/api/admin/plans/{id}"),
        ("get", "/api/admin/subscriptions"),
        ("put", "/api/admin/subscriptions/{id}"),
        ("post", "/api/admin/subscriptions/{id}/cancel"),
        ("get", "/api/admin/endpoints"),
        ("post", "/api/admin/endpoints"),
        ("put", "/api/admin/endpoints/{id}"),
        ("delete", "/api/admin/endpoints/{id}"),
        ("get", "/api/admin/users"),
        ("post", "/api/admin/users"),
        ("get", "/api/admin/users/{id}"),
        ("put", "/api/admin/users/{id}"),
        ("delete", "/api/admin/users/{id}"),
        ("post", "/api/admin/users/{id}/suspend"),
        ("post", "/api/admin/users/{id}/unsuspend"),
        ("get", "/api/admin/audit-logs"),
        ("get", "/api/admin/analytics/mrr"),
        ("get", "/api/admin/analytics/churn"),
        ("get", "/api/admin/analytics/revenue"),
        ("get", "/api/admin/analytics/users"),
        ("get", "/api/admin/analytics/usage"),
        ("get", "/api/admin/analytics/top-customers"),
        ("get", "/api/admin/reports/revenue"),
        ("get", "/api/admin/tokens"),
        ("post", "/api/admin/tokens"),
        ("delete", "/api/admin/tokens/{id}"),
        ("get", "/health"),
        ("get", "/api/openapi.json"),
        ("post", "/api/v1/track"),
        ("post", "/api/v1/verify"),
        ("get", "/api/v1/{path}"),
        ("post", "/api/v1/{path}"),
        ("put", "/api/v1/{path}"),
        ("patch", "/api/v1/{path}"),
        ("delete", "/api/v1/{path}"),
        ("head", "/api/v1/{path}"),
        ("options", "/api/v1/{path}"),
    ];
    for (method, path) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing from the spec");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "the spec has routes this test does not know: update the list");
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
    assert!(r.body["components"]["securitySchemes"]["api_key"].is_object());

    // Every documented operation is routed: none answers the router's own 404/405.
    for (method, path) in expected {
        let concrete = path.replace("{id}", "key_doesnotexist").replace("{path}", "echo/x");
        let r = app.call(method.to_uppercase().parse().unwrap(), &concrete, None, None).await;
        assert_ne!(r.code(), "method_not_allowed", "{method} {path}");
        let unrouted = r.status == StatusCode::NOT_FOUND && r.body["error"]["message"] == "route not found";
        assert!(!unrouted, "{method} {path} is documented but not routed");
    }
}

/// Every operation documents the errors its kind gives (see `tollgate_http::openapi::
/// CommonErrors`), each with the `ErrorBody` schema, and the request schemas carry the rules
/// the handlers apply. scripts/fuzz-openapi.sh checks the server against all of it.
#[tokio::test]
async fn the_spec_documents_every_error_and_the_validation_rules() {
    let app = TestApp::new().await;
    let spec = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            for (status, r) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
                let schema = &r["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/ErrorBody", "{at} {status}");
            }
            if op["requestBody"]["content"].get("application/json").is_some() {
                assert!(["400", "413", "415", "422"].iter().all(|s| has(s)), "{at}: JSON body errors");
            }
            if op["security"].as_array().is_some_and(|s| s.iter().any(|s| s.get("bearer").is_some())) {
                assert!(has("401") && has("403"), "{at}: token errors");
            }
            if op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["in"] == "path")) {
                assert!(has("404"), "{at}: not found");
            }
            let public = op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "public"));
            assert_eq!(has("503"), !public, "{at}: 503 on every operation that reads the store");
            if has("429") {
                assert!(responses["429"]["headers"]["Retry-After"].is_object(), "{at}: Retry-After");
            }
        }
    }
    let admin_403 = &spec["paths"]["/api/admin/plans"]["get"]["responses"]["403"]["description"];
    assert!(admin_403.as_str().unwrap().contains("admin_required"));

    let schemas = &spec["components"]["schemas"];
    let password = &schemas["RegisterRequest"]["properties"]["password"];
    assert_eq!((password["minLength"].clone(), password["maxLength"].clone()), (json!(10), json!(128)));
    assert_eq!(schemas["RegisterRequest"]["properties"]["email"]["format"], "email");
    assert_eq!(schemas["RegisterRequest"]["properties"]["first_name"]["maxLength"], 100);
    assert_eq!(schemas["ResetPasswordRequest"]["properties"]["password"], *password);
    let grace = &schemas["RotateApiKeyRequest"]["properties"]["grace_period_seconds"];
    assert_eq!((grace["minimum"].clone(), grace["maximum"].clone()), (json!(0), json!(604800)));
    let retention = &schemas["CreatePlanRequest"]["properties"]["retention_days"];
    assert_eq!((retention["minimum"].clone(), retention["maximum"].clone()), (json!(1), json!(3650)));
    assert!(schemas["CreateEndpointRequest"]["properties"]["path"]["pattern"].is_string());
    for request in ["RegisterRequest", "CreatePlanRequest", "UpdateEndpointRequest"] {
        assert_eq!(schemas[request]["additionalProperties"], false, "{request} denies unknown fields");
    }
}

/// Every `$ref` of the document names a schema it defines, and every operation has its own
/// operationId: client generators (the dashboard's) fail on either.
#[tokio::test]
async fn the_spec_resolves_every_reference_and_names_each_operation_once() {
    let app = TestApp::new().await;
    let doc = app.call(Method::GET, "/api/openapi.json", None, None).await.body;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    let dangling: Vec<&str> = all
        .into_iter()
        .filter(|r| r.strip_prefix("#/components/schemas/").is_some_and(|name| !schemas.contains_key(name)))
        .collect();
    assert!(dangling.is_empty(), "undefined schemas: {dangling:?}");
    let mut seen = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                if let Some(other) = seen.insert(id.to_string(), format!("{method} {path}")) {
                    panic!("operationId {id} of {method} {path} is also {other}'s");
                }
            }
        }
    }
}

/// Each Lambda function builds its route group without the OpenAPI description (a plain
/// `axum::Router`, see `tollgate_http::RouteTable`): it still routes every operation the
/// description lists, at its method. Unrouted, axum answers 404 or 405 with an empty body;
/// a handler's own answer (401, 400, 404...) carries our JSON error body.
#[tokio::test]
async fn each_lambda_router_routes_every_operation_of_its_group() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tollgate_http::AppState;
    use tower::ServiceExt;

    let app = TestApp::new().await;
    let router = axum::Router::<AppState>::new()
        .merge(auth::routes::<axum::Router<AppState>>())
        .merge(account::routes::<axum::Router<AppState>>())
        .merge(api_keys::routes::<axum::Router<AppState>>())
        .merge(usage::routes::<axum::Router<AppState>>())
        .merge(billing::routes::<axum::Router<AppState>>())
        .merge(admin::routes::<axum::Router<AppState>>())
        .with_state(app.state.clone());
    let spec = serde_json::to_value(tollgate_routes::routes().into_openapi()).unwrap();
    let mut routed = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        // The `public` group is not a `RouteTable` (its function serves the spec itself).
        if path == "/health" || path == "/api/openapi.json" {
            continue;
        }
        let uri = path.replace('{', "x").replace('}', "");
        let methods = ["get", "put", "post", "delete", "patch"].into_iter().filter(|m| item.get(*m).is_some());
        for method in methods {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let request = axum::http::Request::builder().method(method.clone()).uri(&uri).body(Body::empty()).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert!(
                !(matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) && body.is_empty()),
                "{method} {path} is not routed ({status})"
            );
            routed += 1;
        }
    }
    assert!(routed > 80, "{routed} operations");
}

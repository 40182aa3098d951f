//! Projects on the embedded store: the default project, limits per plan, keys per project,
//! deletion (confirmed, revoking the project's keys, which the gateway then refuses).

use crate::gateway::{put_on_plan, user_with_key};
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::time::Instant;
use tollgate_tests::app::{gateway_request, TestApp};

#[tokio::test]
async fn every_org_has_a_default_project_holding_keys_made_without_one() {
    let app = TestApp::new().await;
    let (access, _, org) = user_with_key(&app, "proj-default@example.com").await;
    let list = app.call(Method::GET, "/api/user/projects", None, Some(&access)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!((list.body["limit"].as_u64(), list.body["data"].as_array().map(Vec::len)), (Some(1), Some(1)));
    let default = &list.body["data"][0];
    assert_eq!(default["default"], true);
    assert_eq!(default["id"], tollgate_domain::Project::default_id(&org).as_str());
    let keys = app.call(Method::GET, "/api/user/api-keys", None, Some(&access)).await;
    assert_eq!(
        keys.body["data"][0]["project_id"], default["id"],
        "the key made without a project is in the default one"
    );
    let id = default["id"].as_str().unwrap();
    let in_project = app.call(Method::GET, &format!("/api/user/projects/{id}/api-keys"), None, Some(&access)).await;
    assert_eq!(in_project.body["data"].as_array().map(Vec::len), Some(1));

    // Free allows one project besides the default one.
    let r = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Web"})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Web 2"})), Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "project_limit_reached"), "{:?}", r.body);
    // The default project cannot be deleted.
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/user/projects/{id}"),
            Some(json!({"confirm": "Default project"})),
            Some(&access),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "default_project"));
    // Renaming works.
    let r =
        app.call(Method::PUT, &format!("/api/user/projects/{id}"), Some(json!({"name": "Main"})), Some(&access)).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("Main")), "{:?}", r.body);
}

#[tokio::test]
async fn plans_limit_projects_and_each_tenant_sees_only_its_own() {
    let app = TestApp::new().await;
    let (access, _, org) = user_with_key(&app, "proj-pro@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.max_projects = 5).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app
            .call(
                Method::POST,
                "/api/user/projects",
                Some(json!({"name": format!("p{i}"), "description": "d"})),
                Some(&access),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["default"], false);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "sixth"})), Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "project_limit_reached"));
    let list = app.call(Method::GET, "/api/user/projects", None, Some(&access)).await;
    assert_eq!((list.body["limit"].as_u64(), list.body["data"].as_array().map(Vec::len)), (Some(5), Some(6)));
    let r = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "  "})), Some(&access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"));

    // Another tenant sees none of them, and cannot put keys in them.
    let (other, _, _) = user_with_key(&app, "proj-other@example.com").await;
    for path in [format!("/api/user/projects/{}", ids[0]), format!("/api/user/projects/{}/api-keys", ids[0])] {
        let r = app.call(Method::GET, &path, None, Some(&other)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app
        .call(Method::POST, "/api/user/api-keys", Some(json!({"name": "x", "project_id": ids[0]})), Some(&other))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = app.call(Method::GET, "/api/user/projects/not-an-id", None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_project_needs_its_name_and_revokes_its_keys_within_five_seconds() {
    let app = TestApp::new().await;
    let (access, default_key, org) = user_with_key(&app, "proj-del@example.com").await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.max_projects = 1).await;
    let p = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Mobile"})), Some(&access)).await;
    let id = p.body["id"].as_str().unwrap().to_string();
    let k = app
        .call(Method::POST, &format!("/api/user/projects/{id}/api-keys"), Some(json!({"name": "m"})), Some(&access))
        .await;
    assert_eq!(k.status, StatusCode::CREATED, "{:?}", k.body);
    assert_eq!(k.body["key"]["project_id"], id.as_str());
    let key = k.body["secret"].as_str().unwrap().to_string();
    assert_eq!(app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status, StatusCode::OK);
    let listed = app.call(Method::GET, &format!("/api/user/api-keys?project_id={id}"), None, Some(&access)).await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1), "{:?}", listed.body);

    for body in [None, Some(json!({"confirm": "mobile"}))] {
        let r = app.call(Method::DELETE, &format!("/api/user/projects/{id}"), body, Some(&access)).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "confirmation_required"), "{:?}", r.body);
    }
    assert_eq!(app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await.status, StatusCode::OK);

    let deleted_at = Instant::now();
    let r = app
        .call(Method::DELETE, &format!("/api/user/projects/{id}"), Some(json!({"confirm": "Mobile"})), Some(&access))
        .await;
    assert_eq!((r.status, r.body["revoked_keys"].as_u64()), (StatusCode::OK, Some(1)), "{:?}", r.body);
    loop {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(r.code(), "key_revoked");
            break;
        }
        assert!(deleted_at.elapsed() < std::time::Duration::from_millis(5200), "still accepted after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The other project's key is untouched; the deleted project is gone.
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&default_key), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.call(Method::GET, &format!("/api/user/projects/{id}"), None, Some(&access)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call(Method::POST, &format!("/api/user/projects/{id}/api-keys"), Some(json!({"name": "late"})), Some(&access))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Its slot is free again.
    let r = app.call(Method::POST, "/api/user/projects", Some(json!({"name": "Mobile 2"})), Some(&access)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

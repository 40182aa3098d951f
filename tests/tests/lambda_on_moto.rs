//! The Lambda cold start for real: `tollgate_aws::bootstrap::app_state()` reads its
//! configuration from the environment template.yaml sets, loads the JWT key from Secrets
//! Manager and stores in DynamoDB, both served by moto via `AWS_ENDPOINT_URL`. The fixtures
//! then go through each function's router on that state.

use axum::http::StatusCode;
use tollgate_tests::app::{lambda_event, send};
use tollgate_tests::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_start_on_aws_adapters_and_serve_the_fixtures() {
    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    // The environment a deployed function gets (this test binary has no other test, so
    // setting process-wide variables is safe).
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto.endpoint().as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("TABLE_NAME", store.table()),
        ("MAIL_FROM", "noreply@example.com"),
    ] {
        std::env::set_var(k, v);
    }
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name("tollgate-test")
        .secret_string(r#"{"jwt_signing_key":"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}"#)
        .send()
        .await
        .expect("create secret on moto");
    std::env::set_var("SECRET_ARN", secret.arn().unwrap());

    let state = tollgate_aws::bootstrap::app_state().await.expect("cold start on AWS adapters");
    let lambda = |r: axum::Router| tollgate_http::lambda::with_api_gateway_context(r);

    let r = send(&lambda(auth::router(state.clone())), lambda_event("auth-register.json", "")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = send(&lambda(auth::router(state.clone())), lambda_event("auth-login.json", "")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let r = send(&lambda(account::router(state.clone())), lambda_event("account-profile.json", &token)).await;
    assert_eq!((r.status, r.body["email"].as_str()), (StatusCode::OK, Some("fixture@example.com")));
    let r = send(&lambda(api_keys::router(state.clone())), lambda_event("api-keys-create.json", &token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = send(&lambda(api_keys::router(state.clone())), lambda_event("api-keys-list.json", &token)).await;
    assert_eq!(r.body["data"][0]["name"], "fixture key");

    std::env::remove_var("SECRET_ARN");
    let err = tollgate_aws::bootstrap::app_state().await.err().expect("missing SECRET_ARN is reported");
    assert!(err.to_string().contains("SECRET_ARN"), "{err}");
}

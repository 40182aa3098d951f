//! The Lambda cold start for real: `tollgate_lambda::bootstrap::app_state()` reads its
//! configuration from the environment template.yaml sets, loads the JWT key from Secrets
//! Manager and stores in DynamoDB, both served by moto via `AWS_ENDPOINT_URL`. The fixtures
//! then go through each function's router on that state (the gateway's on
//! `api_key_state()`, as its main.rs starts it).

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::http::StatusCode;
use std::sync::Arc;
use tollgate_tests::app::{lambda_event, lambda_event_with, send};
use tollgate_tests::moto::MotoServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_start_on_aws_adapters_and_serve_the_fixtures() {
    let moto = MotoServer::start();
    let store = moto.dynamo_store().await;
    // The environment a deployed function gets. Process-wide: no other test of this binary
    // reads these variables (the others configure their AWS clients explicitly).
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
    // The function's one AWS configuration, as its cold start loads it.
    let aws = tollgate_lambda::bootstrap::aws_config().await;
    let secret = aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name("tollgate-test")
        .secret_string(r#"{"jwt_signing_key":"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"}"#)
        .send()
        .await
        .expect("create secret on moto");
    std::env::set_var("SECRET_ARN", secret.arn().unwrap());

    // As `auth` starts (the route group that sends mail): SES as the mailer.
    let mailer = Arc::new(tollgate_lambda::bootstrap::ses_mailer(&aws));
    let state = tollgate_lambda::bootstrap::app_state(&aws, mailer.clone()).await.expect("cold start on AWS adapters");
    let lambda = |r: axum::Router| tollgate_lambda::with_api_gateway_context(r);

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

    // The metered path as deployed: gateway (sending each usage event to SQS before it
    // answers) -> usage queue -> usage-worker's SQS handler -> DynamoDB -> usage API.
    let key = r.body["secret"].as_str().map(str::to_string);
    let key = match key {
        Some(k) => k,
        None => {
            let created =
                send(&lambda(api_keys::router(state.clone())), lambda_event("api-keys-create.json", &token)).await;
            created.body["secret"].as_str().expect("a second key").to_string()
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&aws);
    for (name, var) in [("usage", "USAGE_QUEUE_URL"), ("notifications", "NOTIFICATIONS_QUEUE_URL")] {
        let url =
            sqs.create_queue().queue_name(name).send().await.expect("create queue").queue_url().unwrap().to_string();
        std::env::set_var(var, url);
    }
    let queue: Arc<dyn tollgate_domain::Queue> =
        Arc::new(tollgate_lambda::bootstrap::queue(&aws).expect("queue from env"));
    // As in the gateway's main.rs: its own state (API keys only: no JWT secret, no mail), and
    // the event goes to SQS before the answer is returned.
    let gw_state = tollgate_lambda::bootstrap::api_key_state(&aws).await.expect("gateway cold start");
    let meter = Arc::new(gateway::QueuedCallMeter::new(gw_state.store.clone(), queue.clone()));
    let gw = Arc::new(gateway::Gateway::new(gw_state, queue, meter, gateway::GatewayConfig::default()));
    let r = send(&lambda(gateway::router(gw)), lambda_event_with("gateway-echo.json", &[("{{API_KEY}}", &key)])).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let received = sqs
        .receive_message()
        .queue_url(std::env::var("USAGE_QUEUE_URL").unwrap())
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await
        .expect("receive");
    let records: Vec<SqsMessage> = received
        .messages()
        .iter()
        .map(|m| {
            // Non-exhaustive event structs: built from Default.
            let mut record = SqsMessage::default();
            record.message_id = m.message_id().map(str::to_string);
            record.body = m.body().map(str::to_string);
            record
        })
        .collect();
    // Received with no wait right after the answer: a frozen or killed Lambda loses nothing.
    assert_eq!(records.len(), 1, "one usage event per call, in SQS when the answer is returned");
    let mut event = SqsEvent::default();
    event.records = records;
    let response = tollgate_tests::app::handle_sqs_event(state.store.as_ref(), event, chrono::Utc::now()).await;
    assert!(response.batch_item_failures.is_empty());
    let r = send(&lambda(usage::router(state.clone())), lambda_event("usage-summary.json", &token)).await;
    assert_eq!(r.body["used"], 1, "{:?}", r.body);
    let logs = state
        .store
        .query_usage(&tollgate_domain::UsageLogQuery { limit: 10, ..Default::default() }, chrono::Utc::now())
        .await
        .unwrap()
        .0;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].path, "/api/v1/echo/hello");

    std::env::remove_var("SECRET_ARN");
    let err = tollgate_lambda::bootstrap::app_state(&aws, mailer).await.err().expect("missing SECRET_ARN is reported");
    assert!(err.to_string().contains("SECRET_ARN"), "{err}");
    // The gateway reads no secret: it starts without SECRET_ARN.
    tollgate_lambda::bootstrap::api_key_state(&aws).await.expect("the gateway needs no SECRET_ARN");
}

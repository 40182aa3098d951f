//! The Lambda composition root, the twin of `local/`: each function's `main.rs` starts here.
//! It loads one AWS configuration per cold start, plugs the AWS adapters (`tollgate-aws`,
//! `tollgate-store-dynamodb`) into the ports, and runs a router behind API Gateway
//! ([`serve`]) or a queue worker on SQS ([`sqs::serve`]). Only the functions' binaries
//! depend on this crate (their `lambda` feature), so the route libraries, the local server
//! and their tests never build the Lambda runtime.
//!
//! A function links only the AWS clients its main.rs reaches: [`serve_route_group`] builds
//! DynamoDB and Secrets Manager clients, [`serve_route_group_with_mail`] SES as well, and
//! the gateway and worker mains pick theirs from [`bootstrap`]. The cargo features
//! (`dynamodb`, `secrets`, `ses`, `sqs`) keep the clients a function does not use out of
//! its compilation as well.
//!
//! Every answer and every SQS batch is also reported as an embedded-metric-format log line
//! ([`emf`]): CloudWatch metrics with no API call.

mod api_gateway;
#[cfg(feature = "aws")]
pub mod aws_https;
pub mod bootstrap;
pub mod emf;
mod mail;
pub mod sqs;

pub use api_gateway::{api_gateway_context, serve, with_api_gateway_context};
pub use bootstrap::BootstrapError;
/// The error a function's `main` returns (the Lambda runtime's boxed error).
pub use lambda_http::Error;
pub use mail::NoMailer;
/// JSON logs for a function's `main` (the same setup as the local server's).
pub use tollgate_http::telemetry::init as init_logging;

#[cfg(all(feature = "dynamodb", feature = "secrets"))]
use {axum::Router, std::sync::Arc, tollgate_domain::Mailer, tollgate_http::AppState};

/// The whole life of a route-group function that sends no mail: JSON logs, one AWS
/// configuration, the state on the AWS adapters ([`bootstrap::app_state`]) with
/// [`NoMailer`], then `router(state)` served behind API Gateway until the runtime stops it.
#[cfg(all(feature = "dynamodb", feature = "secrets"))]
pub async fn serve_route_group(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    serve_route_group_on(|_| Arc::new(NoMailer), router).await
}

/// [`serve_route_group`] for a route group that sends mail (`auth`): the state's mailer is
/// SES ([`bootstrap::ses_mailer`]).
#[cfg(all(feature = "dynamodb", feature = "secrets", feature = "ses"))]
pub async fn serve_route_group_with_mail(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    serve_route_group_on(|aws| Arc::new(bootstrap::ses_mailer(aws)), router).await
}

/// [`serve_route_group`] for a route group that sends to the queues but calls no payment
/// provider (`admin`: a plan change made there notifies the organization): the state also has
/// the SQS queues ([`bootstrap::queue`]), and no Stripe client is linked.
#[cfg(all(feature = "dynamodb", feature = "secrets", feature = "sqs"))]
pub async fn serve_route_group_with_queue(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    let secrets = bootstrap::secrets(&aws)?;
    serve(router(queue_state(&aws, &secrets).await?)).await
}

/// [`serve_route_group`] for the route groups that bill (`billing`, `admin-billing`): the
/// state also has Stripe when the app secret holds its key ([`bootstrap::payments`]).
#[cfg(all(feature = "dynamodb", feature = "stripe", feature = "sqs"))]
pub async fn serve_billing_route_group(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    serve(router(billing_state(&aws).await?)).await
}

/// [`serve_billing_route_group`] for the `admin-jobs` function, which runs jobs by hand
/// (`POST /api/admin/jobs/{name}/run`): the state's jobs queue their notifications on SQS and
/// close periods at Stripe. There are no local backups on DynamoDB (point-in-time recovery and
/// AWS Backup instead).
#[cfg(all(feature = "dynamodb", feature = "stripe", feature = "sqs"))]
pub async fn serve_admin_jobs_route_group(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    let state = billing_state(&aws).await?;
    let jobs = tollgate_app::jobs::JobPorts {
        store: state.store.clone(),
        queue: Arc::new(bootstrap::queue(&aws)?),
        payments: state.payments.clone(),
        backups: None,
        // Webhook retries run in the scheduler function, which links the sender.
        webhooks: None,
    };
    serve(router(state.with_jobs(jobs))).await
}

/// The state of a route group that bills: [`bootstrap::app_state_with`] and, when the app
/// secret holds its key, Stripe ([`bootstrap::payments`]).
/// The state also has the SQS queues: a plan change made here notifies the organization.
#[cfg(all(feature = "dynamodb", feature = "stripe", feature = "sqs"))]
async fn billing_state(aws: &aws_config::SdkConfig) -> Result<AppState, BootstrapError> {
    let secrets = bootstrap::secrets(aws)?;
    let state = queue_state(aws, &secrets).await?;
    Ok(match bootstrap::payments(&secrets).await? {
        Some(payments) => state.with_payments(payments),
        None => state,
    })
}

/// The state of a route group that sends no mail: [`bootstrap::app_state_with`] with
/// [`NoMailer`], and the SQS queues.
#[cfg(all(feature = "dynamodb", feature = "secrets", feature = "sqs"))]
async fn queue_state(
    aws: &aws_config::SdkConfig,
    secrets: &tollgate_aws::SecretsManagerSecrets,
) -> Result<AppState, BootstrapError> {
    let state = bootstrap::app_state_with(aws, Arc::new(NoMailer), secrets).await?;
    Ok(state.with_queue(Arc::new(bootstrap::queue(aws)?)))
}

/// Generic over the mailer's constructor, so each function's binary holds only the mailer
/// its main.rs picked.
#[cfg(all(feature = "dynamodb", feature = "secrets"))]
async fn serve_route_group_on(
    mailer: impl FnOnce(&aws_config::SdkConfig) -> Arc<dyn Mailer>,
    router: impl FnOnce(AppState) -> Router,
) -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    let state = bootstrap::app_state(&aws, mailer(&aws)).await?;
    serve(router(state)).await
}

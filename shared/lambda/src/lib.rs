//! The Lambda composition root, the twin of `local/`: each function's `main.rs` starts here.
//! It loads one AWS configuration per cold start, plugs the AWS adapters (`tollgate-aws`,
//! `tollgate-store-dynamodb`) into the ports, and runs a router behind API Gateway
//! ([`serve`]) or a queue worker on SQS ([`sqs::serve`]). Only the functions' binaries
//! depend on this crate (their `lambda` feature), so the route libraries, the local server
//! and their tests never build the Lambda runtime.

mod api_gateway;
pub mod bootstrap;
pub mod sqs;

pub use api_gateway::{api_gateway_context, serve, with_api_gateway_context};
pub use bootstrap::BootstrapError;
/// The error a function's `main` returns (the Lambda runtime's boxed error).
pub use lambda_http::Error;
/// JSON logs for a function's `main` (the same setup as the local server's).
pub use tollgate_http::telemetry::init as init_logging;

use axum::Router;
use tollgate_http::AppState;

/// The whole life of a route-group function: JSON logs, one AWS configuration, the state on
/// the AWS adapters ([`bootstrap::app_state`]), then `router(state)` served behind API
/// Gateway until the runtime stops it.
pub async fn serve_route_group(router: impl FnOnce(AppState) -> Router) -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    let state = bootstrap::app_state(&aws).await?;
    serve(router(state)).await
}

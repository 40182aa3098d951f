//! Lambda entry point of the `usage` route group: AWS adapters, then the shared router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tollgate_http::telemetry::init();
    let state = tollgate_aws::bootstrap::app_state().await?;
    tollgate_http::lambda::run(usage::router(state)).await
}

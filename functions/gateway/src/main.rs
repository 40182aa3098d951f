//! Lambda entry point of the `gateway` function.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tollgate_http::telemetry::init();
    let state = tollgate_aws::bootstrap::app_state().await?;
    let queue: Arc<dyn tollgate_domain::Queue> = Arc::new(tollgate_aws::SqsQueue::from_env().await?);
    let config = gateway::GatewayConfig::from_env()?;
    let meter = Arc::new(gateway::QueuedCallMeter::new(state.store.clone(), queue.clone()));
    let gw = Arc::new(gateway::Gateway::new(state, queue, meter, config));
    tollgate_http::lambda::run(gateway::router(gw)).await
}

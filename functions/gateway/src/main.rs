//! Lambda entry point of the `gateway` function: one AWS configuration for the store and
//! SQS; each usage event goes to SQS before the answer. The gateway authenticates API keys
//! only, so it reads no JWT secret and sends no mail (`bootstrap::api_key_state`).

use std::sync::Arc;
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_http::telemetry::init();
    let aws = bootstrap::aws_config().await;
    let state = bootstrap::api_key_state(&aws).await?;
    let queue: Arc<dyn tollgate_domain::Queue> = Arc::new(bootstrap::queue(&aws)?);
    // Many instances serve one key here, so the plan's per-key limit is held in the store
    // (`GATEWAY_SHARED_RATE_LIMIT=false` turns that off).
    let config =
        gateway::GatewayConfig::from_env_or(gateway::GatewayConfig { shared_rate_limit: true, ..Default::default() })?;
    let meter = Arc::new(gateway::QueuedCallMeter::new(state.store.clone(), queue.clone()));
    let gw = Arc::new(gateway::Gateway::new(state, queue, meter, config));
    tollgate_lambda::serve(gateway::router(gw)).await
}

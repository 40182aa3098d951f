//! Lambda entry point of the usage worker: the SQS event source (`ReportBatchItemFailures`)
//! on the usage queue, the DynamoDB store, and the billing queue (the Stripe events queue)
//! for the metered plans' report requests, then the shared batch processing.

use std::sync::Arc;
use tollgate_domain::{Queue, Store};
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    let billing: Arc<dyn Queue> = Arc::new(bootstrap::stripe_events_queue(&aws)?);
    tollgate_lambda::sqs::serve(|messages| {
        let (store, billing) = (Arc::clone(&store), Arc::clone(&billing));
        async move { usage_worker::process_batch(&*store, Some(&*billing), messages, chrono::Utc::now()).await }
    })
    .await
}

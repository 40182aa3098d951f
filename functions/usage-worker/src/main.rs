//! Lambda entry point of the usage worker: the SQS event source (`ReportBatchItemFailures`)
//! on the usage queue, the DynamoDB store and (when the app secret has its key) Stripe, for
//! the metered plans' usage, then the shared batch processing.

use std::sync::Arc;
use tollgate_domain::Store;
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    let payments = bootstrap::payments(&bootstrap::secrets(&aws)?).await?;
    tollgate_lambda::sqs::serve(|messages| {
        let (store, payments) = (Arc::clone(&store), payments.clone());
        async move { usage_worker::process_batch(&*store, payments.as_deref(), messages, chrono::Utc::now()).await }
    })
    .await
}

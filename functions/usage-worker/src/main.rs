//! Lambda entry point of the usage worker: the SQS event source (`ReportBatchItemFailures`)
//! on the usage queue, the DynamoDB store, then the shared batch processing.

use std::sync::Arc;
use tollgate_domain::Store;
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    tollgate_lambda::sqs::serve(|messages| {
        let store = Arc::clone(&store);
        async move { usage_worker::process_batch(&*store, None, messages, chrono::Utc::now()).await }
    })
    .await
}

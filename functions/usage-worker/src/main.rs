//! Lambda entry point of the usage worker: the SQS event source (`ReportBatchItemFailures`)
//! on the usage queue, the DynamoDB store, then the shared handler.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use tollgate_domain::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tollgate_http::telemetry::init();
    let aws = tollgate_aws::worker_bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(tollgate_aws::worker_bootstrap::store(&aws)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let store = Arc::clone(&store);
        async move {
            Ok::<SqsBatchResponse, Error>(
                usage_worker::handle_sqs_event(&*store, event.payload, chrono::Utc::now()).await,
            )
        }
    }))
    .await
}

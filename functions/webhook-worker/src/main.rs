//! Lambda entry point of the webhook worker: the SQS event source (`ReportBatchItemFailures`)
//! on the Stripe events queue, the DynamoDB store, Stripe and the notifications queue (SQS),
//! then the shared processing.

use std::sync::Arc;
use tollgate_domain::{Queue, Store};
use tollgate_lambda::{bootstrap, BootstrapError};

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    let payments = bootstrap::payments(&bootstrap::secrets(&aws)?)
        .await?
        .ok_or_else(|| BootstrapError::Config("the app secret has no stripe_secret_key".into()))?;
    let notifications: Arc<dyn Queue> = Arc::new(bootstrap::queue(&aws)?);
    tollgate_lambda::sqs::serve(|messages| {
        let (store, payments, notifications) = (Arc::clone(&store), Arc::clone(&payments), Arc::clone(&notifications));
        async move {
            webhook_worker::process_batch(&*store, &*payments, &*notifications, messages, chrono::Utc::now()).await
        }
    })
    .await
}

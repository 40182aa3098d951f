//! Lambda entry point of the notifications worker: the SQS event source
//! (`ReportBatchItemFailures`) on the notifications queue, the DynamoDB store and SES, then
//! the shared processing.

use std::sync::Arc;
use tollgate_domain::{Mailer, Store};
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    let mailer: Arc<dyn Mailer> = Arc::new(bootstrap::ses_mailer(&aws));
    tollgate_lambda::sqs::serve(|messages| {
        let (store, mailer) = (Arc::clone(&store), Arc::clone(&mailer));
        async move { notifications_worker::process_batch(&*store, &*mailer, messages, chrono::Utc::now()).await }
    })
    .await
}

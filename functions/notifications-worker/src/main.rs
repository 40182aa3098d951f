//! Lambda entry point of the notifications worker: the SQS event source
//! (`ReportBatchItemFailures`) on the notifications queue, the DynamoDB store, SES and the
//! webhook sender (with `ALLOW_INSECURE_WEBHOOK_URLS` from the settings), then the shared
//! processing.

use std::sync::Arc;
use tollgate_domain::{Mailer, Store};
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let store: Arc<dyn Store> = Arc::new(bootstrap::store(&aws)?);
    let mailer: Arc<dyn Mailer> = Arc::new(bootstrap::ses_mailer(&aws));
    let allow_insecure = tollgate_http::Settings::from_env()?.allow_insecure_webhook_urls;
    let sender = tollgate_outbound::ReqwestWebhookSender::new(allow_insecure);
    tollgate_lambda::sqs::serve(|messages| {
        let (store, mailer) = (Arc::clone(&store), Arc::clone(&mailer));
        async move {
            let webhooks = notifications_worker::Webhooks { sender: &sender, allow_insecure };
            notifications_worker::process_batch(&*store, &*mailer, webhooks, messages, chrono::Utc::now()).await
        }
    })
    .await
}

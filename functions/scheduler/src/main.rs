//! Lambda entry point of the scheduler: EventBridge Scheduler events on the AWS adapters
//! (DynamoDB, the notifications queue on SQS, Stripe when configured, the webhook sender for
//! `webhook-retries`), then the shared job runner.

use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;
use tollgate_app::jobs::{run_outcome, JobPorts, WebhookPorts};
use tollgate_lambda::bootstrap;
use tollgate_outbound::ReqwestWebhookSender;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let secrets = bootstrap::secrets(&aws)?;
    let allow_insecure = tollgate_http::Settings::from_env()?.allow_insecure_webhook_urls;
    let ports = JobPorts {
        store: Arc::new(bootstrap::store(&aws)?),
        queue: Arc::new(bootstrap::queue(&aws)?),
        payments: bootstrap::payments(&secrets).await?,
        // DynamoDB: point-in-time recovery and AWS Backup (template.yaml), no job backups.
        backups: None,
        webhooks: Some(WebhookPorts { sender: Arc::new(ReqwestWebhookSender::new(allow_insecure)), allow_insecure }),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<scheduler::ScheduledJobEvent>| {
        let ports = ports.clone();
        async move {
            let metrics = |run: &tollgate_domain::JobRun| {
                tollgate_lambda::emf::job_run(run.job.as_str(), run_outcome(run), run.duration().as_millis() as u64);
            };
            scheduler::handle(&ports, &event.payload, chrono::Utc::now(), metrics)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        }
    }))
    .await
}

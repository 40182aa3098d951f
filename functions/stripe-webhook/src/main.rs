//! Lambda entry point of the Stripe webhook (a Function URL, auth NONE: Stripe signs the
//! body): the signing secret from Secrets Manager, the Stripe events queue on SQS.

use std::sync::Arc;
use stripe_webhook::{StripeWebhook, WebhookSecret};
use tollgate_lambda::bootstrap;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let hook = StripeWebhook {
        secret: WebhookSecret::Named(Arc::new(bootstrap::secrets(&aws)?)),
        queue: Arc::new(bootstrap::stripe_events_queue(&aws)?),
        clock: Arc::new(tollgate_domain::SystemClock),
    };
    tollgate_lambda::serve(stripe_webhook::router(hook)).await
}

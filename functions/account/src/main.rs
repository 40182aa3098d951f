//! Lambda entry point of the `account` route group: the Lambda composition root starts it on
//! the AWS adapters (with the SQS queues, for webhook test events), then serves the group's
//! router behind API Gateway.

use std::sync::Arc;
use tollgate_lambda::{bootstrap, NoMailer};

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::init_logging();
    let aws = bootstrap::aws_config().await;
    let queue = Arc::new(bootstrap::queue(&aws)?);
    let state = bootstrap::app_state(&aws, Arc::new(NoMailer)).await?.with_queue(queue);
    tollgate_lambda::serve(account::router(state)).await
}

//! Cold start of a queue worker: only what a worker needs (the DynamoDB store, the queues),
//! no JWT key and no Secrets Manager call.

use crate::bootstrap::BootstrapError;
use crate::SqsQueue;
use aws_config::BehaviorVersion;
use tollgate_store_dynamodb::DynamoStore;

pub(crate) fn required(name: &str) -> Result<String, BootstrapError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| BootstrapError::Config(format!("{name} is not set")))
}

/// The SDK's default configuration (region and credentials from the environment,
/// `AWS_ENDPOINT_URL` honoured).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The DynamoDB store on the table `TABLE_NAME`.
pub fn store(config: &aws_config::SdkConfig) -> Result<DynamoStore, BootstrapError> {
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(config), required("TABLE_NAME")?))
}

/// The SQS queues from `USAGE_QUEUE_URL` and `NOTIFICATIONS_QUEUE_URL`.
pub fn queue(config: &aws_config::SdkConfig) -> Result<SqsQueue, BootstrapError> {
    SqsQueue::from_env_with(config)
}

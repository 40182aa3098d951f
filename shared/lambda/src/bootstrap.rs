//! Cold start of a Lambda function: the AWS adapters plugged into the ports, configured from
//! the environment template.yaml sets. A function loads one AWS configuration
//! ([`aws_config`]) and builds every client from it.

use aws_config::{BehaviorVersion, SdkConfig};
use std::sync::Arc;
use tollgate_aws::{SecretsManagerSecrets, SesMailer, SqsQueue, NOTIFICATIONS_QUEUE_URL_ENV, USAGE_QUEUE_URL_ENV};
use tollgate_domain::{PortError, Secrets, SystemClock};
use tollgate_http::{AppState, JwtKeys, Settings, JWT_SECRET_NAME};
use tollgate_store_dynamodb::DynamoStore;

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A required environment variable (set by template.yaml) is missing or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The JWT signing key could not be read from Secrets Manager.
    #[error("secrets: {0}")]
    Secrets(#[from] PortError),
    /// The default catalog could not be written to an empty table.
    #[error("store: {0}")]
    Store(#[from] tollgate_domain::StoreError),
}

/// The value of the environment variable `name`, which must be set and not blank.
fn required(name: &str) -> Result<String, BootstrapError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| BootstrapError::Config(format!("{name} is not set")))
}

/// The SDK's default configuration (region and credentials from the environment,
/// `AWS_ENDPOINT_URL` honoured): loaded once per cold start, shared by every client.
pub async fn aws_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The DynamoDB store on the table `TABLE_NAME`.
pub fn store(aws: &SdkConfig) -> Result<DynamoStore, BootstrapError> {
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), required("TABLE_NAME")?))
}

/// The SQS queues from `USAGE_QUEUE_URL` and `NOTIFICATIONS_QUEUE_URL`.
pub fn queue(aws: &SdkConfig) -> Result<SqsQueue, BootstrapError> {
    Ok(SqsQueue::new(
        aws_sdk_sqs::Client::new(aws),
        required(USAGE_QUEUE_URL_ENV)?,
        required(NOTIFICATIONS_QUEUE_URL_ENV)?,
    ))
}

/// The state of a route-group function: DynamoDB (`TABLE_NAME`), the JWT key from the
/// Secrets Manager secret `SECRET_ARN` (read once per cold start), SES from `MAIL_FROM`, all
/// on the clients of `aws`. A fresh table gets the default plans and the echo endpoint (two
/// queries per cold start once they exist), so a new deployment works without a seeding
/// step. The secret read and the catalog queries run concurrently: a cold start waits for
/// one round trip, not three.
pub async fn app_state(aws: &SdkConfig) -> Result<AppState, BootstrapError> {
    let store = store(aws)?;
    let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(aws), required("SECRET_ARN")?);
    let settings = Settings::from_env().map_err(BootstrapError::Config)?;
    // The secret and the catalog check are independent round trips: overlap them.
    let (jwt_secret, ()) =
        tokio::try_join!(async { secrets.get(JWT_SECRET_NAME).await.map_err(BootstrapError::from) }, async {
            tollgate_app::seed_catalog(&store, chrono::Utc::now()).await.map_err(BootstrapError::from)
        },)?;
    let jwt = JwtKeys::from_secret(jwt_secret.as_bytes()).map_err(BootstrapError::Config)?;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(aws), std::env::var("MAIL_FROM").unwrap_or_default());
    Ok(AppState::new(Arc::new(store), Arc::new(mailer), Arc::new(SystemClock), jwt, settings))
}

//! Cold start of a Lambda function: the AWS adapters plugged into the ports.

use crate::{SecretsManagerSecrets, SesMailer};
use aws_config::BehaviorVersion;
use std::sync::Arc;
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

fn required(name: &str) -> Result<String, BootstrapError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| BootstrapError::Config(format!("{name} is not set")))
}

/// The state of a route-group function: DynamoDB (`TABLE_NAME`), the JWT key from the
/// Secrets Manager secret `SECRET_ARN` (read once per cold start), SES from `MAIL_FROM`.
/// One AWS configuration serves every client; `AWS_ENDPOINT_URL` points it at an emulator.
/// A fresh table gets the default plans and the echo endpoint (two queries per cold start
/// once they exist), so a new deployment works without a seeding step. The secret read and
/// the catalog queries run concurrently: a cold start waits for one round trip, not three.
pub async fn app_state() -> Result<AppState, BootstrapError> {
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), required("TABLE_NAME")?);
    let secrets = SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(&aws), required("SECRET_ARN")?);
    let settings = Settings::from_env().map_err(BootstrapError::Config)?;
    // The secret and the catalog check are independent round trips: overlap them.
    let (jwt_secret, ()) =
        tokio::try_join!(async { secrets.get(JWT_SECRET_NAME).await.map_err(BootstrapError::from) }, async {
            tollgate_app::seed_catalog(&store, chrono::Utc::now()).await.map_err(BootstrapError::from)
        },)?;
    let jwt = JwtKeys::from_secret(jwt_secret.as_bytes()).map_err(BootstrapError::Config)?;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&aws), std::env::var("MAIL_FROM").unwrap_or_default());
    Ok(AppState::new(Arc::new(store), Arc::new(mailer), Arc::new(SystemClock), jwt, settings))
}

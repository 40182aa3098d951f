//! Cold start of a Lambda function: the AWS adapters plugged into the ports, configured from
//! the environment template.yaml sets. A function loads one AWS configuration
//! ([`aws_config`]) and builds from it only the clients its main.rs asks for: the store
//! ([`store`]), the JWT key's secret (inside [`app_state`]), SES ([`ses_mailer`]), SQS
//! ([`queue`]). A function that never calls one of these does not link that client.

#[cfg(feature = "aws")]
use aws_config::{BehaviorVersion, SdkConfig};
#[cfg(any(feature = "dynamodb", feature = "stripe"))]
use std::sync::Arc;
use tollgate_domain::PortError;
#[cfg(feature = "dynamodb")]
use {
    tollgate_domain::SystemClock,
    tollgate_http::{AppState, JwtKeys, Settings},
    tollgate_store_dynamodb::DynamoStore,
};

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
#[cfg(any(feature = "dynamodb", feature = "sqs", feature = "secrets"))]
fn required(name: &str) -> Result<String, BootstrapError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| BootstrapError::Config(format!("{name} is not set")))
}

/// The SDK's default configuration (region and credentials from the environment,
/// `AWS_ENDPOINT_URL` honoured) on the HTTPS client of [`crate::aws_https`], which reads no
/// CA files: loaded once per cold start, shared by every client.
#[cfg(feature = "aws")]
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(crate::aws_https::https_client()).load().await
}

/// The DynamoDB store on the table `TABLE_NAME`.
#[cfg(feature = "dynamodb")]
pub fn store(aws: &SdkConfig) -> Result<DynamoStore, BootstrapError> {
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), required("TABLE_NAME")?))
}

/// The SQS queues from `USAGE_QUEUE_URL` and `NOTIFICATIONS_QUEUE_URL`.
#[cfg(feature = "sqs")]
pub fn queue(aws: &SdkConfig) -> Result<tollgate_aws::SqsQueue, BootstrapError> {
    Ok(tollgate_aws::SqsQueue::new(
        aws_sdk_sqs::Client::new(aws),
        required(tollgate_aws::USAGE_QUEUE_URL_ENV)?,
        required(tollgate_aws::NOTIFICATIONS_QUEUE_URL_ENV)?,
    ))
}

/// The SQS queues of [`queue`] and the Stripe events queue (`STRIPE_EVENTS_QUEUE_URL`): for
/// the Stripe webhook function.
#[cfg(feature = "sqs")]
pub fn stripe_events_queue(aws: &SdkConfig) -> Result<tollgate_aws::SqsQueue, BootstrapError> {
    Ok(queue(aws)?.with_stripe_events(required(tollgate_aws::STRIPE_EVENTS_QUEUE_URL_ENV)?))
}

/// The platform's secret in Secrets Manager (`SECRET_ARN`): a JSON object of named values,
/// cached with a refresh TTL.
#[cfg(feature = "secrets")]
pub fn secrets(aws: &SdkConfig) -> Result<tollgate_aws::SecretsManagerSecrets, BootstrapError> {
    Ok(tollgate_aws::SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(aws), required("SECRET_ARN")?))
}

/// Mail through SES from `MAIL_FROM`: for the functions that send mail (`auth`).
#[cfg(feature = "ses")]
pub fn ses_mailer(aws: &SdkConfig) -> tollgate_aws::SesMailer {
    tollgate_aws::SesMailer::new(aws_sdk_sesv2::Client::new(aws), std::env::var("MAIL_FROM").unwrap_or_default())
}

/// The state of a route-group function: DynamoDB (`TABLE_NAME`), the JWT key from the
/// Secrets Manager secret `SECRET_ARN` (read once per cold start), and `mailer`
/// ([`ses_mailer`] for the functions that send mail, [`crate::NoMailer`] for the others),
/// all on the clients of `aws`. A fresh table gets the default plans and the echo endpoint
/// (two queries per cold start once they exist), so a new deployment works without a
/// seeding step. The secret read and the catalog queries run concurrently: a cold start
/// waits for one round trip, not three.
#[cfg(all(feature = "dynamodb", feature = "secrets"))]
pub async fn app_state(aws: &SdkConfig, mailer: Arc<dyn tollgate_domain::Mailer>) -> Result<AppState, BootstrapError> {
    app_state_with(aws, mailer, &secrets(aws)?).await
}

/// [`app_state`] reading the JWT key from `secrets` (shared with the caller, so a function
/// that also reads Stripe's key fetches the secret once).
#[cfg(all(feature = "dynamodb", feature = "secrets"))]
pub async fn app_state_with(
    aws: &SdkConfig,
    mailer: Arc<dyn tollgate_domain::Mailer>,
    secrets: &tollgate_aws::SecretsManagerSecrets,
) -> Result<AppState, BootstrapError> {
    use tollgate_domain::Secrets;
    let store = store(aws)?;
    let settings = Settings::from_env().map_err(BootstrapError::Config)?;
    // The secret and the catalog check are independent round trips: overlap them.
    let (jwt_secret, ()) = tokio::try_join!(
        async { secrets.get(tollgate_http::JWT_SECRET_NAME).await.map_err(BootstrapError::from) },
        seed_catalog(&store),
    )?;
    let jwt = JwtKeys::from_secret(jwt_secret.as_bytes()).map_err(BootstrapError::Config)?;
    Ok(AppState::new(Arc::new(store), mailer, Arc::new(SystemClock), jwt, settings))
}

/// The state of a function that authenticates API keys, never access tokens (the
/// gateway): DynamoDB (`TABLE_NAME`) with the catalog seeded as in [`app_state`], no mail
/// ([`crate::NoMailer`]), and no read of the JWT secret, which such a function never uses.
/// [`AppState`] still carries JWT keys: these are made from a random key of this process,
/// so the function can neither mint an access token another function accepts nor accept
/// one (a route that asked for a signed-in user would answer 401 `invalid_token`).
#[cfg(feature = "dynamodb")]
pub async fn api_key_state(aws: &SdkConfig) -> Result<AppState, BootstrapError> {
    let store = store(aws)?;
    let settings = Settings::from_env().map_err(BootstrapError::Config)?;
    seed_catalog(&store).await?;
    let jwt =
        JwtKeys::from_secret(tollgate_domain::id::random_base62(64).as_bytes()).map_err(BootstrapError::Config)?;
    Ok(AppState::new(Arc::new(store), Arc::new(crate::NoMailer), Arc::new(SystemClock), jwt, settings))
}

/// Stripe, when the app secret has a `stripe_secret_key` field (read at cold start; the
/// secret's cache picks up a rotated key within its TTL at the next cold start). `None`:
/// billing is not configured, and the billing routes answer 503. `STRIPE_API_BASE` and
/// `STRIPE_TEST_CLOCK` come from the environment, as locally.
#[cfg(feature = "stripe")]
pub async fn payments(
    secrets: &tollgate_aws::SecretsManagerSecrets,
) -> Result<Option<Arc<dyn tollgate_domain::Payments>>, BootstrapError> {
    use tollgate_domain::Secrets;
    let key = match secrets.get("stripe_secret_key").await {
        Ok(key) if !key.trim().is_empty() => key,
        // No such field: billing is not configured (the secret itself was read for the JWT key).
        _ => return Ok(None),
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let config = tollgate_stripe::StripeConfig {
        secret_key: key.trim().to_string(),
        api_base: env("STRIPE_API_BASE").unwrap_or_else(|| tollgate_stripe::DEFAULT_API_BASE.to_string()),
        test_clock: env("STRIPE_TEST_CLOCK"),
    };
    let payments = tollgate_stripe::StripePayments::new(config).map_err(|e| BootstrapError::Config(e.to_string()))?;
    Ok(Some(Arc::new(payments)))
}

/// The default plans and the echo endpoint on an empty table (two queries otherwise).
#[cfg(feature = "dynamodb")]
async fn seed_catalog(store: &DynamoStore) -> Result<(), BootstrapError> {
    Ok(tollgate_app::seed_catalog(store, chrono::Utc::now()).await?)
}

//! AWS adapters of the outgoing ports: SES for mail, Secrets Manager for secrets, SQS for
//! queues. Adapters only: each is built from an SDK client and plain values; reading the
//! environment and loading the AWS configuration is the Lambda composition root's job
//! (`tollgate-lambda`).
//!
//! Each adapter is behind the cargo feature of its service (`ses`, `secrets`, `sqs`; all on
//! by default), so a function that does not use a service does not compile its SDK client.

#[cfg(feature = "ses")]
mod mailer;
#[cfg(feature = "sqs")]
mod queue;
#[cfg(feature = "secrets")]
mod secrets;

#[cfg(feature = "ses")]
pub use mailer::SesMailer;
#[cfg(feature = "sqs")]
pub use queue::{
    sanitize_entry_id, SqsQueue, ID_ATTRIBUTE, NOTIFICATIONS_QUEUE_URL_ENV, SQS_BATCH_SIZE,
    STRIPE_EVENTS_QUEUE_URL_ENV, USAGE_QUEUE_URL_ENV,
};
#[cfg(feature = "secrets")]
pub use secrets::{SecretsManagerSecrets, DEFAULT_SECRETS_TTL};

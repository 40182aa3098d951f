//! AWS adapters of the outgoing ports: SES for mail, Secrets Manager for secrets, SQS for
//! queues. Adapters only: each is built from an SDK client and plain values; reading the
//! environment and loading the AWS configuration is the Lambda composition root's job
//! (`tollgate-lambda`).

mod mailer;
mod queue;
mod secrets;

pub use mailer::SesMailer;
pub use queue::{
    sanitize_entry_id, SqsQueue, ID_ATTRIBUTE, NOTIFICATIONS_QUEUE_URL_ENV, SQS_BATCH_SIZE, USAGE_QUEUE_URL_ENV,
};
pub use secrets::{SecretsManagerSecrets, DEFAULT_SECRETS_TTL};

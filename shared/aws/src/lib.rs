//! AWS adapters of the outgoing ports: SES for mail, Secrets Manager for secrets.

mod mailer;
mod secrets;

pub use mailer::SesMailer;
pub use secrets::{SecretsManagerSecrets, DEFAULT_SECRETS_TTL};

pub mod bootstrap;

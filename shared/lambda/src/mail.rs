//! The mailer of the functions that send no mail.

use async_trait::async_trait;
use tollgate_domain::{MailMessage, Mailer, PortError};

/// The `Mailer` of a function that sends no mail: every route group but `auth`, and the
/// gateway. [`AppState`](tollgate_http::AppState) holds a mailer for every function, but
/// only `auth` sends mail, so only `auth` is built with SES
/// ([`bootstrap::ses_mailer`](crate::bootstrap)) and the others do not link the SES client.
///
/// Not a silent stand-in: if a route of such a function ever sends mail (a route moved
/// between functions without its main.rs following), the send fails with an error naming
/// the cause, logged with the message's id and kind (never its recipient or body), and
/// the request answers 503 like any failed outgoing port.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), PortError> {
        tracing::error!(
            mail_id = %message.id,
            kind = %message.kind,
            "this function is built without a mailer and cannot send mail: its main.rs must use \
             tollgate_lambda::serve_route_group_with_mail (SES)"
        );
        Err(PortError::new(format!(
            "this function sends no mail (built without SES): the {} mail {} was not sent",
            message.kind, message.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::{Email, Id};

    #[tokio::test]
    async fn every_send_fails_and_names_the_mail_not_the_recipient() {
        let message = MailMessage {
            id: Id::generate("mail"),
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Verify".into(),
            text_body: "https://example.com/verify?t=s3cr3t".into(),
            html_body: None,
            kind: "verify_email".into(),
            created_at: chrono::Utc::now(),
        };
        let err = NoMailer.send(&message).await.unwrap_err().to_string();
        assert!(err.contains("sends no mail") && err.contains("verify_email"), "{err}");
        assert!(err.contains(message.id.as_str()), "{err}");
        assert!(!err.contains("ada@example.com") && !err.contains("s3cr3t"), "{err}");
    }
}

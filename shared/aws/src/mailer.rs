//! The `Mailer` port on Amazon SES (API v2, `SendEmail`).

use async_trait::async_trait;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use tollgate_domain::{MailMessage, Mailer, PortError};

/// Sends plain-text mail through SES from one verified sender address.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// `from` is the sender (`noreply@example.com` or `Tollgate <noreply@example.com>`); its
    /// domain or address must be a verified SES identity.
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        SesMailer { client, from: from.into() }
    }
}

fn utf8(text: &str) -> Result<Content, PortError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| PortError::with_source("building the SES message failed", e))
}

/// The SES content of a message: a simple UTF-8 email, text and, when it has one, HTML.
fn email_content(message: &MailMessage) -> Result<EmailContent, PortError> {
    let html = message.html_body.as_deref().map(utf8).transpose()?;
    let simple = Message::builder()
        .subject(utf8(&message.subject)?)
        .body(Body::builder().text(utf8(&message.text_body)?).set_html(html).build())
        .build();
    Ok(EmailContent::builder().simple(simple).build())
}

#[async_trait]
impl Mailer for SesMailer {
    // The recipient address and the body (which may carry a one-time link) are not logged.
    #[tracing::instrument(skip_all, fields(mail_id = %message.id, kind = %message.kind), err)]
    async fn send(&self, message: &MailMessage) -> Result<(), PortError> {
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(message.to.as_str()).build())
            .content(email_content(message)?)
            .send()
            .await
            .map_err(|e| PortError::with_source(format!("SES SendEmail failed: {}", DisplayErrorContext(&e)), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_domain::{Email, Id};

    #[test]
    fn builds_a_utf8_text_email() {
        let message = MailMessage {
            id: Id::generate("mail"),
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Vérifiez votre adresse".into(),
            text_body: "https://example.com/verify?t=abc".into(),
            html_body: None,
            kind: "verify_email".into(),
            created_at: chrono::Utc::now(),
        };
        let content = email_content(&message).unwrap();
        let simple = content.simple().expect("a simple message");
        assert_eq!(simple.subject().unwrap().data(), "Vérifiez votre adresse");
        assert_eq!(simple.subject().unwrap().charset(), Some("UTF-8"));
        assert_eq!(simple.body().unwrap().text().unwrap().data(), message.text_body);
        assert!(simple.body().unwrap().html().is_none());
        let with_html = MailMessage { html_body: Some("<p>80 %</p>".into()), ..message };
        let content = email_content(&with_html).unwrap();
        assert_eq!(content.simple().unwrap().body().unwrap().html().unwrap().data(), "<p>80 %</p>");
    }
}

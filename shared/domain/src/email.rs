//! Email addresses and outgoing mail.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically plausible email address, trimmed and lower-cased so that lookups and
/// uniqueness do not depend on case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Longest address accepted (RFC 5321's path limit less the angle brackets).
pub const EMAIL_MAX_LEN: usize = 254;

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces,
    /// at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        let invalid = || DomainError::InvalidEmail(format!("'{}' is not a valid email address", raw.trim()));
        if s.is_empty() || s.len() > EMAIL_MAX_LEN || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || domain.starts_with('-')
        {
            return Err(invalid());
        }
        Ok(Email(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One outgoing email, handed to the `Mailer` port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailMessage {
    pub id: crate::Id,
    pub to: Email,
    pub subject: String,
    pub text_body: String,
    /// The same content as HTML, for the mails that have it (mail clients show it instead of
    /// the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// What kind of mail this is (`verify_email`, `reset_password`, …), for tests and metrics.
    pub kind: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert!(Email::parse("a.b+tag@sub.example.org").is_ok());
    }

    #[test]
    fn rejects_implausible_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
            "ada@example..com",
            "ada@example.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}

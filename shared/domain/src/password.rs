//! The password policy (hashing lives at the edge, with Argon2id).

use crate::error::DomainError;

pub const PASSWORD_MIN_LEN: usize = 10;
pub const PASSWORD_MAX_LEN: usize = 128;

/// The documented password policy:
/// - 10 to 128 characters (counted as Unicode scalar values);
/// - at least one letter and at least one digit or symbol;
/// - not made of a single repeated character;
/// - must not contain the local part of the account's email address (when it has 3+ characters).
pub struct PasswordPolicy;

impl PasswordPolicy {
    pub fn check(password: &str, email: Option<&crate::Email>) -> Result<(), DomainError> {
        let weak = |m: &str| Err(DomainError::WeakPassword(m.to_string()));
        let len = password.chars().count();
        if len < PASSWORD_MIN_LEN {
            return weak("password must be at least 10 characters long");
        }
        if len > PASSWORD_MAX_LEN {
            return weak("password must be at most 128 characters long");
        }
        if !password.chars().any(char::is_alphabetic) {
            return weak("password must contain at least one letter");
        }
        if !password.chars().any(|c| !c.is_alphabetic()) {
            return weak("password must contain at least one digit or symbol");
        }
        let first = password.chars().next().unwrap_or_default();
        if password.chars().all(|c| c == first) {
            return weak("password must not repeat a single character");
        }
        if let Some(email) = email {
            let local = email.as_str().split('@').next().unwrap_or_default();
            if local.len() >= 3 && password.to_lowercase().contains(local) {
                return weak("password must not contain your email address");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Email;

    #[test]
    fn policy() {
        let email = Email::parse("ada@example.com").unwrap();
        assert!(PasswordPolicy::check("correct horse 9", Some(&email)).is_ok());
        assert!(PasswordPolicy::check("short1", None).is_err());
        assert!(PasswordPolicy::check("onlyletterslong", None).is_err());
        assert!(PasswordPolicy::check("12345678901", None).is_err());
        assert!(PasswordPolicy::check("Ada-rocks-2024", Some(&email)).is_err());
        assert!(PasswordPolicy::check(&"a1".repeat(65), None).is_err());
    }
}

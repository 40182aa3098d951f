//! Refresh tokens (rotating, in families) and one-time action tokens (verify email, reset
//! password). Only SHA-256 hashes of tokens are stored.

use crate::id::random_base62;
use crate::stored_enum::stored_enum;
use crate::Id;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a secret token or API key: the only form in which secrets are stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        TokenHash(hex::encode(Sha256::digest(secret.as_bytes())))
    }
    /// Wraps a hash read back from a store.
    pub fn from_hex(hex: impl Into<String>) -> Self {
        TokenHash(hex.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new random opaque token (43 base62 characters, about 256 bits).
pub fn generate_secret_token() -> String {
    random_base62(43)
}

/// Whether `raw` has the shape of a [`generate_secret_token`] token, so junk input can be
/// refused before any store read.
pub fn is_plausible_secret_token(raw: &str) -> bool {
    raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A login session: every refresh token issued from one login shares a family. Reusing a
/// rotated token revokes the whole family (RFC 6819 / OAuth 2.0 Security BCP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub id: Id,
    pub user_id: Id,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why the family was revoked (`logout`, `reuse_detected`, `password_changed`, …).
    pub revoked_reason: Option<String>,
}

/// One refresh token of a family. Valid until `expires_at`, unless rotated or its family revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub hash: TokenHash,
    pub family_id: Id,
    pub user_id: Id,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when this token was exchanged for a new one; a second use is a reuse.
    pub rotated_at: Option<DateTime<Utc>>,
}

/// Result of `SessionRepository::rotate_refresh_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old token was live; it is now rotated and the new one stored.
    Rotated,
    /// The old token had already been rotated: a reuse. Nothing was stored.
    AlreadyRotated,
}

/// What a one-time action token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionTokenKind {
    VerifyEmail,
    ResetPassword,
    /// The second step of an admin login with 2FA: issued after the password, exchanged with
    /// a TOTP or recovery code for the session's tokens. Never mailed.
    MfaChallenge,
    /// An OpenID Connect sign-in in progress, keyed by the hash of its `state`; its `user_id`
    /// holds the flow's secret (`oidc_<secret>`) from which the nonce and the PKCE verifier
    /// are derived. Never mailed; consumed by the callback.
    OidcState,
}

stored_enum!(ActionTokenKind {
    VerifyEmail => "verify_email",
    ResetPassword => "reset_password",
    MfaChallenge => "mfa_challenge",
    OidcState => "oidc_state"
});

/// A one-time token mailed to the user. Consumed atomically: it works once, before expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionToken {
    pub hash: TokenHash,
    pub kind: ActionTokenKind,
    pub user_id: Id,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_text_is_serde_name;

    #[test]
    fn action_token_kind_text_is_its_serde_name() {
        assert_text_is_serde_name::<ActionTokenKind>();
    }

    #[test]
    fn hash_is_hex_sha256() {
        let h = TokenHash::of("abc");
        assert_eq!(h.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = generate_secret_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate_secret_token());
    }
}

//! Access tokens: HS256 JWTs signed with a key from the `Secrets` port.

use crate::ApiError;
use crate::ErrorCode;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tollgate_domain::{Id, Role};

const ISSUER: &str = "tollgate";

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The organization the token acts for.
    pub org: String,
    pub role: Role,
    /// The session (refresh family) the token was issued from.
    pub sid: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signing and verification keys. Built once per process (per cold start in Lambda).
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    /// Keys from a shared secret; at least 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the JWT signing key must be at least 32 bytes".into());
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Issues an access token valid for `ttl` from `now`.
    pub fn issue(
        &self,
        user: &Id,
        org: &Id,
        role: Role,
        session: &Id,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        let claims = AccessClaims {
            sub: user.to_string(),
            org: org.to_string(),
            role,
            sid: session.to_string(),
            iss: ISSUER.into(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("could not sign token: {e}")))
    }

    /// Verifies signature, issuer and expiry (against the wall clock, with 5 s leeway).
    pub fn verify(&self, token: &str) -> Result<AccessClaims, ApiError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::rejected(ErrorCode::TokenExpired, "the access token has expired; refresh it")
                }
                _ => ApiError::rejected(ErrorCode::InvalidToken, "the access token is invalid"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let keys = JwtKeys::from_secret(&[7u8; 32]).unwrap();
        let (u, o, s) = (Id::generate("usr"), Id::generate("org"), Id::generate("rfm"));
        let t = keys.issue(&u, &o, Role::User, &s, Utc::now(), Duration::minutes(15)).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.org.as_str(), c.role), (u.as_str(), o.as_str(), Role::User));

        let other = JwtKeys::from_secret(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&t).unwrap_err().code(), "invalid_token");
        let old = keys.issue(&u, &o, Role::User, &s, Utc::now() - Duration::hours(1), Duration::minutes(15)).unwrap();
        assert_eq!(keys.verify(&old).unwrap_err().code(), "token_expired");
        assert!(JwtKeys::from_secret(b"short").is_err());
    }
}

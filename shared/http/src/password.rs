//! Argon2id password hashing, the `PasswordHasher` port's adapter, off the async executor
//! (it is deliberately slow).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use tokio::sync::OnceCell;
use tollgate_domain::{PasswordHasher, PortError};

/// OWASP's recommended Argon2id parameters: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid params"))
}

/// Runs a hashing job on the blocking pool.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, PortError> + Send + 'static,
) -> Result<T, PortError> {
    tokio::task::spawn_blocking(job).await.map_err(|e| PortError::with_source("password hashing task failed", e))?
}

/// Argon2id with OWASP's parameters.
#[derive(Default)]
pub struct Argon2Passwords {
    /// A hash of a random password, for `verify_nothing` (made on first use).
    dummy: OnceCell<String>,
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: String) -> Result<String, PortError> {
        blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| PortError::new(format!("password hashing failed: {e}")))
        })
        .await
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, PortError> {
        blocking(move || {
            let parsed =
                PasswordHash::new(&hash).map_err(|e| PortError::new(format!("stored hash unreadable: {e}")))?;
            Ok(argon2().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }

    async fn verify_nothing(&self, password: String) {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash(tollgate_domain::token::generate_secret_token()))
            .await
            .cloned()
            .unwrap_or_default();
        let _ = self.verify(password, dummy).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Argon2Passwords::default();
        let h = p.hash("correct horse 9".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(p.verify("correct horse 9".into(), h.clone()).await.unwrap());
        assert!(!p.verify("wrong horse 9".into(), h).await.unwrap());
        assert!(p.verify("x".into(), "not a hash".into()).await.is_err());
        p.verify_nothing("anything".into()).await;
    }
}

//! The `Secrets` port on AWS Secrets Manager: one secret whose `SecretString` is a JSON object
//! of named values, fetched once and cached (so a warm Lambda does not call Secrets Manager
//! per request).

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::RwLock;
use tokio::time::Instant;
use tollgate_domain::{PortError, Secrets};

/// How long fetched values are reused before Secrets Manager is asked again.
pub const DEFAULT_SECRETS_TTL: Duration = Duration::from_secs(5 * 60);

/// Where the JSON document comes from: Secrets Manager, or a fake in tests.
#[async_trait]
trait SecretSource: Send + Sync {
    async fn fetch(&self) -> Result<String, PortError>;
}

struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<String, PortError> {
        let out = self.client.get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
            PortError::with_source(
                format!("Secrets Manager GetSecretValue({}) failed: {}", self.secret_id, DisplayErrorContext(&e)),
                e,
            )
        })?;
        out.secret_string.ok_or_else(|| {
            PortError::new(format!("secret {} has no SecretString (binary secrets are not supported)", self.secret_id))
        })
    }
}

struct Cached {
    values: Map<String, Value>,
    fetched_at: Instant,
}

/// Named secrets read from the fields of one Secrets Manager secret (a JSON object such as
/// `{"jwt_signing_key": "...", "stripe_secret_key": "..."}`).
///
/// The document is fetched on first use and cached for a TTL (default 5 minutes); if a
/// refresh fails while an expired copy is cached, the copy keeps being served (and the
/// failure logged) so a Secrets Manager hiccup does not take the API down. Values are never
/// logged and never appear in errors.
pub struct SecretsManagerSecrets {
    source: Arc<dyn SecretSource>,
    /// For error messages: which secret (a name or ARN is not itself secret).
    secret_id: String,
    ttl: Duration,
    cache: RwLock<Option<Cached>>,
}

impl std::fmt::Debug for SecretsManagerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerSecrets")
            .field("secret_id", &self.secret_id)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerSecrets {
    /// Reads the secret `secret_id` (name or ARN) with `client`, caching it for
    /// [`DEFAULT_SECRETS_TTL`].
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        let secret_id = secret_id.into();
        let source = SecretsManagerSource { client, secret_id: secret_id.clone() };
        Self::with_source(Arc::new(source), secret_id)
    }

    /// Changes how long fetched values are reused.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn with_source(source: Arc<dyn SecretSource>, secret_id: String) -> Self {
        SecretsManagerSecrets { source, secret_id, ttl: DEFAULT_SECRETS_TTL, cache: RwLock::new(None) }
    }

    fn field(&self, values: &Map<String, Value>, name: &str) -> Result<String, PortError> {
        match values.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
            Some(_) => Err(PortError::new(format!("field {name:?} of secret {} is not a string", self.secret_id))),
            None => Err(PortError::new(format!("secret {} has no field {name:?}", self.secret_id))),
        }
    }

    fn parse(&self, document: &str) -> Result<Map<String, Value>, PortError> {
        match serde_json::from_str::<Value>(document) {
            Ok(Value::Object(map)) => Ok(map),
            // serde_json's messages give a position, never the input, so they are safe to keep.
            Ok(_) => Err(PortError::new(format!("secret {} is not a JSON object", self.secret_id))),
            Err(e) => Err(PortError::with_source(format!("secret {} is not valid JSON", self.secret_id), e)),
        }
    }
}

#[async_trait]
impl Secrets for SecretsManagerSecrets {
    #[tracing::instrument(skip_all, fields(name = %name), err)]
    async fn get(&self, name: &str) -> Result<String, PortError> {
        {
            let cache = self.cache.read().await;
            if let Some(c) = cache.as_ref().filter(|c| c.fetched_at.elapsed() < self.ttl) {
                return self.field(&c.values, name);
            }
        }
        let mut cache = self.cache.write().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(c) = cache.as_ref().filter(|c| c.fetched_at.elapsed() < self.ttl) {
            return self.field(&c.values, name);
        }
        let fetched = match self.source.fetch().await {
            Ok(document) => self.parse(&document),
            Err(e) => Err(e),
        };
        match fetched {
            Ok(values) => {
                let value = self.field(&values, name);
                *cache = Some(Cached { values, fetched_at: Instant::now() });
                value
            }
            Err(e) => match cache.as_ref() {
                Some(stale) => {
                    tracing::warn!(secret_id = %self.secret_id, error = %e, "refreshing secrets failed; serving the cached copy");
                    self.field(&stale.values, name)
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Serves a settable document and counts fetches.
    struct Fake {
        document: Mutex<Result<String, String>>,
        fetches: AtomicUsize,
    }

    #[async_trait]
    impl SecretSource for Fake {
        async fn fetch(&self) -> Result<String, PortError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.document.lock().unwrap().clone().map_err(PortError::new)
        }
    }

    fn secrets(document: &str, ttl: Duration) -> (Arc<Fake>, SecretsManagerSecrets) {
        let fake = Arc::new(Fake { document: Mutex::new(Ok(document.to_string())), fetches: AtomicUsize::new(0) });
        let s = SecretsManagerSecrets::with_source(fake.clone(), "tollgate/app".into()).with_ttl(ttl);
        (fake, s)
    }

    #[tokio::test]
    async fn reads_fields_and_fetches_once_within_the_ttl() {
        let (fake, s) =
            secrets(r#"{"jwt_signing_key":"s3cr3t-value","port":8080,"nested":{"a":1}}"#, DEFAULT_SECRETS_TTL);
        assert_eq!(s.get("jwt_signing_key").await.unwrap(), "s3cr3t-value");
        assert_eq!(s.get("port").await.unwrap(), "8080");
        let missing = s.get("stripe_secret_key").await.unwrap_err().to_string();
        assert!(missing.contains("no field \"stripe_secret_key\""), "{missing}");
        let nested = s.get("nested").await.unwrap_err().to_string();
        assert!(nested.contains("not a string"), "{nested}");
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 1, "one fetch serves every field");
        assert!(!format!("{s:?}").contains("s3cr3t"), "Debug never shows values");
    }

    #[tokio::test]
    async fn refetches_after_the_ttl_and_serves_stale_values_if_that_fails() {
        let (fake, s) = secrets(r#"{"k":"v1"}"#, Duration::from_millis(30));
        assert_eq!(s.get("k").await.unwrap(), "v1");
        *fake.document.lock().unwrap() = Ok(r#"{"k":"v2"}"#.into());
        assert_eq!(s.get("k").await.unwrap(), "v1", "cached within the TTL");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.get("k").await.unwrap(), "v2", "refetched after the TTL");
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2);

        *fake.document.lock().unwrap() = Err("throttled".into());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.get("k").await.unwrap(), "v2", "a failed refresh keeps the cached copy");
    }

    #[tokio::test]
    async fn bad_documents_are_errors_without_their_content() {
        for doc in ["not json s3cr3t", r#"["s3cr3t"]"#] {
            let (_, s) = secrets(doc, DEFAULT_SECRETS_TTL);
            let err = s.get("k").await.unwrap_err();
            let mut text = err.to_string();
            let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&err);
            while let Some(e) = source {
                text.push_str(&e.to_string());
                source = e.source();
            }
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        let (fake, s) = secrets("{}", DEFAULT_SECRETS_TTL);
        *fake.document.lock().unwrap() = Err("AccessDenied".into());
        assert!(s.get("k").await.unwrap_err().to_string().contains("AccessDenied"), "no cache: the fetch error");
    }
}

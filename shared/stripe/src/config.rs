//! The adapter's settings, read from the environment.

use std::fmt;

/// Stripe's API.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Where and how to reach Stripe. `Debug` never shows the secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `sk_live_...`, `sk_test_...` or a restricted key (`rk_...`). Never logged.
    pub secret_key: String,
    /// The API's base URL, without `/v1` (Stripe's by default; a fake's in tests).
    pub api_base: String,
    /// A test clock (`clock_...`) that new customers are created on (test mode only).
    pub test_clock: Option<String>,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &redact(&self.secret_key))
            .field("api_base", &self.api_base)
            .field("test_clock", &self.test_clock)
            .finish()
    }
}

/// `sk_test_…` / `rk_live_…`: the key's kind, never any of its secret part.
fn redact(key: &str) -> String {
    let kind = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"].into_iter().find(|p| key.starts_with(p));
    format!("{}<redacted>", kind.unwrap_or(""))
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Stripe configuration: {0}")]
pub struct StripeConfigError(pub String);

impl StripeConfig {
    /// A configuration for Stripe's own API, without a test clock.
    pub fn new(secret_key: impl Into<String>) -> Self {
        StripeConfig { secret_key: secret_key.into(), api_base: DEFAULT_API_BASE.into(), test_clock: None }
    }

    /// Reads `STRIPE_SECRET_KEY` (absent or empty: billing is not configured, `Ok(None)`),
    /// `STRIPE_API_BASE` (default `https://api.stripe.com`) and `STRIPE_TEST_CLOCK`
    /// (optional; only with a test-mode key).
    pub fn from_env() -> Result<Option<Self>, StripeConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`StripeConfig::from_env`] over any source of variables.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, StripeConfigError> {
        let set = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let Some(secret_key) = set("STRIPE_SECRET_KEY") else {
            return Ok(None);
        };
        let config = StripeConfig {
            secret_key,
            api_base: set("STRIPE_API_BASE").unwrap_or_else(|| DEFAULT_API_BASE.into()),
            test_clock: set("STRIPE_TEST_CLOCK"),
        };
        config.validate()?;
        Ok(Some(config))
    }

    /// Checks what can be checked without calling Stripe.
    pub fn validate(&self) -> Result<(), StripeConfigError> {
        let key = &self.secret_key;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StripeConfigError("STRIPE_SECRET_KEY must be a non-empty key of visible ASCII".into()));
        }
        if !(self.api_base.starts_with("https://") || self.api_base.starts_with("http://")) {
            return Err(StripeConfigError(format!("STRIPE_API_BASE must be an http(s) URL, not {:?}", self.api_base)));
        }
        if self.test_clock.is_some() && key.contains("_live_") {
            return Err(StripeConfigError("STRIPE_TEST_CLOCK is for test mode only, not with a live key".into()));
        }
        Ok(())
    }

    /// The base URL as the client wants it: ending in `/` (the client appends `v1/...`).
    pub(crate) fn client_url(&self) -> String {
        let mut url = self.api_base.trim_end_matches('/').to_owned();
        if let Some(stripped) = url.strip_suffix("/v1") {
            url = stripped.to_owned();
        }
        url.push('/');
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn no_secret_key_means_billing_is_not_configured() {
        assert_eq!(StripeConfig::from_lookup(lookup(&[])), Ok(None));
        assert_eq!(StripeConfig::from_lookup(lookup(&[("STRIPE_SECRET_KEY", " ")])), Ok(None));
        assert_eq!(StripeConfig::from_lookup(lookup(&[("STRIPE_API_BASE", "http://127.0.0.1:1")])), Ok(None));
    }

    #[test]
    fn reads_the_key_the_base_url_and_the_test_clock() {
        let config = StripeConfig::from_lookup(lookup(&[("STRIPE_SECRET_KEY", "sk_test_abc")])).unwrap().unwrap();
        assert_eq!(config, StripeConfig::new("sk_test_abc"));
        assert_eq!(config.client_url(), "https://api.stripe.com/");

        let config = StripeConfig::from_lookup(lookup(&[
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111/"),
            ("STRIPE_TEST_CLOCK", "clock_123"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.api_base, "http://127.0.0.1:12111/");
        assert_eq!(config.client_url(), "http://127.0.0.1:12111/");
        assert_eq!(config.test_clock.as_deref(), Some("clock_123"));
        // A base given with /v1 or a path prefix.
        let with = |base: &str| StripeConfig { api_base: base.into(), ..StripeConfig::new("sk_test_x") }.client_url();
        assert_eq!(with("http://fake:1/v1"), "http://fake:1/");
        assert_eq!(with("http://fake:1/stripe"), "http://fake:1/stripe/");
    }

    #[test]
    fn refuses_a_bad_base_url_and_a_test_clock_with_a_live_key() {
        let bad_base = [("STRIPE_SECRET_KEY", "sk_test_abc"), ("STRIPE_API_BASE", "127.0.0.1:1")];
        assert!(StripeConfig::from_lookup(lookup(&bad_base)).is_err());
        let live_clock = [("STRIPE_SECRET_KEY", "sk_live_abc"), ("STRIPE_TEST_CLOCK", "clock_1")];
        assert!(StripeConfig::from_lookup(lookup(&live_clock)).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let config = StripeConfig::new("sk_live_51SuperSecretValue");
        let shown = format!("{config:?}");
        assert!(!shown.contains("SuperSecret"), "{shown}");
        assert!(shown.contains("sk_live_<redacted>"), "{shown}");
        let shown = format!("{:?}", StripeConfig::new("whatever-key"));
        assert!(!shown.contains("whatever"), "{shown}");
    }
}

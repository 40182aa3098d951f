//! Configuration from the environment.

/// The default port, Stripe's own mock server's (`stripe-mock`) so local setups are familiar.
pub const DEFAULT_PORT: u16 = 12111;
/// Where webhooks go by default: the local tollgate server's Stripe webhook route.
pub const DEFAULT_WEBHOOK_URL: &str = "http://127.0.0.1:3000/api/stripe/webhook";
/// The default webhook signing secret.
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_test_fake";

/// How the fake runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where events are posted; `None` records them without posting.
    pub webhook_url: Option<String>,
    /// The secret webhooks are signed with (`Stripe-Signature`).
    pub webhook_secret: String,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `STRIPE_FAKE_PORT` is not a port number.
    #[error("STRIPE_FAKE_PORT must be a port number, not {0:?}")]
    Port(String),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            webhook_url: Some(DEFAULT_WEBHOOK_URL.to_string()),
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_string(),
        }
    }
}

impl Config {
    /// Reads `STRIPE_FAKE_PORT`, `STRIPE_FAKE_WEBHOOK_URL` (empty: do not post) and
    /// `STRIPE_WEBHOOK_SECRET`, with the defaults above.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let port = match var("STRIPE_FAKE_PORT") {
            None => DEFAULT_PORT,
            Some(p) => p.trim().parse().map_err(|_| ConfigError::Port(p))?,
        };
        let webhook_url = match var("STRIPE_FAKE_WEBHOOK_URL") {
            None => Some(DEFAULT_WEBHOOK_URL.to_string()),
            Some(u) if u.trim().is_empty() => None,
            Some(u) => Some(u.trim().to_string()),
        };
        let webhook_secret = var("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|| DEFAULT_WEBHOOK_SECRET.to_string());
        Ok(Config { port, webhook_url, webhook_secret })
    }

    /// For tests: a free port, webhooks to `webhook_url` (or none), the default secret.
    pub fn for_tests(webhook_url: Option<String>) -> Self {
        Config { port: 0, webhook_url, webhook_secret: DEFAULT_WEBHOOK_SECRET.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment_with_defaults() {
        assert_eq!(Config::from_vars(|_| None).unwrap(), Config::default());
        let vars = |k: &str| match k {
            "STRIPE_FAKE_PORT" => Some("4242".to_string()),
            "STRIPE_FAKE_WEBHOOK_URL" => Some(String::new()),
            "STRIPE_WEBHOOK_SECRET" => Some("whsec_x".to_string()),
            _ => None,
        };
        assert_eq!(
            Config::from_vars(vars).unwrap(),
            Config { port: 4242, webhook_url: None, webhook_secret: "whsec_x".into() }
        );
        assert!(Config::from_vars(|k| (k == "STRIPE_FAKE_PORT").then(|| "x".to_string())).is_err());
    }
}

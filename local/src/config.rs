//! The local server's configuration, from the environment.

use std::net::IpAddr;
use std::path::PathBuf;
use tollgate_http::settings::parse_env;
use tollgate_http::Settings;

/// Which store adapter the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite file `tollgate.db` in the data directory (the default).
    Sqlite,
    /// DynamoDB table `TABLE_NAME` (AWS, or an emulator via `AWS_ENDPOINT_URL`).
    DynamoDb,
}

/// Everything `make run` reads.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST`, default 127.0.0.1 (loopback only).
    pub host: IpAddr,
    /// `PORT`, default 3000.
    pub port: u16,
    /// `DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// `STORE`: `sqlite` (default) or `dynamodb`.
    pub store: StoreKind,
    /// `ADMIN_EMAIL`, default `admin@example.com`.
    pub admin_email: String,
    /// `ADMIN_PASSWORD`; generated and printed once when unset.
    pub admin_password: Option<String>,
    /// `STRIPE_WEBHOOK_SECRET`: verifies `POST /api/stripe/webhook`; unset, the webhook
    /// answers 503 `billing_not_configured`.
    pub stripe_webhook_secret: Option<String>,
    pub settings: Settings,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let port = parse_env("PORT", 3000u16)?;
        let mut settings = Settings::from_env()?;
        if std::env::var("PUBLIC_BASE_URL").map(|v| v.trim().is_empty()).unwrap_or(true) {
            settings.public_base_url = format!("http://127.0.0.1:{port}");
        }
        let store = match std::env::var("STORE").unwrap_or_default().trim() {
            "" | "sqlite" => StoreKind::Sqlite,
            "dynamodb" => StoreKind::DynamoDb,
            other => return Err(format!("STORE={other:?}: expected sqlite or dynamodb")),
        };
        Ok(Config {
            host: parse_env("HOST", IpAddr::from([127, 0, 0, 1]))?,
            port,
            data_dir: PathBuf::from(
                std::env::var("DATA_DIR").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "./data".into()),
            ),
            store,
            admin_email: std::env::var("ADMIN_EMAIL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "admin@example.com".into()),
            admin_password: std::env::var("ADMIN_PASSWORD").ok().filter(|v| !v.is_empty()),
            stripe_webhook_secret: std::env::var("STRIPE_WEBHOOK_SECRET").ok().filter(|v| !v.trim().is_empty()),
            settings,
        })
    }
}

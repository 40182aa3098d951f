//! `stripe-fake`: the fake Stripe API on 127.0.0.1 (see the crate README). Configured by
//! `STRIPE_FAKE_PORT`, `STRIPE_FAKE_WEBHOOK_URL` and `STRIPE_WEBHOOK_SECRET`.

use std::process::ExitCode;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> ExitCode {
    // `RUST_LOG` as `target=level` directives (tracing-subscriber's `Targets`), `info` without.
    let filter = std::env::var("RUST_LOG").ok().and_then(|v| v.parse::<Targets>().ok());
    let filter = filter.unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer()).with(filter).init();
    let config = match stripe_fake::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stripe-fake: {e}");
            return ExitCode::FAILURE;
        }
    };
    let webhooks = config.webhook_url.clone().unwrap_or_else(|| "(not posted)".into());
    match stripe_fake::serve(config).await {
        Ok((addr, server)) => {
            tracing::info!(%addr, %webhooks, "stripe-fake listening: API at http://{addr}/v1");
            tokio::select! {
                _ = server => ExitCode::FAILURE,
                _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("stripe-fake: cannot listen: {e}");
            ExitCode::FAILURE
        }
    }
}

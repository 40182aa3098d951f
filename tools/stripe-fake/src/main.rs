//! `stripe-fake`: the fake Stripe API on 127.0.0.1 (see the crate README). Configured by
//! `STRIPE_FAKE_PORT`, `STRIPE_FAKE_WEBHOOK_URL` and `STRIPE_WEBHOOK_SECRET`.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
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

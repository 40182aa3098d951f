//! A small stateful fake of the Stripe API endpoints tollgate calls: customers, products,
//! prices, billing meters and meter events, checkout sessions with a hosted page,
//! subscriptions, payment methods, invoices, test clocks and events, with signed webhooks.
//! Responses are Stripe's published example objects with the fake's state written over them,
//! so Stripe's client libraries parse them. See the crate's README for the endpoint list.
//!
//! Start it in-process from a test:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = stripe_fake::Config::for_tests(Some("http://127.0.0.1:3000/api/stripe/webhook".into()));
//! let (addr, _server) = stripe_fake::serve(config).await?;
//! let api_base = format!("http://{addr}"); // give this to the Stripe client as its base URL
//! # let _ = api_base; Ok(()) }
//! ```

// serde_json::json! recurses once per field; Stripe objects have a hundred of them.
#![recursion_limit = "256"]

mod app;
mod billing;
mod clock;
pub mod config;
mod error;
mod events;
pub mod form;
mod ids;
mod objects;
mod params;
mod routes;
mod state;
mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use config::{Config, ConfigError};
pub use objects::API_VERSION;
pub use webhooks::signature as webhook_signature;

/// Binds 127.0.0.1:`config.port` (0: a free port) and serves the fake in a background task.
/// Returns the bound address and the server task (abort it to stop the server; the webhook
/// sender stops with it).
pub async fn serve(config: Config) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).await?;
    let addr = listener.local_addr()?;
    let (queue, deliveries) = mpsc::unbounded_channel();
    let state = state::State::new(format!("http://{addr}"), config.webhook_url);
    let app = Arc::new(app::App::new(state, queue));
    webhooks::spawn(Arc::downgrade(&app), deliveries, config.webhook_secret);
    let router = routes::router(app);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "stripe-fake stopped");
        }
    });
    Ok((addr, server))
}

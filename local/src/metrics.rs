//! `GET /metrics`: the process's metrics in the Prometheus text format (version 0.0.4):
//! the registry of `tollgate_http::metrics` (HTTP requests, gateway decisions, worker
//! messages, job runs) and, read at scrape time, the local queues' depth, oldest message
//! age and dead letters, and the embedded call meter's counters (events it recorded itself,
//! its transactions).
//!
//! Readable from the machine itself (a loopback peer) or with an admin's access token;
//! anyone else gets 403 `admin_required` (401 for a token that is not valid).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tollgate_domain::QueueName;
use tollgate_embedded::{SqliteCallMeter, SqliteQueue};
use tollgate_http::metrics::{write_counter, write_gauge, Registry};
use tollgate_http::{AdminUser, ApiError, AppState, ClientAddr, ErrorCode};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The local queues, as their `queue` label.
const QUEUES: [QueueName; 3] = [QueueName::Usage, QueueName::Notifications, QueueName::StripeEvents];

#[derive(Clone)]
struct Scrape {
    state: AppState,
    queue: Arc<SqliteQueue>,
    meter: Option<Arc<SqliteCallMeter>>,
}

/// The `/metrics` route on the platform's state, queue and call meter (when embedded).
pub(crate) fn routes(state: AppState, queue: Arc<SqliteQueue>, meter: Option<Arc<SqliteCallMeter>>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(Scrape { state, queue, meter })
}

async fn metrics(State(scrape): State<Scrape>, mut parts: Parts) -> Result<Response, ApiError> {
    allowed(&mut parts, &scrape.state).await?;
    let mut text = Registry::global().render();
    queue_gauges(&scrape.queue, &mut text).await?;
    if let Some(meter) = &scrape.meter {
        meter_counters(meter, &mut text);
    }
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// A loopback peer, or an admin's token.
async fn allowed(parts: &mut Parts, state: &AppState) -> Result<(), ApiError> {
    if parts.extensions.get::<ClientAddr>().is_some_and(|addr| addr.0.is_loopback()) {
        return Ok(());
    }
    if tollgate_http::extract::bearer(parts).is_none() {
        return Err(ApiError::rejected(
            ErrorCode::AdminRequired,
            "metrics are served to this machine (loopback) and to admins only",
        ));
    }
    AdminUser::from_request_parts(parts, state).await.map(|_| ())
}

/// Depth, oldest message age and dead letters of each local queue.
async fn queue_gauges(queue: &SqliteQueue, text: &mut String) -> Result<(), ApiError> {
    let now = chrono::Utc::now();
    let mut stats = Vec::with_capacity(QUEUES.len());
    for name in QUEUES {
        stats.push((name.as_str(), queue.stats(name, now).await?));
    }
    let gauge = |text: &mut String, name: &str, help: &str, value: &dyn Fn(&tollgate_embedded::QueueStats) -> f64| {
        let labels: Vec<[(&str, &str); 1]> = stats.iter().map(|(q, _)| [("queue", *q)]).collect();
        let samples: Vec<(&[(&str, &str)], f64)> =
            labels.iter().zip(&stats).map(|(l, (_, s))| (&l[..], value(s))).collect();
        write_gauge(text, name, help, &samples);
    };
    gauge(
        text,
        "tollgate_queue_depth",
        "Messages in the local queue not yet acknowledged (visible + in flight).",
        &|s| s.depth() as f64,
    );
    gauge(
        text,
        "tollgate_queue_oldest_message_age_seconds",
        "Age of the oldest message in the local queue, in seconds (0 when empty).",
        &|s| s.oldest_age_secs(now),
    );
    gauge(text, "tollgate_queue_dead_letters", "Messages in the local queue's dead letters.", &|s| {
        s.dead_letters as f64
    });
    Ok(())
}

/// The call meter's own counts: the usage events it recorded (the gateway's; those whose
/// outcome never came are the usage worker's), and its group-commit transactions.
fn meter_counters(meter: &SqliteCallMeter, text: &mut String) {
    let stats = meter.stats();
    let counter =
        |text: &mut String, name: &str, help: &str, value: u64| write_counter(text, name, help, &[(&[], value as f64)]);
    counter(
        text,
        "tollgate_call_meter_recorded_events_total",
        "Usage events the call meter recorded itself (proxied calls' outcomes, reported calls).",
        stats.recorded.load(Ordering::Relaxed),
    );
    counter(
        text,
        "tollgate_call_meter_transactions_total",
        "Group-commit transactions of the call meter (each holds many calls under load).",
        stats.transactions.load(Ordering::Relaxed),
    );
}

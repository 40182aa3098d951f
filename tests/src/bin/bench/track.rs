//! Metering without the proxy: `POST /api/v1/track`, a seller's server reporting its calls in
//! batches of [`BATCH`] events, on the same server and key as the metered rows.
//!
//! Every request posts the same batch (no client ids and no timestamps, so each event is new
//! and stamped on arrival) and must be answered 202 with all of it accepted. As for the
//! metered call, each round waits for the usage queue to drain: events/s and server CPU per
//! event count the worker's logging and aggregation of the events, not only the answer.

use crate::{median, timed_load, Run};
use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

use crate::server::Server;

/// Events per request.
pub const BATCH: usize = 100;

/// A batch of [`BATCH`] events as a seller's server would report them: a few endpoints,
/// methods, statuses and response times, a cost on some, metadata on one in ten.
fn batch_body() -> Bytes {
    let events: Vec<_> = (0..BATCH)
        .map(|i| {
            let (endpoint, method) = match i % 4 {
                0 => ("/users/{id}", "GET"),
                1 => ("/users", "GET"),
                2 => ("/orders", "POST"),
                _ => ("/orders/{id}", "GET"),
            };
            let status = match i % 20 {
                0 => 500,
                1 | 2 => 404,
                _ => 200,
            };
            let mut e = json!({"endpoint": endpoint, "method": method, "status_code": status, "response_time_ms": 5 + (i * 7) % 300});
            if method == "POST" {
                e["cost"] = json!(5);
            }
            if i % 10 == 0 {
                e["metadata"] = json!({"region": "eu-west-1", "customer_tier": "pro"});
            }
            e
        })
        .collect();
    Bytes::from(json!({ "events": events }).to_string())
}

/// What the bench reads of a 202.
#[derive(serde::Deserialize)]
struct Accepted {
    accepted: usize,
}

/// Batches posted from `concurrency` workers for `duration`. A batch counts as an error
/// unless it is answered 202 with every event accepted.
async fn post_batches(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
) -> Run {
    let (client, url, key, body) = (client.clone(), url.to_string(), key.to_string(), body.clone());
    timed_load(concurrency, duration, move || {
        let (client, url, key, body) = (client.clone(), url.clone(), key.clone(), body.clone());
        async move {
            let sent = client
                .post(&url)
                .header("x-api-key", &key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == StatusCode::ACCEPTED => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Accepted>(&b).ok())
                    .is_some_and(|a| a.accepted == BATCH),
                _ => false,
            }
        }
    })
    .await
}

/// Medians of the rounds at one concurrency.
pub struct TrackRow {
    pub concurrency: usize,
    /// Events accepted over the load time plus the drain of their deferred work.
    pub events_per_s: f64,
    /// Batches answered over the load time alone (what the reporting client sees).
    pub batches_per_s: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Server CPU per accepted event, the worker's deferred work included.
    pub cpu_per_event: Duration,
    /// How long the usage queue took to drain after the load stopped.
    pub drain: Duration,
    pub errors: usize,
}

/// `rounds` rounds of batches at `concurrency`, each drained before the next.
pub async fn measure_row(
    server: &Server,
    client: &reqwest::Client,
    key: &str,
    concurrency: usize,
    rounds: usize,
    duration: Duration,
) -> TrackRow {
    let url = format!("{}/api/v1/track", server.base);
    let body = batch_body();
    let (mut eps, mut bps, mut p50, mut p99, mut cpu, mut drains) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut errors = 0;
    for _ in 0..rounds {
        server.drained().await;
        let cpu0 = server.cpu();
        let started = Instant::now();
        let run = post_batches(client, &url, key, &body, concurrency, duration).await;
        let stopped = Instant::now();
        server.drained().await;
        drains.push(stopped.elapsed());
        let with_drain = started.elapsed();
        let cpu1 = server.cpu();
        let events = (run.calls() - run.errors) * BATCH;
        eps.push(events as f64 / with_drain.as_secs_f64());
        bps.push(run.calls() as f64 / run.elapsed.as_secs_f64());
        p50.push(run.quantile(0.5));
        p99.push(run.quantile(0.99));
        cpu.push((cpu1 - cpu0).as_secs_f64() / events.max(1) as f64);
        errors += run.errors;
    }
    TrackRow {
        concurrency,
        events_per_s: median(eps),
        batches_per_s: median(bps),
        p50: median(p50),
        p99: median(p99),
        cpu_per_event: Duration::from_secs_f64(median(cpu)),
        drain: median(drains),
        errors,
    }
}

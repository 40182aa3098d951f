//! In-process queue workers of the single-process server: they drain the SQLite queue with
//! the same handlers the Lambda workers run on SQS.
//!
//! The usage worker receives up to 500 messages at a time, in flight for 30 s, records them
//! with `usage_worker::process_batch` (one store transaction per batch), acknowledges the
//! successes and releases each failure for a retry with exponential backoff (1 s, 2 s, 4 s,
//! ... capped). A message delivered `SqliteQueue::max_attempts()` times (5) moves to the
//! dead-letter table (logged at warn; `SqliteQueue::dead_letters` lists them). After a
//! sizeable batch it goes on at once; after a small one it lets events gather for 100 ms;
//! when the queue is empty it waits for a send in this process or 200 ms, whichever comes
//! first.
//!
//! The Stripe events worker (when billing is configured) runs the same loop on the Stripe
//! events queue with `webhook_worker::process_batch`, in batches of 10 (each event is a few
//! calls to the provider): Stripe's events and the usage worker's requests to report
//! metered units. The notifications worker runs it on the notifications queue with
//! `notifications_worker::process_batch` (mail through the state's mailer: the outbox;
//! webhooks through `tollgate_outbound::ReqwestWebhookSender`, with the state's
//! `allow_insecure_webhook_urls` setting), in batches of 10.
//!
//! Queue timing (visibility, backoff) follows the wall clock, like the sleeps of this loop;
//! the handler gets the application clock (`AppState::now`) for its own decisions.

use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_domain::{Payments, PortError, Queue, QueueName};
use tollgate_embedded::{RetryOutcome, SqliteCallMeter, SqliteQueue};
use tollgate_http::AppState;

/// Knobs of the usage worker (the defaults suit the server; tests shorten them).
#[derive(Debug, Clone)]
pub struct UsageWorkerConfig {
    /// Messages per receive: each batch is recorded in one transaction, so bigger batches
    /// cost less per event (500 drained a backlog at 57-59k events/s, 200 at 45-46k;
    /// BENCHMARKS.md). The transaction holds the store's connection meanwhile, but on SQLite
    /// the gateway's events no longer come through this queue (the call meter records them),
    /// only those whose outcome never came.
    pub batch_size: usize,
    /// How long a received message stays invisible to other receives.
    pub visibility: Duration,
    /// Longest wait between polls of an empty queue (a send in this process wakes it sooner).
    pub idle_poll: Duration,
    /// After a small batch (under a tenth of `batch_size`), how long to let events gather
    /// before the next receive: a few bigger batches cost far less than one per event, and
    /// the events are durable in the queue meanwhile (the usage log lags by at most this much).
    pub batch_linger: Duration,
    /// Delay before the first retry of a failed message; doubled per further attempt.
    pub base_backoff: Duration,
    /// Upper bound of the retry delay.
    pub max_backoff: Duration,
}

impl Default for UsageWorkerConfig {
    fn default() -> Self {
        UsageWorkerConfig {
            batch_size: 500,
            visibility: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
            batch_linger: Duration::from_millis(100),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl UsageWorkerConfig {
    /// The delay before delivery number `attempts + 1`: base, 2x base, 4x base, ... capped.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What one round of [`drain_usage_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub received: usize,
    /// Recorded or already recorded (duplicates): acknowledged.
    pub succeeded: usize,
    /// Failed and released for a later retry.
    pub retried: usize,
    /// Failed on their last attempt: moved to the dead-letter table.
    pub dead_lettered: usize,
}

/// One round on `queue_name`: receive a batch, `process` it (it returns the ids that
/// failed), acknowledge the successes, release the failures for retry (or dead-letter
/// them). Returns an empty report when nothing was visible. The report's figures go to
/// `tollgate_worker_messages_total` (see `tollgate_http::metrics`).
pub async fn drain_once<F, Fut>(
    queue: &SqliteQueue,
    queue_name: QueueName,
    config: &UsageWorkerConfig,
    process: F,
) -> Result<DrainReport, PortError>
where
    F: FnOnce(Vec<(String, String)>) -> Fut,
    Fut: Future<Output = Vec<String>>,
{
    let batch = queue.receive(queue_name, config.batch_size, config.visibility, Utc::now()).await?;
    let mut report = DrainReport { received: batch.len(), ..DrainReport::default() };
    if batch.is_empty() {
        return Ok(report);
    }
    let attempts: std::collections::HashMap<String, u32> = batch.iter().map(|m| (m.id.clone(), m.attempts)).collect();
    let messages = batch.into_iter().map(|m| (m.id, m.body)).collect();
    let failed = process(messages).await;
    let succeeded: Vec<String> = attempts.keys().filter(|id| !failed.contains(id)).cloned().collect();
    report.succeeded = queue.ack(queue_name, &succeeded).await?;
    let name = queue_name.as_str();
    for id in failed {
        let tries = attempts.get(&id).copied().unwrap_or(1);
        match queue.release_for_retry(queue_name, &id, config.backoff(tries), Utc::now()).await? {
            RetryOutcome::Scheduled { visible_at } => {
                report.retried += 1;
                tracing::info!(queue = name, message_id = %id, attempts = tries, %visible_at, "message will be retried");
            }
            RetryOutcome::DeadLettered { attempts } => {
                report.dead_lettered += 1;
                tracing::warn!(queue = name, message_id = %id, attempts, "message dead-lettered after its last attempt");
            }
            RetryOutcome::NotFound => {}
        }
    }
    tollgate_http::metrics::record_worker_messages(
        name,
        report.succeeded as u64,
        report.retried as u64,
        report.dead_lettered as u64,
    );
    Ok(report)
}

/// One round of the usage worker ([`drain_once`] with `usage_worker::process_batch`).
pub async fn drain_usage_once(
    state: &AppState,
    queue: &SqliteQueue,
    config: &UsageWorkerConfig,
) -> Result<DrainReport, PortError> {
    // Report requests go to the billing queue only where billing is configured (the Stripe
    // events worker runs then).
    let billing = state.payments.is_some().then_some(queue as &dyn Queue);
    drain_once(queue, QueueName::Usage, config, |messages| {
        usage_worker::process_batch(&*state.store, billing, messages, state.now())
    })
    .await
}

/// One round of the Stripe events worker ([`drain_once`] with `webhook_worker::process_batch`).
pub async fn drain_stripe_events_once(
    state: &AppState,
    payments: &dyn Payments,
    queue: &SqliteQueue,
    config: &UsageWorkerConfig,
) -> Result<DrainReport, PortError> {
    drain_once(queue, QueueName::StripeEvents, config, |messages| {
        webhook_worker::process_batch(&*state.store, payments, queue, messages, state.now())
    })
    .await
}

/// One round of the notifications worker ([`drain_once`] with
/// `notifications_worker::process_batch`): mail through the state's mailer (the outbox),
/// webhooks through reqwest with the state's URL policy.
pub async fn drain_notifications_once(
    state: &AppState,
    queue: &SqliteQueue,
    config: &UsageWorkerConfig,
) -> Result<DrainReport, PortError> {
    let allow_insecure = state.settings.allow_insecure_webhook_urls;
    let sender = tollgate_outbound::ReqwestWebhookSender::new(allow_insecure);
    let webhooks = notifications_worker::Webhooks { sender: &sender, allow_insecure };
    drain_once(queue, QueueName::Notifications, config, |messages| {
        notifications_worker::process_batch(&*state.store, &*state.mailer, webhooks, messages, state.now())
    })
    .await
}

/// Starts the usage worker with the default settings; it runs until `shutdown` holds `true`
/// (or its sender is dropped), finishing the batch in hand first. `meter` is the call meter
/// on the same store (`Platform::embedded_meter`), None without one: it records the
/// gateway's events itself, and the worker asks for the metered-units report of the paying
/// organizations whose usage it recorded, as for those it records itself.
pub fn spawn_usage_worker(
    state: AppState,
    queue: Arc<SqliteQueue>,
    meter: Option<Arc<SqliteCallMeter>>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    spawn_usage_worker_with(state, queue, meter, shutdown, UsageWorkerConfig::default())
}

/// [`spawn_usage_worker`] with explicit settings.
pub fn spawn_usage_worker_with(
    state: AppState,
    queue: Arc<SqliteQueue>,
    meter: Option<Arc<SqliteCallMeter>>,
    shutdown: watch::Receiver<bool>,
    config: UsageWorkerConfig,
) -> JoinHandle<()> {
    let waker = queue.clone();
    spawn_loop(QueueName::Usage, waker, shutdown, config, move |config| {
        let (state, queue, meter) = (state.clone(), queue.clone(), meter.clone());
        async move {
            let report = drain_usage_once(&state, &queue, &config).await;
            if let Some(meter) = meter.filter(|_| state.payments.is_some()) {
                request_reports_of_recorded_usage(&state, &queue, &meter).await;
            }
            report
        }
    })
}

/// Asks the billing worker (through its queue) to report the metered units of the paying
/// organizations whose usage the call meter recorded since the last round: one request per
/// organization and period per round, however many calls it recorded.
async fn request_reports_of_recorded_usage(state: &AppState, queue: &SqliteQueue, meter: &SqliteCallMeter) {
    let touched = meter.take_billable_usage();
    if !touched.is_empty() {
        let nonce = state.now().timestamp_micros().to_string();
        usage_worker::request_reports(queue, touched, &nonce).await;
    }
}

/// Starts the Stripe events worker (batches of 10, otherwise the usage worker's settings);
/// it runs until `shutdown` holds `true`.
pub fn spawn_stripe_events_worker(
    state: AppState,
    payments: Arc<dyn Payments>,
    queue: Arc<SqliteQueue>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let config = UsageWorkerConfig { batch_size: 10, ..UsageWorkerConfig::default() };
    let waker = queue.clone();
    spawn_loop(QueueName::StripeEvents, waker, shutdown, config, move |config| {
        let (state, payments, queue) = (state.clone(), payments.clone(), queue.clone());
        async move { drain_stripe_events_once(&state, &*payments, &queue, &config).await }
    })
}

/// Starts the notifications worker (batches of 10, otherwise the usage worker's settings);
/// it runs until `shutdown` holds `true`.
pub fn spawn_notifications_worker(
    state: AppState,
    queue: Arc<SqliteQueue>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let config = UsageWorkerConfig { batch_size: 10, ..UsageWorkerConfig::default() };
    let waker = queue.clone();
    spawn_loop(QueueName::Notifications, waker, shutdown, config, move |config| {
        let (state, queue) = (state.clone(), queue.clone());
        async move { drain_notifications_once(&state, &queue, &config).await }
    })
}

/// The loop of a worker on `queue_name`: `round` drains one batch (see the module doc).
fn spawn_loop<F, Fut>(
    queue_name: QueueName,
    queue: Arc<SqliteQueue>,
    mut shutdown: watch::Receiver<bool>,
    config: UsageWorkerConfig,
    round: F,
) -> JoinHandle<()>
where
    F: Fn(UsageWorkerConfig) -> Fut + Send + 'static,
    Fut: Future<Output = Result<DrainReport, PortError>> + Send,
{
    let name = queue_name.as_str();
    tokio::spawn(async move {
        tracing::info!(queue = name, batch_size = config.batch_size, "queue worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let received = match round(config.clone()).await {
                Ok(report) => report.received,
                Err(e) => {
                    tracing::error!(queue = name, error = %e, "queue worker: queue error");
                    0
                }
            };
            if received * 10 >= config.batch_size {
                // A full or sizeable batch: more is waiting, go again at once (the shutdown
                // check comes first). Lingering here would cap the worker below the rate the
                // events arrive at.
                continue;
            }
            let wait = if received > 0 {
                tokio::time::sleep(config.batch_linger)
            } else {
                tokio::time::sleep(config.idle_poll)
            };
            tokio::select! {
                _ = wait => {}
                _ = queue.sent(queue_name).notified(), if received == 0 => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!(queue = name, "queue worker stopped");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = UsageWorkerConfig::default();
        let secs: Vec<u64> = (1..=8).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(c.backoff(0), Duration::from_secs(1));
        assert_eq!(c.backoff(200), Duration::from_secs(60));
    }
}

//! In-process queue workers of the single-process server: they drain the SQLite queue with
//! the same handlers the Lambda workers run on SQS.
//!
//! The usage worker receives up to 200 messages at a time (in flight for 30 s), records them
//! with `usage_worker::process_batch` (one store transaction per batch), acknowledges the
//! successes and releases each failure for a retry with exponential backoff (1 s, 2 s, 4 s,
//! ... capped). A message delivered
//! `SqliteQueue::max_attempts()` times (5) moves to the dead-letter table (logged at warn;
//! `SqliteQueue::dead_letters` lists them). After a sizeable batch it goes on at once; after a
//! small one it lets events gather for 100 ms; when the queue is empty it waits for a send
//! in this process or 200 ms, whichever comes first.
//!
//! Queue timing (visibility, backoff) follows the wall clock, like the sleeps of this loop;
//! the handler gets the application clock (`AppState::now`) for its own decisions.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_domain::{PortError, QueueName};
use tollgate_embedded::{RetryOutcome, SqliteQueue};
use tollgate_http::AppState;

/// Knobs of the usage worker (the defaults suit the server; tests shorten them).
#[derive(Debug, Clone)]
pub struct UsageWorkerConfig {
    /// Messages per receive: each batch is recorded in one transaction, so bigger batches
    /// cost less per event, but the transaction holds the store's one connection, and the
    /// gateway's calls wait behind it (200: a few milliseconds).
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
            batch_size: 200,
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

/// One round: receive a batch, process it, acknowledge successes, release failures for
/// retry (or dead-letter them). Returns an empty report when nothing was visible.
pub async fn drain_usage_once(
    state: &AppState,
    queue: &SqliteQueue,
    config: &UsageWorkerConfig,
) -> Result<DrainReport, PortError> {
    let batch = queue.receive(QueueName::Usage, config.batch_size, config.visibility, Utc::now()).await?;
    let mut report = DrainReport { received: batch.len(), ..DrainReport::default() };
    if batch.is_empty() {
        return Ok(report);
    }
    let attempts: std::collections::HashMap<String, u32> = batch.iter().map(|m| (m.id.clone(), m.attempts)).collect();
    let messages = batch.into_iter().map(|m| (m.id, m.body)).collect();
    let failed = usage_worker::process_batch(&*state.store, messages, state.now()).await;
    let succeeded: Vec<String> = attempts.keys().filter(|id| !failed.contains(id)).cloned().collect();
    report.succeeded = queue.ack(QueueName::Usage, &succeeded).await?;
    for id in failed {
        let tries = attempts.get(&id).copied().unwrap_or(1);
        match queue.release_for_retry(QueueName::Usage, &id, config.backoff(tries), Utc::now()).await? {
            RetryOutcome::Scheduled { visible_at } => {
                report.retried += 1;
                tracing::info!(message_id = %id, attempts = tries, %visible_at, "usage message will be retried");
            }
            RetryOutcome::DeadLettered { attempts } => {
                report.dead_lettered += 1;
                tracing::warn!(message_id = %id, attempts, "usage message dead-lettered after its last attempt");
            }
            RetryOutcome::NotFound => {}
        }
    }
    Ok(report)
}

/// Starts the usage worker with the default settings; it runs until `shutdown` holds `true`
/// (or its sender is dropped), finishing the batch in hand first.
pub fn spawn_usage_worker(state: AppState, queue: Arc<SqliteQueue>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_usage_worker_with(state, queue, shutdown, UsageWorkerConfig::default())
}

/// [`spawn_usage_worker`] with explicit settings.
pub fn spawn_usage_worker_with(
    state: AppState,
    queue: Arc<SqliteQueue>,
    mut shutdown: watch::Receiver<bool>,
    config: UsageWorkerConfig,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(batch_size = config.batch_size, "usage worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let received = match drain_usage_once(&state, &queue, &config).await {
                Ok(report) => report.received,
                Err(e) => {
                    tracing::error!(error = %e, "usage worker: queue error");
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
                _ = queue.sent(QueueName::Usage).notified(), if received == 0 => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("usage worker stopped");
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

//! Fixed-window throttles on failed logins (per IP and per account) and on mail-sending
//! routes, backed by the store's attempt counters so every Lambda instance sees the same
//! counts.

use chrono::{DateTime, Duration, Utc};
use tollgate_http::{ApiError, AppState};

/// One throttled bucket in the current window.
pub struct Throttle {
    bucket: String,
    limit: u32,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
}

impl Throttle {
    pub fn new(state: &AppState, bucket: String, limit: u32) -> Self {
        let window = state.settings.login_window;
        let now = state.now();
        let secs = window.num_seconds().max(1);
        let start = DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(secs), 0).unwrap_or(now);
        Throttle { bucket, limit, window_start: start, window_end: start + Duration::seconds(secs) }
    }

    fn too_many(&self, state: &AppState) -> ApiError {
        let retry_after = (self.window_end - state.now()).num_seconds().max(1) as u64;
        ApiError::TooManyRequests {
            code: "too_many_attempts",
            message: format!("too many attempts; try again in {retry_after} seconds"),
            retry_after,
        }
    }

    /// 429 if the bucket is already at its limit in this window.
    pub async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        if state.store.attempts(&self.bucket, self.window_start).await? >= self.limit {
            return Err(self.too_many(state));
        }
        Ok(())
    }

    /// Counts one attempt (a failure, or a use of a throttled route).
    pub async fn add(&self, state: &AppState) -> Result<u32, ApiError> {
        Ok(state.store.add_attempt(&self.bucket, self.window_start, self.window_end).await?)
    }

    /// Counts one use and answers 429 if that use went past the limit.
    pub async fn hit(&self, state: &AppState) -> Result<(), ApiError> {
        if self.add(state).await? > self.limit {
            return Err(self.too_many(state));
        }
        Ok(())
    }

    pub async fn clear(&self, state: &AppState) -> Result<(), ApiError> {
        Ok(state.store.clear_attempts(&self.bucket, self.window_start).await?)
    }
}

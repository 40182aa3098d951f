//! Fixed-window throttles on failed logins (per IP and per account) and on mail-sending
//! routes, backed by the store's attempt counters so every Lambda instance sees the same
//! counts.

use chrono::{DateTime, Duration, Utc};
use tollgate_domain::Email;
use tollgate_http::ErrorCode;
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
            code: ErrorCode::TooManyAttempts,
            message: format!("too many attempts; try again in {retry_after} seconds"),
            retry_after,
        }
    }

    /// Counts one use and answers 429 if that use went past the limit. Counting first makes
    /// the limit exact under concurrency: the store's increment is atomic. A refused use is
    /// given back at once, so the count holds only uses that went ahead: a burst of refusals
    /// leaves no excess that later releases (of uses refused by another limit) would have to
    /// work off before the bucket admits anything again.
    pub async fn hit(&self, state: &AppState) -> Result<(), ApiError> {
        if state.store.add_attempt(&self.bucket, self.window_start, self.window_end).await? > self.limit {
            self.release(state).await?;
            return Err(self.too_many(state));
        }
        Ok(())
    }

    /// Counts one use against each throttle in turn. A use refused by one throttle is given
    /// back to those that had counted it, so a refusal by one limit never counts against
    /// another (a burst refused per account leaves the IP's budget as it was).
    pub async fn hit_all(state: &AppState, throttles: &[&Throttle]) -> Result<(), ApiError> {
        for (i, throttle) in throttles.iter().enumerate() {
            if let Err(refused) = throttle.hit(state).await {
                for counted in &throttles[..i] {
                    counted.release(state).await?;
                }
                return Err(refused);
            }
        }
        Ok(())
    }

    /// Gives back one use counted by `hit` (it turned out not to be a failure).
    pub async fn release(&self, state: &AppState) -> Result<(), ApiError> {
        Ok(state.store.release_attempt(&self.bucket, self.window_start).await?)
    }

    pub async fn clear(&self, state: &AppState) -> Result<(), ApiError> {
        Ok(state.store.clear_attempts(&self.bucket, self.window_start).await?)
    }
}

/// The two throttles of a login: failures per client IP and per account. Wrong passwords and
/// wrong second-factor codes count against the same pair.
pub struct LoginThrottle {
    per_ip: Throttle,
    per_account: Throttle,
}

impl LoginThrottle {
    /// The pair for a login to `email` from `ip`.
    pub fn new(state: &AppState, email: &Email, ip: Option<&str>) -> Self {
        LoginThrottle {
            per_ip: Throttle::new(
                state,
                format!("login:ip:{}", ip.unwrap_or("unknown")),
                state.settings.login_max_failures_per_ip,
            ),
            per_account: Throttle::new(
                state,
                format!("login:acct:{email}"),
                state.settings.login_max_failures_per_account,
            ),
        }
    }

    /// Counts one attempt against both (429 `too_many_attempts` past either limit). Counted
    /// before the check it guards, so parallel guesses get no more tries than slow ones.
    pub async fn hit(&self, state: &AppState) -> Result<(), ApiError> {
        Throttle::hit_all(state, &[&self.per_ip, &self.per_account]).await
    }

    /// The login is complete: the IP's attempt is given back and the account's failures
    /// cleared. Independent writes: one round trip, not two.
    pub async fn succeeded(&self, state: &AppState) -> Result<(), ApiError> {
        tokio::try_join!(self.per_ip.release(state), self.per_account.clear(state))?;
        Ok(())
    }

    /// The attempt was right but the login is not complete (a second factor follows): only
    /// this attempt is given back, so the account's earlier failures (wrong codes included)
    /// stay until a second factor succeeds.
    pub async fn give_back(&self, state: &AppState) -> Result<(), ApiError> {
        tokio::try_join!(self.per_ip.release(state), self.per_account.release(state))?;
        Ok(())
    }
}

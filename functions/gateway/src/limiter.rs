//! Per-key (and per-IP) rate limits: fixed one-minute windows held in process memory.
//!
//! Why in memory: it costs no store call, so it refuses a key far above its rate for free.
//! In the single-process server this limiter is exact. Where several instances serve one key
//! (Lambda), each enforces the limit on its own share of the traffic, so on its own a key
//! spread over N instances could get up to N times its rate. With the shared rate limit on
//! (`GatewayConfig::shared_rate_limit`, the Lambda default) the plan's per-key limit is also
//! checked by the store, in the quota's one conditional write (see `limits`), and holds
//! across instances; this limiter stays in front as the free first filter. The per-endpoint
//! and per-IP limits are only held here, per instance. The README documents this.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a rate-limit check decided, with what the `RateLimit-*` headers show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests allowed per window (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left in this window after this one (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the window resets (`RateLimit-Reset`, and `Retry-After` on 429).
    pub reset_secs: u64,
}

pub const WINDOW_SECS: i64 = 60;

/// Seconds from `now_secs` to the end of the window starting at `window_start` (at least 1):
/// `RateLimit-Reset`, and `Retry-After` on a 429.
pub fn seconds_to_window_end(window_start: i64, now_secs: i64) -> u64 {
    (window_start + WINDOW_SECS - now_secs).max(1) as u64
}

/// Fixed-window counters keyed by a string (`key:<id>`, `key:<id>:ep:<id>`, `ip:<addr>:...`).
#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one request of `bucket` at unix time `now_secs` against `limit` per minute.
    /// A refused request is not counted.
    pub fn check(&self, bucket: &str, limit: u32, now_secs: i64) -> RateDecision {
        let window = now_secs - now_secs.rem_euclid(WINDOW_SECS);
        let reset_secs = seconds_to_window_end(window, now_secs);
        let mut windows = self.windows.lock().expect("limiter lock");
        if windows.len() > 100_000 {
            // Old windows are dead weight: keep only the current minute's.
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(bucket.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        let allowed = entry.1 < limit;
        if allowed {
            entry.1 += 1;
        }
        RateDecision { allowed, limit, remaining: limit.saturating_sub(entry.1), reset_secs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_and_reset() {
        let l = RateLimiter::default();
        let t = 1_800_000_000; // a multiple of 60
        for i in 0..3 {
            let d = l.check("k", 3, t + i);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i as u32);
        }
        let d = l.check("k", 3, t + 10);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.reset_secs), (0, 50));
        assert!(l.check("other", 3, t + 10).allowed, "buckets are independent");
        assert!(l.check("k", 3, t + 60).allowed, "a new minute, a new window");
    }
}

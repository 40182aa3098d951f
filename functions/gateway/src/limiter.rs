//! Per-key (and per-IP) rate limits: fixed one-minute windows held in process memory.
//!
//! Why in memory: the quota must be exact and costs one conditional store write per call;
//! a store-backed rate limit would double that. In the single-process server this limiter
//! is exact. On Lambda each warm instance enforces the limit on its own share of the traffic,
//! so a key spread over N instances may get up to N times its rate for short bursts; API
//! Gateway's route throttling bounds the total. The README documents this.

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
        let reset_secs = (window + WINDOW_SECS - now_secs).max(1) as u64;
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

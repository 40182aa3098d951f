//! The `Clock` port, so expiries and periods are testable.

use chrono::{DateTime, Duration, Timelike, Utc};
use std::sync::Mutex;

/// `t` without a leap second. RFC 3339 lets a client write `hh:mm:60`; chrono keeps it as
/// second 59 plus a second of nanoseconds and writes it back as `:60`, which is no valid time
/// outside a real leap second. The API reads it as the next second (`hh:mm+1:00`), as POSIX
/// clocks do, so what it stores and answers is always a plain RFC 3339 time.
pub fn fold_leap_second(t: DateTime<Utc>) -> DateTime<Utc> {
    match t.nanosecond().checked_sub(1_000_000_000) {
        Some(ns) => t.with_nanosecond(ns).map_or(t, |t| t + Duration::seconds(1)),
        None => t,
    }
}

/// Source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: for tests of expiry and grace periods.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leap_second_is_the_next_second() {
        let parse = |s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let folded = fold_leap_second(parse("2026-11-02T22:55:60.25Z"));
        assert_eq!(folded, parse("2026-11-02T22:56:00.25Z"));
        assert_eq!(folded.to_rfc3339(), "2026-11-02T22:56:00.250+00:00");
        assert_eq!(fold_leap_second(parse("2026-12-31T23:59:60Z")), parse("2027-01-01T00:00:00Z"));
        let plain = parse("2026-11-02T22:55:59.999Z");
        assert_eq!(fold_leap_second(plain), plain);
    }
}

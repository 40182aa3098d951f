//! Time: the wall clock, and the calendar arithmetic of billing periods. Test clocks
//! themselves live in the state ([`crate::state::State::now_for_clock`]).

use chrono::{DateTime, Days, Months, Utc};

/// Seconds since the Unix epoch, now.
pub fn wall_now() -> i64 {
    Utc::now().timestamp()
}

/// A recurring price's `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// `day`
    Day,
    /// `week`
    Week,
    /// `month`
    Month,
    /// `year`
    Year,
}

impl Interval {
    /// Parses Stripe's name of an interval.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            "month" => Some(Interval::Month),
            "year" => Some(Interval::Year),
            _ => None,
        }
    }

    /// Stripe's name of the interval.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }
}

/// The end of period number `n` (0-based) of a cycle anchored at `anchor`: `anchor` plus
/// `(n + 1) * count` intervals. Months are counted from the anchor, not chained, so a cycle
/// anchored on the 31st ends on the 28th/29th in February and on the 31st again in March,
/// as Stripe's billing cycle anchor does.
pub fn period_end(anchor: i64, interval: Interval, count: u32, n: u32) -> i64 {
    let steps = count.saturating_mul(n.saturating_add(1));
    let Some(start) = DateTime::<Utc>::from_timestamp(anchor, 0) else { return anchor };
    let end = match interval {
        Interval::Day => start.checked_add_days(Days::new(steps.into())),
        Interval::Week => start.checked_add_days(Days::new(u64::from(steps) * 7)),
        Interval::Month => start.checked_add_months(Months::new(steps)),
        Interval::Year => start.checked_add_months(Months::new(steps.saturating_mul(12))),
    };
    end.map_or(anchor, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ts(y: i32, m: u32, d: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).single().map(|t| t.timestamp()).unwrap_or_default()
    }

    #[test]
    fn month_periods_follow_the_anchor_day() {
        let anchor = ts(2026, 1, 31);
        assert_eq!(period_end(anchor, Interval::Month, 1, 0), ts(2026, 2, 28));
        assert_eq!(period_end(anchor, Interval::Month, 1, 1), ts(2026, 3, 31));
        assert_eq!(period_end(anchor, Interval::Year, 1, 0), ts(2027, 1, 31));
        assert_eq!(period_end(anchor, Interval::Week, 2, 0), ts(2026, 2, 14));
        assert_eq!(period_end(anchor, Interval::Day, 1, 2), ts(2026, 2, 3));
    }
}

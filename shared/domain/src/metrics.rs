//! The platform's daily metrics rollup: what the admin analytics read (`users`, `usage`,
//! `top-customers`) instead of the usage logs, kept up to date on write.
//!
//! - The usage worker adds each batch it records: the platform's daily usage aggregate per
//!   endpoint (an ordinary [`UsageAggregate`] under the reserved organization
//!   [`platform_org_id`], so it has the same counts and latency histogram as an
//!   organization's) and each organization's calls per day ([`OrgDayUsage`]; an organization
//!   with a row on a day was active that day).
//! - Registration adds each new user to the day's signups.
//!
//! Its size grows with days x (endpoints + active organizations), never with calls.

use crate::usage::{Granularity, UsageAggregate, UsageEvent};
use crate::Id;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The reserved organization id of the platform's own usage aggregates (and their key id):
/// no organization id has this form (ids are `<prefix>_<random>`).
pub const PLATFORM_ORG_ID: &str = "*";

/// [`PLATFORM_ORG_ID`] as an id: query the platform's daily aggregates with it.
pub fn platform_org_id() -> Id {
    Id::from_string(PLATFORM_ORG_ID)
}

/// One organization's calls on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgDayUsage {
    /// Midnight UTC.
    pub day: DateTime<Utc>,
    pub org_id: Id,
    pub calls: u64,
    pub cost_units: u64,
}

/// A count on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    /// Midnight UTC.
    pub day: DateTime<Utc>,
    pub count: u64,
}

/// An organization's calls over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCalls {
    pub org_id: Id,
    pub calls: u64,
    pub cost_units: u64,
}

/// What a batch of newly recorded usage events adds to the rollup, merged in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRollup {
    /// The platform's daily aggregates: organization and key [`PLATFORM_ORG_ID`], one per
    /// (endpoint, day).
    pub platform: Vec<UsageAggregate>,
    /// One per (organization, day).
    pub org_days: Vec<OrgDayUsage>,
}

impl UsageRollup {
    /// The rollup of `events` (each counted once: pass only the newly recorded ones).
    pub fn of<'a>(events: impl IntoIterator<Item = &'a UsageEvent>) -> Self {
        let mut platform: BTreeMap<(DateTime<Utc>, Id), UsageAggregate> = BTreeMap::new();
        let mut org_days: BTreeMap<(DateTime<Utc>, Id), OrgDayUsage> = BTreeMap::new();
        for e in events {
            let day = Granularity::Day.bucket_start(e.timestamp);
            platform
                .entry((day, e.endpoint_id.clone()))
                .or_insert_with(|| UsageAggregate {
                    org_id: platform_org_id(),
                    key_id: platform_org_id(),
                    ..UsageAggregate::empty_for(e, Granularity::Day)
                })
                .add(e);
            let org = org_days.entry((day, e.org_id.clone())).or_insert_with(|| OrgDayUsage {
                day,
                org_id: e.org_id.clone(),
                calls: 0,
                cost_units: 0,
            });
            org.calls += 1;
            org.cost_units += u64::from(e.cost_units);
        }
        UsageRollup { platform: platform.into_values().collect(), org_days: org_days.into_values().collect() }
    }
}

/// The organizations of `rows` with the most calls, most first (ties by id), at most
/// `limit`: the rows summed per organization. Shared by the stores that cannot sum in a
/// query.
pub fn top_orgs_by_calls(rows: impl IntoIterator<Item = OrgDayUsage>, limit: usize) -> Vec<OrgCalls> {
    let mut sums: BTreeMap<Id, OrgCalls> = BTreeMap::new();
    for r in rows {
        let sum =
            sums.entry(r.org_id.clone()).or_insert_with(|| OrgCalls { org_id: r.org_id, calls: 0, cost_units: 0 });
        sum.calls += r.calls;
        sum.cost_units += r.cost_units;
    }
    let mut top: Vec<OrgCalls> = sums.into_values().collect();
    top.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.org_id.cmp(&b.org_id)));
    top.truncate(limit);
    top
}

/// The number of organizations per day in `rows`, oldest first.
pub fn active_orgs_per_day(rows: impl IntoIterator<Item = OrgDayUsage>) -> Vec<DayCount> {
    let mut days: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.calls > 0) {
        *days.entry(r.day).or_default() += 1;
    }
    days.into_iter().map(|(day, count)| DayCount { day, count }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PeriodKey, UsageSource};
    use chrono::TimeZone;

    fn call(org: &str, endpoint: &str, day: u32, hour: u32, status: u16, latency_ms: u32) -> UsageEvent {
        UsageEvent {
            id: Id::generate("req").to_string(),
            org_id: Id::from_string(org),
            key_id: Id::from_string(format!("key_{org}")),
            project_id: None,
            source: UsageSource::Proxy,
            endpoint_id: Id::from_string(endpoint),
            method: "GET".into(),
            path: "/x".into(),
            status,
            latency_ms,
            cost_units: 2,
            ip: None,
            timestamp: Utc.with_ymd_and_hms(2026, 11, day, hour, 30, 0).unwrap(),
            period: PeriodKey::from_string("2026-11"),
            metadata: None,
        }
    }

    fn midnight(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_batch_rolls_up_per_endpoint_and_day_and_per_organization_and_day() {
        let events = [
            call("org_a", "ep_1", 1, 3, 200, 4),
            call("org_a", "ep_1", 1, 23, 500, 300),
            call("org_b", "ep_1", 1, 5, 404, 20),
            call("org_a", "ep_2", 2, 0, 200, 4),
        ];
        let rollup = UsageRollup::of(&events);
        let platform: Vec<_> = rollup
            .platform
            .iter()
            .map(|a| (a.org_id.as_str(), a.key_id.as_str(), a.endpoint_id.as_str(), a.bucket_start, a.count))
            .collect();
        assert_eq!(platform, [("*", "*", "ep_1", midnight(1), 3), ("*", "*", "ep_2", midnight(2), 1)]);
        let ep1 = &rollup.platform[0];
        assert_eq!((ep1.status_2xx, ep1.status_4xx, ep1.status_5xx, ep1.latency_sum_ms), (1, 1, 1, 324));
        assert_eq!(ep1.granularity, Granularity::Day);
        let org_days: Vec<_> =
            rollup.org_days.iter().map(|r| (r.day, r.org_id.as_str(), r.calls, r.cost_units)).collect();
        assert_eq!(
            org_days,
            [(midnight(1), "org_a", 2, 4), (midnight(1), "org_b", 1, 2), (midnight(2), "org_a", 1, 2)]
        );
        assert_eq!(UsageRollup::of(&[]), UsageRollup::default(), "nothing from no events");
    }

    #[test]
    fn top_organizations_and_active_organizations_sum_the_days() {
        let row = |day: u32, org: &str, calls: u64| OrgDayUsage {
            day: midnight(day),
            org_id: Id::from_string(org),
            calls,
            cost_units: calls * 2,
        };
        let rows = [row(1, "org_a", 5), row(1, "org_b", 7), row(2, "org_a", 3), row(2, "org_c", 8)];
        let top = top_orgs_by_calls(rows.clone(), 2);
        let top: Vec<_> = top.iter().map(|o| (o.org_id.as_str(), o.calls, o.cost_units)).collect();
        // org_a and org_c tie at 8: the id breaks it.
        assert_eq!(top, [("org_a", 8, 16), ("org_c", 8, 16)]);
        assert_eq!(
            active_orgs_per_day(rows),
            [DayCount { day: midnight(1), count: 2 }, DayCount { day: midnight(2), count: 2 }]
        );
    }
}

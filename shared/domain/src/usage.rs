//! Usage: events emitted by the gateway, logs and aggregates written by the usage worker,
//! and the latency histogram behind p50/p95/p99.

use crate::stored_enum::{stored_enum, StoredEnum};
use crate::{Id, PageLimits, PeriodKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a call reached the platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Proxied by the gateway (`/api/v1/<endpoint>`).
    #[default]
    Proxy,
    /// Reported by the seller's own server (`POST /api/v1/track`).
    Track,
    /// Verified by the seller's own server (`POST /api/v1/verify`).
    Verify,
}

stored_enum!(UsageSource { Proxy => "proxy", Track => "track", Verify => "verify" });

/// One metered call, as sent to the usage queue. `id` is the request id (for a tracked call:
/// the client's id within its organization, or ours): the worker records each id once
/// however often it is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageEvent {
    pub id: String,
    pub org_id: Id,
    pub key_id: Id,
    /// The key's project (absent on events from before projects existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Id>,
    /// How the call reached us (`proxy` when absent).
    #[serde(default)]
    pub source: UsageSource,
    /// A catalog endpoint's id for a proxied call; for a tracked or verified call, the id
    /// [`tracked_endpoint_id`] gives its source, method and endpoint.
    pub endpoint_id: Id,
    pub method: String,
    /// Request path (no query string).
    pub path: String,
    pub status: u16,
    pub latency_ms: u32,
    pub cost_units: u32,
    pub ip: Option<String>,
    pub timestamp: DateTime<Utc>,
    /// The billing period the call was counted in (`YYYY-MM`).
    #[schema(value_type = String)]
    pub period: PeriodKey,
    /// What a tracked call's client attached (a JSON object of at most 2 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// The `endpoint_id` of a call that did not go through the catalog: `<source>:<METHOD>
/// <endpoint>`, e.g. `track:GET /users/{id}` for a tracked call. Aggregates and filters
/// treat it as any endpoint id; [`endpoint_label`] reads the source, method and path back.
pub fn tracked_endpoint_id(source: UsageSource, method: &str, endpoint: &str) -> Id {
    Id::from_string(format!("{}:{method} {endpoint}", source.as_str()))
}

/// The `endpoint_id` of calls verified with `POST /api/v1/verify`.
pub fn verify_endpoint_id() -> Id {
    tracked_endpoint_id(UsageSource::Verify, "POST", "/api/v1/verify")
}

/// How the calls of an `endpoint_id` reached us, and for a tracked or verified one its
/// method and path; a catalog endpoint's id is `(Proxy, None)`.
pub fn endpoint_label(endpoint_id: &Id) -> (UsageSource, Option<(&str, &str)>) {
    for source in [UsageSource::Track, UsageSource::Verify] {
        if let Some(rest) = endpoint_id.as_str().strip_prefix(source.as_str()).and_then(|r| r.strip_prefix(':')) {
            return (source, rest.split_once(' '));
        }
    }
    (UsageSource::Proxy, None)
}

impl UsageEvent {
    /// The event as a usage-queue message: the event id, the event as JSON.
    pub fn to_message(&self) -> crate::QueueMessage {
        crate::QueueMessage { id: self.id.clone(), body: serde_json::to_string(self).expect("serialisable") }
    }
}

/// Upper bounds (ms, inclusive) of the latency histogram's buckets; the last is open.
pub const LATENCY_BOUNDS_MS: [u32; 13] = [5, 10, 25, 50, 75, 100, 250, 500, 1000, 2500, 5000, 10000, u32::MAX];

/// The bucket of a latency.
pub fn latency_bucket(ms: u32) -> usize {
    LATENCY_BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(LATENCY_BOUNDS_MS.len() - 1)
}

/// Size of an aggregate's time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    /// The start of the bucket containing `t`.
    pub fn bucket_start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let secs = match self {
            Granularity::Hour => 3600,
            Granularity::Day => 86_400,
        };
        DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(secs), 0).expect("in range")
    }
}

stored_enum!(Granularity { Hour => "hour", Day => "day" });

/// Counts of one (organization, key, endpoint, time bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageAggregate {
    pub org_id: Id,
    pub key_id: Id,
    pub endpoint_id: Id,
    pub granularity: Granularity,
    pub bucket_start: DateTime<Utc>,
    pub count: u64,
    pub cost_units: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub latency_sum_ms: u64,
    /// Counts per `LATENCY_BOUNDS_MS` bucket (same length).
    pub latency_buckets: Vec<u64>,
}

impl UsageAggregate {
    /// An empty aggregate for the bucket of `event`.
    pub fn empty_for(event: &UsageEvent, granularity: Granularity) -> Self {
        UsageAggregate {
            org_id: event.org_id.clone(),
            key_id: event.key_id.clone(),
            endpoint_id: event.endpoint_id.clone(),
            granularity,
            bucket_start: granularity.bucket_start(event.timestamp),
            count: 0,
            cost_units: 0,
            status_2xx: 0,
            status_4xx: 0,
            status_5xx: 0,
            latency_sum_ms: 0,
            latency_buckets: vec![0; LATENCY_BOUNDS_MS.len()],
        }
    }

    /// Adds one event (same bucket).
    pub fn add(&mut self, e: &UsageEvent) {
        self.count += 1;
        self.cost_units += u64::from(e.cost_units);
        match e.status {
            200..=299 => self.status_2xx += 1,
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => {}
        }
        self.latency_sum_ms += u64::from(e.latency_ms);
        self.latency_buckets[latency_bucket(e.latency_ms)] += 1;
    }

    /// Merges another aggregate's counts into this one (for summing over keys/buckets).
    pub fn merge(&mut self, o: &UsageAggregate) {
        self.count += o.count;
        self.cost_units += o.cost_units;
        self.status_2xx += o.status_2xx;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.latency_sum_ms += o.latency_sum_ms;
        for (a, b) in self.latency_buckets.iter_mut().zip(&o.latency_buckets) {
            *a += b;
        }
    }

    /// The latency at quantile `q` (0..1): the upper bound of the bucket holding that rank,
    /// so an estimate that never understates. None when empty.
    pub fn latency_quantile(&self, q: f64) -> Option<u32> {
        let total: u64 = self.latency_buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, n) in self.latency_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(LATENCY_BOUNDS_MS[i].min(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 2] * 2));
            }
        }
        None
    }
}

/// Filter for usage logs, newest first.
#[derive(Debug, Clone, Default)]
pub struct UsageLogQuery {
    pub org_id: Option<Id>,
    /// Only calls made with keys of this project.
    pub project_id: Option<Id>,
    /// Only calls that reached us this way.
    pub source: Option<UsageSource>,
    pub key_id: Option<Id>,
    pub endpoint_id: Option<Id>,
    /// Only this HTTP status.
    pub status: Option<u16>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// At most this many; see [`UsageLogQuery::PAGE`].
    pub limit: u32,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

impl UsageLogQuery {
    /// 0 means 100; at most 1000.
    pub const PAGE: PageLimits = crate::page::LISTING;

    /// The number of entries to return for this query's `limit`.
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

/// Filter for aggregates of one organization.
#[derive(Debug, Clone)]
pub struct AggregateQuery {
    pub org_id: Id,
    pub granularity: Granularity,
    /// Bucket starts in `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Result of `UsageCounter::charge` (and `add_usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageIncrement {
    /// Counted; `used` is the total after this call.
    Counted { used: u64 },
    /// Not counted: it would have passed the hard limit. `used` is the current total.
    LimitReached { used: u64 },
    /// Not counted: the charge's rate window is full. `used` is the current total.
    RateLimited { used: u64 },
}

impl UsageIncrement {
    /// The period's total after this charge (counted or not).
    pub fn used(self) -> u64 {
        match self {
            UsageIncrement::Counted { used }
            | UsageIncrement::LimitReached { used }
            | UsageIncrement::RateLimited { used } => used,
        }
    }
}

/// A rate limit that holds across gateway instances: at most `limit` counted charges of
/// `bucket` (e.g. a key id) in the one-minute window starting at `window_start` (unix
/// seconds, a multiple of 60). The store checks it in the same conditional write as the
/// quota, so one write still enforces both. A bucket belongs to one organization (a key id
/// does): a store may keep the window with that organization's period counter (DynamoDB
/// does), so one bucket charged to two organizations or periods may be counted apart.
/// Windows only move forward: a charge stamped with an earlier minute than the bucket's
/// newest window (its clock read just before the minute turned) counts in the newest one.
/// A limit of 0 refuses every charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateWindow {
    pub bucket: String,
    pub window_start: i64,
    pub limit: u32,
}

impl RateWindow {
    /// Window length in seconds.
    pub const SECONDS: i64 = 60;

    /// The window of `bucket` containing unix time `now_secs`.
    pub fn containing(bucket: impl Into<String>, now_secs: i64, limit: u32) -> Self {
        RateWindow { bucket: bucket.into(), window_start: now_secs - now_secs.rem_euclid(Self::SECONDS), limit }
    }
}

/// What one metered call adds to its organization's period counter: `cost`, only if the new
/// total stays within `hard_limit` (None: no limit) and, when `rate` is set, its window has
/// room. The counter may be dropped after `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCharge {
    pub org_id: Id,
    pub period: PeriodKey,
    pub cost: u64,
    pub hard_limit: Option<u64>,
    pub expires_at: DateTime<Utc>,
    pub rate: Option<RateWindow>,
}

impl UsageCharge {
    /// The charge of a batch of calls of one organization and period: their total cost, to
    /// the counter of the first one's (`events` must not be empty).
    pub fn for_batch(
        events: &[UsageEvent],
        hard_limit: Option<u64>,
        expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Self {
        let first = &events[0];
        UsageCharge {
            org_id: first.org_id.clone(),
            period: first.period.clone(),
            cost: events.iter().map(|e| u64::from(e.cost_units)).sum(),
            hard_limit,
            expires_at,
            rate,
        }
    }

    /// The charge of a metered call: `event.cost_units` to the counter of (`event.org_id`,
    /// `event.period`).
    pub fn for_event(
        event: &UsageEvent,
        hard_limit: Option<u64>,
        expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Self {
        UsageCharge {
            org_id: event.org_id.clone(),
            period: event.period.clone(),
            cost: u64::from(event.cost_units),
            hard_limit,
            expires_at,
            rate,
        }
    }
}

/// One usage event for `UsageLog::record_usage_batch`, with the end of its log entry's
/// retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub event: UsageEvent,
    pub expires_at: DateTime<Utc>,
}

/// What recording an organization's usage events needs to know of it: how long its plan
/// keeps log entries, and whether its usage may be billed at the payment provider (then a
/// report of its metered units is asked for). The gateway knows both from the caller; the
/// usage worker reads them once per organization per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgUsageFacts {
    /// The plan's log retention.
    pub retention_days: u32,
    /// Whether the subscription is at the payment provider.
    pub paid_at_provider: bool,
}

impl OrgUsageFacts {
    /// The facts of an organization on `subscription` to `plan`.
    pub fn of(subscription: &crate::Subscription, plan: &crate::Plan) -> Self {
        OrgUsageFacts {
            retention_days: plan.retention_days,
            paid_at_provider: subscription.billing.provider_subscription_id.is_some(),
        }
    }

    /// `event` with the end of its log entry's retention.
    pub fn record(&self, event: UsageEvent) -> UsageRecord {
        let expires_at = event.timestamp + chrono::Duration::days(i64::from(self.retention_days));
        UsageRecord { event, expires_at }
    }
}

/// The latest call of each (organization, key) among `events`: what marks each key's last
/// use once per batch instead of once per call.
pub fn last_use_per_key<'a>(
    events: impl IntoIterator<Item = &'a UsageEvent>,
) -> std::collections::BTreeMap<(&'a Id, &'a Id), DateTime<Utc>> {
    let mut last_used = std::collections::BTreeMap::new();
    for e in events {
        let latest = last_used.entry((&e.org_id, &e.key_id)).or_insert(e.timestamp);
        *latest = (*latest).max(e.timestamp);
    }
    last_used
}

/// The hourly and daily aggregates of `events`, merged in memory: one per (organization, key,
/// endpoint, granularity, bucket), in a stable order. What a batch adds to the stored ones.
pub fn aggregates_of<'a>(events: impl IntoIterator<Item = &'a UsageEvent>) -> Vec<UsageAggregate> {
    let mut merged: std::collections::BTreeMap<(String, String, String, Granularity, i64), UsageAggregate> =
        std::collections::BTreeMap::new();
    for e in events {
        for granularity in [Granularity::Hour, Granularity::Day] {
            let bucket = granularity.bucket_start(e.timestamp).timestamp();
            let key = (
                e.org_id.as_str().to_string(),
                e.key_id.as_str().to_string(),
                e.endpoint_id.as_str().to_string(),
                granularity,
                bucket,
            );
            merged.entry(key).or_insert_with(|| UsageAggregate::empty_for(e, granularity)).add(e);
        }
    }
    merged.into_values().collect()
}

/// A quota threshold crossing, sent to the notifications queue once per threshold, period
/// and organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaAlert {
    pub id: String,
    pub org_id: Id,
    pub subscription_id: Id,
    pub period: PeriodKey,
    /// 80 or 100.
    pub threshold_percent: u8,
    pub used: u64,
    pub limit: u64,
    pub at: DateTime<Utc>,
}

/// The thresholds (percent) alerts are sent at.
pub const QUOTA_ALERT_THRESHOLDS: [u8; 2] = [80, 100];

impl QuotaAlert {
    /// The alert of `org_id`'s `period` at `threshold_percent`: its id is made of the three,
    /// so whoever notices the crossing first (the gateway's call or the `quota-alerts` job)
    /// raises the same alert.
    pub fn new(
        org_id: &Id,
        subscription_id: &Id,
        period: &PeriodKey,
        threshold_percent: u8,
        used: u64,
        limit: u64,
        at: DateTime<Utc>,
    ) -> QuotaAlert {
        QuotaAlert {
            id: format!("alert_{org_id}_{period}_{threshold_percent}"),
            org_id: org_id.clone(),
            subscription_id: subscription_id.clone(),
            period: period.clone(),
            threshold_percent,
            used,
            limit,
            at,
        }
    }
}

/// The usage at which `percent` of `limit` is reached (rounded up).
fn threshold_mark(limit: u64, percent: u8) -> u128 {
    // u128: `limit * p` must not overflow for limits near u64::MAX.
    (u128::from(limit) * u128::from(percent)).div_ceil(100)
}

/// Which thresholds (percent) `used` units have reached of `limit` (none for a limit of 0).
pub fn thresholds_reached(used: u64, limit: u64) -> Vec<u8> {
    QUOTA_ALERT_THRESHOLDS.into_iter().filter(|&p| limit > 0 && u128::from(used) >= threshold_mark(limit, p)).collect()
}

/// Which thresholds (percent) a call crossed going from `before` to `after` units.
pub fn thresholds_crossed(before: u64, after: u64, limit: u64) -> Vec<u8> {
    QUOTA_ALERT_THRESHOLDS
        .into_iter()
        .filter(|&p| {
            limit > 0 && u128::from(before) < threshold_mark(limit, p) && u128::from(after) >= threshold_mark(limit, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_text_is_serde_name;

    #[test]
    fn granularity_text_is_its_serde_name() {
        assert_text_is_serde_name::<Granularity>();
        assert_text_is_serde_name::<UsageSource>();
    }

    #[test]
    fn tracked_endpoint_ids_carry_method_and_path() {
        let id = tracked_endpoint_id(UsageSource::Track, "GET", "/users/{id}");
        assert_eq!(id.as_str(), "track:GET /users/{id}");
        assert_eq!(endpoint_label(&id), (UsageSource::Track, Some(("GET", "/users/{id}"))));
        assert_eq!(endpoint_label(&verify_endpoint_id()), (UsageSource::Verify, Some(("POST", "/api/v1/verify"))));
        assert_eq!(endpoint_label(&Id::from_string("ep_echo")), (UsageSource::Proxy, None));
    }

    #[test]
    fn events_queued_before_projects_still_parse() {
        let mut old = serde_json::to_value(event(200, 1)).unwrap();
        let fields = old.as_object_mut().unwrap();
        for f in ["project_id", "source", "metadata"] {
            fields.remove(f);
        }
        let parsed: UsageEvent = serde_json::from_value(old).unwrap();
        assert_eq!((parsed.project_id, parsed.source, parsed.metadata), (None, UsageSource::Proxy, None));
    }

    fn event(status: u16, latency: u32) -> UsageEvent {
        UsageEvent {
            id: "req_1".into(),
            org_id: Id::from_string("org_a"),
            key_id: Id::from_string("key_a"),
            project_id: None,
            source: UsageSource::Proxy,
            endpoint_id: Id::from_string("ep_echo"),
            method: "GET".into(),
            path: "/api/v1/echo/x".into(),
            status,
            latency_ms: latency,
            cost_units: 2,
            ip: None,
            timestamp: Utc::now(),
            period: PeriodKey::from_string("2026-11"),
            metadata: None,
        }
    }

    #[test]
    fn the_last_use_of_each_key_is_its_latest_call() {
        let t0 = Utc::now();
        let mut events: Vec<UsageEvent> = (0..3).map(|_| event(200, 1)).collect();
        events[0].timestamp = t0 + chrono::Duration::seconds(5);
        events[1].timestamp = t0;
        events[2].key_id = Id::from_string("key_b");
        events[2].timestamp = t0 - chrono::Duration::seconds(1);
        let last = last_use_per_key(&events);
        let (org, a, b) = (Id::from_string("org_a"), Id::from_string("key_a"), Id::from_string("key_b"));
        assert_eq!(last.len(), 2);
        assert_eq!(last[&(&org, &a)], t0 + chrono::Duration::seconds(5), "the latest, not the last seen");
        assert_eq!(last[&(&org, &b)], t0 - chrono::Duration::seconds(1));
    }

    #[test]
    fn aggregate_counts_and_quantiles() {
        let mut agg = UsageAggregate::empty_for(&event(200, 1), Granularity::Hour);
        for i in 0..100 {
            agg.add(&event(
                if i < 90 { 200 } else { 503 },
                if i < 50 {
                    3
                } else if i < 95 {
                    40
                } else {
                    900
                },
            ));
        }
        assert_eq!((agg.count, agg.cost_units, agg.status_2xx, agg.status_5xx), (100, 200, 90, 10));
        assert_eq!(agg.latency_quantile(0.5), Some(5));
        assert_eq!(agg.latency_quantile(0.95), Some(50));
        assert_eq!(agg.latency_quantile(0.99), Some(1000));
    }

    #[test]
    fn threshold_crossings_happen_once() {
        assert_eq!(thresholds_crossed(39, 40, 50), vec![80]);
        assert_eq!(thresholds_crossed(40, 41, 50), Vec::<u8>::new());
        assert_eq!(thresholds_crossed(49, 50, 50), vec![100]);
        assert_eq!(thresholds_crossed(0, 50, 50), vec![80, 100]);
        let crossings: usize = (0..60).map(|u| thresholds_crossed(u, u + 1, 50).len()).sum();
        assert_eq!(crossings, 2);
        let huge = u64::MAX / 2;
        assert_eq!(thresholds_crossed(0, 1, huge), Vec::<u8>::new());
        assert_eq!(thresholds_crossed(huge - 1, huge, huge), vec![100]);
        assert_eq!(thresholds_reached(39, 50), Vec::<u8>::new());
        assert_eq!(thresholds_reached(40, 50), vec![80]);
        assert_eq!(thresholds_reached(77, 50), vec![80, 100]);
        assert_eq!(thresholds_reached(77, 0), Vec::<u8>::new());
    }

    #[test]
    fn buckets() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(5), 0);
        assert_eq!(latency_bucket(6), 1);
        assert_eq!(latency_bucket(u32::MAX), LATENCY_BOUNDS_MS.len() - 1);
    }
}

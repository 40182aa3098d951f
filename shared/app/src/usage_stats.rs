//! Usage statistics read from usage aggregates (never from the logs): totals, error rates,
//! latency percentiles, per-endpoint rows and time series. Consumers get them over their
//! organization's aggregates (`/api/user/usage/...`), operators over the platform's
//! (`/api/admin/analytics/usage`); both answers have the same shape.

use crate::AppError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{btree_map, BTreeMap, HashMap};
use tollgate_domain::{endpoint_label, Endpoint, Granularity, Id, Store, UsageAggregate, UsageSource};
use utoipa::ToSchema;

pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// `part / whole` to four decimals; 0 when `whole` is 0.
pub fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round(part as f64 / whole as f64, 4)
    }
}

/// The mean latency of an aggregate's calls (one decimal); `None` without calls.
pub fn avg_latency_ms(a: &UsageAggregate) -> Option<f64> {
    (a.count > 0).then(|| round(a.latency_sum_ms as f64 / a.count as f64, 1))
}

/// The length of one bucket.
pub fn bucket_len(granularity: Granularity) -> Duration {
    match granularity {
        Granularity::Hour => Duration::hours(1),
        Granularity::Day => Duration::days(1),
    }
}

/// The start of the first bucket that starts at or after `t`.
pub fn first_bucket_from(granularity: Granularity, t: DateTime<Utc>) -> DateTime<Utc> {
    let start = granularity.bucket_start(t);
    if start < t {
        start + bucket_len(granularity)
    } else {
        start
    }
}

/// `aggregates` summed per `group`.
pub fn merged_by<K: Ord>(
    aggregates: &[UsageAggregate],
    group: impl Fn(&UsageAggregate) -> K,
) -> BTreeMap<K, UsageAggregate> {
    let mut merged: BTreeMap<K, UsageAggregate> = BTreeMap::new();
    for a in aggregates {
        match merged.entry(group(a)) {
            btree_map::Entry::Occupied(mut total) => total.get_mut().merge(a),
            btree_map::Entry::Vacant(slot) => {
                slot.insert(a.clone());
            }
        }
    }
    merged
}

/// `aggregates` summed into one; `None` when there are none.
pub fn total_of(aggregates: &[UsageAggregate]) -> Option<UsageAggregate> {
    merged_by(aggregates, |_| ()).remove(&())
}

/// Statistics of one endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointUsage {
    /// A catalog endpoint's id, or for tracked and verified calls `<source>:<METHOD> <path>`.
    pub endpoint_id: Id,
    /// How its calls reached us: `proxy` for a catalog endpoint.
    pub source: UsageSource,
    /// The catalog endpoint's name; `null` for a tracked or verified endpoint, and for a
    /// catalog endpoint deleted since.
    pub name: Option<String>,
    /// The catalog endpoint's, or the tracked or verified calls' method; `null` for a
    /// catalog endpoint deleted since.
    pub method: Option<String>,
    /// The catalog endpoint's path, or the endpoint the tracked or verified calls named;
    /// `null` for a catalog endpoint deleted since.
    pub path: Option<String>,
    pub count: u64,
    pub cost_units: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// (4xx + 5xx) / count, 0 to 1.
    pub error_rate: f64,
    pub avg_latency_ms: f64,
    /// Latency percentiles: upper bounds of histogram buckets, so never understated.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub p99_ms: Option<u32>,
}

/// Statistics per endpoint of `aggregates`, busiest first (ties by endpoint id); endpoints
/// without calls are left out. Catalog endpoints are described by `catalog`, tracked and
/// verified ones by their id ([`endpoint_label`]).
pub fn endpoint_rows(aggregates: &[UsageAggregate], catalog: &HashMap<Id, Endpoint>) -> Vec<EndpointUsage> {
    let mut rows: Vec<EndpointUsage> = merged_by(aggregates, |a| a.endpoint_id.clone())
        .into_iter()
        .filter(|(_, a)| a.count > 0)
        .map(|(id, a)| {
            let (source, tracked) = endpoint_label(&id);
            let (name, method, path) = match (tracked, catalog.get(&id)) {
                (Some((method, path)), _) => (None, Some(method.to_string()), Some(path.to_string())),
                (None, Some(ep)) => (Some(ep.name.clone()), Some(ep.method.clone()), Some(ep.path.clone())),
                (None, None) => (None, None, None),
            };
            EndpointUsage {
                source,
                name,
                method,
                path,
                count: a.count,
                cost_units: a.cost_units,
                status_2xx: a.status_2xx,
                status_4xx: a.status_4xx,
                status_5xx: a.status_5xx,
                error_rate: rate(a.status_4xx + a.status_5xx, a.count),
                avg_latency_ms: avg_latency_ms(&a).unwrap_or(0.0),
                p50_ms: a.latency_quantile(0.5),
                p95_ms: a.latency_quantile(0.95),
                p99_ms: a.latency_quantile(0.99),
                endpoint_id: id,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.endpoint_id.cmp(&b.endpoint_id)));
    rows
}

/// The endpoint catalog by id (to describe proxied endpoints).
pub async fn catalog(store: &dyn Store) -> Result<HashMap<Id, Endpoint>, AppError> {
    Ok(store.list_endpoints().await?.into_iter().map(|e| (e.id.clone(), e)).collect())
}

/// One bucket, summed over keys and endpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimeseriesPoint {
    pub bucket_start: DateTime<Utc>,
    pub count: u64,
    pub cost_units: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// 4xx + 5xx.
    pub errors: u64,
    /// `null` for an empty bucket.
    pub avg_latency_ms: Option<f64>,
    pub p95_ms: Option<u32>,
}

impl TimeseriesPoint {
    /// The point of the bucket starting at `bucket_start` whose calls `total` sums (`None`:
    /// an empty bucket).
    pub fn of(bucket_start: DateTime<Utc>, total: Option<&UsageAggregate>) -> Self {
        let sum = |field: fn(&UsageAggregate) -> u64| total.map_or(0, field);
        TimeseriesPoint {
            bucket_start,
            count: sum(|a| a.count),
            cost_units: sum(|a| a.cost_units),
            status_2xx: sum(|a| a.status_2xx),
            status_4xx: sum(|a| a.status_4xx),
            status_5xx: sum(|a| a.status_5xx),
            errors: sum(|a| a.status_4xx + a.status_5xx),
            avg_latency_ms: total.and_then(avg_latency_ms),
            p95_ms: total.and_then(|a| a.latency_quantile(0.95)),
        }
    }
}

/// One point per bucket of `granularity` from `first` (a bucket start) up to `to`, empty
/// buckets included, oldest first, each summing the `aggregates` of its bucket.
pub fn timeseries_points(
    aggregates: &[UsageAggregate],
    granularity: Granularity,
    first: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<TimeseriesPoint> {
    let buckets = merged_by(aggregates, |a| a.bucket_start);
    let step = bucket_len(granularity);
    let mut points = Vec::new();
    let mut t = first;
    while t < to {
        points.push(TimeseriesPoint::of(t, buckets.get(&t)));
        t += step;
    }
    points
}

/// Calls per way of reaching us.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallsBySource {
    /// Proxied by the gateway.
    pub proxy: u64,
    /// Reported with `POST /api/v1/track`.
    pub track: u64,
    /// Verified with `POST /api/v1/verify`.
    pub verify: u64,
}

impl CallsBySource {
    /// The calls of `aggregates` per source (read from their endpoint ids).
    pub fn of(aggregates: &[UsageAggregate]) -> Self {
        let mut calls = CallsBySource::default();
        for a in aggregates {
            *match endpoint_label(&a.endpoint_id).0 {
                UsageSource::Proxy => &mut calls.proxy,
                UsageSource::Track => &mut calls.track,
                UsageSource::Verify => &mut calls.verify,
            } += a.count;
        }
        calls
    }
}

/// The usage of the organization, or of one of its projects, over a range.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageAnalytics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The aggregates used: `hour` up to 31 days, `day` beyond (then only buckets starting
    /// in the range count, so the bounds are effectively whole UTC days).
    pub granularity: Granularity,
    /// The project asked for; `null` for the whole organization.
    pub project_id: Option<Id>,
    pub calls: u64,
    pub cost_units: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// 4xx / calls, 0 to 1 (0 without calls).
    pub error_rate_4xx: f64,
    /// 5xx / calls, 0 to 1 (0 without calls).
    pub error_rate_5xx: f64,
    /// (4xx + 5xx) / calls, 0 to 1 (0 without calls).
    pub error_rate: f64,
    /// `null` without calls.
    pub avg_latency_ms: Option<f64>,
    /// Latency percentiles: upper bounds of histogram buckets, so never understated;
    /// `null` without calls.
    pub p50_ms: Option<u32>,
    pub p95_ms: Option<u32>,
    pub p99_ms: Option<u32>,
    pub by_source: CallsBySource,
    /// The busiest endpoints, busiest first (at most `top`), as `/by-endpoint` gives them.
    pub top_endpoints: Vec<EndpointUsage>,
    /// One point per bucket of `granularity` starting in the range, empty ones included,
    /// oldest first, as `/timeseries` gives them.
    pub timeseries: Vec<TimeseriesPoint>,
}

impl UsageAnalytics {
    /// The analytics of `aggregates`, those of `granularity` with bucket start in `[from, to)`.
    pub fn of(
        aggregates: &[UsageAggregate],
        catalog: &HashMap<Id, Endpoint>,
        (from, to, granularity): (DateTime<Utc>, DateTime<Utc>, Granularity),
        project_id: Option<Id>,
        top: usize,
    ) -> Self {
        let total = total_of(aggregates);
        let sum = |field: fn(&UsageAggregate) -> u64| total.as_ref().map_or(0, field);
        let (calls, status_4xx, status_5xx) = (sum(|a| a.count), sum(|a| a.status_4xx), sum(|a| a.status_5xx));
        let quantile = |q: f64| total.as_ref().and_then(|a| a.latency_quantile(q));
        let mut top_endpoints = endpoint_rows(aggregates, catalog);
        top_endpoints.truncate(top);
        UsageAnalytics {
            from,
            to,
            granularity,
            project_id,
            calls,
            cost_units: sum(|a| a.cost_units),
            status_2xx: sum(|a| a.status_2xx),
            status_4xx,
            status_5xx,
            error_rate_4xx: rate(status_4xx, calls),
            error_rate_5xx: rate(status_5xx, calls),
            error_rate: rate(status_4xx + status_5xx, calls),
            avg_latency_ms: total.as_ref().and_then(avg_latency_ms),
            p50_ms: quantile(0.5),
            p95_ms: quantile(0.95),
            p99_ms: quantile(0.99),
            by_source: CallsBySource::of(aggregates),
            top_endpoints,
            timeseries: timeseries_points(aggregates, granularity, first_bucket_from(granularity, from), to),
        }
    }
}

/// Default and largest number of entries in a top list (endpoints, customers).
pub const DEFAULT_TOP: u32 = 10;
pub const MAX_TOP: u32 = 100;

/// The `top` of a statistics question: 1 to [`MAX_TOP`], [`DEFAULT_TOP`] when absent. The
/// error says what is wrong, for a 400 answer.
pub fn top_limit(top: Option<u32>) -> Result<u32, String> {
    match top.unwrap_or(DEFAULT_TOP) {
        n @ 1..=MAX_TOP => Ok(n),
        _ => Err(format!("top: must be 1 to {MAX_TOP}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_is_one_to_a_hundred() {
        assert_eq!(top_limit(None), Ok(10));
        assert_eq!(top_limit(Some(100)), Ok(100));
        assert!(top_limit(Some(0)).is_err());
        assert!(top_limit(Some(101)).is_err());
    }
}

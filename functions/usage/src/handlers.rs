//! Handlers of the usage route group. The organization always comes from the access token,
//! never from the request, so another tenant's usage cannot be asked for.

use crate::summary::UsageSummary;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tollgate_app::{current_subscription, PeriodUsage};
use tollgate_domain::{
    fold_leap_second, AggregateQuery, Granularity, Id, Period, UsageAggregate, UsageEvent, UsageLogQuery,
};
use tollgate_http::openapi::fields;
use tollgate_http::{page_limit, ApiError, ApiQuery, AppState, AuthUser, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// Longest range answered from hourly aggregates.
const MAX_HOURLY_DAYS: i64 = 31;
/// Longest range answered at all (from daily aggregates).
const MAX_DAILY_DAYS: i64 = 400;

/// Years a `from`/`to` may fall in (UTC). Ranges and buckets derived from them then stay
/// within the four-digit years an RFC 3339 answer can carry.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// `from`/`to` of a query string: an RFC 3339 timestamp (`2026-11-01T00:00:00Z`) or a date
/// (`2026-11-01`, midnight UTC), in the years 1970 to 9999. 400 `bad_request` otherwise.
fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        fold_leap_second(t.with_timezone(&Utc))
    } else if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        d.and_time(NaiveTime::MIN).and_utc()
    } else {
        return Err(ApiError::BadRequest(format!(
            "{field}: expected an RFC 3339 timestamp such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01"
        )));
    };
    if !YEARS.contains(&t.year()) {
        return Err(ApiError::BadRequest(format!("{field}: must be in the years 1970 to 9999 (UTC)")));
    }
    Ok(Some(t))
}

/// The range `[from, to)` of a statistics query. Without bounds: the current billing
/// period. With only `from`: up to the end of the current period (at most `max_days`).
/// With only `to`: from the start of the period (month) that `to` ends in.
fn resolve_range(
    now: DateTime<Utc>,
    from: Option<&str>,
    to: Option<&str>,
    max_days: i64,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let period = Period::containing(now);
    let (from, to) = match (parse_time("from", from)?, parse_time("to", to)?) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, period.end.min(f + Duration::days(max_days))),
        (None, Some(t)) => (Period::containing(t - Duration::milliseconds(1)).start, t),
        (None, None) => (period.start, period.end),
    };
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    if to - from > Duration::days(max_days) {
        return Err(ApiError::BadRequest(format!("the range may span at most {max_days} days")));
    }
    Ok((from, to))
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// The current period's usage against the plan.
#[utoipa::path(get, path = "/api/user/usage/summary", operation_id = "usage_summary", tag = "usage", security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage of the current billing period", body = UsageSummary),
    ))]
pub async fn summary(State(state): State<AppState>, auth: AuthUser) -> Result<Json<UsageSummary>, ApiError> {
    let now = state.now();
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    let period = Period::containing(now);
    let usage = PeriodUsage::load(state.store.as_ref(), &auth.org_id, &period, &plan).await?;
    Ok(Json(UsageSummary { period, plan_id: plan.id.clone(), plan_name: plan.name.clone(), usage }))
}

/// Filters of the call log. Every filter is optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailedQuery {
    /// Only calls made with this API key (an unknown id gives an empty page).
    pub key_id: Option<String>,
    /// Only calls to this endpoint.
    pub endpoint_id: Option<String>,
    /// Only calls answered with this HTTP status.
    #[param(minimum = 0, maximum = 65535)]
    pub status: Option<u16>,
    /// Inclusive lower bound: RFC 3339 timestamp or `YYYY-MM-DD`; not after `to`.
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive upper bound: RFC 3339 timestamp or `YYYY-MM-DD`.
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of the call log, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageLogPage {
    pub data: Vec<UsageEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The call log (kept for the plan's retention period), newest first.
#[utoipa::path(get, path = "/api/user/usage/detailed", operation_id = "usage_detailed", tag = "usage", security(("bearer" = [])),
    params(DetailedQuery),
    responses(
        (status = 200, description = "One page of calls", body = UsageLogPage),
        (status = 400, description = "`bad_request`: a malformed timestamp, limit or cursor, or `from` after `to`", body = ErrorBody),
    ))]
pub async fn detailed(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<DetailedQuery>,
) -> Result<Json<UsageLogPage>, ApiError> {
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::BadRequest("from must not be after to".into()));
        }
    }
    let limit = page_limit(q.limit, UsageLogQuery::PAGE)?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let query = UsageLogQuery {
        org_id: Some(auth.org_id.clone()),
        project_id: None,
        source: None,
        key_id: nonempty(q.key_id).map(Id::from_string),
        endpoint_id: nonempty(q.endpoint_id).map(Id::from_string),
        status: q.status,
        from,
        to,
        limit,
        cursor: nonempty(q.cursor),
    };
    // A cursor the store never issued is `InvalidCursor`: 400 `bad_request`.
    let (data, next_cursor) = state.store.query_usage(&query, state.now()).await?;
    Ok(Json(UsageLogPage { data, next_cursor }))
}

/// A statistics range. Without bounds: the current billing period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Inclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: start of the current period).
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: end of the current period).
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
}

/// Statistics of one endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointUsage {
    pub endpoint_id: Id,
    /// `null` when the endpoint has been deleted since.
    pub name: Option<String>,
    pub method: Option<String>,
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointUsageList {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The aggregates used: `hour` up to 31 days, `day` beyond (then only buckets starting
    /// in the range count, so the bounds are effectively whole UTC days).
    pub granularity: Granularity,
    /// Busiest endpoint first.
    pub data: Vec<EndpointUsage>,
}

/// Calls per endpoint over a range (at most 400 days; default: the current period).
#[utoipa::path(get, path = "/api/user/usage/by-endpoint", operation_id = "usage_by_endpoint", tag = "usage", security(("bearer" = [])),
    params(RangeQuery),
    responses(
        (status = 200, description = "Statistics per endpoint", body = EndpointUsageList),
        (status = 400, description = "`bad_request`: a malformed timestamp, or a range that is empty or longer than 400 days", body = ErrorBody),
    ))]
pub async fn by_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<EndpointUsageList>, ApiError> {
    let (from, to) = resolve_range(state.now(), q.from.as_deref(), q.to.as_deref(), MAX_DAILY_DAYS)?;
    let granularity = if to - from <= Duration::days(MAX_HOURLY_DAYS) { Granularity::Hour } else { Granularity::Day };
    let aggregates =
        state.store.usage_aggregates(&AggregateQuery { org_id: auth.org_id.clone(), granularity, from, to }).await?;
    let mut per_endpoint: BTreeMap<Id, UsageAggregate> = BTreeMap::new();
    for a in aggregates {
        match per_endpoint.get_mut(&a.endpoint_id) {
            Some(total) => total.merge(&a),
            None => {
                per_endpoint.insert(a.endpoint_id.clone(), a);
            }
        }
    }
    let endpoints: HashMap<Id, tollgate_domain::Endpoint> =
        state.store.list_endpoints().await?.into_iter().map(|e| (e.id.clone(), e)).collect();
    let mut data: Vec<EndpointUsage> = per_endpoint
        .into_iter()
        .filter(|(_, a)| a.count > 0)
        .map(|(id, a)| {
            let ep = endpoints.get(&id);
            EndpointUsage {
                name: ep.map(|e| e.name.clone()),
                method: ep.map(|e| e.method.clone()),
                path: ep.map(|e| e.path.clone()),
                count: a.count,
                cost_units: a.cost_units,
                status_2xx: a.status_2xx,
                status_4xx: a.status_4xx,
                status_5xx: a.status_5xx,
                error_rate: round((a.status_4xx + a.status_5xx) as f64 / a.count as f64, 4),
                avg_latency_ms: round(a.latency_sum_ms as f64 / a.count as f64, 1),
                p50_ms: a.latency_quantile(0.5),
                p95_ms: a.latency_quantile(0.95),
                p99_ms: a.latency_quantile(0.99),
                endpoint_id: id,
            }
        })
        .collect();
    data.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.endpoint_id.cmp(&b.endpoint_id)));
    Ok(Json(EndpointUsageList { from, to, granularity, data }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// `hour` (range at most 31 days) or `day` (at most 400 days; the default).
    pub granularity: Option<Granularity>,
    /// Inclusive, rounded down to its bucket: RFC 3339 timestamp or `YYYY-MM-DD`
    /// (default: start of the current period).
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: end of the current period).
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageTimeseries {
    pub granularity: Granularity,
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Every bucket of the range, empty ones included, oldest first.
    pub data: Vec<TimeseriesPoint>,
}

/// Calls over time, one point per hour or day (default: daily over the current period).
#[utoipa::path(get, path = "/api/user/usage/timeseries", operation_id = "usage_timeseries", tag = "usage", security(("bearer" = [])),
    params(TimeseriesQuery),
    responses(
        (status = 200, description = "The series, oldest first", body = UsageTimeseries),
        (status = 400, description = "`bad_request`: a malformed timestamp or granularity, or a range that is empty or too long (31 days hourly, 400 daily)", body = ErrorBody),
    ))]
pub async fn timeseries(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<TimeseriesQuery>,
) -> Result<Json<UsageTimeseries>, ApiError> {
    let granularity = q.granularity.unwrap_or(Granularity::Day);
    let max_days = match granularity {
        Granularity::Hour => MAX_HOURLY_DAYS,
        Granularity::Day => MAX_DAILY_DAYS,
    };
    let (from, to) = resolve_range(state.now(), q.from.as_deref(), q.to.as_deref(), max_days)?;
    let from = granularity.bucket_start(from);
    let aggregates =
        state.store.usage_aggregates(&AggregateQuery { org_id: auth.org_id.clone(), granularity, from, to }).await?;
    let mut buckets: BTreeMap<DateTime<Utc>, UsageAggregate> = BTreeMap::new();
    for a in aggregates {
        match buckets.get_mut(&a.bucket_start) {
            Some(total) => total.merge(&a),
            None => {
                buckets.insert(a.bucket_start, a);
            }
        }
    }
    let step = match granularity {
        Granularity::Hour => Duration::hours(1),
        Granularity::Day => Duration::days(1),
    };
    let mut data = Vec::new();
    let mut t = from;
    while t < to {
        data.push(match buckets.get(&t) {
            Some(a) => TimeseriesPoint {
                bucket_start: t,
                count: a.count,
                cost_units: a.cost_units,
                status_2xx: a.status_2xx,
                status_4xx: a.status_4xx,
                status_5xx: a.status_5xx,
                errors: a.status_4xx + a.status_5xx,
                avg_latency_ms: (a.count > 0).then(|| round(a.latency_sum_ms as f64 / a.count as f64, 1)),
                p95_ms: a.latency_quantile(0.95),
            },
            None => TimeseriesPoint {
                bucket_start: t,
                count: 0,
                cost_units: 0,
                status_2xx: 0,
                status_4xx: 0,
                status_5xx: 0,
                errors: 0,
                avg_latency_ms: None,
                p95_ms: None,
            },
        });
        t += step;
    }
    Ok(Json(UsageTimeseries { granularity, from, to, data }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ranges() {
        let now = Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap();
        let (f, t) = resolve_range(now, None, None, 31).unwrap();
        assert_eq!(
            (f, t),
            (Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
        let (f, _) = resolve_range(now, None, Some("2026-10-31"), 31).unwrap();
        assert_eq!(f, Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap());
        let (_, t) = resolve_range(now, Some("2026-11-20T00:00:00Z"), None, 31).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert!(matches!(resolve_range(now, Some("yesterday"), None, 31), Err(ApiError::BadRequest(_))));
        assert!(matches!(resolve_range(now, Some("2026-01-01"), Some("2026-03-01"), 31), Err(ApiError::BadRequest(_))));
        assert!(matches!(resolve_range(now, Some("2026-03-01"), Some("2026-03-01"), 31), Err(ApiError::BadRequest(_))));
        assert!(resolve_range(now, Some("2026-01-01T00:00:00+02:00"), Some("2026-01-31"), 31).is_ok());
    }

    /// The forms the spec's `from`/`to` pattern (`fields::time_bound`) allows all parse.
    #[test]
    fn documented_time_forms_parse() {
        for raw in [
            "2026-11-01",
            " 2026-11-01 ",
            "2026-11-01T00:00:00Z",
            "2026-11-01t23:59:59.123456z",
            "2026-11-01 12:00:00+01:00",
            "2026-11-01T12:00:00-23:59",
            "2026-06-30T23:59:60Z",
        ] {
            assert!(parse_time("from", Some(raw)).is_ok_and(|t| t.is_some()), "{raw}");
        }
        assert_eq!(parse_time("from", Some("  ")).unwrap(), None);
        for outside in ["1969-12-31T23:59:59Z", "0000-01-01", "9999-12-31T23:00:00-05:00", "-0001-01-01"] {
            assert!(matches!(parse_time("to", Some(outside)), Err(ApiError::BadRequest(_))), "{outside}");
        }
    }
}

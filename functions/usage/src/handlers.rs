//! Handlers of the usage route group. The organization always comes from the access token,
//! never from the request, so another tenant's usage cannot be asked for; a `project_id`
//! filter narrows it to one of that organization's projects.
//!
//! Aggregates are kept per (organization, key, endpoint, bucket): a project's statistics are
//! the aggregates of its keys, and every statistic below is folded from aggregates by the
//! application layer's functions (`tollgate_app::usage_stats`), which the admin's platform
//! analytics share.

use crate::summary::{ProjectUsage, UsageSummary};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tollgate_app::usage_stats::{
    catalog, endpoint_rows, timeseries_points, total_of, EndpointUsage, TimeseriesPoint, UsageAnalytics,
};
use tollgate_app::{current_subscription, PeriodUsage};
use tollgate_domain::{
    AggregateQuery, ApiKey, Granularity, Id, Period, Project, Store, UsageAggregate, UsageEvent, UsageLogQuery,
    UsageSource,
};
use tollgate_http::extract::parse_time;
use tollgate_http::openapi::fields;
use tollgate_http::{page_limit, ApiError, ApiQuery, AppState, AuthUser, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// Longest range answered from hourly aggregates.
const MAX_HOURLY_DAYS: i64 = 31;
/// Longest range answered at all (from daily aggregates).
const MAX_DAILY_DAYS: i64 = 400;

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

/// The range of a statistics query read from aggregates of whatever size fits (by-endpoint,
/// analytics): the range as [`resolve_range`] gives it (at most 400 days), with `hour`
/// aggregates up to 31 days and `day` beyond.
fn stats_range(
    now: DateTime<Utc>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, Granularity), ApiError> {
    let (from, to) = resolve_range(now, from, to, MAX_DAILY_DAYS)?;
    let granularity = if to - from <= Duration::days(MAX_HOURLY_DAYS) { Granularity::Hour } else { Granularity::Day };
    Ok((from, to, granularity))
}

/// The project of a `project_id` filter: `None` when the filter is absent or blank, else the
/// id if it is one of the organization's projects. Its default project is known without a
/// lookup (`Project::default_id`, it may not be stored yet); any other is looked up. 404
/// `not_found` for an id that cannot be a project's and for one that is not the
/// organization's (another organization's project looks the same as none).
async fn project_filter(store: &dyn Store, org_id: &Id, raw: Option<&str>) -> Result<Option<Id>, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let not_found = || ApiError::NotFound("project".into());
    let id = Project::parse_id(raw).ok_or_else(not_found)?;
    if tollgate_app::is_project_of(store, org_id, &id).await? {
        Ok(Some(id))
    } else {
        Err(not_found())
    }
}

/// The aggregates made with keys of `project` (of `keys`, the organization's keys: revoked
/// ones included, as their calls still count).
fn only_project_keys(aggregates: Vec<UsageAggregate>, keys: &[ApiKey], project: &Id) -> Vec<UsageAggregate> {
    let project_keys: HashSet<&Id> = keys.iter().filter(|k| &k.project_id == project).map(|k| &k.id).collect();
    aggregates.into_iter().filter(|a| project_keys.contains(&a.key_id)).collect()
}

/// The organization's aggregates of `granularity` with bucket start in `[from, to)`; with a
/// project, only those of its keys (the organization's keys are listed once, alongside).
async fn scoped_aggregates(
    store: &dyn Store,
    org_id: &Id,
    project: Option<&Id>,
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageAggregate>, ApiError> {
    let query = AggregateQuery { org_id: org_id.clone(), granularity, from, to };
    let Some(project) = project else {
        return Ok(store.usage_aggregates(&query).await?);
    };
    let (aggregates, keys) = tokio::try_join!(store.usage_aggregates(&query), store.list_api_keys(org_id))?;
    Ok(only_project_keys(aggregates, &keys, project))
}

/// Query of the summary.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Also give this project's own calls and cost units of the period (`project`).
    pub project_id: Option<String>,
}

/// The current period's usage against the plan. The quota is the organization's: `used`
/// and `limit` do not depend on `project_id`.
#[utoipa::path(get, path = "/api/user/usage/summary", operation_id = "usage_summary", tag = "usage", security(("bearer" = [])),
    params(SummaryQuery),
    responses(
        (status = 200, description = "Usage of the current billing period", body = UsageSummary),
        (status = 404, description = "`not_found`: `project_id` is not a project of the organization", body = ErrorBody),
    ))]
pub async fn summary(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Json<UsageSummary>, ApiError> {
    let now = state.now();
    let store = state.store.as_ref();
    let project = project_filter(store, &auth.org_id, q.project_id.as_deref()).await?;
    let (_, plan) = current_subscription(store, &auth.org_id, now).await?;
    let period = Period::containing(now);
    let usage = PeriodUsage::load(store, &auth.org_id, &period, &plan).await?;
    let project = match project {
        Some(project_id) => {
            // Periods are whole UTC days: the daily aggregates cover one exactly.
            let aggregates =
                scoped_aggregates(store, &auth.org_id, Some(&project_id), Granularity::Day, period.start, period.end)
                    .await?;
            let total = total_of(&aggregates);
            Some(ProjectUsage {
                project_id,
                calls: total.as_ref().map_or(0, |t| t.count),
                cost_units: total.as_ref().map_or(0, |t| t.cost_units),
            })
        }
        None => None,
    };
    Ok(Json(UsageSummary { period, plan_id: plan.id.clone(), plan_name: plan.name.clone(), usage, project }))
}

/// Filters of the call log. Every filter is optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailedQuery {
    /// Only calls made with keys of this project.
    pub project_id: Option<String>,
    /// Only calls that reached us this way.
    pub source: Option<UsageSource>,
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
        (status = 400, description = "`bad_request`: a malformed timestamp, source, limit or cursor, or `from` after `to`", body = ErrorBody),
        (status = 404, description = "`not_found`: `project_id` is not a project of the organization", body = ErrorBody),
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
    let project_id = project_filter(state.store.as_ref(), &auth.org_id, q.project_id.as_deref()).await?;
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let query = UsageLogQuery {
        org_id: Some(auth.org_id.clone()),
        project_id,
        source: q.source,
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

/// A statistics range of the organization or one of its projects. Without bounds: the
/// current billing period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Only calls made with keys of this project.
    pub project_id: Option<String>,
    /// Inclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: start of the current period).
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: end of the current period).
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
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
        (status = 404, description = "`not_found`: `project_id` is not a project of the organization", body = ErrorBody),
    ))]
pub async fn by_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<EndpointUsageList>, ApiError> {
    let store = state.store.as_ref();
    let (from, to, granularity) = stats_range(state.now(), q.from.as_deref(), q.to.as_deref())?;
    let project = project_filter(store, &auth.org_id, q.project_id.as_deref()).await?;
    let aggregates = scoped_aggregates(store, &auth.org_id, project.as_ref(), granularity, from, to).await?;
    let data = endpoint_rows(&aggregates, &catalog(store).await?);
    Ok(Json(EndpointUsageList { from, to, granularity, data }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimeseriesQuery {
    /// Only calls made with keys of this project.
    pub project_id: Option<String>,
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
        (status = 404, description = "`not_found`: `project_id` is not a project of the organization", body = ErrorBody),
    ))]
pub async fn timeseries(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<TimeseriesQuery>,
) -> Result<Json<UsageTimeseries>, ApiError> {
    let store = state.store.as_ref();
    let granularity = q.granularity.unwrap_or(Granularity::Day);
    let max_days = match granularity {
        Granularity::Hour => MAX_HOURLY_DAYS,
        Granularity::Day => MAX_DAILY_DAYS,
    };
    let (from, to) = resolve_range(state.now(), q.from.as_deref(), q.to.as_deref(), max_days)?;
    let from = granularity.bucket_start(from);
    let project = project_filter(store, &auth.org_id, q.project_id.as_deref()).await?;
    let aggregates = scoped_aggregates(store, &auth.org_id, project.as_ref(), granularity, from, to).await?;
    let data = timeseries_points(&aggregates, granularity, from, to);
    Ok(Json(UsageTimeseries { granularity, from, to, data }))
}

/// The analytics of the organization or one of its projects over a range. Without bounds:
/// the current billing period.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Only calls made with keys of this project.
    pub project_id: Option<String>,
    /// Inclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: start of the current period).
    #[param(schema_with = fields::time_bound)]
    pub from: Option<String>,
    /// Exclusive: RFC 3339 timestamp or `YYYY-MM-DD` (default: end of the current period).
    #[param(schema_with = fields::time_bound)]
    pub to: Option<String>,
    /// How many endpoints `top_endpoints` lists at most, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub top: Option<u32>,
}

/// The `top` of an analytics query: 1 to 100, 10 when absent. 400 `bad_request` otherwise.
fn top_endpoints_limit(top: Option<u32>) -> Result<usize, ApiError> {
    tollgate_app::usage_stats::top_limit(top).map(|n| n as usize).map_err(ApiError::BadRequest)
}

/// Totals, error rates, latency, calls per source, the busiest endpoints and the series of
/// the organization or one of its projects, in one answer (at most 400 days; default: the
/// current period).
#[utoipa::path(get, path = "/api/user/usage/analytics", operation_id = "usage_analytics", tag = "usage", security(("bearer" = [])),
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "The analytics of the range", body = UsageAnalytics),
        (status = 400, description = "`bad_request`: a malformed timestamp or `top`, or a range that is empty or longer than 400 days", body = ErrorBody),
        (status = 404, description = "`not_found`: `project_id` is not a project of the organization", body = ErrorBody),
    ))]
pub async fn analytics(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<UsageAnalytics>, ApiError> {
    let store = state.store.as_ref();
    let range @ (from, to, granularity) = stats_range(state.now(), q.from.as_deref(), q.to.as_deref())?;
    let top = top_endpoints_limit(q.top)?;
    let project = project_filter(store, &auth.org_id, q.project_id.as_deref()).await?;
    let aggregates = scoped_aggregates(store, &auth.org_id, project.as_ref(), granularity, from, to).await?;
    Ok(Json(UsageAnalytics::of(&aggregates, &catalog(store).await?, range, project, top)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Timelike};
    use std::collections::HashMap;
    use tollgate_app::usage_stats::{first_bucket_from, merged_by, round, CallsBySource};
    use tollgate_domain::{aggregates_of, tracked_endpoint_id, verify_endpoint_id, PeriodKey};
    use tollgate_domain::{endpoint_label, Endpoint};

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0).unwrap()
    }

    /// A call of key `key` to `endpoint` at `when`.
    fn call(key: &str, endpoint: &Id, when: DateTime<Utc>, status: u16, latency_ms: u32) -> UsageEvent {
        UsageEvent {
            id: Id::generate("req").to_string(),
            org_id: Id::from_string("org_a"),
            key_id: Id::from_string(key),
            project_id: None,
            source: endpoint_label(endpoint).0,
            endpoint_id: endpoint.clone(),
            method: "GET".into(),
            path: "/x".into(),
            status,
            latency_ms,
            cost_units: 2,
            ip: None,
            timestamp: when,
            period: PeriodKey::from_string("2026-11"),
            metadata: None,
        }
    }

    /// The hourly aggregates of `calls`, as the store keeps them.
    fn hourly(calls: &[UsageEvent]) -> Vec<UsageAggregate> {
        aggregates_of(calls).into_iter().filter(|a| a.granularity == Granularity::Hour).collect()
    }

    fn key_of(id: &str, project: &Id) -> ApiKey {
        ApiKey {
            id: Id::from_string(id),
            org_id: Id::from_string("org_a"),
            project_id: project.clone(),
            created_by: Id::from_string("usr_a"),
            name: id.into(),
            display_prefix: "sk_live_abcd".into(),
            last4: "wxyz".into(),
            created_at: at(1, 0, 0),
            last_used_at: None,
            expires_at: None,
            revoked_at: Some(at(2, 0, 0)),
            rotated_at: None,
            scopes: None,
        }
    }

    fn echo() -> Id {
        Id::from_string("ep_echo")
    }

    fn users() -> Id {
        tracked_endpoint_id(UsageSource::Track, "GET", "/users/{id}")
    }

    fn echo_catalog() -> HashMap<Id, Endpoint> {
        HashMap::from([(echo(), Endpoint::default_echo(at(1, 0, 0)))])
    }

    #[test]
    fn endpoint_rows_carry_their_source_and_come_busiest_first() {
        let gone = Id::from_string("ep_gone");
        let mut calls = Vec::new();
        for (endpoint, n) in [(echo(), 3), (users(), 3), (gone.clone(), 2), (verify_endpoint_id(), 1)] {
            calls.extend((0..n).map(|i| call("key_a", &endpoint, at(3, 10 + i, 0), 200, 20)));
        }
        let rows = endpoint_rows(&hourly(&calls), &echo_catalog());
        let ids: Vec<&str> = rows.iter().map(|r| r.endpoint_id.as_str()).collect();
        // A tie is broken by id: `ep_echo` before `track:...`.
        assert_eq!(ids, ["ep_echo", "track:GET /users/{id}", "ep_gone", "verify:POST /api/v1/verify"]);
        let label = |r: &EndpointUsage| (r.source, r.name.clone(), r.method.clone(), r.path.clone());
        let some = |s: &str| Some(s.to_string());
        assert_eq!(label(&rows[0]), (UsageSource::Proxy, some("echo"), some("GET"), some("/echo/{*rest}")));
        assert_eq!(label(&rows[1]), (UsageSource::Track, None, some("GET"), some("/users/{id}")));
        assert_eq!(label(&rows[2]), (UsageSource::Proxy, None, None, None), "deleted from the catalog since");
        assert_eq!(label(&rows[3]), (UsageSource::Verify, None, some("POST"), some("/api/v1/verify")));
        assert_eq!((rows[0].count, rows[0].cost_units, rows[0].avg_latency_ms), (3, 6, 20.0));
    }

    #[test]
    fn timeseries_points_cover_every_bucket() {
        let calls = [
            call("key_a", &echo(), at(3, 10, 5), 200, 4),
            call("key_b", &users(), at(3, 10, 50), 404, 8),
            call("key_a", &echo(), at(3, 12, 0), 503, 30),
        ];
        let points = timeseries_points(&hourly(&calls), Granularity::Hour, at(3, 9, 0), at(3, 13, 0));
        let starts: Vec<u32> = points.iter().map(|p| p.bucket_start.hour()).collect();
        assert_eq!(starts, [9, 10, 11, 12]);
        let counts: Vec<(u64, u64, u64)> = points.iter().map(|p| (p.count, p.errors, p.cost_units)).collect();
        assert_eq!(counts, [(0, 0, 0), (2, 1, 4), (0, 0, 0), (1, 1, 2)]);
        assert_eq!((points[1].avg_latency_ms, points[1].p95_ms), (Some(6.0), Some(10)));
        assert_eq!((points[2].avg_latency_ms, points[2].p95_ms), (None, None));
        assert_eq!(points[3].status_5xx, 1);
    }

    #[test]
    fn a_project_counts_the_aggregates_of_its_keys() {
        let (web, mobile) = (Id::from_string("prj_web"), Id::from_string("prj_mobile"));
        let keys = [key_of("key_w1", &web), key_of("key_m1", &mobile), key_of("key_w2", &web)];
        let calls: Vec<UsageEvent> = ["key_w1", "key_m1", "key_w2", "key_w2", "key_unknown"]
            .iter()
            .map(|k| call(k, &echo(), at(3, 10, 0), 200, 1))
            .collect();
        let count =
            |project: &Id| only_project_keys(hourly(&calls), &keys, project).iter().map(|a| a.count).sum::<u64>();
        assert_eq!(count(&web), 3, "revoked keys included");
        assert_eq!(count(&mobile), 1);
        assert_eq!(count(&Id::from_string("prj_other")), 0);
    }

    #[test]
    fn calls_by_source_read_the_endpoint_ids() {
        let calls = [
            call("key_a", &echo(), at(3, 10, 0), 200, 1),
            call("key_a", &users(), at(3, 10, 0), 200, 1),
            call("key_a", &users(), at(3, 11, 0), 200, 1),
            call("key_a", &verify_endpoint_id(), at(3, 10, 0), 401, 1),
        ];
        assert_eq!(CallsBySource::of(&hourly(&calls)), CallsBySource { proxy: 1, track: 2, verify: 1 });
    }

    #[test]
    fn analytics_totals_rates_and_percentiles() {
        // 10 calls: 7 2xx, 2 4xx, 1 5xx; latencies 3 ms x5, 40 ms x4, 900 ms x1.
        let mut calls = Vec::new();
        for i in 0..10u32 {
            let status = match i {
                0..=6 => 200,
                7 | 8 => 429,
                _ => 500,
            };
            let latency = match i {
                0..=4 => 3,
                5..=8 => 40,
                _ => 900,
            };
            let endpoint = if i % 2 == 0 { echo() } else { users() };
            calls.push(call("key_a", &endpoint, at(3, 10 + i % 3, 0), status, latency));
        }
        calls.push(call("key_a", &verify_endpoint_id(), at(3, 12, 30), 200, 3));
        let range = (at(3, 9, 30), at(3, 14, 0), Granularity::Hour);
        let project = Some(Id::from_string("prj_web"));
        let a = UsageAnalytics::of(&hourly(&calls), &echo_catalog(), range, project.clone(), 2);
        assert_eq!((a.calls, a.cost_units, a.status_2xx, a.status_4xx, a.status_5xx), (11, 22, 8, 2, 1));
        assert_eq!((a.error_rate_4xx, a.error_rate_5xx, a.error_rate), (0.1818, 0.0909, 0.2727));
        assert_eq!(a.avg_latency_ms, Some(round((5.0 * 3.0 + 4.0 * 40.0 + 900.0 + 3.0) / 11.0, 1)));
        assert_eq!((a.p50_ms, a.p95_ms, a.p99_ms), (Some(5), Some(1000), Some(1000)));
        assert_eq!(a.by_source, CallsBySource { proxy: 5, track: 5, verify: 1 });
        assert_eq!(a.project_id, project);
        let top: Vec<(&str, u64)> = a.top_endpoints.iter().map(|e| (e.endpoint_id.as_str(), e.count)).collect();
        assert_eq!(top, [("ep_echo", 5), ("track:GET /users/{id}", 5)], "at most `top`");
        // The series starts at the first bucket starting in the range (10:00, not 09:00).
        let series: Vec<(u32, u64)> = a.timeseries.iter().map(|p| (p.bucket_start.hour(), p.count)).collect();
        assert_eq!(series, [(10, 4), (11, 3), (12, 4), (13, 0)]);

        let empty = UsageAnalytics::of(&[], &echo_catalog(), range, None, 10);
        assert_eq!((empty.calls, empty.error_rate, empty.avg_latency_ms, empty.p50_ms), (0, 0.0, None, None));
        assert!(empty.top_endpoints.is_empty());
        assert_eq!(empty.timeseries.len(), 4);
    }

    #[test]
    fn top_is_one_to_a_hundred() {
        assert_eq!(top_endpoints_limit(None).unwrap(), 10);
        assert_eq!(top_endpoints_limit(Some(1)).unwrap(), 1);
        assert_eq!(top_endpoints_limit(Some(100)).unwrap(), 100);
        for bad in [0, 101] {
            assert!(matches!(top_endpoints_limit(Some(bad)), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn buckets_and_stats_ranges() {
        assert_eq!(first_bucket_from(Granularity::Hour, at(3, 9, 30)), at(3, 10, 0));
        assert_eq!(first_bucket_from(Granularity::Hour, at(3, 9, 0)), at(3, 9, 0));
        assert_eq!(first_bucket_from(Granularity::Day, at(3, 0, 1)), at(4, 0, 0));
        let now = at(15, 12, 0);
        assert_eq!(
            stats_range(now, None, None).unwrap(),
            (at(1, 0, 0), at(1, 0, 0) + Duration::days(30), Granularity::Hour)
        );
        let (_, _, g) = stats_range(now, Some("2026-01-01"), Some("2026-02-01")).unwrap();
        assert_eq!(g, Granularity::Hour, "31 days");
        let (_, _, g) = stats_range(now, Some("2026-01-01"), Some("2026-02-02")).unwrap();
        assert_eq!(g, Granularity::Day);
        assert!(matches!(stats_range(now, Some("2025-01-01"), Some("2026-02-06")), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn merged_by_sums_each_group() {
        let calls = [
            call("key_a", &echo(), at(3, 10, 0), 200, 1),
            call("key_b", &echo(), at(3, 10, 0), 500, 1),
            call("key_a", &users(), at(3, 11, 0), 200, 1),
        ];
        let per_endpoint = merged_by(&hourly(&calls), |a| a.endpoint_id.clone());
        assert_eq!((per_endpoint[&echo()].count, per_endpoint[&echo()].status_5xx), (2, 1));
        assert_eq!(per_endpoint[&users()].count, 1);
        assert_eq!(total_of(&hourly(&calls)).map(|t| t.count), Some(3));
        assert_eq!(total_of(&[]), None);
    }

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

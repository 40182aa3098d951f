//! `/api/admin/analytics/...` and `/api/admin/reports/revenue`: revenue analytics from the
//! revenue ledger and the billing records, and signups, usage and top customers from the
//! daily metrics rollup. The figures and their definitions are the app layer's
//! (`tollgate_app::analytics`, `tollgate_app::platform_analytics`); these handlers parse the
//! range and render.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::analytics::{self as app, ChurnSeries, MrrSeries, RevenueReportRow, RevenueSeries};
use tollgate_app::platform_analytics::{self as platform, DayRange, TopCustomers, UsersAnalytics};
use tollgate_app::usage_stats::UsageAnalytics;
use tollgate_domain::Period;
use tollgate_http::{AdminUser, ApiError, ApiQuery, AppState, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// The months of an analytics question.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthRange {
    /// First month, `YYYY-MM` (UTC). Default: 11 months before `to`.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub from: Option<String>,
    /// Last month, included, `YYYY-MM`. Default: 11 months after `from`, or this month. At
    /// most 36 months in all.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub to: Option<String>,
}

impl MonthRange {
    /// The months, or 400 `bad_request` saying what is wrong.
    fn months(&self, state: &AppState) -> Result<Vec<Period>, ApiError> {
        app::month_range(self.from.as_deref(), self.to.as_deref(), state.now()).map_err(ApiError::BadRequest)
    }
}

/// The range answered, `YYYY-MM` both.
fn range_of(months: &[Period]) -> (String, String) {
    let first = months.first().map(|m| m.key.to_string()).unwrap_or_default();
    let last = months.last().map(|m| m.key.to_string()).unwrap_or_default();
    (first, last)
}

/// MRR now and its movements per month, one entry per currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MrrAnalytics {
    pub from: String,
    pub to: String,
    pub data: Vec<MrrSeries>,
}

/// MRR and ARR now, and per month the MRR movements: new, reactivation, expansion,
/// contraction, churned, net and the MRR at the month's end (integer minor units, per
/// currency). Each organization's MRR at a month's start is compared with its end: 0 -> x new
/// (reactivation if it paid before), growth expansion, shrinking contraction, x -> 0 churned.
/// A subscription an admin assigned without Stripe counts at its plan's price.
#[utoipa::path(get, path = "/api/admin/analytics/mrr", operation_id = "admin_analytics_mrr", tag = "admin", security(("bearer" = [])),
    params(MonthRange),
    responses(
        (status = 200, description = "MRR now and per month", body = MrrAnalytics),
        (status = 400, description = "`bad_request`: a month that is not `YYYY-MM`, `from` after `to`, or more than 36 months", body = ErrorBody),
    ))]
pub async fn mrr(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<MonthRange>,
) -> Result<Json<MrrAnalytics>, ApiError> {
    let months = q.months(&state)?;
    let data = app::mrr(state.store.as_ref(), &months, state.now()).await?;
    let (from, to) = range_of(&months);
    Ok(Json(MrrAnalytics { from, to, data }))
}

/// Logo and revenue churn per month, one entry per currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChurnAnalytics {
    pub from: String,
    pub to: String,
    pub data: Vec<ChurnSeries>,
}

/// Per month: logo churn (organizations paying at the month's start that pay nothing at its
/// end, over those paying at its start) and revenue churn ((churned + contraction) over the
/// MRR at the month's start), as ratios (null when nobody paid at the start) and counts.
#[utoipa::path(get, path = "/api/admin/analytics/churn", operation_id = "admin_analytics_churn", tag = "admin", security(("bearer" = [])),
    params(MonthRange),
    responses(
        (status = 200, description = "Churn per month", body = ChurnAnalytics),
        (status = 400, description = "`bad_request`: a month that is not `YYYY-MM`, `from` after `to`, or more than 36 months", body = ErrorBody),
    ))]
pub async fn churn(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<MonthRange>,
) -> Result<Json<ChurnAnalytics>, ApiError> {
    let months = q.months(&state)?;
    let data = app::churn(state.store.as_ref(), &months, state.now()).await?;
    let (from, to) = range_of(&months);
    Ok(Json(ChurnAnalytics { from, to, data }))
}

/// Revenue collected per month and per plan, one entry per currency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueAnalytics {
    pub from: String,
    pub to: String,
    pub data: Vec<RevenueSeries>,
}

/// Collected revenue (`amount_paid` of the paid invoices created in each month), per month
/// and per plan (the plan of the organization's subscription at the invoice's period start,
/// from the revenue ledger), and the payment success rate: paid over paid + failed invoices,
/// failed being `uncollectible` or still `open` 7 days after creation.
#[utoipa::path(get, path = "/api/admin/analytics/revenue", operation_id = "admin_analytics_revenue", tag = "admin", security(("bearer" = [])),
    params(MonthRange),
    responses(
        (status = 200, description = "Revenue per month and plan", body = RevenueAnalytics),
        (status = 400, description = "`bad_request`: a month that is not `YYYY-MM`, `from` after `to`, or more than 36 months", body = ErrorBody),
    ))]
pub async fn revenue(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<MonthRange>,
) -> Result<Json<RevenueAnalytics>, ApiError> {
    let months = q.months(&state)?;
    let data = app::revenue(state.store.as_ref(), &months, state.now()).await?;
    let (from, to) = range_of(&months);
    Ok(Json(RevenueAnalytics { from, to, data }))
}

/// The days of an analytics question.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayRangeQuery {
    /// First day, `YYYY-MM-DD` (UTC). Default: 29 days before `to`.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Last day, included, `YYYY-MM-DD`. Default: 29 days after `from`, or today. At most 400
    /// days in all.
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
    /// How many entries each list holds at most (endpoints, customers), 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub top: Option<u32>,
}

impl DayRangeQuery {
    /// The days and the `top`, or 400 `bad_request` saying what is wrong.
    fn parse(&self, state: &AppState) -> Result<(DayRange, u32), ApiError> {
        let range =
            DayRange::parse(self.from.as_deref(), self.to.as_deref(), state.now()).map_err(ApiError::BadRequest)?;
        Ok((range, platform::top_limit(self.top).map_err(ApiError::BadRequest)?))
    }
}

/// Signups and active organizations (with at least one recorded call) per UTC day, every
/// day of the range included. From the daily metrics rollup, never the usage logs.
#[utoipa::path(get, path = "/api/admin/analytics/users", operation_id = "admin_analytics_users", tag = "admin", security(("bearer" = [])),
    params(DayRangeQuery),
    responses(
        (status = 200, description = "Signups and active organizations per day", body = UsersAnalytics),
        (status = 400, description = "`bad_request`: a day that is not `YYYY-MM-DD`, `from` after `to`, more than 400 days, or `top` out of 1..100", body = ErrorBody),
    ))]
pub async fn users(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<DayRangeQuery>,
) -> Result<Json<UsersAnalytics>, ApiError> {
    let (range, _) = q.parse(&state)?;
    Ok(Json(platform::users(state.store.as_ref(), range).await?))
}

/// The platform's usage over whole UTC days: every organization's recorded calls, their
/// error rates and latency percentiles (p50/p95/p99), the busiest endpoints (at most `top`)
/// and one point per day, in the shape of `/api/user/usage/analytics` (`project_id` is
/// null). From the platform's daily aggregates, never the usage logs.
#[utoipa::path(get, path = "/api/admin/analytics/usage", operation_id = "admin_analytics_usage", tag = "admin", security(("bearer" = [])),
    params(DayRangeQuery),
    responses(
        (status = 200, description = "The platform's usage", body = UsageAnalytics),
        (status = 400, description = "`bad_request`: a day that is not `YYYY-MM-DD`, `from` after `to`, more than 400 days, or `top` out of 1..100", body = ErrorBody),
    ))]
pub async fn usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<DayRangeQuery>,
) -> Result<Json<UsageAnalytics>, ApiError> {
    let (range, top) = q.parse(&state)?;
    Ok(Json(platform::usage(state.store.as_ref(), range, top as usize).await?))
}

/// The top customers over whole UTC days (at most `top` each): by recorded calls, and per
/// currency by revenue collected (`amount_paid` of the paid invoices created in the range).
#[utoipa::path(get, path = "/api/admin/analytics/top-customers", operation_id = "admin_analytics_top_customers", tag = "admin", security(("bearer" = [])),
    params(DayRangeQuery),
    responses(
        (status = 200, description = "The top customers", body = TopCustomers),
        (status = 400, description = "`bad_request`: a day that is not `YYYY-MM-DD`, `from` after `to`, more than 400 days, or `top` out of 1..100", body = ErrorBody),
    ))]
pub async fn top_customers(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<DayRangeQuery>,
) -> Result<Json<TopCustomers>, ApiError> {
    let (range, top) = q.parse(&state)?;
    Ok(Json(platform::top_customers(state.store.as_ref(), range, top).await?))
}

/// The months of the report, and its format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First month, `YYYY-MM` (UTC).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub from: Option<String>,
    /// Last month, included, `YYYY-MM`; at most 36 months from `from`.
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub to: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

/// The revenue report as JSON.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueReport {
    pub from: String,
    pub to: String,
    /// One row per month and currency, months in order.
    pub data: Vec<RevenueReportRow>,
}

/// The revenue report: one row per month (and currency) of the MRR at the month's end, its
/// movements, the revenue collected and the invoices paid and failed (the definitions of
/// `/api/admin/analytics/mrr` and `/revenue`). JSON by default; CSV (RFC 4180, with a header
/// row, as the download `revenue-<from>-<to>.csv`) with `?format=csv` or `Accept: text/csv`.
/// Both are made from the same rows, so the CSV says what the JSON says.
#[utoipa::path(get, path = "/api/admin/reports/revenue", operation_id = "admin_report_revenue", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", body = RevenueReport, content_type = "application/json"),
        (status = 200, description = "The report as CSV", body = String, content_type = "text/csv"),
        (status = 400, description = "`bad_request`: `from` or `to` missing or not `YYYY-MM`, `from` after `to`, more than 36 months, or a `format` other than `json` or `csv`", body = ErrorBody),
    ))]
pub async fn revenue_report(
    State(state): State<AppState>,
    _admin: AdminUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let (Some(from), Some(to)) = (q.from.as_deref(), q.to.as_deref()) else {
        return Err(ApiError::BadRequest("from and to (YYYY-MM) are required".into()));
    };
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::BadRequest("format must be json or csv".into())),
        None => accepts_csv(&headers),
    };
    let months = app::month_range(Some(from), Some(to), state.now()).map_err(ApiError::BadRequest)?;
    let data = app::revenue_report(state.store.as_ref(), &months, state.now()).await?;
    let (from, to) = range_of(&months);
    if !csv {
        return Ok(Json(RevenueReport { from, to, data }).into_response());
    }
    let mut response = app::report_csv(&data).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    // The months are checked `YYYY-MM`: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"revenue-{from}-{to}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Whether the client asked for CSV: a `text/csv` media range in `Accept` (a bare `*/*` or
/// JSON keeps the JSON default).
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| range.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/csv")))
}

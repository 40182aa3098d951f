//! Step 4, count: the quota's one conditional write (exact under any concurrency), with the
//! call's usage event kept by the call meter; quota alerts at 80 % and 100 %. Calls
//! reported by the seller's server (`track`, `verify`) are counted by the same write. With the
//! shared rate limit on, the same write also counts the call in its key's one-minute window
//! and refuses it when the window is full, across instances. Then, after the forward, the
//! event's outcome (step 6).

use axum::body::Body;
use axum::http::Response;
use tollgate_domain::usage::thresholds_crossed;
use tollgate_domain::{Endpoint, OrgUsageFacts, Period, QuotaAlert, UsageEvent, UsageIncrement, UsageSource};
use tollgate_http::ApiError;
use tollgate_http::ErrorCode;

use crate::call::{Call, Caller, QuotaHeaders};
use crate::{limits, Gateway};

/// Counters outlive their period by this much (billing disputes, late reports).
const COUNTER_KEPT_AFTER_PERIOD_DAYS: i64 = 400;

/// Counts the call; its usage event (outcome not known yet) comes back for step 6. Past a
/// hard limit: 429 `quota_exceeded` with `Retry-After` = seconds to the period's end. The
/// key's shared window full: 429 `rate_limited` (see [`limits::refuse_shared`]).
pub async fn count(
    gw: &Gateway,
    call: &mut Call,
    caller: &Caller,
    endpoint: &Endpoint,
) -> Result<UsageEvent, ApiError> {
    let period = Period::containing(call.now);
    let event = UsageEvent {
        id: call.event_id(),
        org_id: caller.key.org_id.clone(),
        key_id: caller.key.id.clone(),
        project_id: Some(caller.key.project_id.clone()),
        source: UsageSource::Proxy,
        endpoint_id: endpoint.id.clone(),
        method: call.parts.method.to_string(),
        path: call.parts.uri.path().to_string(),
        status: 0,
        latency_ms: 0,
        cost_units: endpoint.cost_units,
        ip: call.client_ip.clone(),
        timestamp: call.now,
        period: period.key.clone(),
        metadata: None,
    };
    let window = limits::shared_window(gw, call, caller);
    gw.stats.write();
    let increment = gw.meter.count(&event, caller.plan.hard_limit(), counter_expiry(&period), window).await?;
    settle(gw, call, caller, &period, u64::from(endpoint.cost_units), increment).await?;
    Ok(event)
}

/// Counts calls reported with their outcome (tracked or verified, all of `caller`'s key, in
/// the period of the call reporting them) as one charge of their total cost: all or none,
/// refused as [`count`] refuses. `events` must not be empty.
pub async fn count_reported(
    gw: &Gateway,
    call: &mut Call,
    caller: &Caller,
    events: &[UsageEvent],
) -> Result<(), ApiError> {
    let period = Period::containing(call.now);
    let window = limits::shared_window(gw, call, caller);
    let cost = events.iter().map(|e| u64::from(e.cost_units)).sum();
    gw.stats.write();
    let facts = OrgUsageFacts::of(&caller.subscription, &caller.plan);
    let increment =
        gw.meter.count_batch(events, facts, caller.plan.hard_limit(), counter_expiry(&period), window).await?;
    settle(gw, call, caller, &period, cost, increment).await
}

/// How long a period's counter is kept.
fn counter_expiry(period: &Period) -> chrono::DateTime<chrono::Utc> {
    period.end + chrono::Duration::days(COUNTER_KEPT_AFTER_PERIOD_DAYS)
}

/// What follows a charge of `cost`, counted or not: the quota headers, the refusal of a
/// charge that was not counted, and the quota alerts a counted one set off.
async fn settle(
    gw: &Gateway,
    call: &mut Call,
    caller: &Caller,
    period: &Period,
    cost: u64,
    increment: UsageIncrement,
) -> Result<(), ApiError> {
    let (now, plan) = (call.now, &caller.plan);
    let seconds_to_period_end = (period.end - now).num_seconds();
    let used = increment.used();
    call.answer.quota = Some(QuotaHeaders { limit: plan.monthly_limit, used, seconds_to_period_end });
    if let UsageIncrement::RateLimited { .. } = increment {
        // Not counted: the key's shared window is full (only a charge with one is refused so).
        return Err(limits::refuse_shared(call, caller));
    }
    if let UsageIncrement::LimitReached { .. } = increment {
        return Err(ApiError::TooManyRequests {
            code: ErrorCode::QuotaExceeded,
            message: format!(
                "the monthly quota of {} units is used up; it renews at {}",
                plan.monthly_limit.unwrap_or(0),
                period.end.to_rfc3339()
            ),
            retry_after: seconds_to_period_end.max(1) as u64,
        });
    }
    if let Some(limit) = plan.monthly_limit {
        for percent in thresholds_crossed(used - cost, used, limit) {
            let sub = &caller.subscription;
            let alert = QuotaAlert::new(&sub.org_id, &sub.id, &period.key, percent, used, limit, now);
            send_alert(gw, alert).await;
        }
    }
    Ok(())
}

/// Step 6: the counted call's outcome (the answer's status, the latency) on its usage event,
/// with what recording it needs to know of the caller's organization.
pub async fn record_outcome(gw: &Gateway, call: &Call, caller: &Caller, mut event: UsageEvent, status: u16) {
    event.status = status;
    event.latency_ms = call.elapsed_ms();
    gw.meter.record_outcome(&event, OrgUsageFacts::of(&caller.subscription, &caller.plan)).await;
}

/// The status of an answer or a refusal.
pub fn status_of(answer: &Result<Response<Body>, ApiError>) -> u16 {
    match answer {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    }
}

/// Raises a quota alert once per organization, period and threshold (the crossing call is
/// unique, since the counter is monotonic; the alert's claim guards against a retry and
/// against the `quota-alerts` job having seen it first).
async fn send_alert(gw: &Gateway, alert: QuotaAlert) {
    gw.stats.write();
    if let Err(e) = tollgate_app::notifications::raise_quota_alert(&*gw.state.store, &*gw.queue, &alert).await {
        // The hourly `quota-alerts` job raises it if the claim was not made.
        tracing::error!(error = %e, org_id = %alert.org_id, percent = alert.threshold_percent, "quota alert not raised");
    }
}

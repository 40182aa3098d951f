//! `period-close` (hourly): closes every organization's period that has ended.
//!
//! Periods are calendar months (UTC) and usage counters are keyed by period, so the new
//! period starts at zero by itself and nothing is reset. Closing the month before `at`, per
//! organization: every metered unit is reported to the payment provider (what is missing,
//! never twice: `billing::report_metered_usage` is exact and idempotent), then the period's
//! snapshot (counted, billable, reported) is written once to the billing records
//! (`close_usage_period`), which is the mark that it is closed. An organization whose
//! report failed gets no snapshot, so the next hourly run tries it again.

use super::{JobOutput, JobPorts, SubscriptionWalk};
use crate::billing::{report_metered_usage, UsageReportOutcome};
use crate::{plan_in_effect, AppError};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tollgate_domain::{Period, StoreError, Subscription, UsageSnapshot};

/// How often a report that met a concurrent reporter is tried again.
const REPORT_ATTEMPTS: u32 = 5;

pub(super) async fn run(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let closing = Period::containing(Period::containing(at).start - Duration::seconds(1));
    let (mut organizations, mut closed, mut already_closed, mut units_reported) = (0u64, 0u64, 0u64, 0u64);
    let mut output = JobOutput::default();
    let mut walk = SubscriptionWalk::new(&*ports.store);
    while let Some(page) = walk.next_page().await? {
        for sub in page {
            organizations += 1;
            match close_one(ports, &sub, &closing, at).await {
                Ok(Closed::Now { reported_now }) => {
                    closed += 1;
                    units_reported += reported_now;
                }
                Ok(Closed::Before) => already_closed += 1,
                Err(e) => output.failed(&sub.org_id, e),
            }
        }
    }
    output.set_report(json!({
        "period": closing.key,
        "organizations": organizations,
        "closed": closed,
        "already_closed": already_closed,
        "units_reported": units_reported,
        "new_period": Period::containing(at).key,
    }));
    Ok(output)
}

enum Closed {
    /// Closed by this run, reporting this many units now.
    Now { reported_now: u64 },
    /// Closed by an earlier or a concurrent run.
    Before,
}

async fn close_one(
    ports: &JobPorts,
    sub: &Subscription,
    closing: &Period,
    at: DateTime<Utc>,
) -> Result<Closed, AppError> {
    let store = &*ports.store;
    if store.usage_snapshot(&sub.org_id, &closing.key).await?.is_some() {
        return Ok(Closed::Before);
    }
    let last_second = closing.end - Duration::seconds(1);
    let plan = plan_in_effect(store, sub, last_second).await?;
    let mut reported_now = 0;
    if let Some(payments) = &ports.payments {
        // The meter event is dated inside the period it bills. Another reporter (the
        // webhook worker, an overlapping run) moving first is a conflict: read again.
        let mut attempt = 0;
        loop {
            match report_metered_usage(store, &**payments, &sub.org_id, closing, last_second).await {
                Ok(UsageReportOutcome::Reported { units }) => reported_now += units,
                Ok(_) => {}
                Err(AppError::Store(StoreError::Conflict(_))) if attempt < REPORT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            break;
        }
    }
    let counted = store.usage(&sub.org_id, &closing.key).await?;
    let billable = plan.overage_units(counted);
    let reported = store.usage_report(&sub.org_id, &closing.key).await?.reported;
    let snapshot = UsageSnapshot {
        org_id: sub.org_id.clone(),
        period: closing.key.clone(),
        plan_id: plan.id.clone(),
        counted,
        billable,
        reported,
        closed_at: at,
    };
    Ok(if store.close_usage_period(&snapshot).await? { Closed::Now { reported_now } } else { Closed::Before })
}

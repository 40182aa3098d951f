//! `quota-alerts` (hourly): the backstop of the gateway's quota alerts. Any organization at
//! or over 80 % / 100 % of its quota this period that has not had that alert gets it. The
//! alert's id is made of organization, period and threshold and is claimed before it is
//! queued, so it goes out exactly once, whichever of the gateway and this job sees it first.

use super::{JobOutput, JobPorts, SubscriptionWalk};
use crate::notifications::raise_quota_alert;
use crate::{plan_in_effect, AppError};
use chrono::{DateTime, Utc};
use serde_json::json;
use tollgate_domain::{thresholds_reached, Period, QuotaAlert, Subscription};

pub(super) async fn run(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let period = Period::containing(at);
    let (mut organizations, mut alerts_sent) = (0u64, 0u64);
    let mut output = JobOutput::default();
    let mut walk = SubscriptionWalk::new(&*ports.store);
    while let Some(page) = walk.next_page().await? {
        for sub in page.iter().filter(|s| s.is_serving()) {
            organizations += 1;
            match alert_one(ports, sub, &period, at).await {
                Ok(sent) => alerts_sent += sent,
                Err(e) => output.failed(&sub.org_id, e),
            }
        }
    }
    output.set_report(json!({ "period": period.key, "organizations": organizations, "alerts_sent": alerts_sent }));
    Ok(output)
}

/// Raises the organization's alerts not raised yet; returns how many this call raised.
async fn alert_one(ports: &JobPorts, sub: &Subscription, period: &Period, at: DateTime<Utc>) -> Result<u64, AppError> {
    let plan = plan_in_effect(&*ports.store, sub, at).await?;
    let Some(limit) = plan.monthly_limit else { return Ok(0) };
    let used = ports.store.usage(&sub.org_id, &period.key).await?;
    let mut sent = 0;
    for percent in thresholds_reached(used, limit) {
        let alert = QuotaAlert::new(&sub.org_id, &sub.id, &period.key, percent, used, limit, at);
        if raise_quota_alert(&*ports.store, &*ports.queue, &alert).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

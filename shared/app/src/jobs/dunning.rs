//! `dunning` (daily): reminders for past-due subscriptions, and the notice that the grace
//! period is over.
//!
//! Schedule, counted in whole days since the first failed payment (`past_due_since`):
//! reminders on days 1, 3 and 6; on day 7 (`PAST_DUE_GRACE_DAYS`) the grace period ends, the
//! organization gets the Free plan's limits (the gateway reads them through
//! `plan_in_effect`, so the move needs no write) and a final notice. A run sends only the
//! latest step that is due, once (claimed by subscription, past-due episode and day): a run
//! that comes late skips the reminders it missed rather than sending them all at once.

use super::{JobOutput, JobPorts, SubscriptionWalk};
use crate::notifications::notify_once;
use crate::AppError;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tollgate_domain::{
    AuditEvent, DunningReminder, Notification, Subscription, SubscriptionStatus, PAST_DUE_GRACE_DAYS,
};

/// The days after the first failed payment on which a reminder goes out.
pub const DUNNING_REMINDER_DAYS: [u32; 3] = [1, 3, 6];
/// Idempotency scope of dunning reminders.
pub const DUNNING_SCOPE: &str = "dunning_reminder";

pub(super) async fn run(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let (mut past_due, mut reminders_sent, mut final_notices) = (0u64, 0u64, 0u64);
    let mut output = JobOutput::default();
    let mut walk = SubscriptionWalk::new(&*ports.store);
    while let Some(page) = walk.next_page().await? {
        for sub in page.iter().filter(|s| s.status == SubscriptionStatus::PastDue) {
            past_due += 1;
            match remind_one(ports, sub, at).await {
                Ok(Some(true)) => final_notices += 1,
                Ok(Some(false)) => reminders_sent += 1,
                Ok(None) => {}
                Err(e) => output.failed(&sub.org_id, e),
            }
        }
    }
    output.set_report(json!({
        "past_due": past_due,
        "reminders_sent": reminders_sent,
        "final_notices": final_notices,
        "schedule_days": DUNNING_REMINDER_DAYS,
        "grace_days": PAST_DUE_GRACE_DAYS,
    }));
    Ok(output)
}

/// The step due for `sub` at `at`, if any: `Some(final_notice)` when queued now.
async fn remind_one(ports: &JobPorts, sub: &Subscription, at: DateTime<Utc>) -> Result<Option<bool>, AppError> {
    let Some(since) = sub.billing.past_due_since else { return Ok(None) };
    let days = u32::try_from((at - since).num_days()).unwrap_or(0);
    let grace_days = PAST_DUE_GRACE_DAYS as u32;
    let Some(day) = DUNNING_REMINDER_DAYS.into_iter().chain([grace_days]).filter(|&d| d <= days).max() else {
        return Ok(None);
    };
    let final_notice = day >= grace_days;
    let grace_ends_at = since + Duration::days(PAST_DUE_GRACE_DAYS);
    let notification = Notification::DunningReminder(DunningReminder {
        id: format!("dunning_{}_{}_{day}", sub.id, since.timestamp()),
        org_id: sub.org_id.clone(),
        subscription_id: sub.id.clone(),
        day,
        past_due_since: since,
        grace_ends_at,
        final_notice,
        at,
    });
    let remember_until = grace_ends_at + Duration::days(60);
    if !notify_once(&*ports.store, &*ports.queue, DUNNING_SCOPE, &notification, at, remember_until).await? {
        return Ok(None);
    }
    if final_notice {
        let audit = AuditEvent::new("billing.grace_period_ended", at)
            .org(&sub.org_id)
            .target(sub.id.to_string())
            .details(json!({ "past_due_since": since, "limits": "free plan until a payment succeeds" }));
        ports.store.record_audit(&audit).await?;
    }
    Ok(Some(final_notice))
}

//! `key-expiry` (daily): tells each organization's owner about API keys that expire within
//! `KEY_EXPIRY_NOTICE_DAYS`, once per key and expiry time (a key whose expiry is moved gets
//! a new notice).

use super::{JobOutput, JobPorts, SubscriptionWalk};
use crate::notifications::notify_once;
use crate::AppError;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tollgate_domain::{Id, KeyExpiring, Notification};

/// How far ahead an expiry is announced.
pub const KEY_EXPIRY_NOTICE_DAYS: i64 = 7;
/// Idempotency scope of key expiry notices.
pub const KEY_EXPIRY_SCOPE: &str = "key_expiry_notice";

pub(super) async fn run(ports: &JobPorts, at: DateTime<Utc>) -> Result<JobOutput, AppError> {
    let (mut organizations, mut keys_expiring, mut notices_sent) = (0u64, 0u64, 0u64);
    let mut output = JobOutput::default();
    let mut walk = SubscriptionWalk::new(&*ports.store);
    while let Some(page) = walk.next_page().await? {
        for sub in page {
            organizations += 1;
            match notify_org(ports, &sub.org_id, at).await {
                Ok((expiring, sent)) => {
                    keys_expiring += expiring;
                    notices_sent += sent;
                }
                Err(e) => output.failed(&sub.org_id, e),
            }
        }
    }
    output.set_report(json!({
        "organizations": organizations,
        "keys_expiring": keys_expiring,
        "notices_sent": notices_sent,
        "notice_days": KEY_EXPIRY_NOTICE_DAYS,
    }));
    Ok(output)
}

/// The organization's keys expiring soon, and how many notices this call queued.
async fn notify_org(ports: &JobPorts, org_id: &Id, at: DateTime<Utc>) -> Result<(u64, u64), AppError> {
    let horizon = at + Duration::days(KEY_EXPIRY_NOTICE_DAYS);
    let (mut expiring, mut sent) = (0, 0);
    for key in ports.store.list_api_keys(org_id).await? {
        let Some(expires_at) = key.expires_at.filter(|e| key.revoked_at.is_none() && *e > at && *e <= horizon) else {
            continue;
        };
        expiring += 1;
        let notification = Notification::KeyExpiring(KeyExpiring {
            id: format!("key_expiring_{}_{}", key.id, expires_at.timestamp()),
            org_id: org_id.clone(),
            key_id: key.id.clone(),
            key_name: key.name.clone(),
            expires_at,
            at,
        });
        let remember_until = expires_at + Duration::days(1);
        if notify_once(&*ports.store, &*ports.queue, KEY_EXPIRY_SCOPE, &notification, at, remember_until).await? {
            sent += 1;
        }
    }
    Ok((expiring, sent))
}

//! Delivering notifications (see `tollgate_domain::Notification`): by email to the
//! organization's owner for now, once per notification id.

use crate::{current_subscription, AppError};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::{Id, MailMessage, Mailer, Notification, Period, Queue, QueueName, QuotaAlert, Store, UserStatus};

/// Idempotency scope of delivered notification emails.
const EMAIL_SCOPE: &str = "notification_email";
/// How long a delivery is remembered: past any redelivery of the queue (4 days) and the
/// period a quota alert belongs to.
const REMEMBERED_DAYS: i64 = 40;

/// What became of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Mailed now.
    Mailed,
    /// Mailed before (a redelivered message): nothing sent.
    AlreadyDelivered,
    /// Nobody to tell: the organization or its owner is gone, or the owner is suspended.
    NoRecipient,
    /// Not a notification that is mailed (`webhook.test`: its endpoint receives it).
    NotMailed,
}

/// Mails `notification` to its organization's owner, once: the delivery is recorded after
/// the send, so a failure in between sends it again (at least once; the mail keeps its id).
#[tracing::instrument(skip_all, fields(notification_id = notification.id(), event_type = notification.event_type()), err(level = "debug"))]
pub async fn deliver(
    store: &dyn Store,
    mailer: &dyn Mailer,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<Delivery, AppError> {
    if !notification.is_mailed() {
        return Ok(Delivery::NotMailed);
    }
    if store.is_claimed(EMAIL_SCOPE, notification.id(), now).await? {
        return Ok(Delivery::AlreadyDelivered);
    }
    let delivery = match owner_of(store, notification.org_id()).await? {
        None => Delivery::NoRecipient,
        Some(owner) => {
            let (_, plan) = current_subscription(store, notification.org_id(), now).await?;
            let mail = notification.render_mail(&owner.first_name, &plan.name);
            let message = MailMessage {
                id: Id::from_string(format!("mail_{}", notification.id())),
                to: owner.email,
                subject: mail.subject,
                text_body: mail.text,
                html_body: Some(mail.html),
                kind: notification.event_type().into(),
                created_at: now,
            };
            mailer.send(&message).await?;
            Delivery::Mailed
        }
    };
    store.claim(EMAIL_SCOPE, notification.id(), now, now + Duration::days(REMEMBERED_DAYS)).await?;
    Ok(delivery)
}

/// The active owner of the organization, if any.
async fn owner_of(store: &dyn Store, org_id: &Id) -> Result<Option<tollgate_domain::User>, AppError> {
    let Some(org) = store.get_organization(org_id).await? else {
        return Ok(None);
    };
    Ok(store.get_user(&org.owner_id).await?.filter(|u| u.status == UserStatus::Active))
}

/// Idempotency scope of raised quota alerts: one per organization, period and threshold.
const QUOTA_ALERT_SCOPE: &str = "quota_alert";

/// Raises a quota alert once: claims its id (made of organization, period and threshold),
/// then queues it as a notification. True if this call raised it; false if the gateway or
/// the `quota-alerts` job did before. The claim outlives the period by 35 days.
pub async fn raise_quota_alert(store: &dyn Store, queue: &dyn Queue, alert: &QuotaAlert) -> Result<bool, AppError> {
    let claim_expires = Period::from_key(&alert.period).map_or(alert.at, |p| p.end) + Duration::days(35);
    if !store.claim(QUOTA_ALERT_SCOPE, &alert.id, alert.at, claim_expires).await? {
        return Ok(false);
    }
    queue.send(QueueName::Notifications, &[Notification::Quota(alert.clone()).to_message()]).await?;
    Ok(true)
}

/// Queues `notification` unless its id was claimed in `scope` before (a job that noticed
/// the same thing on an earlier run): true if queued now. The claim is kept until
/// `remember_until`.
pub async fn notify_once(
    store: &dyn Store,
    queue: &dyn Queue,
    scope: &str,
    notification: &Notification,
    now: DateTime<Utc>,
    remember_until: DateTime<Utc>,
) -> Result<bool, AppError> {
    if !store.claim(scope, notification.id(), now, remember_until).await? {
        return Ok(false);
    }
    queue.send(QueueName::Notifications, &[notification.to_message()]).await?;
    Ok(true)
}

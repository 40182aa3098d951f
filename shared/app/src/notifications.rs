//! Delivering notifications (see `tollgate_domain::Notification`): by email to the
//! organization's owner and to its Slack channel, as its notification settings say, each
//! once per notification id.
//!
//! The email and the Slack post are claimed separately (`notification_email`,
//! `notification_slack`): a redelivered message sends only what is missing. A Slack post that
//! fails is logged, not an error: the mail must not go again, so it is not retried.

use crate::{current_subscription, AppError};
use chrono::{DateTime, Duration, Utc};
use tollgate_domain::notification_settings::check_slack_url;
use tollgate_domain::webhook::ATTEMPT_TIMEOUT_SECS;
use tollgate_domain::{
    Id, MailMessage, Mailer, Notification, NotificationSettings, Period, Plan, Queue, QueueName, QuotaAlert,
    SlackSettings, Store, User, UserStatus, WebhookSender,
};

/// Idempotency scope of delivered notification emails.
const EMAIL_SCOPE: &str = "notification_email";
/// Idempotency scope of notifications posted to Slack.
const SLACK_SCOPE: &str = "notification_slack";
/// How long a delivery is remembered: past any redelivery of the queue (4 days) and the
/// period a quota alert belongs to.
const REMEMBERED_DAYS: i64 = 40;

/// What became of one notification's email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Mailed now.
    Mailed,
    /// Mailed (or skipped) before (a redelivered message): nothing sent.
    AlreadyDelivered,
    /// Nobody to tell: the organization or its owner is gone, or the owner is suspended.
    NoRecipient,
    /// Not a notification that is mailed (`webhook.test`: its endpoint receives it).
    NotMailed,
    /// The organization's settings turn this event type's email off (recorded, so a
    /// redelivery does not reconsider).
    Disabled,
}

/// What became of one notification's Slack post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackDelivery {
    /// Posted now (Slack answered 2xx).
    Posted,
    /// Posted before (a redelivered message): nothing sent.
    AlreadyPosted,
    /// No Slack settings, or they do not subscribe to this event type.
    NotSubscribed,
    /// The organization's current plan does not include Slack (`features.slack`).
    NotInPlan,
    /// The post failed (no answer, a refused URL, a non-2xx status) or its bookkeeping did:
    /// logged at warn; the notification is not failed for it.
    Failed,
}

/// Both outcomes of [`deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub email: Delivery,
    pub slack: SlackDelivery,
}

/// Where Slack posts go: the webhook sender and the URL policy (`ALLOW_INSECURE_WEBHOOK_URLS`).
#[derive(Clone, Copy)]
pub struct SlackOut<'a> {
    pub sender: &'a dyn WebhookSender,
    pub allow_insecure: bool,
}

/// Delivers `notification` as its organization's settings say: mails it to the owner once
/// (the delivery is recorded after the send, so a failure in between sends it again: at
/// least once; the mail keeps its id), then posts it to Slack once. An email failure is an
/// error (the message is retried; Slack waits for it); a Slack failure is not.
#[tracing::instrument(skip_all, fields(notification_id = notification.id(), event_type = notification.event_type()), err(level = "debug"))]
pub async fn deliver(
    store: &dyn Store,
    mailer: &dyn Mailer,
    slack: SlackOut<'_>,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<Delivered, AppError> {
    if !notification.is_mailed() {
        return Ok(Delivered { email: Delivery::NotMailed, slack: SlackDelivery::NotSubscribed });
    }
    let org_id = notification.org_id();
    let settings =
        store.get_notification_settings(org_id).await?.unwrap_or_else(|| NotificationSettings::defaults(org_id, now));
    let owner = owner_of(store, org_id).await?;
    let email = mail(store, mailer, &settings, owner.as_ref(), notification, now).await?;
    let slack = match settings.slack_for(notification.event_type()) {
        None => SlackDelivery::NotSubscribed,
        Some(channel) => {
            post_to_slack(store, slack, channel, owner.as_ref(), notification, now).await.unwrap_or_else(|e| {
                tracing::warn!(notification_id = notification.id(), error = %e, "posting to Slack failed");
                SlackDelivery::Failed
            })
        }
    };
    Ok(Delivered { email, slack })
}

/// The email part of [`deliver`].
async fn mail(
    store: &dyn Store,
    mailer: &dyn Mailer,
    settings: &NotificationSettings,
    owner: Option<&User>,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<Delivery, AppError> {
    if store.is_claimed(EMAIL_SCOPE, notification.id(), now).await? {
        return Ok(Delivery::AlreadyDelivered);
    }
    let delivery = match owner {
        _ if !settings.email_enabled(notification.event_type()) => Delivery::Disabled,
        None => Delivery::NoRecipient,
        Some(owner) => {
            let plan = plan_of(store, notification.org_id(), now).await?;
            let mail = notification.render_mail(&owner.first_name, &plan.name);
            let message = MailMessage {
                id: Id::from_string(format!("mail_{}", notification.id())),
                to: owner.email.clone(),
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

/// The Slack part of [`deliver`]: `{"text": "<subject>\n<text body>"}` POSTed to the
/// channel's URL, claimed after a 2xx. The URL is a secret: never logged.
async fn post_to_slack(
    store: &dyn Store,
    out: SlackOut<'_>,
    channel: &SlackSettings,
    owner: Option<&User>,
    notification: &Notification,
    now: DateTime<Utc>,
) -> Result<SlackDelivery, AppError> {
    if store.is_claimed(SLACK_SCOPE, notification.id(), now).await? {
        return Ok(SlackDelivery::AlreadyPosted);
    }
    let plan = plan_of(store, notification.org_id(), now).await?;
    if !plan.allows_slack() {
        return Ok(SlackDelivery::NotInPlan);
    }
    if check_slack_url(&channel.webhook_url, out.allow_insecure).is_err() {
        tracing::warn!(notification_id = notification.id(), "the Slack URL is refused by the URL policy");
        return Ok(SlackDelivery::Failed);
    }
    let first_name = owner.map_or("team", |o| o.first_name.as_str());
    let mail = notification.render_mail(first_name, &plan.name);
    let body = serde_json::json!({ "text": format!("{}\n{}", mail.subject, mail.text) }).to_string();
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), "Tollgate-Notifications/1".to_string()),
    ];
    let timeout = std::time::Duration::from_secs(ATTEMPT_TIMEOUT_SECS);
    match out.sender.post(&channel.webhook_url, &headers, &body, timeout).await {
        Ok(response) if (200..300).contains(&response.status) => {
            store.claim(SLACK_SCOPE, notification.id(), now, now + Duration::days(REMEMBERED_DAYS)).await?;
            Ok(SlackDelivery::Posted)
        }
        Ok(response) => {
            tracing::warn!(notification_id = notification.id(), status = response.status, "Slack refused the post");
            Ok(SlackDelivery::Failed)
        }
        Err(e) => {
            tracing::warn!(notification_id = notification.id(), error = %e.message, "Slack did not answer");
            Ok(SlackDelivery::Failed)
        }
    }
}

/// The organization's current plan.
async fn plan_of(store: &dyn Store, org_id: &Id, now: DateTime<Utc>) -> Result<Plan, AppError> {
    Ok(current_subscription(store, org_id, now).await?.1)
}

/// The active owner of the organization, if any.
async fn owner_of(store: &dyn Store, org_id: &Id) -> Result<Option<User>, AppError> {
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
    let notification = Notification::Quota(alert.clone());
    notify_once(store, queue, QUOTA_ALERT_SCOPE, &notification, alert.at, claim_expires).await
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

//! An organization's notification settings: which events are mailed to its owner, and
//! which go to a Slack channel (an incoming-webhook URL). Customer webhooks keep their own
//! `events` lists; the settings do not touch them.
//!
//! Defaults (no settings stored): every email on, no Slack. The Slack URL is a secret (it
//! lets anyone post to the channel): `Debug` hides it, answers show it masked
//! ([`SlackSettings::masked_url`]), and it is never logged.

use crate::webhook::{check_url, WebhookInputError};
use crate::{DomainError, Id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every event type that is mailed (the `Notification::event_type` values of the mailed
/// notifications) and can be sent to Slack; `["*"]` in Slack's `events` means all of them.
pub const EMAIL_EVENT_TYPES: &[&str] = &[
    "quota.threshold_reached",
    "quota.exceeded",
    "invoice.payment_failed",
    "subscription.updated",
    "trial.ending",
    "dunning.reminder",
    "api_key.expiring",
];

/// The host of Slack's incoming webhooks: the only one allowed unless insecure webhook URLs
/// are (`ALLOW_INSECURE_WEBHOOK_URLS`, for tests and local runs).
pub const SLACK_HOST: &str = "hooks.slack.com";

/// An organization's notification settings, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    pub org_id: Id,
    /// Event type -> mailed or not; a missing type is mailed.
    pub email: BTreeMap<String, bool>,
    /// The Slack channel, if any.
    pub slack: Option<SlackSettings>,
    pub updated_at: DateTime<Utc>,
}

/// Where and what to post to Slack.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackSettings {
    /// An incoming-webhook URL (`https://hooks.slack.com/services/...`): a secret.
    pub webhook_url: String,
    /// Event types posted, or exactly `["*"]`.
    pub events: Vec<String>,
}

impl std::fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSettings").field("webhook_url", &"..").field("events", &self.events).finish()
    }
}

impl NotificationSettings {
    /// The settings of an organization that stored none: every email on, no Slack.
    pub fn defaults(org_id: &Id, now: DateTime<Utc>) -> NotificationSettings {
        NotificationSettings { org_id: org_id.clone(), email: BTreeMap::new(), slack: None, updated_at: now }
    }

    /// Whether notifications of `event_type` are mailed (yes unless turned off).
    pub fn email_enabled(&self, event_type: &str) -> bool {
        self.email.get(event_type).copied().unwrap_or(true)
    }

    /// Every known email event type with its on/off.
    pub fn effective_email(&self) -> BTreeMap<String, bool> {
        EMAIL_EVENT_TYPES.iter().map(|t| (t.to_string(), self.email_enabled(t))).collect()
    }

    /// The Slack settings if they subscribe to `event_type`.
    pub fn slack_for(&self, event_type: &str) -> Option<&SlackSettings> {
        self.slack.as_ref().filter(|s| s.subscribes_to(event_type))
    }
}

impl SlackSettings {
    /// Checked settings: the URL by [`check_slack_url`], the events by
    /// [`validate_slack_events`].
    pub fn new(webhook_url: &str, events: &[String], allow_insecure: bool) -> Result<SlackSettings, WebhookInputError> {
        Ok(SlackSettings {
            webhook_url: check_slack_url(webhook_url, allow_insecure)?,
            events: validate_slack_events(events)?,
        })
    }

    /// Whether events of `event_type` are posted.
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }

    /// The URL with its last path segment (the token) replaced by `****`, and no query:
    /// `https://hooks.slack.com/services/T000/B000/****`.
    pub fn masked_url(&self) -> String {
        match url::Url::parse(&self.webhook_url) {
            Ok(url) => {
                let path = url.path();
                let kept = &path[..=path.rfind('/').unwrap_or(0)];
                format!("{}{}****", &url[..url::Position::BeforePath], kept)
            }
            Err(_) => "****".into(),
        }
    }
}

/// The email settings of a request, if every type is known.
pub fn validate_email_settings(email: &BTreeMap<String, bool>) -> Result<(), DomainError> {
    match email.keys().find(|t| !EMAIL_EVENT_TYPES.contains(&t.as_str())) {
        Some(t) => Err(DomainError::InvalidField {
            field: "email",
            reason: format!("unknown event type {t:?}; known: {}", EMAIL_EVENT_TYPES.join(", ")),
        }),
        None => Ok(()),
    }
}

/// Slack's events list as stored: each type known, no duplicates, not empty; or exactly
/// `["*"]`.
pub fn validate_slack_events(events: &[String]) -> Result<Vec<String>, DomainError> {
    crate::webhook::validate_event_list(events, "slack.events", EMAIL_EVENT_TYPES)
}

/// The Slack URL if allowed: the webhook URL policy ([`check_url`]: `https://`, no
/// credentials, no refused address), and the host [`SLACK_HOST`] unless `allow_insecure`.
/// The host's addresses are the caller's to check (they need DNS).
pub fn check_slack_url(raw: &str, allow_insecure: bool) -> Result<String, WebhookInputError> {
    let url = check_url(raw, allow_insecure)?;
    if !allow_insecure && url.host_str() != Some(SLACK_HOST) {
        return Err(WebhookInputError::InvalidUrl(format!("a Slack URL is on {SLACK_HOST}")));
    }
    Ok(url.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_mail_everything_and_post_nothing() {
        let s = NotificationSettings::defaults(&Id::from_string("org_1"), Utc::now());
        assert!(EMAIL_EVENT_TYPES.iter().all(|t| s.email_enabled(t)));
        assert_eq!(s.effective_email().len(), EMAIL_EVENT_TYPES.len());
        assert!(s.slack_for("quota.exceeded").is_none());
    }

    #[test]
    fn email_off_is_per_type() {
        let mut s = NotificationSettings::defaults(&Id::from_string("org_1"), Utc::now());
        s.email.insert("quota.threshold_reached".into(), false);
        assert!(!s.email_enabled("quota.threshold_reached"));
        assert!(s.email_enabled("quota.exceeded"));
        assert!(!s.effective_email()["quota.threshold_reached"]);
    }

    #[test]
    fn unknown_email_types_are_refused() {
        let ok: BTreeMap<String, bool> = [("trial.ending".to_string(), false)].into();
        assert!(validate_email_settings(&ok).is_ok());
        let bad: BTreeMap<String, bool> = [("quota.nope".to_string(), false)].into();
        assert!(matches!(validate_email_settings(&bad), Err(DomainError::InvalidField { field: "email", .. })));
        let test_event: BTreeMap<String, bool> = [("webhook.test".to_string(), true)].into();
        assert!(validate_email_settings(&test_event).is_err(), "the test event is never mailed");
    }

    #[test]
    fn slack_events_are_checked() {
        assert_eq!(validate_slack_events(&strings(&["*"])).unwrap(), strings(&["*"]));
        assert_eq!(
            validate_slack_events(&strings(&["quota.exceeded", "quota.exceeded"])).unwrap(),
            strings(&["quota.exceeded"])
        );
        assert!(validate_slack_events(&[]).is_err());
        assert!(validate_slack_events(&strings(&["*", "quota.exceeded"])).is_err());
        assert!(validate_slack_events(&strings(&["nope"])).is_err());
    }

    #[test]
    fn slack_url_must_be_slack_over_https() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        assert_eq!(check_slack_url(url, false).unwrap(), url);
        for bad in [
            "http://hooks.slack.com/services/T000/B000/X",
            "https://example.com/services/T000/B000/X",
            "https://127.0.0.1/x",
            "https://user:pw@hooks.slack.com/services/X",
            "not a url",
        ] {
            assert!(matches!(check_slack_url(bad, false), Err(WebhookInputError::InvalidUrl(_))), "{bad}");
        }
        assert!(check_slack_url("http://127.0.0.1:9000/slack", true).is_ok(), "insecure URLs allowed");
        assert!(check_slack_url("http://10.0.0.1/slack", true).is_err(), "private addresses never");
    }

    #[test]
    fn the_url_is_masked_and_hidden_from_debug() {
        let s =
            SlackSettings::new("https://hooks.slack.com/services/T000/B000/XXXXSECRET?x=1", &strings(&["*"]), false)
                .unwrap();
        assert_eq!(s.masked_url(), "https://hooks.slack.com/services/T000/B000/****");
        assert!(!format!("{s:?}").contains("XXXXSECRET"));
        let local = SlackSettings::new("http://127.0.0.1:9000/slack", &strings(&["*"]), true).unwrap();
        assert_eq!(local.masked_url(), "http://127.0.0.1:9000/****");
        assert!(local.subscribes_to("trial.ending"));
    }
}

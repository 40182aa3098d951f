//! What the notifications queue carries: events an organization's people are told about
//! (by email, Slack and customer webhooks, as their settings say), each with a stable id
//! that makes its delivery idempotent.

use crate::{Id, Period, QuotaAlert, StoredEnum, SubscriptionStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One notification. The queue message is its JSON, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Notification {
    /// The organization's usage crossed 80 % (`quota.threshold_reached`) or 100 %
    /// (`quota.exceeded`) of its period's quota: sent once per threshold and period.
    #[serde(rename = "quota.threshold")]
    Quota(QuotaAlert),
    /// A payment of the organization's subscription failed (`invoice.payment_failed`).
    #[serde(rename = "invoice.payment_failed")]
    PaymentFailed(PaymentFailed),
    /// The subscription changed plan or status (`subscription.updated`).
    #[serde(rename = "subscription.updated")]
    SubscriptionChanged(SubscriptionChanged),
    /// The trial ends soon (`trial.ending`).
    #[serde(rename = "trial.ending")]
    TrialEnding(TrialEnding),
    /// A reminder that the subscription is past due (`dunning.reminder`), from the `dunning`
    /// job on its schedule; the last one says the Free plan's limits apply now.
    #[serde(rename = "dunning.reminder")]
    DunningReminder(DunningReminder),
    /// An API key expires within 7 days (`api_key.expiring`), from the `key-expiry` job.
    #[serde(rename = "api_key.expiring")]
    KeyExpiring(KeyExpiring),
    /// A test event for one webhook endpoint (`webhook.test`), asked for by its owner:
    /// delivered to that endpoint only, never mailed.
    #[serde(rename = "webhook.test")]
    WebhookTest(WebhookTest),
}

/// A test event for a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTest {
    pub id: String,
    pub org_id: Id,
    /// The only endpoint it is delivered to.
    pub endpoint_id: Id,
    pub at: DateTime<Utc>,
}

/// A failed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub id: String,
    pub org_id: Id,
    pub invoice_id: String,
    /// Minor units of `currency`.
    pub amount_due: i64,
    pub currency: String,
    /// When the provider tries again, if it will.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// A subscription's new plan or status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionChanged {
    pub id: String,
    pub org_id: Id,
    pub subscription_id: Id,
    pub plan_id: Id,
    pub plan_name: String,
    /// The plan before, when the plan changed.
    pub previous_plan_id: Option<Id>,
    pub status: SubscriptionStatus,
    pub cancel_at_period_end: bool,
    pub at: DateTime<Utc>,
}

/// A trial about to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialEnding {
    pub id: String,
    pub org_id: Id,
    pub subscription_id: Id,
    pub trial_end: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// A past-due reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DunningReminder {
    pub id: String,
    pub org_id: Id,
    pub subscription_id: Id,
    /// Whole days since the first failed payment (1, 3, 6; 7 for the final notice).
    pub day: u32,
    pub past_due_since: DateTime<Utc>,
    /// When the plan's limits give way to the Free plan's.
    pub grace_ends_at: DateTime<Utc>,
    /// The grace period is over: the Free plan's limits apply until a payment succeeds.
    pub final_notice: bool,
    pub at: DateTime<Utc>,
}

/// An API key that expires soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyExpiring {
    pub id: String,
    pub org_id: Id,
    pub key_id: Id,
    pub key_name: String,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Notification {
    /// The notification's id: unique per event, the same on every delivery attempt.
    pub fn id(&self) -> &str {
        match self {
            Notification::Quota(a) => &a.id,
            Notification::PaymentFailed(n) => &n.id,
            Notification::SubscriptionChanged(n) => &n.id,
            Notification::TrialEnding(n) => &n.id,
            Notification::DunningReminder(n) => &n.id,
            Notification::KeyExpiring(n) => &n.id,
            Notification::WebhookTest(n) => &n.id,
        }
    }

    /// The organization it is about.
    pub fn org_id(&self) -> &Id {
        match self {
            Notification::Quota(a) => &a.org_id,
            Notification::PaymentFailed(n) => &n.org_id,
            Notification::SubscriptionChanged(n) => &n.org_id,
            Notification::TrialEnding(n) => &n.org_id,
            Notification::DunningReminder(n) => &n.org_id,
            Notification::KeyExpiring(n) => &n.org_id,
            Notification::WebhookTest(n) => &n.org_id,
        }
    }

    /// The event type, as customers' settings and webhooks name it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Notification::Quota(a) if a.threshold_percent >= 100 => "quota.exceeded",
            Notification::Quota(_) => "quota.threshold_reached",
            Notification::PaymentFailed(_) => "invoice.payment_failed",
            Notification::SubscriptionChanged(_) => "subscription.updated",
            Notification::TrialEnding(_) => "trial.ending",
            Notification::DunningReminder(_) => "dunning.reminder",
            Notification::KeyExpiring(_) => "api_key.expiring",
            Notification::WebhookTest(_) => crate::webhook::TEST_EVENT_TYPE,
        }
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Notification::Quota(a) => a.at,
            Notification::PaymentFailed(n) => n.at,
            Notification::SubscriptionChanged(n) => n.at,
            Notification::TrialEnding(n) => n.at,
            Notification::DunningReminder(n) => n.at,
            Notification::KeyExpiring(n) => n.at,
            Notification::WebhookTest(n) => n.at,
        }
    }

    /// Whether the organization's owner is mailed about it (every notification but the
    /// webhook test, which only its endpoint receives).
    pub fn is_mailed(&self) -> bool {
        !matches!(self, Notification::WebhookTest(_))
    }

    /// The `data` of its webhook event: the notification's own fields.
    pub fn webhook_data(&self) -> serde_json::Value {
        let data = match self {
            Notification::Quota(n) => serde_json::to_value(n),
            Notification::PaymentFailed(n) => serde_json::to_value(n),
            Notification::SubscriptionChanged(n) => serde_json::to_value(n),
            Notification::TrialEnding(n) => serde_json::to_value(n),
            Notification::DunningReminder(n) => serde_json::to_value(n),
            Notification::KeyExpiring(n) => serde_json::to_value(n),
            Notification::WebhookTest(n) => serde_json::to_value(n),
        };
        data.expect("notifications serialise")
    }

    /// A queue message body as a notification: tagged JSON, or a bare `QuotaAlert` (what the
    /// gateway queued before notifications had types). None for anything else.
    pub fn parse(body: &str) -> Option<Notification> {
        serde_json::from_str(body).ok().or_else(|| serde_json::from_str(body).ok().map(Notification::Quota))
    }

    /// The notification as a queue message: its id, its tagged JSON.
    pub fn to_message(&self) -> crate::QueueMessage {
        crate::QueueMessage { id: self.id().to_string(), body: serde_json::to_string(self).expect("serialisable") }
    }

    /// The email about it to `first_name`, whose organization is on `plan_name`.
    pub fn render_mail(&self, first_name: &str, plan_name: &str) -> RenderedMail {
        match self {
            Notification::Quota(a) => a.render_mail(first_name, plan_name),
            Notification::PaymentFailed(n) => {
                let amount = money(n.amount_due, &n.currency);
                let retry = n.next_attempt_at.map_or_else(
                    || "It will not be retried automatically: please update your payment method.".to_string(),
                    |t| format!("It will be retried on {}.", t.format("%Y-%m-%d %H:%M UTC")),
                );
                simple_mail(
                    first_name,
                    format!("A payment of {amount} failed ({plan_name} plan)"),
                    &[
                        format!("The payment of {amount} for invoice {} failed.", n.invoice_id),
                        retry,
                        "Update your payment method in the dashboard, or at GET /api/user/billing/payment-methods."
                            .to_string(),
                    ],
                )
            }
            Notification::SubscriptionChanged(n) => {
                let mut lines = vec![format!(
                    "Your organization is now on the {} plan ({}).",
                    n.plan_name,
                    n.status.as_str().replace('_', " ")
                )];
                if n.cancel_at_period_end {
                    lines.push("It is set to end at the end of the current period.".to_string());
                }
                simple_mail(first_name, format!("Your subscription changed: {} plan", n.plan_name), &lines)
            }
            Notification::TrialEnding(n) => simple_mail(
                first_name,
                format!("Your trial of the {plan_name} plan ends soon"),
                &[format!(
                    "Your trial ends on {}. Add a payment method to keep your plan.",
                    n.trial_end.format("%Y-%m-%d %H:%M UTC")
                )],
            ),
            Notification::DunningReminder(n) if n.final_notice => simple_mail(
                first_name,
                "Your plan's limits are paused: payment overdue".to_string(),
                &[
                    format!("Your subscription has been past due since {}.", n.past_due_since.format("%Y-%m-%d")),
                    "The grace period is over: the Free plan's limits apply until a payment succeeds.".to_string(),
                    "Update your payment method in the dashboard to restore your plan at once.".to_string(),
                ],
            ),
            Notification::DunningReminder(n) => simple_mail(
                first_name,
                format!("Reminder: your payment is overdue ({plan_name} plan)"),
                &[
                    format!(
                        "Your subscription has been past due for {} day{}.",
                        n.day,
                        if n.day == 1 { "" } else { "s" }
                    ),
                    format!(
                        "Your plan's limits stay until {}; then the Free plan's limits apply until a payment succeeds.",
                        n.grace_ends_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    "Update your payment method in the dashboard.".to_string(),
                ],
            ),
            Notification::KeyExpiring(n) => simple_mail(
                first_name,
                format!("Your API key \"{}\" expires on {}", n.key_name, n.expires_at.format("%Y-%m-%d")),
                &[
                    format!(
                        "The API key \"{}\" ({}) expires on {}. Calls with it are refused from then on.",
                        n.key_name,
                        n.key_id,
                        n.expires_at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    "Create a new key, or rotate this one, in the dashboard.".to_string(),
                ],
            ),
            // Never mailed (`is_mailed`); rendered all the same, so every notification has a mail.
            Notification::WebhookTest(n) => simple_mail(
                first_name,
                "A test event was sent to your webhook".to_string(),
                &[format!("A webhook.test event ({}) was sent to the webhook endpoint {}.", n.id, n.endpoint_id)],
            ),
        }
    }
}

/// `900` `usd` as `9.00 USD`.
fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02} {}", m / 100, m % 100, currency.to_uppercase())
}

/// A mail of a greeting and paragraphs, as text and as HTML.
fn simple_mail(first_name: &str, subject: String, paragraphs: &[String]) -> RenderedMail {
    let text = format!("Hello {first_name},\n\n{}\n", paragraphs.join("\n\n"));
    let html = format!(
        "<p>Hello {},</p>\n{}",
        html_escape(first_name),
        paragraphs.iter().map(|p| format!("<p>{}</p>\n", html_escape(p))).collect::<String>()
    );
    RenderedMail { subject, text, html }
}

/// A rendered email: subject, text and HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escapes text for HTML.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl QuotaAlert {
    /// The email telling `first_name` that the quota crossed its threshold, with the numbers:
    /// used, limit, percent and when the period (and the quota) renews.
    pub fn render_mail(&self, first_name: &str, plan_name: &str) -> RenderedMail {
        let percent = if self.limit == 0 { 100.0 } else { self.used as f64 * 100.0 / self.limit as f64 };
        let renews = Period::from_key(&self.period)
            .map_or_else(|| self.period.to_string(), |p| p.end.format("%Y-%m-%d %H:%M UTC").to_string());
        let (subject, lead) = if self.threshold_percent >= 100 {
            (
                format!("Your API quota is used up ({plan_name} plan)"),
                "Your organization has used its whole quota for this period. Calls past it are refused with 429 quota_exceeded until it renews, unless you upgrade.",
            )
        } else {
            (
                format!("You have used {}% of your API quota ({plan_name} plan)", self.threshold_percent),
                "Your organization's usage has crossed a threshold of its quota for this period.",
            )
        };
        let (used, limit) = (thousands(self.used), thousands(self.limit));
        let text = format!(
            "Hello {first_name},\n\n{lead}\n\nUsed: {used} of {limit} units ({percent:.1}%)\nPeriod: {period}\nRenews: {renews}\n\nSee your usage in the dashboard, or at GET /api/user/usage/summary.\n",
            period = self.period,
        );
        let html = format!(
            "<p>Hello {name},</p>\n<p>{lead}</p>\n<table>\n<tr><th align=\"left\">Used</th><td>{used} of {limit} units ({percent:.1}%)</td></tr>\n<tr><th align=\"left\">Period</th><td>{period}</td></tr>\n<tr><th align=\"left\">Renews</th><td>{renews}</td></tr>\n</table>\n<p>See your usage in the dashboard, or at <code>GET /api/user/usage/summary</code>.</p>\n",
            name = html_escape(first_name),
            lead = html_escape(lead),
            period = html_escape(self.period.as_str()),
        );
        RenderedMail { subject, text, html }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeriodKey;

    fn alert(percent: u8, used: u64) -> QuotaAlert {
        QuotaAlert {
            id: format!("alert_org_a_2026-12_{percent}"),
            org_id: Id::from_string("org_a"),
            subscription_id: Id::from_string("sub_a"),
            period: PeriodKey::from_string("2026-12"),
            threshold_percent: percent,
            used,
            limit: 50_000,
            at: Utc::now(),
        }
    }

    #[test]
    fn tagged_and_bare_alerts_parse() {
        let a = alert(80, 40_000);
        let n = Notification::Quota(a.clone());
        let m = n.to_message();
        assert!(m.body.contains("\"type\":\"quota.threshold\""), "{}", m.body);
        assert_eq!(Notification::parse(&m.body), Some(n.clone()));
        let bare = serde_json::to_string(&a).unwrap();
        assert_eq!(Notification::parse(&bare), Some(n));
        assert_eq!(Notification::parse("{\"type\":\"nope\"}"), None);
        assert_eq!(Notification::Quota(alert(100, 50_000)).event_type(), "quota.exceeded");
        assert_eq!(Notification::Quota(alert(80, 40_000)).event_type(), "quota.threshold_reached");
    }

    #[test]
    fn the_mail_carries_the_numbers() {
        let m = alert(80, 40_123).render_mail("Ada <3", "Pro");
        assert_eq!(m.subject, "You have used 80% of your API quota (Pro plan)");
        for part in ["40,123 of 50,000 units (80.2%)", "2026-12", "2027-01-01 00:00 UTC", "Hello Ada <3"] {
            assert!(m.text.contains(part), "{part} in {}", m.text);
        }
        assert!(m.html.contains("Hello Ada &lt;3"), "escaped: {}", m.html);
        assert!(m.html.contains("40,123 of 50,000 units (80.2%)"));
        assert!(alert(100, 50_000).render_mail("Ada", "Pro").subject.contains("used up"));
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
    }
}

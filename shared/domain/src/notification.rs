//! What the notifications queue carries: events an organization's people are told about
//! (by email now; Slack and customer webhooks are channels to come), each with a stable id
//! that makes its delivery idempotent.

use crate::{Id, Period, QuotaAlert};
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
}

impl Notification {
    /// The notification's id: unique per event, the same on every delivery attempt.
    pub fn id(&self) -> &str {
        match self {
            Notification::Quota(a) => &a.id,
        }
    }

    /// The organization it is about.
    pub fn org_id(&self) -> &Id {
        match self {
            Notification::Quota(a) => &a.org_id,
        }
    }

    /// The event type, as customers' settings and webhooks name it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Notification::Quota(a) if a.threshold_percent >= 100 => "quota.exceeded",
            Notification::Quota(_) => "quota.threshold_reached",
        }
    }

    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Notification::Quota(a) => a.at,
        }
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

//! Billing: what the platform keeps of the payment provider's objects (Stripe ids on plans
//! and subscriptions, mirrored invoices), the provider's objects as the domain sees them, and
//! the webhook signature rule.
//!
//! Money is always integer minor units of a lower-case ISO 4217 currency (`900`, `"usd"`).
//! Stripe is the only provider; its ids are kept as opaque strings, and no Stripe type leaves
//! the adapter (`tollgate-stripe`).

use crate::stored_enum::stored_enum;
use crate::{Id, PageLimits};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A plan's objects at the payment provider, created by `Payments::sync_plan`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanBillingIds {
    /// The product the plan's prices belong to.
    pub product_id: String,
    /// The recurring price of the base fee (subscription and hybrid plans with a price > 0).
    pub base_price_id: Option<String>,
    /// The billing meter that counts the plan's billable units (pay-as-you-go and hybrid).
    pub meter_id: Option<String>,
    /// The meter's event name: usage is reported under it.
    pub meter_event_name: Option<String>,
    /// The price on the meter: `overage_price` per 1,000 units.
    pub metered_price_id: Option<String>,
}

impl PlanBillingIds {
    /// Every price of the plan (what a subscription to it holds as items).
    pub fn price_ids(&self) -> impl Iterator<Item = &str> {
        self.base_price_id.iter().chain(&self.metered_price_id).map(String::as_str)
    }
}

/// The payment provider's side of an organization's subscription, kept on our subscription.
/// Everything is optional: an organization on the Free plan, or on a plan an admin assigned
/// by hand, has none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionBilling {
    /// The organization's customer at the provider (one per organization, created on its
    /// first paid action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The provider's subscription, once a paid plan has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_subscription_id: Option<String>,
    /// The provider's current period, as last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<DateTime<Utc>>,
    /// A downgrade waiting for the end of the current period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub pending_plan_id: Option<Id>,
    /// When a payment first failed (the subscription is `past_due` since then); the grace
    /// period counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<DateTime<Utc>>,
}

/// Whether `raw` can be an id of the payment provider's with `prefix` (`pm_`, `in_`): the
/// prefix then letters, digits and `_`, at most 255 characters. Anything else is no such
/// object (404) before it reaches the provider, where it would not even make a valid URL.
pub fn is_plausible_provider_id(raw: &str, prefix: &str) -> bool {
    raw.len() <= 255
        && raw
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// A subscription's state at the provider, as `Payments` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

/// A downgrade waiting for the end of the paid period, kept on the provider's subscription
/// itself (its metadata), so every reader of the subscription sees it and no webhook, in any
/// order, can apply the cheaper plan early: the plan paid for, kept until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanHold {
    pub plan_id: Id,
    pub until: DateTime<Utc>,
}

/// A subscription at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSubscription {
    pub id: String,
    pub customer_id: String,
    pub status: ProviderSubscriptionStatus,
    /// The prices of its items.
    pub price_ids: Vec<String>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub cancel_at_period_end: bool,
    /// Our organization id, from the metadata we set when creating it.
    pub org_id: Option<Id>,
    /// A downgrade waiting for the period's end (see [`PlanHold`]).
    pub hold: Option<PlanHold>,
}

/// A hosted page the user is sent to (Checkout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// What a Checkout session produced once completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckout {
    pub id: String,
    pub customer_id: Option<String>,
    /// Set for a session in subscription mode.
    pub subscription_id: Option<String>,
    /// Our organization id (the session's `client_reference_id`).
    pub org_id: Option<Id>,
}

/// A stored payment method, as the user sees it (never the card number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentMethodSummary {
    pub id: String,
    /// `card`, ...
    pub kind: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    /// Whether invoices are charged to it.
    pub is_default: bool,
}

/// An invoice's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

stored_enum!(InvoiceStatus {
    Draft => "draft",
    Open => "open",
    Paid => "paid",
    Void => "void",
    Uncollectible => "uncollectible",
});

impl InvoiceStatus {
    /// How far along an invoice is: a state never goes back to a lower rank, so an event that
    /// arrives late cannot undo a later one (`paid` after `open`, never the other way).
    pub fn rank(self) -> u8 {
        match self {
            InvoiceStatus::Draft => 0,
            InvoiceStatus::Open => 1,
            InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::Uncollectible => 2,
        }
    }
}

/// An invoice: the provider's, mirrored into our billing records (the user's invoice list is
/// answered from here, never from the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invoice {
    /// The provider's invoice id (`in_...`).
    pub id: String,
    #[schema(value_type = String)]
    pub org_id: Id,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    /// The human-readable number, once finalized.
    pub number: Option<String>,
    pub status: InvoiceStatus,
    /// Minor units of `currency`.
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The hosted invoice page, once finalized.
    pub hosted_invoice_url: Option<String>,
}

/// A filter over the billing records, newest first.
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    /// Only this organization's (every organization's when `None`: admin).
    pub org_id: Option<Id>,
    pub status: Option<InvoiceStatus>,
    /// Only invoices created in this period (`created_at` in `[start, end)`).
    pub created_in: Option<crate::Period>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

impl InvoiceQuery {
    /// 0 means 100; at most 1000.
    pub const PAGE: PageLimits = crate::page::LISTING;

    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

/// How many of an organization's billable units of one period have been reported to the
/// payment provider's meter. A report is written in two steps so that a crash in between
/// can neither lose units nor bill them twice: `pending` (the total being reported) is stored
/// first, then the meter event is sent with an identifier made of the range
/// (`reported`..`pending`), then `reported` moves up to it. A retry finds the pending range
/// and sends the same identifier again, which the provider drops as a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageReport {
    #[schema(value_type = String)]
    pub org_id: Id,
    #[schema(value_type = String)]
    pub period: crate::PeriodKey,
    /// Units the provider has confirmed.
    pub reported: u64,
    /// The total being reported now, if a report is under way (or was cut short).
    pub pending: Option<u64>,
}

impl UsageReport {
    /// Nothing reported yet.
    pub fn none(org_id: &Id, period: &crate::PeriodKey) -> Self {
        UsageReport { org_id: org_id.clone(), period: period.clone(), reported: 0, pending: None }
    }

    /// The meter event identifier of the range `reported..to`: derived from our ids, so a
    /// retry sends the same one.
    pub fn identifier(&self, to: u64) -> String {
        format!("usage-{}-{}-{}-{}", self.org_id, self.period, self.reported, to)
    }
}

/// An organization's usage of a closed period, written once by the `period-close` job: the
/// billing record of what the period counted, what the plan bills of it and what was
/// reported to the payment provider. Its existence is the mark that the period is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UsageSnapshot {
    #[schema(value_type = String)]
    pub org_id: Id,
    #[schema(value_type = String)]
    pub period: crate::PeriodKey,
    /// The plan whose limits applied when the period closed.
    #[schema(value_type = String)]
    pub plan_id: Id,
    /// The period counter, final.
    pub counted: u64,
    /// The units the plan bills of them (0 for a plan that bills no units).
    pub billable: u64,
    /// The units reported to the payment provider by the close.
    pub reported: u64,
    pub closed_at: DateTime<Utc>,
}

/// An estimate of the next invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvoiceEstimate {
    pub amount_due: i64,
    pub currency: String,
    pub period_end: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_a_prefix_and_word_characters() {
        assert!(is_plausible_provider_id("pm_1NvXyZ2eZvKYlo2C", "pm_"));
        assert!(is_plausible_provider_id("in_1_a", "in_"));
        for bad in ["pm_", "in_1", "pm_\u{b6}\u{1}", "pm_a/b", "pm_a%2F", "pm_a b", "pm_a.b"] {
            assert!(!is_plausible_provider_id(bad, "pm_"), "{bad:?}");
        }
        assert!(!is_plausible_provider_id(&format!("pm_{}", "a".repeat(253)), "pm_"));
    }
}

/// Webhook signatures (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`).
pub mod signature {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// How old a signed timestamp may be, either way, in seconds.
    pub const TOLERANCE_SECS: i64 = 300;

    /// Why a webhook's signature was refused.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum SignatureError {
        /// No `Stripe-Signature` header.
        #[error("the Stripe-Signature header is missing")]
        Missing,
        /// The header has no timestamp or no `v1` signature.
        #[error("the Stripe-Signature header is malformed")]
        Malformed,
        /// The timestamp is further than the tolerance from now.
        #[error("the signature's timestamp is outside the tolerance")]
        Stale,
        /// No `v1` signature matches the body.
        #[error("no signature matches the payload")]
        Mismatch,
    }

    fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The header value Stripe would send for `body` signed at `timestamp`.
    pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = mac(secret, timestamp, body).finalize().into_bytes();
        format!("t={timestamp},v1={}", hex::encode(tag))
    }

    /// Checks `header` against `body` at `now` (unix seconds): a `v1` signature that matches
    /// (compared in constant time), with a timestamp within [`TOLERANCE_SECS`].
    pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => timestamp = v.parse::<i64>().ok(),
                Some(("v1", v)) => signatures.push(v),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        if (now - timestamp).abs() > TOLERANCE_SECS {
            return Err(SignatureError::Stale);
        }
        let matches = signatures.iter().filter_map(|s| hex::decode(s).ok()).any(|tag| {
            // `verify_slice` compares in constant time.
            mac(secret, timestamp, body).verify_slice(&tag).is_ok()
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const SECRET: &str = "whsec_test";
        const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

        #[test]
        fn a_signature_made_with_the_secret_verifies() {
            let header = sign(SECRET, 1_000, BODY);
            assert_eq!(verify(SECRET, Some(&header), BODY, 1_000), Ok(()));
            assert_eq!(verify(SECRET, Some(&header), BODY, 1_000 + TOLERANCE_SECS), Ok(()));
            // Several signatures (secret rotation): one match is enough.
            let two = format!("{header},v1=00ff");
            assert_eq!(verify(SECRET, Some(&two), BODY, 1_000), Ok(()));
        }

        #[test]
        fn a_forged_altered_stale_or_missing_signature_is_refused() {
            let header = sign(SECRET, 1_000, BODY);
            assert_eq!(verify("whsec_other", Some(&header), BODY, 1_000), Err(SignatureError::Mismatch));
            assert_eq!(verify(SECRET, Some(&header), b"{\"id\":\"evt_2\"}", 1_000), Err(SignatureError::Mismatch));
            assert_eq!(verify(SECRET, Some(&header), BODY, 1_000 + TOLERANCE_SECS + 1), Err(SignatureError::Stale));
            assert_eq!(verify(SECRET, Some(&header), BODY, 1_000 - TOLERANCE_SECS - 1), Err(SignatureError::Stale));
            assert_eq!(verify(SECRET, None, BODY, 1_000), Err(SignatureError::Missing));
            assert_eq!(verify(SECRET, Some("t=1000"), BODY, 1_000), Err(SignatureError::Malformed));
            assert_eq!(verify(SECRET, Some("v1=abc"), BODY, 1_000), Err(SignatureError::Malformed));
            assert_eq!(verify(SECRET, Some("t=1000,v1=zz"), BODY, 1_000), Err(SignatureError::Mismatch));
        }
    }
}

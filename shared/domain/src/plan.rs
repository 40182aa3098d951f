//! Plans, subscriptions and billing periods.

use crate::billing::{PlanBillingIds, SubscriptionBilling};
use crate::stored_enum::stored_enum;
use crate::text::{optional_text, required_text, DESCRIPTION_MAX, NAME_MAX};
use crate::{DomainError, Id, PageLimits};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How a plan charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillingType {
    /// A fixed price per period with a hard monthly limit: calls past it get 429.
    Subscription,
    /// Every unit is billed at `overage_price`; never blocked by the quota.
    PayAsYouGo,
    /// Base price with `monthly_limit` units included; units past it are billed as overage.
    Hybrid,
}

stored_enum!(BillingType { Subscription => "subscription", PayAsYouGo => "pay_as_you_go", Hybrid => "hybrid" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Active,
    /// No new subscriptions; existing ones keep it.
    Archived,
}

stored_enum!(PlanStatus { Active => "active", Archived => "archived" });

/// A plan. The JSON field names are the API contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub id: Id,
    pub name: String,
    pub description: Option<String>,
    pub billing_type: BillingType,
    /// Recurring price per period in minor units of `currency` (900 = $9.00).
    pub price: i64,
    /// ISO 4217, lower case (`usd`).
    pub currency: String,
    /// Requests per minute per API key.
    pub rate_limit: u32,
    /// Extra requests allowed in a burst above the per-minute rate (default: none).
    pub burst: Option<u32>,
    /// Calls (cost units) per period; `null` = unlimited.
    pub monthly_limit: Option<u64>,
    /// Minor units per 1,000 units of overage (hybrid) or of all usage (pay-as-you-go).
    pub overage_price: Option<i64>,
    /// How long usage logs are kept.
    pub retention_days: u32,
    /// Usable API keys per organization.
    pub max_api_keys: u32,
    /// Projects per organization, the default project included (plans stored before
    /// projects existed read as [`Plan::default_max_projects`]).
    #[serde(default = "one")]
    pub max_projects: u32,
    #[schema(value_type = Object)]
    pub features: serde_json::Value,
    pub status: PlanStatus,
    /// The plan's product and prices at the payment provider, once synced (paid plans, with
    /// billing configured).
    #[serde(default)]
    pub billing: Option<PlanBillingIds>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// Units per overage price.
pub const OVERAGE_UNIT: u64 = 1000;

impl Plan {
    /// Whether calls past `monthly_limit` are refused (429 `quota_exceeded`) instead of being
    /// counted as overage.
    pub fn hard_limit(&self) -> Option<u64> {
        match self.billing_type {
            BillingType::Subscription => self.monthly_limit,
            BillingType::PayAsYouGo | BillingType::Hybrid => None,
        }
    }

    /// Units beyond the included quota (all units for pay-as-you-go).
    pub fn overage_units(&self, used: u64) -> u64 {
        match (self.billing_type, self.monthly_limit) {
            (BillingType::PayAsYouGo, _) => used,
            (BillingType::Hybrid, Some(limit)) => used.saturating_sub(limit),
            _ => 0,
        }
    }

    /// Price of `used` units this period: base price plus overage, in minor units. Overage
    /// is charged per started block of 1,000 units.
    pub fn projected_cost(&self, used: u64) -> i64 {
        let blocks = self.overage_units(used).div_ceil(OVERAGE_UNIT) as i64;
        self.price + blocks * self.overage_price.unwrap_or(0)
    }

    /// The projects a plan stored before projects existed allows: the seeded plans' own
    /// figures (Free 1, Pro 5, Business 25), else 5 for a paid plan and 1 for a free one.
    pub fn default_max_projects(id: &Id, price: i64) -> u32 {
        match id.as_str() {
            FREE_PLAN_ID => 1,
            "plan_pro" => 5,
            "plan_business" => 25,
            _ if price > 0 => 5,
            _ => 1,
        }
    }

    /// Whether the plan includes Slack notifications (`features.slack == true`).
    pub fn allows_slack(&self) -> bool {
        self.features.get("slack") == Some(&serde_json::Value::Bool(true))
    }

    /// The three plans an empty store starts with: Free, Pro, Business (the only one with
    /// Slack notifications).
    pub fn defaults(now: DateTime<Utc>) -> Vec<Plan> {
        let plan = |id: &str, name: &str, price: i64, rate: u32, limit: u64, retention: u32, keys: u32| Plan {
            id: Id::from_string(id),
            name: name.into(),
            description: None,
            billing_type: BillingType::Subscription,
            price,
            currency: "usd".into(),
            rate_limit: rate,
            burst: None,
            monthly_limit: Some(limit),
            overage_price: None,
            retention_days: retention,
            max_api_keys: keys,
            max_projects: Plan::default_max_projects(&Id::from_string(id), price),
            features: serde_json::json!({}),
            status: PlanStatus::Active,
            billing: None,
            created_at: now,
            updated_at: now,
        };
        let mut business = plan("plan_business", "Business", 2900, 3000, 500_000, 90, 50);
        business.features = serde_json::json!({"slack": true});
        vec![
            plan(FREE_PLAN_ID, "Free", 0, 60, 1_000, 7, 2),
            plan("plan_pro", "Pro", 900, 600, 50_000, 30, 10),
            business,
        ]
    }
}

/// New organizations start on this plan.
pub const FREE_PLAN_ID: &str = "plan_free";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    /// Payment failed; still served during dunning.
    PastDue,
    /// Ended: the gateway refuses the organization's keys (403).
    Canceled,
}

stored_enum!(SubscriptionStatus { Active => "active", PastDue => "past_due", Canceled => "canceled" });

/// An organization's subscription to a plan (one per organization).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: Id,
    pub org_id: Id,
    pub plan_id: Id,
    pub status: SubscriptionStatus,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    /// The payment provider's side (customer, subscription, period, pending downgrade).
    #[serde(default)]
    pub billing: SubscriptionBilling,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How long a `past_due` subscription keeps its plan after the first failed payment; then
/// the organization gets the Free plan's limits until a payment succeeds.
pub const PAST_DUE_GRACE_DAYS: i64 = 7;

impl Subscription {
    /// Whether the gateway serves calls for it.
    pub fn is_serving(&self) -> bool {
        self.status != SubscriptionStatus::Canceled
    }

    /// Whether it is past due beyond the grace period at `now`: its organization is held to
    /// the Free plan's limits.
    pub fn grace_is_over(&self, now: DateTime<Utc>) -> bool {
        self.status == SubscriptionStatus::PastDue
            && self
                .billing
                .past_due_since
                .is_some_and(|since| now >= since + chrono::Duration::days(PAST_DUE_GRACE_DAYS))
    }
}

/// Filter for listing subscriptions, newest first.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionQuery {
    /// Only this organization's (it has one at most).
    pub org_id: Option<Id>,
    /// Only subscriptions to this plan.
    pub plan_id: Option<Id>,
    /// At most this many; see [`SubscriptionQuery::PAGE`].
    pub limit: u32,
    /// Where the page starts: the cursor a previous page returned
    /// (`SubscriptionRepository::subscriptions_page`); None for the first page.
    pub cursor: Option<String>,
}

impl SubscriptionQuery {
    /// 0 means 100; at most 1000.
    pub const PAGE: PageLimits = crate::page::LISTING;

    /// The number of subscriptions to return for this query's `limit`.
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

/// The key of a billing period: `YYYY-MM` of its month (UTC). Usage counters are keyed by it.
///
/// Serialised as the plain string, so events, alerts and the API carry `"2026-11"`. Not a
/// `ToSchema` type of its own: fields of this type say `#[schema(value_type = String)]`, so
/// the OpenAPI document shows a string as before.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeriodKey(String);

impl PeriodKey {
    /// The key of the month containing `t`.
    pub fn containing(t: DateTime<Utc>) -> Self {
        PeriodKey(format!("{:04}-{:02}", t.year(), t.month()))
    }
    /// Wraps a key read back from a store or a message. Not checked: to the stores a key is
    /// opaque text, and the contract tests use keys of their own to stay apart.
    pub fn from_string(s: impl Into<String>) -> Self {
        PeriodKey(s.into())
    }
    /// The key as stored: `YYYY-MM`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PeriodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A billing period: the calendar month (UTC). Usage counters are keyed by `key`, so a new
/// period is a new counter and nothing is ever reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    /// `YYYY-MM`.
    #[schema(value_type = String)]
    pub key: PeriodKey,
    pub start: DateTime<Utc>,
    /// Exclusive.
    pub end: DateTime<Utc>,
}

impl Period {
    /// The period of a key (`YYYY-MM`); None for a key of another shape.
    pub fn from_key(key: &PeriodKey) -> Option<Period> {
        let (y, m) = key.as_str().split_once('-')?;
        let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
        let start = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
        (PeriodKey::containing(start) == *key).then(|| Period::containing(start))
    }

    pub fn containing(t: DateTime<Utc>) -> Period {
        let start = Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().expect("first of month");
        let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
        let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("first of next month");
        Period { key: PeriodKey::containing(t), start, end }
    }
}

/// A plan's fields before validation, as an operator enters them (numbers wide enough to
/// reject out-of-range input with a clear message). `into_plan` is the one place the plan
/// rules live.
pub struct PlanDraft {
    pub name: String,
    pub description: Option<String>,
    pub billing_type: BillingType,
    pub price: i64,
    pub currency: String,
    pub rate_limit: i64,
    pub burst: Option<i64>,
    pub monthly_limit: Option<i64>,
    pub overage_price: Option<i64>,
    pub retention_days: i64,
    pub max_api_keys: i64,
    pub max_projects: i64,
    pub features: serde_json::Value,
    pub status: PlanStatus,
}

fn in_range(field: &'static str, v: i64, min: i64, max: i64) -> Result<(), DomainError> {
    if v < min || v > max {
        return Err(invalid(field, format!("must be between {min} and {max}")));
    }
    Ok(())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField { field, reason: reason.into() }
}

impl PlanDraft {
    /// The draft of an existing plan (to apply a partial update to).
    pub fn of(p: &Plan) -> PlanDraft {
        PlanDraft {
            name: p.name.clone(),
            description: p.description.clone(),
            billing_type: p.billing_type,
            price: p.price,
            currency: p.currency.clone(),
            rate_limit: i64::from(p.rate_limit),
            burst: p.burst.map(i64::from),
            monthly_limit: p.monthly_limit.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            overage_price: p.overage_price,
            retention_days: i64::from(p.retention_days),
            max_api_keys: i64::from(p.max_api_keys),
            max_projects: i64::from(p.max_projects),
            features: p.features.clone(),
            status: p.status,
        }
    }

    /// The validated plan, or the first rule it breaks (`InvalidField`).
    pub fn into_plan(self, id: Id, created_at: DateTime<Utc>, updated_at: DateTime<Utc>) -> Result<Plan, DomainError> {
        let name = required_text("name", &self.name, NAME_MAX)?;
        let description = optional_text("description", self.description.as_deref(), DESCRIPTION_MAX)?;
        if self.price < 0 {
            return Err(invalid("price", "must be >= 0 (minor units)"));
        }
        let currency = self.currency.trim().to_string();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(invalid("currency", "must be three lower-case letters (ISO 4217), such as usd"));
        }
        in_range("rate_limit", self.rate_limit, 1, 1_000_000)?;
        if let Some(b) = self.burst {
            in_range("burst", b, 0, 1_000_000)?;
        }
        if let Some(l) = self.monthly_limit {
            in_range("monthly_limit", l, 1, i64::MAX)?;
        }
        match self.overage_price {
            Some(p) if p < 0 => return Err(invalid("overage_price", "must be >= 0 (minor units)")),
            None if self.billing_type != BillingType::Subscription => {
                return Err(invalid("overage_price", "is required for pay_as_you_go and hybrid plans"))
            }
            _ => {}
        }
        in_range("retention_days", self.retention_days, 1, 3650)?;
        in_range("max_api_keys", self.max_api_keys, 1, 1000)?;
        in_range("max_projects", self.max_projects, 1, 1000)?;
        if !self.features.is_object() {
            return Err(invalid("features", "must be a JSON object"));
        }
        // The ranges above make these conversions lossless.
        Ok(Plan {
            id,
            name,
            description,
            billing_type: self.billing_type,
            price: self.price,
            currency,
            rate_limit: self.rate_limit as u32,
            burst: self.burst.map(|b| b as u32),
            monthly_limit: self.monthly_limit.map(|l| l as u64),
            overage_price: self.overage_price,
            retention_days: self.retention_days as u32,
            max_api_keys: self.max_api_keys as u32,
            max_projects: self.max_projects as u32,
            features: self.features,
            status: self.status,
            // Synced by the caller when billing is configured.
            billing: None,
            created_at,
            updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_from_its_key() {
        let p = Period::from_key(&PeriodKey::from_string("2026-12")).unwrap();
        assert_eq!(p, Period::containing(Utc.with_ymd_and_hms(2026, 12, 15, 8, 0, 0).unwrap()));
        assert_eq!(p.end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        for bad in ["2026-13", "2026-1", "26-01", "2026", "x-y", ""] {
            assert_eq!(Period::from_key(&PeriodKey::from_string(bad)), None, "{bad}");
        }
    }
    use crate::stored_enum::assert_text_is_serde_name;

    #[test]
    fn billing_type_text_is_its_serde_name() {
        assert_text_is_serde_name::<BillingType>();
    }

    #[test]
    fn plan_status_text_is_its_serde_name() {
        assert_text_is_serde_name::<PlanStatus>();
    }

    #[test]
    fn subscription_status_text_is_its_serde_name() {
        assert_text_is_serde_name::<SubscriptionStatus>();
    }

    #[test]
    fn period_keys_serialise_as_plain_strings() {
        let key = Period::containing(Utc.with_ymd_and_hms(2026, 11, 5, 0, 0, 0).unwrap()).key;
        assert_eq!(serde_json::to_value(&key).unwrap(), serde_json::json!("2026-11"));
        assert_eq!(serde_json::from_value::<PeriodKey>(serde_json::json!("2026-11")).unwrap(), key);
        assert_eq!(key.to_string(), "2026-11");
    }

    #[test]
    fn periods_are_calendar_months() {
        let p = Period::containing(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(p.key.as_str(), "2026-12");
        assert_eq!(p.end, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        let p = Period::containing(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
        assert_eq!((p.key.as_str(), p.start.day(), p.end.month()), ("2026-02", 1, 3));
    }

    #[test]
    fn limits_and_costs() {
        let now = Utc::now();
        let mut p = Plan::defaults(now).remove(1);
        assert_eq!(p.hard_limit(), Some(50_000));
        assert_eq!(p.projected_cost(60_000), 900);
        p.billing_type = BillingType::Hybrid;
        p.overage_price = Some(50);
        assert_eq!(p.hard_limit(), None);
        assert_eq!(p.overage_units(50_001), 1);
        assert_eq!(p.projected_cost(50_001), 950);
        assert_eq!(p.projected_cost(52_000), 1000);
        p.billing_type = BillingType::PayAsYouGo;
        p.price = 0;
        assert_eq!(p.projected_cost(1), 50);
    }
}

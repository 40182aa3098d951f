//! Platform analytics for admins beside the revenue ones (`analytics`): signups and active
//! organizations per day, the platform's usage (calls per day, per endpoint, error rates,
//! latency percentiles) and the top customers by calls and by revenue.
//!
//! Answered from the daily metrics rollup (`tollgate_domain::metrics`, kept on write) and
//! the billing records, never from the usage logs: the work grows with the days asked for
//! and the organizations active on them, not with the calls.
//!
//! Definitions (UTC days, `from` and `to` both included):
//! - Signups: users created that day (deleted ones still count).
//! - Active organizations: organizations with at least one recorded call that day.
//! - Usage: every recorded call of every organization, as `/api/user/usage/analytics`
//!   gives an organization's, from daily aggregates.
//! - Top customers by calls: the organizations with the most recorded calls over the range.
//!   By revenue: `amount_paid` of the `paid` invoices created in the range, per currency.

use crate::analytics::invoices_of;
pub use crate::usage_stats::top_limit;
use crate::usage_stats::{catalog, UsageAnalytics};
use crate::AppError;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tollgate_domain::{platform_org_id, AggregateQuery, Granularity, Id, InvoiceStatus, Period, Store};
use utoipa::ToSchema;

/// The days of a question without a range: the last 30, today included.
pub const DEFAULT_DAYS: i64 = 30;
/// How many days one question may span.
pub const MAX_DAYS: i64 = 400;

/// Whole UTC days, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl DayRange {
    /// The days `from..=to` (`YYYY-MM-DD`). Without them: the [`DEFAULT_DAYS`] ending today
    /// (one given alone anchors the other). The error says what is wrong, for a 400 answer.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: DateTime<Utc>) -> Result<Self, String> {
        let parse = |name: &str, raw: &str| {
            NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| format!("{name} must be YYYY-MM-DD"))
        };
        let span = Duration::days(DEFAULT_DAYS - 1);
        let (first, last) = match (from, to) {
            (Some(f), Some(t)) => (parse("from", f)?, parse("to", t)?),
            (Some(f), None) => {
                let first = parse("from", f)?;
                (first, first.checked_add_signed(span).ok_or("from is out of range")?)
            }
            (None, Some(t)) => {
                let last = parse("to", t)?;
                (last.checked_sub_signed(span).ok_or("to is out of range")?, last)
            }
            (None, None) => {
                let today = now.date_naive();
                (today.checked_sub_signed(span).ok_or("now is out of range")?, today)
            }
        };
        if first > last {
            return Err("from must not be after to".into());
        }
        if (last - first).num_days() >= MAX_DAYS {
            return Err(format!("the range spans more than {MAX_DAYS} days"));
        }
        Ok(DayRange { first, last })
    }

    /// Midnight UTC of the first day.
    pub fn start(&self) -> DateTime<Utc> {
        self.first.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// Midnight UTC after the last day (exclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.last.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(1)
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        self.first.iter_days().take_while({
            let last = self.last;
            move |d| *d <= last
        })
    }
}

/// One day of signups and activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsersDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Users created that day.
    pub signups: u64,
    /// Organizations with at least one recorded call that day.
    pub active_organizations: u64,
}

/// Signups and active organizations over a range of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsersAnalytics {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// Users created over the range.
    pub signups: u64,
    /// Every day of the range, days without any included, oldest first.
    pub days: Vec<UsersDay>,
}

/// Signups and active organizations per day.
pub async fn users(store: &dyn Store, range: DayRange) -> Result<UsersAnalytics, AppError> {
    let (signups, active) = tokio::try_join!(
        store.signups_per_day(range.start(), range.end()),
        store.active_orgs_per_day(range.start(), range.end()),
    )?;
    let by_day = |counts: Vec<tollgate_domain::DayCount>| -> HashMap<NaiveDate, u64> {
        counts.into_iter().map(|c| (c.day.date_naive(), c.count)).collect()
    };
    let (signups, active) = (by_day(signups), by_day(active));
    let days: Vec<UsersDay> = range
        .days()
        .map(|d| UsersDay {
            day: d.to_string(),
            signups: signups.get(&d).copied().unwrap_or(0),
            active_organizations: active.get(&d).copied().unwrap_or(0),
        })
        .collect();
    Ok(UsersAnalytics {
        from: range.first.to_string(),
        to: range.last.to_string(),
        signups: days.iter().map(|d| d.signups).sum(),
        days,
    })
}

/// The platform's usage over the range: every organization's calls, from the platform's
/// daily aggregates, in the shape of an organization's usage analytics (`project_id` null,
/// `granularity` day, one `timeseries` point per day).
pub async fn usage(store: &dyn Store, range: DayRange, top: usize) -> Result<UsageAnalytics, AppError> {
    let query = AggregateQuery {
        org_id: platform_org_id(),
        granularity: Granularity::Day,
        from: range.start(),
        to: range.end(),
    };
    let (aggregates, catalog) =
        tokio::try_join!(async { store.usage_aggregates(&query).await.map_err(AppError::from) }, catalog(store))?;
    Ok(UsageAnalytics::of(&aggregates, &catalog, (range.start(), range.end(), Granularity::Day), None, top))
}

/// Who an organization is, for a top list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerRef {
    pub org_id: Id,
    /// `null` when the organization no longer exists.
    pub name: Option<String>,
    /// Its owner's email; `null` when the owner no longer exists.
    pub owner_email: Option<String>,
}

/// A customer's recorded calls over the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerCalls {
    #[serde(flatten)]
    pub customer: CustomerRef,
    pub calls: u64,
    pub cost_units: u64,
}

/// A customer's collected revenue over the range, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerRevenue {
    #[serde(flatten)]
    pub customer: CustomerRef,
    /// Integer minor units.
    pub amount: i64,
    /// Paid invoices counted.
    pub invoices: u64,
}

/// The customers who paid the most in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevenueLeaders {
    pub currency: String,
    /// Most first (ties by organization id).
    pub customers: Vec<CustomerRevenue>,
}

/// The top customers by calls and by revenue over a range of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopCustomers {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// Most calls first (ties by organization id).
    pub by_calls: Vec<CustomerCalls>,
    /// One entry per currency with revenue in the range, currencies in order.
    pub by_revenue: Vec<RevenueLeaders>,
}

/// The `top` customers by recorded calls and by collected revenue.
pub async fn top_customers(store: &dyn Store, range: DayRange, top: u32) -> Result<TopCustomers, AppError> {
    let by_calls = store.top_orgs_by_calls(range.start(), range.end(), top).await?;
    // Paid invoices created in the range: those of the months it overlaps, filtered.
    let mut revenue: BTreeMap<String, BTreeMap<Id, (i64, u64)>> = BTreeMap::new();
    let mut month = Period::containing(range.start());
    while month.start < range.end() {
        for invoice in invoices_of(store, &month).await? {
            if invoice.status == InvoiceStatus::Paid
                && invoice.created_at >= range.start()
                && invoice.created_at < range.end()
            {
                let total = revenue.entry(invoice.currency).or_default().entry(invoice.org_id).or_default();
                total.0 += invoice.amount_paid;
                total.1 += 1;
            }
        }
        month = Period::containing(month.end);
    }
    let mut names: HashMap<Id, CustomerRef> = HashMap::new();
    let mut by_revenue = Vec::new();
    for (currency, totals) in revenue {
        let mut leaders: Vec<(Id, (i64, u64))> = totals.into_iter().collect();
        leaders.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(&b.0)));
        leaders.truncate(top as usize);
        let mut customers = Vec::with_capacity(leaders.len());
        for (org_id, (amount, invoices)) in leaders {
            customers.push(CustomerRevenue {
                customer: customer_ref(store, &mut names, &org_id).await?,
                amount,
                invoices,
            });
        }
        by_revenue.push(RevenueLeaders { currency, customers });
    }
    let mut calls = Vec::with_capacity(by_calls.len());
    for org in by_calls {
        calls.push(CustomerCalls {
            customer: customer_ref(store, &mut names, &org.org_id).await?,
            calls: org.calls,
            cost_units: org.cost_units,
        });
    }
    Ok(TopCustomers { from: range.first.to_string(), to: range.last.to_string(), by_calls: calls, by_revenue })
}

/// The organization's name and owner's email, looked up once per question.
async fn customer_ref(
    store: &dyn Store,
    known: &mut HashMap<Id, CustomerRef>,
    org_id: &Id,
) -> Result<CustomerRef, AppError> {
    if let Some(found) = known.get(org_id) {
        return Ok(found.clone());
    }
    let org = store.get_organization(org_id).await?;
    let owner = match &org {
        Some(org) => store.get_user(&org.owner_id).await?,
        None => None,
    };
    let found = CustomerRef {
        org_id: org_id.clone(),
        name: org.map(|o| o.name),
        owner_email: owner.map(|u| u.email.as_str().to_string()),
    };
    known.insert(org_id.clone(), found.clone());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn day_ranges() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 15, 0, 0).unwrap();
        let r = DayRange::parse(None, None, now).unwrap();
        assert_eq!((r.first, r.last), (date("2026-11-07"), date("2026-12-06")), "the last 30 days, today included");
        assert_eq!(r.days().count(), 30);
        assert_eq!(r.start(), Utc.with_ymd_and_hms(2026, 11, 7, 0, 0, 0).unwrap());
        assert_eq!(r.end(), Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap(), "midnight after the last day");
        let one = DayRange::parse(Some("2026-02-28"), Some("2026-02-28"), now).unwrap();
        assert_eq!(one.days().collect::<Vec<_>>(), [date("2026-02-28")]);
        let anchored = DayRange::parse(Some("2026-01-01"), None, now).unwrap();
        assert_eq!(anchored.last, date("2026-01-30"));
        let anchored = DayRange::parse(None, Some("2026-01-30"), now).unwrap();
        assert_eq!(anchored.first, date("2026-01-01"));
        assert!(DayRange::parse(Some("2026-01-01"), Some("2027-02-04"), now).is_ok(), "400 days");
        for (from, to, message) in [
            ("2026-1-01x", "2026-01-02", "from must be YYYY-MM-DD"),
            ("2026-01-02", "2026-01-01", "from must not be after to"),
            ("2026-01-01", "2027-02-05", "the range spans more than 400 days"),
            ("2026-01-01", "2026-02-30", "to must be YYYY-MM-DD"),
        ] {
            assert_eq!(DayRange::parse(Some(from), Some(to), now), Err(message.to_string()), "{from}..{to}");
        }
    }
}

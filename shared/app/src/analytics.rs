//! Revenue analytics for admins: MRR and its movements, churn, revenue collected, and the
//! monthly revenue report. Answered from the revenue ledger (`RevenueChange`, written with
//! every subscription change) and the billing records (invoices), never from usage logs.
//!
//! Every amount is integer minor units with its currency; figures of different currencies
//! are never added up: each answer has one entry per currency.
//!
//! Definitions (per calendar month, UTC):
//! - An organization's MRR is its plan's recurring price while its subscription is serving,
//!   0 once canceled (`monthly_recurring_revenue`); a plan an admin assigned without the
//!   payment provider counts at its price.
//! - Movements compare each organization's MRR at the month's start and at its end: 0 -> x is
//!   `new` (or `reactivation` if the organization had MRR before, as far as the ledger shows),
//!   x -> y > x `expansion` (y - x), x -> y < x with y > 0 `contraction` (x - y), x -> 0
//!   `churned` (x). A change undone within the month moves nothing. `net` = new +
//!   reactivation + expansion - contraction - churned = `mrr_end` - `mrr_start`.
//! - Logo churn: organizations paying at the month's start that pay nothing at its end,
//!   over those paying at its start. Revenue churn: (churned + contraction) over the MRR at
//!   the month's start. Both are null for a month that starts with nobody paying.
//! - Collected: `amount_paid` of the `paid` invoices created in the month.
//! - Payment success rate: paid invoices over paid + failed ones, where failed is
//!   `uncollectible`, or still `open` [`PAST_DUE_GRACE_DAYS`] after its creation (a payment
//!   that did not go through); drafts, voided invoices and open ones younger than that count
//!   neither way. Null when there are none.
//! - Revenue per plan: a paid invoice counts for the plan its organization's subscription had
//!   at the invoice's `period_start`, from the ledger (before an organization's first ledger
//!   row, the plan that row left; without any row, its current subscription's plan).

use crate::AppError;
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tollgate_domain::{
    Id, Invoice, InvoiceQuery, InvoiceStatus, Period, PeriodKey, RevenueChange, Store, PAST_DUE_GRACE_DAYS,
};
use utoipa::ToSchema;

/// How many months one analytics question or report may span.
pub const MAX_MONTHS: usize = 36;
/// The months of an analytics question without a range: the last 12, this one included.
pub const DEFAULT_MONTHS: u32 = 12;

/// The months `from..=to` (`YYYY-MM`). Without `from`/`to`: the [`DEFAULT_MONTHS`] ending
/// with the month of `now` (one given alone anchors the other). The error says what is wrong,
/// for a 400 answer.
pub fn month_range(from: Option<&str>, to: Option<&str>, now: DateTime<Utc>) -> Result<Vec<Period>, String> {
    let parse = |name: &str, raw: &str| {
        Period::from_key(&PeriodKey::from_string(raw.trim())).ok_or_else(|| format!("{name} must be YYYY-MM"))
    };
    let span = Months::new(DEFAULT_MONTHS - 1);
    let (first, last) = match (from, to) {
        (Some(f), Some(t)) => (parse("from", f)?, parse("to", t)?),
        (Some(f), None) => {
            let first = parse("from", f)?;
            let last = Period::containing(first.start.checked_add_months(span).ok_or("from is out of range")?);
            (first, last)
        }
        (None, Some(t)) => {
            let last = parse("to", t)?;
            (Period::containing(last.start.checked_sub_months(span).ok_or("to is out of range")?), last)
        }
        (None, None) => {
            let last = Period::containing(now);
            (Period::containing(last.start.checked_sub_months(span).ok_or("now is out of range")?), last)
        }
    };
    if first.start > last.start {
        return Err("from must not be after to".into());
    }
    let mut months = vec![first];
    while months.last().is_some_and(|m| m.start < last.start) {
        if months.len() == MAX_MONTHS {
            return Err(format!("the range spans more than {MAX_MONTHS} months"));
        }
        let next = Period::containing(months.last().expect("one at least").end);
        months.push(next);
    }
    Ok(months)
}

/// One month of MRR movements in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MrrMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// MRR at the month's start.
    pub mrr_start: i64,
    pub new: i64,
    pub expansion: i64,
    pub contraction: i64,
    pub churned: i64,
    pub reactivation: i64,
    /// new + reactivation + expansion - contraction - churned.
    pub net: i64,
    /// MRR at the month's end.
    pub mrr_end: i64,
    /// Organizations paying at the month's start.
    pub paying_start: u64,
    /// Of those, the ones paying nothing at its end.
    pub churned_logos: u64,
}

/// MRR now and its movements per month, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MrrSeries {
    pub currency: String,
    /// MRR now: the sum of every organization's monthly recurring revenue.
    pub mrr: i64,
    /// 12 x `mrr`.
    pub arr: i64,
    pub months: Vec<MrrMonth>,
}

/// An organization's MRR in one currency (0 in any other).
type Position = (String, i64);

/// The ledger as the analytics read it: each organization's position before the first month,
/// then the changes up to the end of the last one, oldest first.
struct Ledger {
    positions: Vec<RevenueChange>,
    changes: Vec<RevenueChange>,
}

async fn load_ledger(store: &dyn Store, months: &[Period]) -> Result<Ledger, AppError> {
    let (first, last) = bounds(months);
    let (positions, changes) = tokio::try_join!(store.revenue_positions(first), store.revenue_changes(first, last))?;
    Ok(Ledger { positions, changes })
}

fn bounds(months: &[Period]) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = months.first().expect("a range has a month");
    let last = months.last().expect("a range has a month");
    (first.start, last.end)
}

/// MRR now and the movements of each month, one series per currency (the currencies of the
/// plans always appear, so an empty ledger still answers zeros).
pub async fn mrr(store: &dyn Store, months: &[Period], now: DateTime<Utc>) -> Result<Vec<MrrSeries>, AppError> {
    let ledger = load_ledger(store, months).await?;
    // Positions just after `now`: the current MRR, whatever the range.
    let current = store.revenue_positions(now + Duration::milliseconds(1)).await?;
    let currencies = currencies(store, ledger.changes.iter().chain(&ledger.positions).chain(&current)).await?;
    let movements = movements(&ledger, months, &currencies);
    Ok(movements
        .into_iter()
        .map(|(currency, months)| {
            let mrr = current.iter().filter(|r| r.currency == currency).map(|r| r.mrr_after).sum::<i64>();
            MrrSeries { currency, mrr, arr: mrr * 12, months }
        })
        .collect())
}

/// The plans' currencies and those of `rows`, sorted.
async fn currencies<'a>(
    store: &dyn Store,
    rows: impl Iterator<Item = &'a RevenueChange>,
) -> Result<BTreeSet<String>, AppError> {
    let mut out: BTreeSet<String> = store.list_plans().await?.into_iter().map(|p| p.currency).collect();
    out.extend(rows.filter(|r| !r.currency.is_empty()).map(|r| r.currency.clone()));
    Ok(out)
}

/// Replays the ledger month by month: the movements of each month per currency.
fn movements(ledger: &Ledger, months: &[Period], currencies: &BTreeSet<String>) -> BTreeMap<String, Vec<MrrMonth>> {
    let mut state: HashMap<Id, Position> = HashMap::new();
    // Whether an organization had MRR in a currency before (new vs reactivation). Before the
    // range the ledger shows only each organization's latest row.
    let mut paid_before: HashSet<(Id, String)> = HashSet::new();
    for p in &ledger.positions {
        if p.mrr_after > 0 || p.mrr_before > 0 {
            paid_before.insert((p.org_id.clone(), p.currency.clone()));
        }
        state.insert(p.org_id.clone(), (p.currency.clone(), p.mrr_after));
    }
    let mut out: BTreeMap<String, Vec<MrrMonth>> = currencies.iter().map(|c| (c.clone(), Vec::new())).collect();
    let mut changes = ledger.changes.iter().peekable();
    for month in months {
        let start = state.clone();
        let mut in_month = Vec::new();
        while let Some(change) = changes.next_if(|c| c.at < month.end) {
            state.insert(change.org_id.clone(), (change.currency.clone(), change.mrr_after));
            in_month.push(change);
        }
        for (currency, series) in out.iter_mut() {
            let mrr_in =
                |s: &HashMap<Id, Position>, org: &Id| s.get(org).filter(|(c, _)| c == currency).map_or(0, |(_, m)| *m);
            let mut m = MrrMonth { month: month.key.to_string(), ..Default::default() };
            let orgs: BTreeSet<&Id> = start.keys().chain(state.keys()).collect();
            for org in orgs {
                let (s, e) = (mrr_in(&start, org), mrr_in(&state, org));
                m.mrr_start += s;
                m.mrr_end += e;
                if s > 0 {
                    m.paying_start += 1;
                }
                match (s, e) {
                    (0, 0) => {}
                    (0, e) if paid_before.contains(&(org.clone(), currency.clone())) => m.reactivation += e,
                    (0, e) => m.new += e,
                    (s, 0) => {
                        m.churned += s;
                        m.churned_logos += 1;
                    }
                    (s, e) if e > s => m.expansion += e - s,
                    (s, e) => m.contraction += s - e,
                }
            }
            m.net = m.new + m.reactivation + m.expansion - m.contraction - m.churned;
            series.push(m);
        }
        for change in in_month {
            if change.mrr_after > 0 || change.mrr_before > 0 {
                paid_before.insert((change.org_id.clone(), change.currency.clone()));
            }
        }
    }
    out
}

/// One month of churn in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChurnMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Organizations paying at the month's start.
    pub paying_start: u64,
    /// Of those, the ones paying nothing at its end.
    pub churned_logos: u64,
    /// churned_logos / paying_start; null when nobody paid at the start.
    pub logo_churn: Option<f64>,
    pub mrr_start: i64,
    pub churned: i64,
    pub contraction: i64,
    /// (churned + contraction) / mrr_start; null when the month starts at 0.
    pub revenue_churn: Option<f64>,
}

/// Churn per month, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChurnSeries {
    pub currency: String,
    pub months: Vec<ChurnMonth>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Logo and revenue churn per month, one series per currency.
pub async fn churn(store: &dyn Store, months: &[Period], now: DateTime<Utc>) -> Result<Vec<ChurnSeries>, AppError> {
    Ok(mrr(store, months, now)
        .await?
        .into_iter()
        .map(|s| ChurnSeries {
            currency: s.currency,
            months: s
                .months
                .into_iter()
                .map(|m| ChurnMonth {
                    logo_churn: ratio(m.churned_logos as i64, m.paying_start as i64),
                    revenue_churn: ratio(m.churned + m.contraction, m.mrr_start),
                    month: m.month,
                    paying_start: m.paying_start,
                    churned_logos: m.churned_logos,
                    mrr_start: m.mrr_start,
                    churned: m.churned,
                    contraction: m.contraction,
                })
                .collect(),
        })
        .collect())
}

/// What one plan brought in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlanRevenue {
    /// The plan (null: an invoice whose organization has no subscription).
    #[schema(value_type = Option<String>)]
    pub plan_id: Option<Id>,
    /// Its name, if the plan still exists.
    pub plan_name: Option<String>,
    pub collected: i64,
    pub invoices_paid: u64,
}

/// One month of collected revenue in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevenueMonth {
    /// `YYYY-MM`.
    pub month: String,
    pub collected: i64,
    pub invoices_paid: u64,
    pub invoices_failed: u64,
    /// invoices_paid / (invoices_paid + invoices_failed); null when both are 0.
    pub payment_success_rate: Option<f64>,
    pub by_plan: Vec<PlanRevenue>,
}

/// Revenue collected per month and per plan, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevenueSeries {
    pub currency: String,
    /// Over the whole range.
    pub collected: i64,
    pub invoices_paid: u64,
    pub invoices_failed: u64,
    pub payment_success_rate: Option<f64>,
    pub months: Vec<RevenueMonth>,
    /// Over the whole range, most collected first.
    pub by_plan: Vec<PlanRevenue>,
}

/// Every invoice created in `month` (the billing records), a page at a time.
pub(crate) async fn invoices_of(store: &dyn Store, month: &Period) -> Result<Vec<Invoice>, AppError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = InvoiceQuery {
            created_in: Some(month.clone()),
            cursor,
            limit: InvoiceQuery::PAGE.max,
            ..Default::default()
        };
        let (page, next) = store.list_invoices(&query).await?;
        out.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Whether an invoice counts as a failed payment at `now` (see the module's definitions).
fn payment_failed(invoice: &Invoice, now: DateTime<Utc>) -> bool {
    match invoice.status {
        InvoiceStatus::Uncollectible => true,
        InvoiceStatus::Open => invoice.created_at + Duration::days(PAST_DUE_GRACE_DAYS) <= now,
        InvoiceStatus::Draft | InvoiceStatus::Paid | InvoiceStatus::Void => false,
    }
}

/// The plan an organization's subscription had at a time, from the ledger.
struct PlanHistory {
    by_org: HashMap<Id, Vec<RevenueChange>>,
}

impl PlanHistory {
    fn new(ledger: &Ledger) -> Self {
        let mut by_org: HashMap<Id, Vec<RevenueChange>> = HashMap::new();
        for row in ledger.positions.iter().chain(&ledger.changes) {
            by_org.entry(row.org_id.clone()).or_default().push(row.clone());
        }
        PlanHistory { by_org }
    }

    /// None when the ledger has no row of the organization: the caller asks its subscription.
    fn plan_at(&self, org: &Id, at: DateTime<Utc>) -> Option<Id> {
        let rows = self.by_org.get(org)?;
        // Oldest first: the positions come before the range, the changes in order.
        match rows.iter().rev().find(|r| r.at <= at) {
            Some(r) => Some(r.plan_after.clone()),
            None => rows.first().map(|r| r.plan_before.clone().unwrap_or_else(|| r.plan_after.clone())),
        }
    }
}

/// Revenue collected per month and per plan, and the payment success rate, one series per
/// currency.
pub async fn revenue(store: &dyn Store, months: &[Period], now: DateTime<Utc>) -> Result<Vec<RevenueSeries>, AppError> {
    let ledger = load_ledger(store, months).await?;
    let history = PlanHistory::new(&ledger);
    let plans: HashMap<Id, String> = store.list_plans().await?.into_iter().map(|p| (p.id, p.name)).collect();
    let mut currencies = currencies(store, std::iter::empty()).await?;
    let mut invoices = Vec::with_capacity(months.len());
    for month in months {
        let of_month = invoices_of(store, month).await?;
        currencies.extend(of_month.iter().map(|i| i.currency.clone()));
        invoices.push(of_month);
    }
    // Organizations without a ledger row: their current subscription's plan.
    let mut current: HashMap<Id, Option<Id>> = HashMap::new();
    for invoice in invoices.iter().flatten().filter(|i| i.status == InvoiceStatus::Paid) {
        if !history.by_org.contains_key(&invoice.org_id) && !current.contains_key(&invoice.org_id) {
            let plan = store.subscription_of_org(&invoice.org_id).await?.map(|s| s.plan_id);
            current.insert(invoice.org_id.clone(), plan);
        }
    }
    let plan_of = |invoice: &Invoice| {
        history
            .plan_at(&invoice.org_id, invoice.period_start)
            .or_else(|| current.get(&invoice.org_id).cloned().flatten())
    };
    let by_plan = |totals: BTreeMap<Option<Id>, (i64, u64)>| {
        let mut out: Vec<PlanRevenue> = totals
            .into_iter()
            .map(|(plan_id, (collected, invoices_paid))| PlanRevenue {
                plan_name: plan_id.as_ref().and_then(|p| plans.get(p).cloned()),
                plan_id,
                collected,
                invoices_paid,
            })
            .collect();
        out.sort_by(|a, b| b.collected.cmp(&a.collected).then_with(|| a.plan_id.cmp(&b.plan_id)));
        out
    };
    Ok(currencies
        .into_iter()
        .map(|currency| {
            let mut range_plans: BTreeMap<Option<Id>, (i64, u64)> = BTreeMap::new();
            let months: Vec<RevenueMonth> = months
                .iter()
                .zip(&invoices)
                .map(|(month, invoices)| {
                    let mut month_plans: BTreeMap<Option<Id>, (i64, u64)> = BTreeMap::new();
                    let (mut collected, mut paid, mut failed) = (0, 0, 0);
                    for invoice in invoices.iter().filter(|i| i.currency == currency) {
                        if invoice.status == InvoiceStatus::Paid {
                            collected += invoice.amount_paid;
                            paid += 1;
                            let plan = plan_of(invoice);
                            for totals in [&mut month_plans, &mut range_plans] {
                                let t = totals.entry(plan.clone()).or_default();
                                t.0 += invoice.amount_paid;
                                t.1 += 1;
                            }
                        } else if payment_failed(invoice, now) {
                            failed += 1;
                        }
                    }
                    RevenueMonth {
                        month: month.key.to_string(),
                        collected,
                        invoices_paid: paid,
                        invoices_failed: failed,
                        payment_success_rate: ratio(paid as i64, (paid + failed) as i64),
                        by_plan: by_plan(month_plans),
                    }
                })
                .collect();
            let collected = months.iter().map(|m| m.collected).sum();
            let paid = months.iter().map(|m| m.invoices_paid).sum::<u64>();
            let failed = months.iter().map(|m| m.invoices_failed).sum::<u64>();
            RevenueSeries {
                currency,
                collected,
                invoices_paid: paid,
                invoices_failed: failed,
                payment_success_rate: ratio(paid as i64, (paid + failed) as i64),
                months,
                by_plan: by_plan(range_plans),
            }
        })
        .collect())
}

/// One row of the revenue report: a month in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevenueReportRow {
    /// `YYYY-MM`.
    pub month: String,
    pub currency: String,
    pub mrr_end: i64,
    pub new: i64,
    pub reactivation: i64,
    pub expansion: i64,
    pub contraction: i64,
    pub churned: i64,
    pub net: i64,
    pub collected: i64,
    pub invoices_paid: u64,
    pub invoices_failed: u64,
}

impl RevenueReportRow {
    /// The CSV header, in the order of [`RevenueReportRow::csv_fields`].
    pub const CSV_HEADER: [&'static str; 12] = [
        "month",
        "currency",
        "mrr_end",
        "new",
        "reactivation",
        "expansion",
        "contraction",
        "churned",
        "net",
        "collected",
        "invoices_paid",
        "invoices_failed",
    ];

    /// The row's fields as CSV text, in the header's order.
    pub fn csv_fields(&self) -> [String; 12] {
        [
            self.month.clone(),
            self.currency.clone(),
            self.mrr_end.to_string(),
            self.new.to_string(),
            self.reactivation.to_string(),
            self.expansion.to_string(),
            self.contraction.to_string(),
            self.churned.to_string(),
            self.net.to_string(),
            self.collected.to_string(),
            self.invoices_paid.to_string(),
            self.invoices_failed.to_string(),
        ]
    }
}

/// The revenue report: one row per month and currency, months in order, currencies sorted.
pub async fn revenue_report(
    store: &dyn Store,
    months: &[Period],
    now: DateTime<Utc>,
) -> Result<Vec<RevenueReportRow>, AppError> {
    let (mrr, revenue) = tokio::try_join!(mrr(store, months, now), revenue(store, months, now))?;
    let mut currencies: BTreeSet<&String> = mrr.iter().map(|s| &s.currency).collect();
    currencies.extend(revenue.iter().map(|s| &s.currency));
    let mut rows = Vec::new();
    for (i, month) in months.iter().enumerate() {
        for currency in &currencies {
            let m = mrr.iter().find(|s| &&s.currency == currency).map(|s| s.months[i].clone()).unwrap_or_default();
            let r = revenue.iter().find(|s| &&s.currency == currency).map(|s| &s.months[i]);
            rows.push(RevenueReportRow {
                month: month.key.to_string(),
                currency: (*currency).clone(),
                mrr_end: m.mrr_end,
                new: m.new,
                reactivation: m.reactivation,
                expansion: m.expansion,
                contraction: m.contraction,
                churned: m.churned,
                net: m.net,
                collected: r.map_or(0, |r| r.collected),
                invoices_paid: r.map_or(0, |r| r.invoices_paid),
                invoices_failed: r.map_or(0, |r| r.invoices_failed),
            });
        }
    }
    Ok(rows)
}

/// The rows as CSV (RFC 4180: a header row, CRLF line ends, fields with a comma, quote or
/// line break quoted with inner quotes doubled).
pub fn report_csv(rows: &[RevenueReportRow]) -> String {
    fn field(v: &str) -> String {
        if v.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    }
    let mut out = RevenueReportRow::CSV_HEADER.join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.csv_fields().iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn row(org: &str, at: DateTime<Utc>, before: i64, after: i64, plan: &str) -> RevenueChange {
        RevenueChange {
            org_id: Id::from_string(org),
            at,
            mrr_before: before,
            mrr_after: after,
            currency: "usd".into(),
            plan_before: None,
            plan_after: Id::from_string(plan),
        }
    }

    #[test]
    fn month_ranges() {
        let now = t(2026, 3, 15);
        let months = month_range(None, None, now).unwrap();
        assert_eq!(months.len(), 12);
        assert_eq!((months[0].key.as_str(), months[11].key.as_str()), ("2025-04", "2026-03"));
        let months = month_range(Some("2025-11"), Some("2026-02"), now).unwrap();
        assert_eq!(
            months.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
            ["2025-11", "2025-12", "2026-01", "2026-02"]
        );
        assert_eq!(month_range(Some("2026-01"), None, now).unwrap().last().unwrap().key.as_str(), "2026-12");
        assert_eq!(month_range(Some("2026-01"), Some("2028-12"), now).unwrap().len(), 36);
        assert!(month_range(Some("2026-01"), Some("2029-01"), now).unwrap_err().contains("36"));
        assert!(month_range(Some("2026-13"), None, now).unwrap_err().contains("from"));
        assert!(month_range(None, Some("26-01"), now).unwrap_err().contains("to"));
        assert!(month_range(Some("2026-02"), Some("2026-01"), now).unwrap_err().contains("after"));
    }

    #[test]
    fn movements_classify_each_organization_per_month() {
        let months = month_range(Some("2026-01"), Some("2026-05"), t(2026, 5, 1)).unwrap();
        let ledger = Ledger {
            // Before the range: a pays 900; c paid and churned in December.
            positions: vec![row("a", t(2025, 12, 1), 0, 900, "pro"), row("c", t(2025, 12, 20), 900, 0, "pro")],
            changes: vec![
                row("b", t(2026, 1, 5), 0, 900, "pro"),         // Jan: b new 900
                row("a", t(2026, 2, 3), 900, 2900, "business"), // Feb: a expansion 2000
                row("b", t(2026, 2, 10), 900, 0, "pro"),        // Feb: b churned 900
                row("a", t(2026, 3, 1), 2900, 900, "pro"),      // Mar: a contraction 2000
                row("c", t(2026, 3, 2), 0, 900, "pro"),         // Mar: c reactivation 900
                row("b", t(2026, 4, 2), 0, 900, "pro"),         // Apr: b reactivation ...
                row("b", t(2026, 4, 20), 900, 0, "pro"),        // ... undone in the month
            ],
        };
        let currencies = BTreeSet::from(["usd".to_string()]);
        let usd = movements(&ledger, &months, &currencies).remove("usd").unwrap();
        let got: Vec<_> = usd
            .iter()
            .map(|m| (m.new, m.reactivation, m.expansion, m.contraction, m.churned, m.net, m.mrr_start, m.mrr_end))
            .collect();
        assert_eq!(
            got,
            vec![
                (900, 0, 0, 0, 0, 900, 900, 1800),
                (0, 0, 2000, 0, 900, 1100, 1800, 2900),
                (0, 900, 0, 2000, 0, -1100, 2900, 1800),
                (0, 0, 0, 0, 0, 0, 1800, 1800),
                (0, 0, 0, 0, 0, 0, 1800, 1800),
            ]
        );
        assert_eq!((usd[1].paying_start, usd[1].churned_logos), (2, 1));
    }

    #[test]
    fn plan_history_and_failed_payments() {
        let ledger = Ledger {
            positions: vec![],
            changes: vec![
                RevenueChange { plan_before: Some(Id::from_string("free")), ..row("a", t(2026, 2, 1), 0, 900, "pro") },
                row("a", t(2026, 3, 1), 900, 2900, "business"),
            ],
        };
        let h = PlanHistory::new(&ledger);
        let a = Id::from_string("a");
        assert_eq!(h.plan_at(&a, t(2026, 1, 1)), Some(Id::from_string("free")), "before the first row");
        assert_eq!(h.plan_at(&a, t(2026, 2, 1)), Some(Id::from_string("pro")), "at a row");
        assert_eq!(h.plan_at(&a, t(2026, 4, 1)), Some(Id::from_string("business")));
        assert_eq!(h.plan_at(&Id::from_string("b"), t(2026, 4, 1)), None);
        assert_eq!(ratio(3, 4), Some(0.75));
        assert_eq!(ratio(0, 0), None);
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let row = RevenueReportRow {
            month: "2026-01".into(),
            currency: "u,\"sd".into(),
            mrr_end: 900,
            new: 900,
            reactivation: 0,
            expansion: 0,
            contraction: 0,
            churned: 0,
            net: 900,
            collected: -5,
            invoices_paid: 1,
            invoices_failed: 0,
        };
        let csv = report_csv(&[row]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], RevenueReportRow::CSV_HEADER.join(","));
        assert_eq!(lines[1], "2026-01,\"u,\"\"sd\",900,900,0,0,0,0,900,-5,1,0");
        assert_eq!(lines[2], "", "every line ends with CRLF");
    }
}

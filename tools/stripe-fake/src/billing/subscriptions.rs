//! Subscriptions: creation with the first invoice, and what creation, changes
//! ([`super::changes`]) and renewals ([`super::renewal`]) share: item checks, billing cycles,
//! invoice lines.

use crate::billing::invoices::{self, money, NewInvoice};
use crate::billing::payments::{charge, check_attached, no_payment_method_error, payment_method_for};
use crate::billing::usage::{metered_amount, usage_for_price};
use crate::clock::{period_end, Interval};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::state::{
    find, InvoiceLine, InvoiceStatus, Metadata, Origin, Price, State, SubItem, SubStatus, Subscription,
};

/// `payment_behavior` of subscription creation and updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // Stripe's own names for them
pub enum PaymentBehavior {
    /// Create/update even if the payment fails (the subscription is then incomplete/past due).
    AllowIncomplete,
    /// Refuse with a card error if the payment fails; nothing changes.
    ErrorIfIncomplete,
    /// Create without attempting payment (the first invoice is left open).
    DefaultIncomplete,
}

impl PaymentBehavior {
    /// Parses Stripe's value (`pending_if_incomplete` behaves as `allow_incomplete` here).
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("error_if_incomplete") => PaymentBehavior::ErrorIfIncomplete,
            Some("default_incomplete") => PaymentBehavior::DefaultIncomplete,
            _ => PaymentBehavior::AllowIncomplete,
        }
    }
}

/// `proration_behavior` of subscription updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proration {
    /// Prorations become pending invoice items, billed on the next invoice (Stripe's default).
    Create,
    /// Prorations are invoiced and charged at once.
    AlwaysInvoice,
    /// No prorations.
    None,
}

impl Proration {
    /// Parses Stripe's value.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("always_invoice") => Proration::AlwaysInvoice,
            Some("none") => Proration::None,
            _ => Proration::Create,
        }
    }
}

/// One requested item of a new subscription.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub price: String,
    pub quantity: Option<u64>,
    pub metadata: Metadata,
    /// The parameter prefix for errors (`items[0]`, `line_items[0]`).
    pub param: String,
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub customer: String,
    pub items: Vec<NewItem>,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub default_payment_method: Option<String>,
    pub payment_behavior: PaymentBehavior,
}

/// Checks a price for use on a subscription item and returns the quantity to store
/// (`None` for metered prices, default 1 for licensed ones).
pub(super) fn item_quantity(price: &Price, quantity: Option<u64>, param: &str) -> ApiResult<Option<u64>> {
    if !price.active {
        return Err(ApiError::invalid_param(
            format!("{param}[price]"),
            "The price specified is inactive. This field only accepts active prices.",
        ));
    }
    if price.recurring.is_none() {
        return Err(ApiError::invalid_param(
            format!("{param}[price]"),
            format!("The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`. Price: {}", price.id),
        ));
    }
    if price.is_metered() {
        if quantity.is_some() {
            return Err(ApiError::invalid_param(
                format!("{param}[quantity]"),
                format!(
                    "Quantity should not be specified where usage_type is `metered`. Remove quantity from `{param}`."
                ),
            ));
        }
        Ok(None)
    } else {
        Ok(Some(quantity.unwrap_or(1)))
    }
}

/// The billing cycle all items must share; Stripe's classic billing mode refuses mixed
/// intervals and currencies on one subscription.
pub(super) fn common_cycle<'a>(prices: impl Iterator<Item = &'a Price>) -> ApiResult<(Interval, u32, String)> {
    let mut cycle: Option<(Interval, u32, String)> = None;
    for p in prices {
        let Some(r) = &p.recurring else { continue };
        let this = (r.interval, r.interval_count, p.currency.clone());
        match &cycle {
            None => cycle = Some(this),
            Some((i, c, _)) if (*i, *c) != (this.0, this.1) => return Err(ApiError::invalid(
                "Currently all recurring prices on a subscription must have the same `interval` and `interval_count`.",
            )),
            Some((_, _, cur)) if *cur != this.2 => {
                return Err(ApiError::invalid("All prices on a subscription must have the same `currency`."))
            }
            Some(_) => {}
        }
    }
    cycle.ok_or_else(|| ApiError::missing_param("items"))
}

pub(super) fn product_name(s: &State, price: &Price) -> String {
    s.products.get(&price.product).map_or_else(|| price.product.clone(), |p| p.name.clone())
}

/// A licensed item's line for the period `[start, end)`, billed in advance.
fn licensed_line(s: &State, sub: &Subscription, item: &SubItem, price: &Price, start: i64, end: i64) -> InvoiceLine {
    let qty = item.quantity.unwrap_or(1);
    let interval = price.recurring.as_ref().map_or("month", |r| r.interval.as_str());
    InvoiceLine {
        id: new_id("il_"),
        amount: price.unit_amount * qty as i64,
        currency: price.currency.clone(),
        description: Some(format!(
            "{qty} × {} (at {} / {interval})",
            product_name(s, price),
            money(price.unit_amount, &price.currency)
        )),
        period_start: start,
        period_end: end,
        quantity: Some(qty as f64),
        price: Some(price.id.clone()),
        proration: false,
        invoice_item: None,
        subscription: Some(sub.id.clone()),
        subscription_item: Some(item.id.clone()),
        metadata: Metadata::new(),
    }
}

/// A metered item's line for its usage in `[start, end)`, billed in arrears.
fn metered_line(s: &State, sub: &Subscription, item: &SubItem, price: &Price, start: i64, end: i64) -> InvoiceLine {
    let from = start.max(item.usage_since);
    let usage = usage_for_price(s, price, &sub.customer, from, end).unwrap_or(0.0);
    let per = match price.transform_quantity {
        Some(t) => format!("{} per {} units", money(price.unit_amount, &price.currency), t.divide_by),
        None => format!("{} per unit", money(price.unit_amount, &price.currency)),
    };
    InvoiceLine {
        id: new_id("il_"),
        amount: metered_amount(price, usage),
        currency: price.currency.clone(),
        description: Some(format!("{usage} × {} (at {per})", product_name(s, price))),
        period_start: start,
        period_end: end,
        quantity: Some(usage),
        price: Some(price.id.clone()),
        proration: false,
        invoice_item: None,
        subscription: Some(sub.id.clone()),
        subscription_item: Some(item.id.clone()),
        metadata: Metadata::new(),
    }
}

/// The lines a subscription's invoice has at the boundary between the period that ends
/// (`ended`, metered usage) and the period that starts (`next`, licensed prices in advance).
pub fn cycle_lines(
    s: &State,
    sub: &Subscription,
    ended: Option<(i64, i64)>,
    next: Option<(i64, i64)>,
) -> Vec<InvoiceLine> {
    let mut lines = Vec::new();
    for item in &sub.items {
        let Some(price) = s.prices.get(&item.price) else { continue };
        match (price.is_metered(), ended, next) {
            (true, Some((start, end)), _) => lines.push(metered_line(s, sub, item, price, start, end)),
            (false, _, Some((start, end))) => lines.push(licensed_line(s, sub, item, price, start, end)),
            _ => {}
        }
    }
    lines
}

/// What the first invoice of a subscription would charge, for deciding before creating
/// anything (so `error_if_incomplete` leaves no trace when the card fails).
fn first_amount(s: &State, customer: &str, items: &[(Price, Option<u64>)]) -> i64 {
    let licensed: i64 =
        items.iter().filter(|(p, _)| !p.is_metered()).map(|(p, q)| p.unit_amount * q.unwrap_or(1) as i64).sum();
    let pending: i64 = invoices::pending_lines(s, customer, None).iter().map(|l| l.amount).sum();
    let balance = s.customers.get(customer).map_or(0, |c| c.balance);
    (licensed + pending + balance).max(0)
}

/// Creates a subscription and its first invoice, charged to the default payment method.
/// Events, in Stripe's order: `customer.subscription.created`, `invoice.created`,
/// `invoice.finalized`, then `invoice.paid` + `invoice.payment_succeeded` or
/// `invoice.payment_failed`.
pub fn create(s: &mut State, new: NewSubscription, origin: &Origin) -> ApiResult<String> {
    find(&s.customers, &new.customer, "customer", "customer")?;
    if new.items.is_empty() {
        return Err(ApiError::missing_param("items"));
    }
    let mut priced = Vec::new();
    for item in &new.items {
        let price = find(&s.prices, &item.price, "price", &format!("{}[price]", item.param))?.clone();
        let quantity = item_quantity(&price, item.quantity, &item.param)?;
        priced.push((price, quantity));
    }
    let (interval, interval_count, currency) = common_cycle(priced.iter().map(|(p, _)| p))?;
    if let Some(pm) = &new.default_payment_method {
        check_attached(s, &new.customer, pm, "default_payment_method")?;
    }
    let pm = payment_method_for(s, &new.customer, new.default_payment_method.as_deref(), None);
    // Charges are deterministic (the card decides), so the outcome is known before anything
    // is created: `error_if_incomplete` then leaves no trace, and the created event can show
    // the subscription as it ends up, as Stripe's does.
    let must_charge = first_amount(s, &new.customer, &priced) > 0;
    let will_pay = match (&pm, new.payment_behavior) {
        _ if !must_charge => true,
        (_, PaymentBehavior::DefaultIncomplete) => false,
        (None, _) => return Err(no_payment_method_error()),
        (Some(pm), PaymentBehavior::ErrorIfIncomplete) => {
            charge(s, pm).map_err(ApiError::card)?;
            true
        }
        (Some(pm), PaymentBehavior::AllowIncomplete) => charge(s, pm).is_ok(),
    };

    let now = s.now_for_customer(&new.customer);
    let id = new_id("sub_");
    let invoice = new_id("in_");
    let items = new
        .items
        .iter()
        .zip(&priced)
        .map(|(item, (price, quantity))| SubItem {
            id: new_id("si_"),
            created: now,
            price: price.id.clone(),
            quantity: *quantity,
            metadata: item.metadata.clone(),
            usage_since: now,
        })
        .collect();
    let seq = s.next_seq();
    let sub = Subscription {
        id: id.clone(),
        seq,
        created: now,
        customer: new.customer.clone(),
        items,
        metadata: new.metadata,
        description: new.description,
        status: if will_pay { SubStatus::Active } else { SubStatus::Incomplete },
        default_payment_method: new.default_payment_method,
        cancel_at_period_end: false,
        canceled_at: None,
        ended_at: None,
        cancellation_reason: None,
        billing_cycle_anchor: now,
        interval,
        interval_count,
        period_index: 0,
        current_period_start: now,
        current_period_end: period_end(now, interval, interval_count, 0),
        latest_invoice: Some(invoice.clone()),
        currency: currency.clone(),
        test_clock: s.clock_of(&new.customer).map(str::to_string),
    };
    let lines = cycle_lines(s, &sub, None, Some((sub.current_period_start, sub.current_period_end)));
    s.subscriptions.insert(id.clone(), sub);
    let snapshot = objects::subscription(s, &s.subscriptions[&id]);
    s.emit("customer.subscription.created", now, snapshot, None, origin);
    // A decline leaves the subscription incomplete (allow_incomplete); default_incomplete
    // does not try.
    let charge_now = new.payment_behavior != PaymentBehavior::DefaultIncomplete;
    issue_invoice(s, &id, invoice, "subscription_create", lines, (now, now), now, charge_now, origin)?;
    Ok(id)
}

/// Issues invoice `id` of subscription `sub_id` at time `at`: the given lines plus the
/// customer's pending items, finalized, and (with `charge_now`) charged. Whether the charge
/// failed.
#[allow(clippy::too_many_arguments)] // each is a different fact of the invoice
pub(super) fn issue_invoice(
    s: &mut State,
    sub_id: &str,
    id: String,
    reason: &'static str,
    mut lines: Vec<InvoiceLine>,
    period: (i64, i64),
    at: i64,
    charge_now: bool,
    origin: &Origin,
) -> ApiResult<bool> {
    let sub = find(&s.subscriptions, sub_id, "subscription", "id")?;
    let new = NewInvoice::for_subscription(sub, reason, period, at);
    lines.extend(invoices::take_pending_items(s, &new.customer, Some(sub_id), &id));
    invoices::create(s, new, id.clone(), lines, origin);
    invoices::finalize(s, &id, at, origin)?;
    let open = s.invoices.get(&id).is_some_and(|i| i.status == InvoiceStatus::Open);
    Ok(open && charge_now && invoices::attempt(s, &id, at, false, None, origin).is_err())
}

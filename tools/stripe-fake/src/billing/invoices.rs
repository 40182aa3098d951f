//! Invoices: creation, pending invoice items, finalization and payment.

use crate::billing::payments::{charge, no_payment_method_error, payment_method_for};
use crate::error::{ApiError, ApiResult, Decline};
use crate::ids::new_id;
use crate::objects;
use crate::state::{
    find, find_mut, Invoice, InvoiceItem, InvoiceLine, InvoiceStatus, Metadata, Origin, State, SubStatus, Subscription,
};

/// The fields of a new invoice that vary between the ways invoices are created.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub customer: String,
    pub subscription: Option<String>,
    pub billing_reason: &'static str,
    pub collection_method: &'static str,
    pub auto_advance: bool,
    pub metadata: Metadata,
    pub description: Option<String>,
    pub currency: String,
    pub period_start: i64,
    pub period_end: i64,
    pub default_payment_method: Option<String>,
    pub created: i64,
}

impl NewInvoice {
    /// A subscription's charge-automatically invoice for `period`, created at `at`.
    pub fn for_subscription(sub: &Subscription, reason: &'static str, period: (i64, i64), at: i64) -> Self {
        NewInvoice {
            customer: sub.customer.clone(),
            subscription: Some(sub.id.clone()),
            billing_reason: reason,
            collection_method: "charge_automatically",
            auto_advance: true,
            metadata: Metadata::new(),
            description: None,
            currency: sub.currency.clone(),
            period_start: period.0,
            period_end: period.1,
            default_payment_method: None,
            created: at,
        }
    }
}

/// Formats minor units for line descriptions ("$20.00", "20.00 EUR").
pub fn money(amount: i64, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    match currency {
        "usd" => format!("{sign}${}.{:02}", abs / 100, abs % 100),
        other => format!("{sign}{}.{:02} {}", abs / 100, abs % 100, other.to_uppercase()),
    }
}

/// Builds an invoice in memory (not stored): for previews, and as the first step of
/// [`create`].
pub fn build(s: &mut State, new: NewInvoice, id: String, lines: Vec<InvoiceLine>) -> Invoice {
    let seq = s.next_seq();
    let test_clock = s.clock_of(&new.customer).map(str::to_string);
    Invoice {
        id,
        seq,
        created: new.created,
        customer: new.customer,
        subscription: new.subscription,
        status: InvoiceStatus::Draft,
        number: None,
        lines,
        collection_method: new.collection_method,
        auto_advance: new.auto_advance,
        metadata: new.metadata,
        description: new.description,
        billing_reason: new.billing_reason,
        currency: new.currency,
        period_start: new.period_start,
        period_end: new.period_end,
        starting_balance: 0,
        ending_balance: None,
        amount_paid: 0,
        paid_out_of_band: false,
        attempt_count: 0,
        attempted: false,
        finalized_at: None,
        paid_at: None,
        voided_at: None,
        default_payment_method: new.default_payment_method,
        last_error: None,
        test_clock,
    }
}

/// Stores a draft invoice `id` (from [`new_id`]`("in_")`) with `lines` and records
/// `invoice.created`.
pub fn create(s: &mut State, new: NewInvoice, id: String, lines: Vec<InvoiceLine>, origin: &Origin) -> String {
    let created = new.created;
    let invoice = build(s, new, id.clone(), lines);
    s.invoices.insert(id.clone(), invoice);
    let snapshot = objects::invoice(s, &s.invoices[&id]);
    s.emit("invoice.created", created, snapshot, None, origin);
    id
}

/// The line an invoice item becomes on an invoice.
pub fn line_from_item(ii: &InvoiceItem) -> InvoiceLine {
    InvoiceLine {
        id: new_id("il_"),
        amount: ii.amount,
        currency: ii.currency.clone(),
        description: ii.description.clone(),
        period_start: ii.period_start,
        period_end: ii.period_end,
        quantity: Some(ii.quantity as f64),
        price: ii.price.clone(),
        proration: ii.proration,
        invoice_item: Some(ii.id.clone()),
        subscription: ii.subscription.clone(),
        subscription_item: ii.subscription_item.clone(),
        metadata: ii.metadata.clone(),
    }
}

/// The ids of the customer's pending invoice items that an invoice for `subscription` takes:
/// the subscription's own and those of no subscription (Stripe adds a customer's pending
/// items to their next invoice), oldest first.
fn pending_ids(s: &State, customer: &str, subscription: Option<&str>) -> Vec<String> {
    let mut pending: Vec<&InvoiceItem> = s
        .invoice_items
        .values()
        .filter(|ii| ii.customer == customer && ii.invoice.is_none())
        .filter(|ii| ii.subscription.is_none() || ii.subscription.as_deref() == subscription)
        .collect();
    pending.sort_by_key(|ii| ii.seq);
    pending.into_iter().map(|ii| ii.id.clone()).collect()
}

/// The lines of the pending items (see [`pending_ids`]), now marked as on `invoice`.
pub fn take_pending_items(
    s: &mut State,
    customer: &str,
    subscription: Option<&str>,
    invoice: &str,
) -> Vec<InvoiceLine> {
    let mut lines = Vec::new();
    for id in pending_ids(s, customer, subscription) {
        if let Some(ii) = s.invoice_items.get_mut(&id) {
            ii.invoice = Some(invoice.to_string());
            lines.push(line_from_item(ii));
        }
    }
    lines
}

/// The lines of the pending items without taking them (for previews).
pub fn pending_lines(s: &State, customer: &str, subscription: Option<&str>) -> Vec<InvoiceLine> {
    pending_ids(s, customer, subscription).iter().filter_map(|id| s.invoice_items.get(id)).map(line_from_item).collect()
}

/// Appends the lines of pending items to a stored draft.
pub fn add_lines(s: &mut State, invoice: &str, lines: Vec<InvoiceLine>) {
    if let Some(inv) = s.invoices.get_mut(invoice) {
        inv.lines.extend(lines);
    }
}

/// Finalizes a draft: applies the customer's credit balance, numbers it, opens it
/// (`invoice.finalized`). An invoice with nothing to pay is marked paid at once, as Stripe
/// does.
pub fn finalize(s: &mut State, id: &str, now: i64, origin: &Origin) -> ApiResult<()> {
    let inv = find(&s.invoices, id, "invoice", "invoice")?;
    if inv.status != InvoiceStatus::Draft {
        return Err(ApiError::invalid("This invoice is already finalized, you can't re-finalize a non-draft invoice."));
    }
    let (customer_id, total) = (inv.customer.clone(), inv.total());
    let customer = find_mut(&mut s.customers, &customer_id, "customer", "customer")?;
    let starting_balance = customer.balance;
    // What is left after the invoice: credit (negative) carries over, a debt is now due.
    let ending_balance = (total + starting_balance).min(0);
    customer.balance = ending_balance;
    let number = format!("{}-{:04}", customer.invoice_prefix, customer.next_invoice_sequence);
    customer.next_invoice_sequence += 1;
    let inv = find_mut(&mut s.invoices, id, "invoice", "invoice")?;
    inv.starting_balance = starting_balance;
    inv.ending_balance = Some(ending_balance);
    inv.number = Some(number);
    inv.status = InvoiceStatus::Open;
    inv.finalized_at = Some(now);
    let amount_due = inv.amount_due();
    let snapshot = objects::invoice(s, &s.invoices[id]);
    s.emit("invoice.finalized", now, snapshot, None, origin);
    if amount_due == 0 {
        mark_paid(s, id, now, false, origin);
    }
    Ok(())
}

/// Why an invoice could not be paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayFailure {
    /// The customer has no payment method to charge.
    NoPaymentMethod,
    /// The card was declined.
    Declined(Decline),
}

impl PayFailure {
    /// Stripe's answer to a request whose payment failed.
    pub fn into_error(self) -> ApiError {
        match self {
            PayFailure::NoPaymentMethod => no_payment_method_error(),
            PayFailure::Declined(d) => ApiError::card(d),
        }
    }
}

/// Attempts to collect an open invoice: charges the payment method (or records payment
/// outside Stripe). On failure records the attempt, `invoice.payment_failed`, and moves the
/// invoice's active subscription to `past_due`.
pub fn attempt(
    s: &mut State,
    id: &str,
    now: i64,
    out_of_band: bool,
    payment_method: Option<&str>,
    origin: &Origin,
) -> Result<(), PayFailure> {
    let Some(inv) = s.invoices.get(id) else { return Err(PayFailure::NoPaymentMethod) };
    if out_of_band || inv.amount_due() == 0 {
        mark_paid(s, id, now, out_of_band, origin);
        return Ok(());
    }
    let explicit = payment_method.or(inv.default_payment_method.as_deref());
    let pm = payment_method_for(s, &inv.customer, explicit, inv.subscription.as_deref());
    let result = match &pm {
        None => Err(PayFailure::NoPaymentMethod),
        Some(pm) => charge(s, pm).map_err(PayFailure::Declined),
    };
    match result {
        Ok(()) => {
            mark_paid(s, id, now, false, origin);
            Ok(())
        }
        Err(failure) => {
            if let Some(inv) = s.invoices.get_mut(id) {
                inv.attempted = true;
                inv.attempt_count += 1;
                inv.last_error = match failure {
                    PayFailure::Declined(d) => Some(d),
                    PayFailure::NoPaymentMethod => None,
                };
            }
            let snapshot = objects::invoice(s, &s.invoices[id]);
            s.emit("invoice.payment_failed", now, snapshot, None, origin);
            Err(failure)
        }
    }
}

/// Marks an invoice paid (`invoice.paid`, `invoice.payment_succeeded`); a subscription
/// waiting on it (`incomplete` or `past_due`) becomes `active`.
pub fn mark_paid(s: &mut State, id: &str, now: i64, out_of_band: bool, origin: &Origin) {
    let Some(inv) = s.invoices.get_mut(id) else { return };
    inv.amount_paid = inv.amount_due();
    inv.status = InvoiceStatus::Paid;
    inv.paid_at = Some(now);
    inv.attempted = true;
    inv.paid_out_of_band = out_of_band;
    if !out_of_band && inv.amount_paid > 0 {
        inv.attempt_count += 1;
    }
    inv.last_error = None;
    let subscription = inv.subscription.clone();
    let snapshot = objects::invoice(s, &s.invoices[id]);
    s.emit("invoice.paid", now, snapshot.clone(), None, origin);
    s.emit("invoice.payment_succeeded", now, snapshot, None, origin);
    let Some(sub_id) = subscription else { return };
    let Some(sub) = s.subscriptions.get(&sub_id) else { return };
    let waiting = matches!(sub.status, SubStatus::Incomplete | SubStatus::PastDue);
    let is_latest = sub.latest_invoice.as_deref() == Some(id);
    // Stripe's status follows the latest invoice; paying an older one changes nothing.
    if waiting && is_latest {
        let before = objects::subscription(s, sub);
        if let Some(sub) = s.subscriptions.get_mut(&sub_id) {
            sub.status = SubStatus::Active;
        }
        let after = objects::subscription(s, &s.subscriptions[&sub_id]);
        s.emit_update("customer.subscription.updated", now, &before, after, origin);
    }
}

/// Voids an open or draft invoice (for subscriptions that expire unpaid).
pub fn void(s: &mut State, id: &str, now: i64, origin: &Origin) {
    let Some(inv) = s.invoices.get_mut(id) else { return };
    if !matches!(inv.status, InvoiceStatus::Open | InvoiceStatus::Draft) {
        return;
    }
    inv.status = InvoiceStatus::Void;
    inv.voided_at = Some(now);
    let snapshot = objects::invoice(s, &s.invoices[id]);
    s.emit("invoice.voided", now, snapshot, None, origin);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(money(2000, "usd"), "$20.00");
        assert_eq!(money(-5, "usd"), "-$0.05");
        assert_eq!(money(123456, "eur"), "1234.56 EUR");
    }
}

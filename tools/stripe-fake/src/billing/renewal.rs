//! The end of a period (renewal or the end of a subscription canceled at period end), and
//! the end of subscriptions in general.

use crate::billing::invoices;
use crate::billing::subscriptions::{cycle_lines, issue_invoice};
use crate::clock::period_end;
use crate::error::ApiResult;
use crate::ids::new_id;
use crate::objects;
use crate::state::{find, find_mut, InvoiceLine, Origin, Price, State, SubStatus};

/// Invoices a subscription's pending items (and `extra` lines) now, charges the invoice, and
/// moves the subscription to `past_due` if the charge fails.
pub(super) fn invoice_subscription_now(
    s: &mut State,
    id: &str,
    reason: &'static str,
    extra: Vec<InvoiceLine>,
    now: i64,
    origin: &Origin,
) -> ApiResult<()> {
    let sub = find(&s.subscriptions, id, "subscription", "id")?.clone();
    let invoice = new_id("in_");
    let failed = issue_invoice(s, id, invoice.clone(), reason, extra, (now, now), now, true, origin)?;
    if sub.status.is_live() {
        let before = objects::subscription(s, &sub);
        if let Some(live) = s.subscriptions.get_mut(id) {
            live.latest_invoice = Some(invoice);
            if failed {
                live.status = SubStatus::PastDue;
            }
        }
        let after = objects::subscription(s, &s.subscriptions[id]);
        s.emit_update("customer.subscription.updated", now, &before, after, origin);
    }
    Ok(())
}

/// Marks a subscription canceled at `ended_at` and records `customer.subscription.deleted`.
pub(super) fn end(s: &mut State, id: &str, ended_at: i64, requested_at: i64, origin: &Origin) {
    let Some(sub) = s.subscriptions.get_mut(id) else { return };
    sub.status = SubStatus::Canceled;
    sub.ended_at = Some(ended_at);
    sub.canceled_at = Some(sub.canceled_at.unwrap_or(requested_at));
    sub.cancellation_reason = Some("cancellation_requested");
    let snapshot = objects::subscription(s, &s.subscriptions[id]);
    s.emit("customer.subscription.deleted", ended_at, snapshot, None, origin);
}

/// The end of a subscription's current period: it renews (a new invoice with the licensed
/// prices of the next period and the metered usage of the ended one, charged; then
/// `customer.subscription.updated`), or, with `cancel_at_period_end`, it ends (a final
/// invoice for metered usage, as Stripe bills it, then `customer.subscription.deleted`).
pub fn end_period(s: &mut State, id: &str, origin: &Origin) -> ApiResult<()> {
    let sub = find(&s.subscriptions, id, "subscription", "id")?.clone();
    let t = sub.current_period_end;
    let ended = (sub.current_period_start, t);
    if sub.cancel_at_period_end {
        if sub.items.iter().any(|i| s.prices.get(&i.price).is_some_and(Price::is_metered)) {
            let usage = cycle_lines(s, &sub, Some(ended), None);
            invoice_subscription_now(s, id, "subscription_cycle", usage, t, origin)?;
        }
        end(s, id, t, t, origin);
        return Ok(());
    }
    let next_end = period_end(sub.billing_cycle_anchor, sub.interval, sub.interval_count, sub.period_index + 1);
    let lines = cycle_lines(s, &sub, Some(ended), Some((t, next_end)));
    let invoice = new_id("in_");
    let failed = issue_invoice(s, id, invoice.clone(), "subscription_cycle", lines, ended, t, true, origin)?;
    let before = objects::subscription(s, &sub);
    let live = find_mut(&mut s.subscriptions, id, "subscription", "id")?;
    live.period_index += 1;
    live.current_period_start = t;
    live.current_period_end = next_end;
    live.latest_invoice = Some(invoice);
    live.status = if failed { SubStatus::PastDue } else { SubStatus::Active };
    let after = objects::subscription(s, &s.subscriptions[id]);
    s.emit_update("customer.subscription.updated", t, &before, after, origin);
    Ok(())
}

/// An `incomplete` subscription whose first invoice is still unpaid 23 hours after creation
/// becomes `incomplete_expired` (terminal) and its invoice is voided.
pub fn expire_incomplete(s: &mut State, id: &str, at: i64, origin: &Origin) {
    let Some(sub) = s.subscriptions.get(id).cloned() else { return };
    if let Some(inv) = &sub.latest_invoice {
        invoices::void(s, inv, at, origin);
    }
    let before = objects::subscription(s, &sub);
    if let Some(live) = s.subscriptions.get_mut(id) {
        live.status = SubStatus::IncompleteExpired;
        live.ended_at = Some(at);
    }
    let after = objects::subscription(s, &s.subscriptions[id]);
    s.emit_update("customer.subscription.updated", at, &before, after, origin);
}

//! Subscription changes: item updates with prorations, and cancellation now.

use crate::billing::invoices;
use crate::billing::payments::{charge, check_attached, no_payment_method_error, payment_method_for};
use crate::billing::renewal::{end, invoice_subscription_now};
use crate::billing::subscriptions::{
    common_cycle, cycle_lines, item_quantity, product_name, PaymentBehavior, Proration,
};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::MetadataUpdate;
use crate::state::{find, InvoiceItem, Metadata, Origin, Price, State, SubItem, SubStatus, Subscription};

/// One `items[n]` entry of a subscription update.
#[derive(Debug, Clone)]
pub struct ItemChange {
    pub id: Option<String>,
    pub price: Option<String>,
    pub quantity: Option<u64>,
    pub deleted: bool,
    pub metadata: Option<MetadataUpdate>,
    pub param: String,
}

/// A subscription update (`POST /v1/subscriptions/{id}`).
#[derive(Debug, Clone)]
pub struct SubscriptionUpdate {
    pub items: Vec<ItemChange>,
    pub proration: Proration,
    pub payment_behavior: PaymentBehavior,
    pub cancel_at_period_end: Option<bool>,
    pub metadata: Option<MetadataUpdate>,
    /// `Some(None)` clears it (`default_payment_method=`).
    pub default_payment_method: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

/// A proration to bill: `sign` is -1 for the unused time of what is removed, +1 for the
/// remaining time of what is added.
struct ProrationLine {
    price: Price,
    quantity: u64,
    sign: i64,
    item: String,
}

fn date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(|| t.to_string(), |d| d.format("%d %b %Y").to_string())
}

/// The prorated amount of `amount` for the remaining `[now, end)` of `[start, end)`, rounded
/// to the nearest minor unit (Stripe prorates to the second).
pub fn prorate(amount: i64, start: i64, end: i64, now: i64) -> i64 {
    let total = (end - start).max(1);
    let remaining = (end - now).clamp(0, total);
    let exact = amount as i128 * remaining as i128;
    // Round half away from zero, in integers.
    let half = total as i128 / 2;
    let rounded = if exact >= 0 { (exact + half) / total as i128 } else { (exact - half) / total as i128 };
    rounded as i64
}

/// Records a pending proration item (`invoiceitem.created`) for `[now, period end)`.
fn add_proration_item(s: &mut State, sub: &Subscription, p: &ProrationLine, amount: i64, now: i64, origin: &Origin) {
    let verb = if p.sign < 0 { "Unused" } else { "Remaining" };
    let ii = InvoiceItem {
        id: new_id("ii_"),
        seq: s.next_seq(),
        created: now,
        customer: sub.customer.clone(),
        amount,
        currency: p.price.currency.clone(),
        description: Some(format!("{verb} time on {} × {} after {}", p.quantity, product_name(s, &p.price), date(now))),
        invoice: None,
        period_start: now,
        period_end: sub.current_period_end,
        proration: true,
        subscription: Some(sub.id.clone()),
        subscription_item: Some(p.item.clone()),
        price: Some(p.price.id.clone()),
        quantity: p.quantity,
        metadata: Metadata::new(),
        test_clock: sub.test_clock.clone(),
    };
    let snapshot = objects::invoice_item(s, &ii);
    s.invoice_items.insert(ii.id.clone(), ii);
    s.emit("invoiceitem.created", now, snapshot, None, origin);
}

/// Applies an update. Changing or adding licensed prices mid-period prorates (per
/// `proration_behavior`); metered prices are never prorated, their usage counts from the
/// change on. Records `customer.subscription.updated` (and the proration items/invoice).
pub fn update(s: &mut State, id: &str, upd: SubscriptionUpdate, origin: &Origin) -> ApiResult<()> {
    let before_sub = find(&s.subscriptions, id, "subscription", "id")?.clone();
    let only_metadata = upd.items.is_empty()
        && upd.cancel_at_period_end.is_none()
        && upd.default_payment_method.is_none()
        && upd.description.is_none();
    if !before_sub.status.is_live() && !only_metadata {
        return Err(ApiError::invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
        ));
    }
    let now = s.now_for_customer(&before_sub.customer);
    let mut sub = before_sub.clone();
    let mut prorations: Vec<ProrationLine> = Vec::new();
    for ch in &upd.items {
        match (&ch.id, ch.deleted) {
            (Some(item_id), true) => {
                let pos = sub
                    .items
                    .iter()
                    .position(|i| &i.id == item_id)
                    .ok_or_else(|| ApiError::no_such("subscription item", item_id, &format!("{}[id]", ch.param)))?;
                let old = sub.items.remove(pos);
                let old_price = find(&s.prices, &old.price, "price", "price")?;
                if !old_price.is_metered() {
                    prorations.push(ProrationLine {
                        price: old_price.clone(),
                        quantity: old.quantity.unwrap_or(1),
                        sign: -1,
                        item: old.id,
                    });
                }
            }
            (None, true) => {
                return Err(ApiError::invalid_param(
                    format!("{}[id]", ch.param),
                    "You must specify an `id` to delete an item.",
                ))
            }
            (Some(item_id), false) => {
                let item = sub
                    .items
                    .iter_mut()
                    .find(|i| &i.id == item_id)
                    .ok_or_else(|| ApiError::no_such("subscription item", item_id, &format!("{}[id]", ch.param)))?;
                let old_price = find(&s.prices, &item.price, "price", "price")?.clone();
                let new_price = match &ch.price {
                    Some(p) => find(&s.prices, p, "price", &format!("{}[price]", ch.param))?.clone(),
                    None => old_price.clone(),
                };
                // A licensed quantity carries over to a new licensed price unless given.
                let requested = ch.quantity.or(if new_price.is_metered() { None } else { item.quantity });
                let new_quantity = item_quantity(&new_price, requested, &ch.param)?;
                if new_price.id != old_price.id || new_quantity != item.quantity {
                    if !old_price.is_metered() {
                        prorations.push(ProrationLine {
                            price: old_price.clone(),
                            quantity: item.quantity.unwrap_or(1),
                            sign: -1,
                            item: item.id.clone(),
                        });
                    }
                    if !new_price.is_metered() {
                        prorations.push(ProrationLine {
                            price: new_price.clone(),
                            quantity: new_quantity.unwrap_or(1),
                            sign: 1,
                            item: item.id.clone(),
                        });
                    }
                    if new_price.id != old_price.id {
                        item.usage_since = now;
                    }
                    item.price = new_price.id.clone();
                    item.quantity = new_quantity;
                }
                if let Some(md) = &ch.metadata {
                    md.apply(&mut item.metadata, &format!("{}[metadata]", ch.param))?;
                }
            }
            (None, false) => {
                let price_id =
                    ch.price.as_deref().ok_or_else(|| ApiError::missing_param(&format!("{}[price]", ch.param)))?;
                let price = find(&s.prices, price_id, "price", &format!("{}[price]", ch.param))?.clone();
                let quantity = item_quantity(&price, ch.quantity, &ch.param)?;
                let mut metadata = Metadata::new();
                if let Some(md) = &ch.metadata {
                    md.apply(&mut metadata, &format!("{}[metadata]", ch.param))?;
                }
                let item = SubItem {
                    id: new_id("si_"),
                    created: now,
                    price: price.id.clone(),
                    quantity,
                    metadata,
                    usage_since: now,
                };
                if !price.is_metered() {
                    prorations.push(ProrationLine {
                        price,
                        quantity: quantity.unwrap_or(1),
                        sign: 1,
                        item: item.id.clone(),
                    });
                }
                sub.items.push(item);
            }
        }
    }
    if !upd.items.is_empty() {
        if sub.items.is_empty() {
            return Err(ApiError::invalid("A subscription must have at least one item."));
        }
        let prices: Vec<Price> = sub.items.iter().filter_map(|i| s.prices.get(&i.price).cloned()).collect();
        for (i, p) in prices.iter().enumerate() {
            if prices[..i].iter().any(|q| q.id == p.id) {
                return Err(ApiError::invalid(format!(
                    "Cannot add multiple subscription items with the same price: {}",
                    p.id
                )));
            }
        }
        let (interval, count, currency) = common_cycle(prices.iter())?;
        if (interval, count, currency.as_str()) != (sub.interval, sub.interval_count, sub.currency.as_str()) {
            return Err(ApiError::invalid(
                "Changing the billing interval or currency of a subscription is not supported by the Stripe fake.",
            ));
        }
    }
    if let Some(cancel) = upd.cancel_at_period_end {
        if cancel != sub.cancel_at_period_end {
            sub.cancel_at_period_end = cancel;
            // Stripe's canceled_at is the time of the cancellation request.
            sub.canceled_at = cancel.then_some(now);
            sub.cancellation_reason = cancel.then_some("cancellation_requested");
        }
    }
    if let Some(md) = &upd.metadata {
        md.apply(&mut sub.metadata, "metadata")?;
    }
    if let Some(pm) = &upd.default_payment_method {
        if let Some(pm) = pm {
            check_attached(s, &sub.customer, pm, "default_payment_method")?;
        }
        sub.default_payment_method = pm.clone();
    }
    if let Some(d) = &upd.description {
        sub.description = d.clone();
    }

    let proration_items: Vec<(ProrationLine, i64)> = match upd.proration {
        Proration::None => Vec::new(),
        _ => prorations
            .into_iter()
            .map(|p| {
                let full = p.sign * p.price.unit_amount * p.quantity as i64;
                let amount = prorate(full, sub.current_period_start, sub.current_period_end, now);
                (p, amount)
            })
            .filter(|(_, amount)| *amount != 0)
            .collect(),
    };
    let invoice_now = upd.proration == Proration::AlwaysInvoice && !proration_items.is_empty();
    if invoice_now && upd.payment_behavior == PaymentBehavior::ErrorIfIncomplete {
        let due: i64 = proration_items.iter().map(|(_, a)| a).sum::<i64>()
            + invoices::pending_lines(s, &sub.customer, Some(id)).iter().map(|l| l.amount).sum::<i64>()
            + s.customers.get(&sub.customer).map_or(0, |c| c.balance);
        if due > 0 {
            let pm = payment_method_for(s, &sub.customer, None, None);
            let pm = sub.default_payment_method.clone().or(pm).ok_or_else(no_payment_method_error)?;
            charge(s, &pm).map_err(ApiError::card)?;
        }
    }

    // Validated: apply.
    let before = objects::subscription(s, &before_sub);
    s.subscriptions.insert(id.to_string(), sub.clone());
    let after = objects::subscription(s, &sub);
    s.emit_update("customer.subscription.updated", now, &before, after, origin);
    for (p, amount) in proration_items {
        add_proration_item(s, &sub, &p, amount, now, origin);
    }
    if invoice_now {
        invoice_subscription_now(s, id, "subscription_update", Vec::new(), now, origin)?;
    }
    Ok(())
}

/// Cancels a subscription now (`DELETE /v1/subscriptions/{id}`). With `invoice_now`, a final
/// invoice bills the metered usage so far and pending prorations; with `prorate`, the unused
/// time of licensed items is credited. Records `customer.subscription.deleted`.
pub fn cancel(s: &mut State, id: &str, invoice_now: bool, prorate_unused: bool, origin: &Origin) -> ApiResult<()> {
    let sub = find(&s.subscriptions, id, "subscription", "id")?.clone();
    if !sub.status.is_live() {
        return Err(ApiError::invalid(format!("This subscription has already been canceled: {id}")));
    }
    let now = s.now_for_customer(&sub.customer);
    if prorate_unused {
        for item in &sub.items {
            let Some(price) = s.prices.get(&item.price).filter(|p| !p.is_metered()).cloned() else { continue };
            let qty = item.quantity.unwrap_or(1);
            let amount =
                prorate(-price.unit_amount * qty as i64, sub.current_period_start, sub.current_period_end, now);
            if amount == 0 {
                continue;
            }
            let line = ProrationLine { price, quantity: qty, sign: -1, item: item.id.clone() };
            add_proration_item(s, &sub, &line, amount, now, origin);
        }
    }
    if invoice_now {
        let usage = cycle_lines(s, &sub, Some((sub.current_period_start, now)), None);
        invoice_subscription_now(s, id, "subscription_cycle", usage, now, origin)?;
    }
    if sub.status == SubStatus::Incomplete {
        if let Some(inv) = &sub.latest_invoice {
            invoices::void(s, inv, now, origin);
        }
    }
    end(s, id, now, now, origin);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proration_is_the_remaining_fraction_rounded() {
        // Half of a 30-day period left: half the price.
        assert_eq!(prorate(2000, 0, 30 * 86_400, 15 * 86_400), 1000);
        assert_eq!(prorate(-2000, 0, 30 * 86_400, 15 * 86_400), -1000);
        // One third left of 1000: 333.33 -> 333; two thirds: 666.67 -> 667.
        assert_eq!(prorate(1000, 0, 3, 2), 333);
        assert_eq!(prorate(1000, 0, 3, 1), 667);
        assert_eq!(prorate(1000, 0, 3, 5), 0);
    }
}

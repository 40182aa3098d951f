//! Subscriptions: creation with the first invoice, changes with prorations, cancellation,
//! and renewal at the end of each period.

use crate::billing::invoices::{self, money, NewInvoice};
use crate::billing::payments::{charge, check_attached, no_payment_method_error, payment_method_for};
use crate::billing::usage::{metered_amount, usage_for_price};
use crate::clock::{period_end, Interval};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::MetadataUpdate;
use crate::state::{
    find, find_mut, InvoiceItem, InvoiceLine, InvoiceStatus, Metadata, Origin, Price, State, SubItem, SubStatus,
    Subscription,
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
fn item_quantity(price: &Price, quantity: Option<u64>, param: &str) -> ApiResult<Option<u64>> {
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
fn common_cycle<'a>(prices: impl Iterator<Item = &'a Price>) -> ApiResult<(Interval, u32, String)> {
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

fn product_name(s: &State, price: &Price) -> String {
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
    let mut lines = lines;
    lines.extend(invoices::take_pending_items(s, &new.customer, Some(&id), &invoice));
    invoices::create(
        s,
        NewInvoice {
            customer: new.customer.clone(),
            subscription: Some(id.clone()),
            billing_reason: "subscription_create",
            collection_method: "charge_automatically",
            auto_advance: true,
            metadata: Metadata::new(),
            description: None,
            currency,
            period_start: now,
            period_end: now,
            default_payment_method: None,
            created: now,
        },
        invoice.clone(),
        lines,
        origin,
    );
    invoices::finalize(s, &invoice, now, origin)?;
    let open = s.invoices.get(&invoice).is_some_and(|i| i.status == InvoiceStatus::Open);
    if open && new.payment_behavior != PaymentBehavior::DefaultIncomplete {
        // A decline leaves the subscription incomplete (allow_incomplete).
        let _ = invoices::attempt(s, &invoice, now, false, None, origin);
    }
    Ok(id)
}

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
        let verb = if p.sign < 0 { "Unused" } else { "Remaining" };
        let ii = InvoiceItem {
            id: new_id("ii_"),
            seq: s.next_seq(),
            created: now,
            customer: sub.customer.clone(),
            amount,
            currency: p.price.currency.clone(),
            description: Some(format!(
                "{verb} time on {} × {} after {}",
                p.quantity,
                product_name(s, &p.price),
                date(now)
            )),
            invoice: None,
            period_start: now,
            period_end: sub.current_period_end,
            proration: true,
            subscription: Some(sub.id.clone()),
            subscription_item: Some(p.item),
            price: Some(p.price.id.clone()),
            quantity: p.quantity,
            metadata: Metadata::new(),
            test_clock: sub.test_clock.clone(),
        };
        let snapshot = objects::invoice_item(s, &ii);
        s.invoice_items.insert(ii.id.clone(), ii);
        s.emit("invoiceitem.created", now, snapshot, None, origin);
    }
    if invoice_now {
        invoice_subscription_now(s, id, "subscription_update", None, now, origin)?;
    }
    Ok(())
}

/// Invoices a subscription's pending items (and `extra` lines) now, charges the invoice, and
/// moves the subscription to `past_due` if the charge fails.
fn invoice_subscription_now(
    s: &mut State,
    id: &str,
    reason: &'static str,
    extra: Option<Vec<InvoiceLine>>,
    now: i64,
    origin: &Origin,
) -> ApiResult<()> {
    let sub = find(&s.subscriptions, id, "subscription", "id")?.clone();
    let invoice = new_id("in_");
    let mut lines = extra.unwrap_or_default();
    lines.extend(invoices::take_pending_items(s, &sub.customer, Some(id), &invoice));
    invoices::create(
        s,
        NewInvoice {
            customer: sub.customer.clone(),
            subscription: Some(id.to_string()),
            billing_reason: reason,
            collection_method: "charge_automatically",
            auto_advance: true,
            metadata: Metadata::new(),
            description: None,
            currency: sub.currency.clone(),
            period_start: now,
            period_end: now,
            default_payment_method: None,
            created: now,
        },
        invoice.clone(),
        lines,
        origin,
    );
    invoices::finalize(s, &invoice, now, origin)?;
    let open = s.invoices.get(&invoice).is_some_and(|i| i.status == InvoiceStatus::Open);
    let failed = open && invoices::attempt(s, &invoice, now, false, None, origin).is_err();
    if sub.status.is_live() {
        let before = objects::subscription(s, &sub);
        if let Some(live) = s.subscriptions.get_mut(id) {
            live.latest_invoice = Some(invoice.clone());
            if failed {
                live.status = SubStatus::PastDue;
            }
        }
        let after = objects::subscription(s, &s.subscriptions[id]);
        s.emit_update("customer.subscription.updated", now, &before, after, origin);
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
            let ii = InvoiceItem {
                id: new_id("ii_"),
                seq: s.next_seq(),
                created: now,
                customer: sub.customer.clone(),
                amount,
                currency: price.currency.clone(),
                description: Some(format!("Unused time on {qty} × {} after {}", product_name(s, &price), date(now))),
                invoice: None,
                period_start: now,
                period_end: sub.current_period_end,
                proration: true,
                subscription: Some(id.to_string()),
                subscription_item: Some(item.id.clone()),
                price: Some(price.id.clone()),
                quantity: qty,
                metadata: Metadata::new(),
                test_clock: sub.test_clock.clone(),
            };
            let snapshot = objects::invoice_item(s, &ii);
            s.invoice_items.insert(ii.id.clone(), ii);
            s.emit("invoiceitem.created", now, snapshot, None, origin);
        }
    }
    if invoice_now {
        let usage = cycle_lines(s, &sub, Some((sub.current_period_start, now)), None);
        invoice_subscription_now(s, id, "subscription_cycle", Some(usage), now, origin)?;
    }
    if sub.status == SubStatus::Incomplete {
        if let Some(inv) = &sub.latest_invoice {
            invoices::void(s, inv, now, origin);
        }
    }
    end(s, id, now, now, origin);
    Ok(())
}

/// Marks a subscription canceled at `ended_at` and records `customer.subscription.deleted`.
fn end(s: &mut State, id: &str, ended_at: i64, requested_at: i64, origin: &Origin) {
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
            invoice_subscription_now(s, id, "subscription_cycle", Some(usage), t, origin)?;
        }
        end(s, id, t, t, origin);
        return Ok(());
    }
    let next_end = period_end(sub.billing_cycle_anchor, sub.interval, sub.interval_count, sub.period_index + 1);
    let mut lines = cycle_lines(s, &sub, Some(ended), Some((t, next_end)));
    let invoice = new_id("in_");
    lines.extend(invoices::take_pending_items(s, &sub.customer, Some(id), &invoice));
    invoices::create(
        s,
        NewInvoice {
            customer: sub.customer.clone(),
            subscription: Some(id.to_string()),
            billing_reason: "subscription_cycle",
            collection_method: "charge_automatically",
            auto_advance: true,
            metadata: Metadata::new(),
            description: None,
            currency: sub.currency.clone(),
            period_start: ended.0,
            period_end: ended.1,
            default_payment_method: None,
            created: t,
        },
        invoice.clone(),
        lines,
        origin,
    );
    invoices::finalize(s, &invoice, t, origin)?;
    let open = s.invoices.get(&invoice).is_some_and(|i| i.status == InvoiceStatus::Open);
    let failed = open && invoices::attempt(s, &invoice, t, false, None, origin).is_err();
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

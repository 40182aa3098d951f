//! Checkout sessions, subscriptions, invoices and invoice items.

use serde_json::{json, Value};

use super::{fill, list, plan, price};
use crate::state::{
    CheckoutSession, Invoice, InvoiceItem, InvoiceLine, InvoiceStatus, SessionMode, State, SubItem, Subscription,
};

/// A checkout session.
pub fn checkout_session(s: &State, cs: &CheckoutSession) -> Value {
    let amount: i64 = cs
        .line_items
        .iter()
        .filter_map(|l| {
            s.prices.get(&l.price).filter(|p| !p.is_metered()).map(|p| p.unit_amount * l.quantity.unwrap_or(1) as i64)
        })
        .sum();
    let customer = cs.customer.as_ref().and_then(|c| s.customers.get(c));
    let (mode, amounts) = match cs.mode {
        SessionMode::Setup => ("setup", (Value::Null, Value::Null)),
        SessionMode::Subscription => ("subscription", (json!(amount), json!(amount))),
    };
    let payment_status = match (cs.mode, cs.complete) {
        (SessionMode::Setup, _) => "no_payment_required",
        (SessionMode::Subscription, true) => "paid",
        (SessionMode::Subscription, false) => "unpaid",
    };
    let customer_details = match (cs.complete, customer) {
        (true, Some(c)) => json!({
            "address": null, "email": c.email, "name": c.name, "phone": null,
            "tax_exempt": "none", "tax_ids": [], "business_name": null, "individual_name": null,
        }),
        _ => Value::Null,
    };
    let currency = cs
        .currency
        .clone()
        .or_else(|| cs.line_items.first().and_then(|l| s.prices.get(&l.price)).map(|p| p.currency.clone()));
    fill(
        "checkout_session",
        json!({
            "id": cs.id,
            "object": "checkout.session",
            "adaptive_pricing": null,
            "after_expiration": null,
            "amount_subtotal": amounts.0,
            "amount_total": amounts.1,
            "automatic_tax": { "enabled": false, "liability": null, "status": null, "provider": null },
            "cancel_url": cs.cancel_url,
            "client_reference_id": cs.client_reference_id,
            "collected_information": null,
            "consent": null,
            "consent_collection": null,
            "created": cs.created,
            "currency": currency,
            "currency_conversion": null,
            "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
            "customer": cs.customer,
            "customer_creation": if cs.customer.is_some() { Value::Null } else { json!("always") },
            "customer_details": customer_details,
            "customer_email": cs.customer_email,
            "discounts": [],
            "expires_at": cs.expires_at,
            "invoice": cs.invoice,
            "invoice_creation": null,
            "livemode": false,
            "managed_payments": null,
            "metadata": cs.metadata,
            "mode": mode,
            "payment_intent": null,
            "payment_method_configuration_details": null,
            "payment_method_collection": "always",
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "payment_status": payment_status,
            "permissions": null,
            "phone_number_collection": { "enabled": false },
            "saved_payment_method_options": null,
            "setup_intent": cs.setup_intent,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "status": if cs.complete { "complete" } else { "open" },
            "subscription": cs.subscription,
            "success_url": cs.success_url,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted",
            // Stripe sends the URL only while the session can still be completed.
            "url": if cs.complete { Value::Null } else { json!(format!("{}/checkout/{}", s.base_url, cs.id)) },
            "wallet_options": null,
        }),
    )
}

/// A checkout session's `line_items` list (`item` objects).
pub fn checkout_line_items(s: &State, cs: &CheckoutSession) -> Value {
    let data = cs
        .line_items
        .iter()
        .filter_map(|l| {
            let p = s.prices.get(&l.price)?;
            let amount = if p.is_metered() { 0 } else { p.unit_amount * l.quantity.unwrap_or(1) as i64 };
            let description = s.products.get(&p.product).map(|prod| prod.name.clone());
            Some(json!({
                "id": l.id, "object": "item", "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0,
                "amount_total": amount, "currency": p.currency, "description": description, "price": price(p),
                "quantity": l.quantity, "metadata": {}, "adjustable_quantity": null,
            }))
        })
        .collect();
    list(data, false, &format!("/v1/checkout/sessions/{}/line_items", cs.id))
}

fn subscription_item(s: &State, sub: &Subscription, item: &SubItem) -> Value {
    let price_obj = s.prices.get(&item.price);
    fill(
        "subscription_item",
        json!({
            "id": item.id,
            "object": "subscription_item",
            "billing_thresholds": null,
            "created": item.created,
            "current_period_end": sub.current_period_end,
            "current_period_start": sub.current_period_start,
            "discounts": [],
            "metadata": item.metadata,
            "plan": price_obj.map_or(Value::Null, plan),
            "price": price_obj.map_or(Value::Null, price),
            "quantity": item.quantity,
            "subscription": sub.id,
            "tax_rates": [],
        }),
    )
}

/// A subscription, its items and their prices inline.
pub fn subscription(s: &State, sub: &Subscription) -> Value {
    let items: Vec<Value> = sub.items.iter().map(|i| subscription_item(s, sub, i)).collect();
    let cancel_at = sub.cancel_at_period_end.then_some(sub.current_period_end);
    fill(
        "subscription",
        json!({
            "id": sub.id,
            "object": "subscription",
            "application": null,
            "application_fee_percent": null,
            "automatic_tax": { "enabled": false, "liability": null, "disabled_reason": null },
            "billing_cycle_anchor": sub.billing_cycle_anchor,
            "billing_cycle_anchor_config": null,
            "billing_mode": { "type": "classic", "flexible": null, "updated_at": null },
            "billing_schedules": [],
            "billing_thresholds": null,
            "cancel_at": cancel_at,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "cancellation_details": { "comment": null, "feedback": null, "reason": sub.cancellation_reason },
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": sub.currency,
            "customer": sub.customer,
            "customer_account": null,
            "days_until_due": null,
            "default_payment_method": sub.default_payment_method,
            "default_source": null,
            "default_tax_rates": [],
            "description": sub.description,
            "discounts": [],
            "ended_at": sub.ended_at,
            "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
            "items": {
                "object": "list",
                "data": items,
                "has_more": false,
                "total_count": sub.items.len(),
                "url": format!("/v1/subscription_items?subscription={}", sub.id),
            },
            "latest_invoice": sub.latest_invoice,
            "livemode": false,
            "managed_payments": null,
            "metadata": sub.metadata,
            "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": null,
            "payment_settings": {
                "payment_method_options": null,
                "payment_method_types": null,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": null,
            "pending_setup_intent": null,
            "pending_update": null,
            "schedule": null,
            "start_date": sub.created,
            "status": sub.status.as_str(),
            "test_clock": sub.test_clock,
            "transfer_data": null,
            "trial_end": null,
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
            "trial_start": null,
        }),
    )
}

fn price_details(s: &State, price_id: &Option<String>) -> Value {
    match price_id.as_ref().and_then(|p| s.prices.get(p)) {
        None => json!({ "type": "price_details", "price_details": null, "unit_amount_decimal": null }),
        Some(p) => json!({
            "type": "price_details",
            "price_details": { "price": p.id, "product": p.product },
            "unit_amount_decimal": p.unit_amount.to_string(),
        }),
    }
}

/// Stripe sends `quantity` as an integer and, since 2025, `quantity_decimal` as a string.
fn quantity_fields(q: Option<f64>) -> (Value, Value) {
    match q {
        None => (Value::Null, Value::Null),
        Some(q) if q.fract() == 0.0 && q >= 0.0 => (json!(q as u64), json!(format!("{q}"))),
        Some(q) => (json!(q.ceil().max(0.0) as u64), json!(format!("{q}"))),
    }
}

fn invoice_line(s: &State, invoice_id: &str, l: &InvoiceLine) -> Value {
    let parent = match (&l.invoice_item, &l.subscription_item) {
        (Some(ii), _) => json!({
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": ii, "proration": l.proration,
                "proration_details": { "credited_items": null }, "subscription": l.subscription,
            },
            "subscription_item_details": null,
        }),
        (None, Some(si)) => json!({
            "type": "subscription_item_details",
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null, "proration": l.proration,
                "proration_details": { "credited_items": null },
                "subscription": l.subscription, "subscription_item": si,
            },
        }),
        (None, None) => Value::Null,
    };
    let (quantity, quantity_decimal) = quantity_fields(l.quantity);
    fill(
        "invoice_line_item",
        json!({
            "id": l.id,
            "object": "line_item",
            "amount": l.amount,
            "currency": l.currency,
            "description": l.description,
            "discount_amounts": [],
            "discountable": true,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": false,
            "metadata": l.metadata,
            "parent": parent,
            "period": { "end": l.period_end, "start": l.period_start },
            "pretax_credit_amounts": [],
            "pricing": price_details(s, &l.price),
            "quantity": quantity,
            "quantity_decimal": quantity_decimal,
            "subscription": l.subscription,
            "subtotal": l.amount,
            "taxes": [],
        }),
    )
}

/// An invoice with its lines.
pub fn invoice(s: &State, inv: &Invoice) -> Value {
    let lines: Vec<Value> = inv.lines.iter().map(|l| invoice_line(s, &inv.id, l)).collect();
    let customer = s.customers.get(&inv.customer);
    let total = inv.total();
    let amount_due = inv.amount_due();
    let amount_remaining = if inv.status == InvoiceStatus::Paid || inv.status == InvoiceStatus::Void {
        0
    } else {
        amount_due - inv.amount_paid
    };
    let finalized = inv.status != InvoiceStatus::Draft;
    let hosted = finalized.then(|| format!("{}/invoices/{}", s.base_url, inv.id));
    let pdf = finalized.then(|| format!("{}/invoices/{}/pdf", s.base_url, inv.id));
    let parent = match inv.subscription.as_ref() {
        None => Value::Null,
        Some(sub_id) => json!({
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": {
                "metadata": s.subscriptions.get(sub_id).map(|sub| sub.metadata.clone()),
                "subscription": sub_id,
                "subscription_proration_date": null,
            },
        }),
    };
    let next_attempt =
        (inv.status == InvoiceStatus::Open && inv.attempted && inv.collection_method == "charge_automatically")
            .then(|| inv.created + 3 * 86_400);
    let auto_finalize = (inv.status == InvoiceStatus::Draft && inv.auto_advance).then_some(inv.created + 3600);
    fill(
        "invoice",
        json!({
            "id": inv.id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Stripe fake",
            "amount_due": amount_due,
            "amount_overpaid": 0,
            "amount_paid": inv.amount_paid,
            "amount_remaining": amount_remaining,
            "amount_shipping": 0,
            "attempt_count": inv.attempt_count,
            "attempted": inv.attempted,
            "auto_advance": inv.auto_advance,
            "automatic_tax": { "enabled": false, "liability": null, "status": null, "disabled_reason": null, "provider": null },
            "automatically_finalizes_at": auto_finalize,
            "billing_reason": inv.billing_reason,
            "collection_method": inv.collection_method,
            "created": inv.created,
            "currency": inv.currency,
            "customer": inv.customer,
            "customer_account": null,
            "customer_address": null,
            "customer_email": customer.and_then(|c| c.email.clone()),
            "customer_name": customer.and_then(|c| c.name.clone()),
            "customer_shipping": null,
            "customer_tax_ids": [],
            "default_payment_method": inv.default_payment_method,
            "description": inv.description,
            "due_date": null,
            "effective_at": inv.finalized_at,
            "ending_balance": inv.ending_balance,
            "from_invoice": null,
            "hosted_invoice_url": hosted,
            "invoice_pdf": pdf,
            "last_finalization_error": null,
            "lines": list(lines, false, &format!("/v1/invoices/{}/lines", inv.id)),
            "livemode": false,
            "metadata": inv.metadata,
            "next_payment_attempt": next_attempt,
            "number": inv.number,
            "parent": parent,
            "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
            "period_end": inv.period_end,
            "period_start": inv.period_start,
            "rendering": null,
            "shipping_cost": null,
            "shipping_details": null,
            "starting_balance": inv.starting_balance,
            "status": inv.status.as_str(),
            "status_transitions": {
                "finalized_at": inv.finalized_at,
                "marked_uncollectible_at": null,
                "paid_at": inv.paid_at,
                "voided_at": inv.voided_at,
            },
            "subscription": inv.subscription,
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "test_clock": inv.test_clock,
            "total": total,
            "total_discount_amounts": [],
            "total_excluding_tax": total,
            "total_pretax_credit_amounts": [],
            "total_taxes": [],
            "webhooks_delivered_at": inv.created,
        }),
    )
}

/// An invoice item.
pub fn invoice_item(s: &State, ii: &InvoiceItem) -> Value {
    let parent = match &ii.subscription {
        None => Value::Null,
        Some(sub) => json!({
            "type": "subscription_details",
            "subscription_details": { "subscription": sub, "subscription_item": ii.subscription_item },
        }),
    };
    fill(
        "invoiceitem",
        json!({
            "id": ii.id,
            "object": "invoiceitem",
            "amount": ii.amount,
            "currency": ii.currency,
            "customer": ii.customer,
            "date": ii.created,
            "description": ii.description,
            "invoice": ii.invoice,
            "livemode": false,
            "metadata": ii.metadata,
            "net_amount": ii.amount,
            "parent": parent,
            "period": { "end": ii.period_end, "start": ii.period_start },
            "pricing": price_details(s, &ii.price),
            "proration": ii.proration,
            "quantity": ii.quantity,
            "quantity_decimal": ii.quantity.to_string(),
            "test_clock": ii.test_clock,
        }),
    )
}

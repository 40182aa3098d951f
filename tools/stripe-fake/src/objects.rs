//! Stripe's JSON objects, built from Stripe's own published example of each (the fixtures in
//! `fixtures/`, copied from stripe/openapi's `fixtures3.json`) with our state written over
//! it. Starting from the fixture keeps every field the client types expect; the overrides
//! also reset the fixture's placeholder values (discounts, transfer data, trial dates, ...)
//! to what a plain test-mode object has.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::{
    CheckoutSession, Customer, Invoice, InvoiceItem, InvoiceLine, InvoiceStatus, Meter, MeterEvent, PaymentMethod,
    Price, Product, SessionMode, SetupIntent, State, SubItem, SubStatus, Subscription, TestClock, UsageType,
};

/// The API version the fake's objects follow (periods on subscription items, invoice
/// `parent`), and that async-stripe 1.0.0-rc.10 is generated for.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Stripe's example objects, by file name.
fn fixtures() -> &'static HashMap<&'static str, Value> {
    static FIXTURES: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let files: [(&str, &str); 17] = [
            ("billing_meter", include_str!("../fixtures/billing_meter.json")),
            ("billing_meter_event", include_str!("../fixtures/billing_meter_event.json")),
            ("billing_meter_event_summary", include_str!("../fixtures/billing_meter_event_summary.json")),
            ("checkout_session", include_str!("../fixtures/checkout_session.json")),
            ("customer", include_str!("../fixtures/customer.json")),
            ("event", include_str!("../fixtures/event.json")),
            ("invoice", include_str!("../fixtures/invoice.json")),
            ("invoice_line_item", include_str!("../fixtures/invoice_line_item.json")),
            ("invoiceitem", include_str!("../fixtures/invoiceitem.json")),
            ("payment_method", include_str!("../fixtures/payment_method.json")),
            ("plan", include_str!("../fixtures/plan.json")),
            ("price", include_str!("../fixtures/price.json")),
            ("product", include_str!("../fixtures/product.json")),
            ("setup_intent", include_str!("../fixtures/setup_intent.json")),
            ("subscription", include_str!("../fixtures/subscription.json")),
            ("subscription_item", include_str!("../fixtures/subscription_item.json")),
            ("test_clock", include_str!("../fixtures/test_clock.json")),
        ];
        // The files are part of the crate and checked by the tests: a parse failure is a
        // build defect, so it degrades to an empty object rather than a panic at run time.
        files.into_iter().map(|(name, text)| (name, serde_json::from_str(text).unwrap_or_else(|_| json!({})))).collect()
    })
}

/// The fixture `name` with the top-level fields of `fields` written over it.
fn fill(name: &str, fields: Value) -> Value {
    let mut base = fixtures().get(name).cloned().unwrap_or_else(|| json!({}));
    if let (Some(base), Value::Object(fields)) = (base.as_object_mut(), fields) {
        base.extend(fields);
    }
    base
}

/// A list object (`{"object": "list", "data": [...], "has_more", "url"}`).
pub fn list(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// A customer.
pub fn customer(s: &State, c: &Customer) -> Value {
    fill(
        "customer",
        json!({
            "id": c.id,
            "object": "customer",
            "address": null,
            "balance": c.balance,
            "created": c.created,
            "currency": c.currency,
            "default_source": null,
            "delinquent": is_delinquent(s, &c.id),
            "description": c.description,
            "discount": null,
            "email": c.email,
            "invoice_prefix": c.invoice_prefix,
            "invoice_settings": {
                "custom_fields": null,
                "default_payment_method": c.default_payment_method,
                "footer": null,
                "rendering_options": null,
            },
            "livemode": false,
            "metadata": c.metadata,
            "name": c.name,
            "next_invoice_sequence": c.next_invoice_sequence,
            "shipping": null,
            "test_clock": c.test_clock,
        }),
    )
}

/// A product.
pub fn product(p: &Product) -> Value {
    fill(
        "product",
        json!({
            "id": p.id,
            "object": "product",
            "active": p.active,
            "created": p.created,
            "default_price": null,
            "description": p.description,
            "livemode": false,
            "metadata": p.metadata,
            "name": p.name,
            "package_dimensions": null,
            "type": "service",
            "updated": p.updated,
        }),
    )
}

fn recurring_json(p: &Price) -> Value {
    match &p.recurring {
        None => Value::Null,
        Some(r) => json!({
            "interval": r.interval.as_str(),
            "interval_count": r.interval_count,
            "meter": r.meter,
            "usage_type": match r.usage_type { UsageType::Licensed => "licensed", UsageType::Metered => "metered" },
            "trial_period_days": null,
        }),
    }
}

fn transform_json(p: &Price) -> Value {
    match p.transform_quantity {
        None => Value::Null,
        Some(t) => json!({ "divide_by": t.divide_by, "round": if t.round_up { "up" } else { "down" } }),
    }
}

/// A price.
pub fn price(p: &Price) -> Value {
    fill(
        "price",
        json!({
            "id": p.id,
            "object": "price",
            "active": p.active,
            "billing_scheme": "per_unit",
            "created": p.created,
            "currency": p.currency,
            "custom_unit_amount": null,
            "livemode": false,
            "lookup_key": p.lookup_key,
            "metadata": p.metadata,
            "nickname": p.nickname,
            "product": p.product,
            "recurring": recurring_json(p),
            "transform_quantity": transform_json(p),
            "type": if p.recurring.is_some() { "recurring" } else { "one_time" },
            "unit_amount": p.unit_amount,
            "unit_amount_decimal": p.unit_amount.to_string(),
        }),
    )
}

/// The legacy `plan` twin of a recurring price (subscription items still carry one).
fn plan(p: &Price) -> Value {
    let recurring = recurring_json(p);
    fill(
        "plan",
        json!({
            "id": p.id,
            "object": "plan",
            "active": p.active,
            "amount": p.unit_amount,
            "amount_decimal": p.unit_amount.to_string(),
            "billing_scheme": "per_unit",
            "created": p.created,
            "currency": p.currency,
            "interval": recurring["interval"],
            "interval_count": recurring["interval_count"],
            "livemode": false,
            "metadata": p.metadata,
            "meter": recurring["meter"],
            "nickname": p.nickname,
            "product": p.product,
            "transform_usage": transform_json(p),
            "usage_type": recurring["usage_type"],
        }),
    )
}

/// A billing meter.
pub fn meter(m: &Meter) -> Value {
    fill(
        "billing_meter",
        json!({
            "id": m.id,
            "object": "billing.meter",
            "created": m.created,
            "customer_mapping": { "event_payload_key": m.customer_key, "type": "by_id" },
            "default_aggregation": { "formula": m.formula.as_str() },
            "display_name": m.display_name,
            "event_name": m.event_name,
            "event_time_window": null,
            "livemode": false,
            "status": if m.deactivated_at.is_some() { "inactive" } else { "active" },
            "status_transitions": { "deactivated_at": m.deactivated_at },
            "updated": m.updated,
            "value_settings": { "event_payload_key": m.value_key },
        }),
    )
}

/// A meter event as `POST /v1/billing/meter_events` answers it.
pub fn meter_event(e: &MeterEvent) -> Value {
    fill(
        "billing_meter_event",
        json!({
            "object": "billing.meter_event",
            "created": e.created,
            "event_name": e.event_name,
            "identifier": e.identifier,
            "livemode": false,
            "payload": e.payload,
            "timestamp": e.timestamp,
        }),
    )
}

/// A meter event summary.
pub fn meter_event_summary(id: &str, meter: &str, value: f64, start: i64, end: i64) -> Value {
    fill(
        "billing_meter_event_summary",
        json!({
            "id": id,
            "object": "billing.meter_event_summary",
            "aggregated_value": value,
            "end_time": end,
            "livemode": false,
            "meter": meter,
            "start_time": start,
        }),
    )
}

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

/// A setup intent.
pub fn setup_intent(si: &SetupIntent) -> Value {
    fill(
        "setup_intent",
        json!({
            "id": si.id,
            "object": "setup_intent",
            "automatic_payment_methods": null,
            "client_secret": format!("{}_secret_{}", si.id, &si.id[5..]),
            "created": si.created,
            "customer": si.customer,
            "last_setup_error": null,
            "livemode": false,
            "metadata": si.metadata,
            "next_action": null,
            "payment_method": si.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": { "card": { "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
            "status": if si.succeeded { "succeeded" } else { "requires_payment_method" },
        }),
    )
}

/// A card payment method.
pub fn payment_method(pm: &PaymentMethod) -> Value {
    fill(
        "payment_method",
        json!({
            "id": pm.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
                "email": null, "name": null, "phone": null, "tax_id": null,
            },
            "card": {
                "brand": pm.brand,
                "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
                "country": "US",
                "display_brand": pm.brand,
                "exp_month": pm.exp_month,
                "exp_year": pm.exp_year,
                "fingerprint": pm.fingerprint,
                "funding": "credit",
                "generated_from": null,
                "last4": pm.last4,
                "networks": { "available": [pm.brand], "preferred": null },
                "three_d_secure_usage": { "supported": true },
                "wallet": null,
                "regulated_status": "unregulated",
            },
            "created": pm.created,
            "customer": pm.customer,
            "livemode": false,
            "metadata": pm.metadata,
            "type": "card",
        }),
    )
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

/// A test clock; `advancing_to` while an advance is being applied.
pub fn test_clock(c: &TestClock, advancing_to: Option<i64>) -> Value {
    let (status, details) = match advancing_to {
        Some(t) => ("advancing", json!({ "advancing": { "target_frozen_time": t } })),
        None => ("ready", json!({})),
    };
    fill(
        "test_clock",
        json!({
            "id": c.id,
            "object": "test_helpers.test_clock",
            "created": c.created,
            "deletes_after": c.deletes_after,
            "frozen_time": c.frozen_time,
            "livemode": false,
            "name": c.name,
            "status": status,
            "status_details": details,
        }),
    )
}

/// An event envelope around a snapshot of `object`.
pub fn event(
    id: &str,
    kind: &str,
    created: i64,
    object: Value,
    previous: Option<Value>,
    pending: u32,
    origin: &crate::state::Origin,
) -> Value {
    let mut data = Map::new();
    data.insert("object".into(), object);
    if let Some(previous) = previous {
        data.insert("previous_attributes".into(), previous);
    }
    fill(
        "event",
        json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": data,
            "livemode": false,
            "pending_webhooks": pending,
            "request": { "id": origin.request_id, "idempotency_key": origin.idempotency_key },
            "type": kind,
        }),
    )
}

/// Any object by id, rendered, for `expand[]` (the id's prefix says what kind it is).
pub fn by_id(s: &State, id: &str) -> Option<Value> {
    let prefix = id.split('_').next().unwrap_or_default();
    match prefix {
        "cus" => s.customers.get(id).map(|c| customer(s, c)),
        "prod" => s.products.get(id).map(product),
        "price" => s.prices.get(id).map(price),
        "mtr" => s.meters.get(id).map(meter),
        "cs" => s.sessions.get(id).map(|cs| checkout_session(s, cs)),
        "seti" => s.setup_intents.get(id).map(setup_intent),
        "pm" => s.payment_methods.get(id).map(payment_method),
        "sub" => s.subscriptions.get(id).map(|sub| subscription(s, sub)),
        "in" => s.invoices.get(id).map(|inv| invoice(s, inv)),
        "ii" => s.invoice_items.get(id).map(|ii| invoice_item(s, ii)),
        "clock" => s.clocks.get(id).map(|c| test_clock(c, None)),
        _ => None,
    }
}

/// Applies `expand[]` paths (`customer`, `latest_invoice.customer`, `data.customer` in
/// lists): each named field holding an id is replaced by the object.
pub fn expand(s: &State, mut value: Value, paths: &[String]) -> ApiResult<Value> {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.len() > 4 {
            return Err(ApiError::invalid_param(
                "expand",
                format!("You cannot expand more than 4 levels of a property. Property: {path}"),
            ));
        }
        expand_path(s, &mut value, &segments, path)?;
    }
    Ok(value)
}

fn expand_path(s: &State, value: &mut Value, segments: &[&str], path: &str) -> ApiResult<()> {
    let cannot = || ApiError::invalid_param("expand", format!("This property cannot be expanded ({path})."));
    let Some((head, rest)) = segments.split_first() else { return Ok(()) };
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|item| expand_path(s, item, segments, path)),
        Value::Object(map) => {
            let field = map.get_mut(*head).ok_or_else(cannot)?;
            if let Value::String(id) = field {
                *field = by_id(s, id).ok_or_else(cannot)?;
            }
            match field {
                Value::Null => Ok(()),
                // Expanded now, or an object already (e.g. `line_items` put in by the caller).
                Value::Object(o) if rest.is_empty() && o.contains_key("object") => Ok(()),
                _ if rest.is_empty() => Err(cannot()),
                other => expand_path(s, other, rest, path),
            }
        }
        _ => Err(cannot()),
    }
}

/// Stripe flags a customer `delinquent` while an invoice of theirs is past due.
fn is_delinquent(s: &State, customer: &str) -> bool {
    s.subscriptions.values().any(|sub| sub.customer == customer && sub.status == SubStatus::PastDue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_an_object_of_its_kind() {
        assert_eq!(fixtures().len(), 17);
        for (name, value) in fixtures() {
            assert!(value.get("object").and_then(Value::as_str).is_some(), "{name}");
        }
    }

    #[test]
    fn expand_replaces_ids_and_refuses_other_fields() {
        let mut s = State::new("http://x".into(), None);
        let customer = crate::billing::customers::create(&mut s, Default::default(), &Default::default());
        let value = json!({ "customer": customer, "data": [{ "customer": customer }], "n": 1, "none": null });
        let expanded = expand(&s, value.clone(), &["customer".into(), "data.customer".into(), "none".into()]).unwrap();
        assert_eq!(expanded["customer"]["object"], "customer");
        assert_eq!(expanded["data"][0]["customer"]["id"], customer.as_str());
        assert_eq!(expanded["none"], Value::Null);
        assert!(expand(&s, value.clone(), &["n".into()]).is_err());
        assert!(expand(&s, value, &["missing".into()]).is_err());
    }
}

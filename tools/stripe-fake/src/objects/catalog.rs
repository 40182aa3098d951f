//! Customers, products, prices and plans, meters, payment methods and setup intents.

use serde_json::{json, Value};

use super::fill;
use crate::state::{
    Customer, Meter, MeterEvent, PaymentMethod, Price, Product, SetupIntent, State, SubStatus, UsageType,
};

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
pub(super) fn plan(p: &Price) -> Value {
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

/// Stripe flags a customer `delinquent` while an invoice of theirs is past due.
fn is_delinquent(s: &State, customer: &str) -> bool {
    s.subscriptions.values().any(|sub| sub.customer == customer && sub.status == SubStatus::PastDue)
}

//! Stripe's JSON objects, built from Stripe's own published example of each (the fixtures in
//! `fixtures/`, copied from stripe/openapi's `fixtures3.json`) with our state written over
//! it. Starting from the fixture keeps every field the client types expect; the overrides
//! also reset the fixture's placeholder values (discounts, transfer data, trial dates, ...)
//! to what a plain test-mode object has.

mod billing;
mod catalog;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

pub use billing::*;
pub use catalog::*;

use crate::error::{ApiError, ApiResult};
use crate::state::{State, TestClock};

/// The API version the fake's objects follow (periods on subscription items, invoice
/// `parent`), and that tollgate's Stripe adapter sends as `Stripe-Version`.
pub const API_VERSION: &str = "2026-09-30.endive";

/// Stripe's example objects, by file name.
fn fixtures() -> &'static HashMap<&'static str, Value> {
    static FIXTURES: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let files: [(&str, &str); 17] = [
            ("billing_meter", include_str!("../../fixtures/billing_meter.json")),
            ("billing_meter_event", include_str!("../../fixtures/billing_meter_event.json")),
            ("billing_meter_event_summary", include_str!("../../fixtures/billing_meter_event_summary.json")),
            ("checkout_session", include_str!("../../fixtures/checkout_session.json")),
            ("customer", include_str!("../../fixtures/customer.json")),
            ("event", include_str!("../../fixtures/event.json")),
            ("invoice", include_str!("../../fixtures/invoice.json")),
            ("invoice_line_item", include_str!("../../fixtures/invoice_line_item.json")),
            ("invoiceitem", include_str!("../../fixtures/invoiceitem.json")),
            ("payment_method", include_str!("../../fixtures/payment_method.json")),
            ("plan", include_str!("../../fixtures/plan.json")),
            ("price", include_str!("../../fixtures/price.json")),
            ("product", include_str!("../../fixtures/product.json")),
            ("setup_intent", include_str!("../../fixtures/setup_intent.json")),
            ("subscription", include_str!("../../fixtures/subscription.json")),
            ("subscription_item", include_str!("../../fixtures/subscription_item.json")),
            ("test_clock", include_str!("../../fixtures/test_clock.json")),
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

//! `/v1/billing/meters` and `/v1/billing/meter_events`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{respond, AppState, Form};
use crate::billing::usage::aggregate;
use crate::clock::wall_now;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::{find, find_mut, Formula, Meter, MeterEvent};

/// At most this many grouping windows in one summary request.
const MAX_WINDOWS: i64 = 10_000;

/// `POST /v1/billing/meters`
pub async fn create(State(app): AppState, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "display_name",
        "event_name",
        "default_aggregation",
        "customer_mapping",
        "value_settings",
        "event_time_window",
    ])?;
    let display_name = p.required_str("display_name")?.to_string();
    let event_name = p.required_str("event_name")?.to_string();
    let aggregation = p.child("default_aggregation")?.ok_or_else(|| ApiError::missing_param("default_aggregation"))?;
    aggregation.allow(&["formula"])?;
    let formula = match aggregation.one_of("formula", &["count", "last", "sum"])? {
        Some("count") => Formula::Count,
        Some("last") => Formula::Last,
        Some(_) => Formula::Sum,
        None => return Err(ApiError::missing_param("default_aggregation[formula]")),
    };
    let customer_key = match p.child("customer_mapping")? {
        None => "stripe_customer_id".to_string(),
        Some(m) => {
            m.allow(&["event_payload_key", "type"])?;
            m.one_of("type", &["by_id"])?.ok_or_else(|| ApiError::missing_param("customer_mapping[type]"))?;
            m.required_str("event_payload_key")?.to_string()
        }
    };
    let value_key = match p.child("value_settings")? {
        None => "value".to_string(),
        Some(v) => {
            v.allow(&["event_payload_key"])?;
            v.required_str("event_payload_key")?.to_string()
        }
    };
    if p.one_of("event_time_window", &["day", "hour"])?.is_some() {
        return Err(ApiError::invalid_param(
            "event_time_window",
            "event_time_window is not supported by the Stripe fake.",
        ));
    }
    app.with(|s| {
        if s.meters.values().any(|m| m.event_name == event_name && m.deactivated_at.is_none()) {
            return Err(ApiError::invalid_param(
                "event_name",
                format!("An active meter with event_name `{event_name}` already exists."),
            ));
        }
        let now = wall_now();
        let meter = Meter {
            id: new_id("mtr_test_"),
            created: now,
            updated: now,
            display_name,
            event_name,
            formula,
            customer_key,
            value_key,
            deactivated_at: None,
        };
        let snapshot = objects::meter(&meter);
        s.meters.insert(meter.id.clone(), meter);
        respond(s, snapshot, &p)
    })
}

/// `GET /v1/billing/meters/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| respond(s, objects::meter(find(&s.meters, &id, "billing.meter", "id")?), &p))
}

/// `POST /v1/billing/meters/{id}/deactivate`
pub async fn deactivate(State(app): AppState, Path(id): Path<String>, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[])?;
    app.with(|s| {
        let meter = find_mut(&mut s.meters, &id, "billing.meter", "id")?;
        if meter.deactivated_at.is_some() {
            return Err(ApiError::invalid("This meter is already inactive."));
        }
        let now = wall_now();
        meter.deactivated_at = Some(now);
        meter.updated = now;
        let snapshot = objects::meter(meter);
        respond(s, snapshot, &p)
    })
}

/// `POST /v1/billing/meter_events`. Stripe validates the payload asynchronously and reports
/// problems later; the fake answers a missing or non-numeric value and a duplicate
/// `identifier` at once (the duplicate with Stripe's own synchronous error).
pub async fn create_event(State(app): AppState, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["event_name", "payload", "identifier", "timestamp"])?;
    let event_name = p.required_str("event_name")?.to_string();
    let payload = p.child("payload")?.ok_or_else(|| ApiError::missing_param("payload"))?.string_map();
    let identifier = p.opt_str("identifier")?.map(str::to_string);
    if identifier.as_ref().is_some_and(|i| i.chars().count() > 100) {
        return Err(ApiError::invalid_param("identifier", "identifier must be at most 100 characters."));
    }
    let timestamp = p.i64("timestamp")?;
    app.with(|s| {
        let meter = s.meters.values().find(|m| m.event_name == event_name);
        let (customer_key, value_key) =
            meter.map_or(("stripe_customer_id", "value"), |m| (m.customer_key.as_str(), m.value_key.as_str()));
        let customer = payload
            .get(customer_key)
            .cloned()
            .ok_or_else(|| ApiError::missing_param(&format!("payload[{customer_key}]")))?;
        let raw_value =
            payload.get(value_key).ok_or_else(|| ApiError::missing_param(&format!("payload[{value_key}]")))?;
        let value = raw_value.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
            ApiError::invalid_param(
                format!("payload[{value_key}]"),
                format!("The value `{raw_value}` is not a number."),
            )
        })?;
        let identifier = identifier.unwrap_or_else(|| new_id(""));
        // Stripe keeps identifiers for at least 24 hours; the fake keeps them for its lifetime.
        if s.meter_identifiers.contains_key(&identifier) {
            let mut e = ApiError::invalid(format!("An event already exists with identifier {identifier}."));
            e.should_retry = Some(false);
            return Err(e);
        }
        // Usage of a test-clock customer is recorded in the clock's time.
        let created = s.now_for_customer(&customer);
        let event = MeterEvent {
            seq: s.next_seq(),
            created,
            event_name,
            identifier: identifier.clone(),
            customer,
            value,
            timestamp: timestamp.unwrap_or(created),
            payload,
        };
        s.meter_identifiers.insert(identifier, created);
        let snapshot = objects::meter_event(&event);
        s.meter_events.push(event);
        respond(s, snapshot, &p)
    })
}

/// A stable id per (meter, customer, window), so `starting_after` can page through them.
fn summary_id(meter: &str, customer: &str, start: i64, end: i64) -> String {
    let digest = hex::encode(Sha256::digest(format!("{meter}/{customer}/{start}/{end}").as_bytes()));
    format!("mtrusg_{}", &digest[..24])
}

/// `GET /v1/billing/meters/{id}/event_summaries`
pub async fn event_summaries(
    State(app): AppState,
    Path(id): Path<String>,
    Form(query): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&["customer", "start_time", "end_time", "value_grouping_window", "limit", "starting_after"])?;
    let customer = p.required_str("customer")?.to_string();
    let start = p.i64("start_time")?.ok_or_else(|| ApiError::missing_param("start_time"))?;
    let end = p.i64("end_time")?.ok_or_else(|| ApiError::missing_param("end_time"))?;
    let window = match p.one_of("value_grouping_window", &["day", "hour"])? {
        Some("day") => Some(86_400),
        Some(_) => Some(3600),
        None => None,
    };
    for (name, t) in [("start_time", start), ("end_time", end)] {
        if t % 60 != 0 {
            return Err(ApiError::invalid_param(name, format!("{name} must be aligned with minute boundaries.")));
        }
        if let Some(w) = window {
            if t % w != 0 {
                return Err(ApiError::invalid_param(
                    name,
                    format!("{name} must be aligned with value_grouping_window boundaries."),
                ));
            }
        }
    }
    if start >= end {
        return Err(ApiError::invalid_param("end_time", "end_time must be after start_time."));
    }
    let limit = p.u64("limit")?.unwrap_or(10).clamp(1, 100) as usize;
    let step = window.unwrap_or(end - start);
    if (end - start) / step > MAX_WINDOWS {
        return Err(ApiError::invalid_param("start_time", "The time range covers too many windows."));
    }
    app.with(|s| {
        let meter = find(&s.meters, &id, "billing.meter", "id")?;
        find(&s.customers, &customer, "customer", "customer")?;
        let summaries: Vec<Value> = (0..(end - start) / step)
            .map(|i| (start + i * step, start + (i + 1) * step))
            .map(|(a, b)| {
                objects::meter_event_summary(
                    &summary_id(&meter.id, &customer, a, b),
                    &meter.id,
                    aggregate(s, meter, &customer, a, b),
                    a,
                    b,
                )
            })
            .collect();
        let from = match p.opt_str("starting_after")? {
            Some(after) => summaries.iter().position(|v| v["id"] == after).map_or(summaries.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<Value> = summaries.iter().skip(from).take(limit).cloned().collect();
        let has_more = from + page.len() < summaries.len();
        let url = format!("/v1/billing/meters/{id}/event_summaries");
        respond(s, objects::list(page, has_more, &url), &p)
    })
}

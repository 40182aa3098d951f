//! `POST /api/v1/track`: calls the seller's own server answered, reported with their
//! outcome and counted against the key's quota by the same conditional write as a proxied
//! call (a batch as one write of its total cost: all of it, or nothing past a hard limit).
//! The events then take the proxied calls' way: usage queue, worker, log and aggregates.
//!
//! What is refused, and how:
//! - a body that is not JSON: 400 `malformed_json`; JSON that is neither one event nor
//!   `{"events": [...]}`: 422 `invalid_body`;
//! - an empty batch, or any event breaking a rule of `tollgate_domain::track` (unknown field,
//!   negative latency, bad timestamp, ...): 422 `invalid_events` with every refused event's
//!   index and reason in `details`, nothing recorded;
//! - more than 1,000 events: 413 `too_many_events`;
//! - events whose timestamp is outside the window (24 hours back, a minute ahead): refused
//!   one by one (`timestamp_out_of_range` in the results) while the rest are recorded, 202;
//!   if that leaves none, 422 `invalid_events`;
//! - past a hard quota: 429 `quota_exceeded`, nothing counted.

use axum::body::{Body, Bytes};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::track::MAX_TRACK_BATCH;
use tollgate_domain::{EventRejection, Period, TrackContext, TrackedCall, UsageEvent};
use tollgate_http::{ApiError, ErrorCode};
use utoipa::ToSchema;

use crate::call::{Call, Caller};
use crate::{count, identify, limits, Gateway, MAX_REQUEST_BYTES};

/// A batch: `{"events": [...]}` (one event may also be sent on its own).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackBatch {
    /// 1 to 1,000 events.
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<TrackedCall>,
}

/// What became of one event of the request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackResult {
    /// Its position in the request (0 for a single event).
    pub index: usize,
    /// `accepted` or `rejected`.
    #[schema(example = "accepted")]
    pub status: String,
    /// The usage event's id (accepted events): `<org id>:<client id>`, or ours.
    pub id: Option<String>,
    /// Why it was rejected (`invalid_event` or `timestamp_out_of_range`).
    pub code: Option<String>,
    pub field: Option<String>,
    pub message: Option<String>,
}

/// The answer to a report (202): how many events were accepted, and each one's result.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrackResponse {
    pub accepted: usize,
    pub rejected: usize,
    /// Cost units counted against the quota by this request.
    pub counted_units: u64,
    pub results: Vec<TrackResult>,
}

/// One refused event as `details` of a 422 `invalid_events`.
fn detail(index: usize, r: &EventRejection) -> serde_json::Value {
    serde_json::json!({ "index": index, "code": r.code, "field": r.field, "message": r.message })
}

/// The events of a body: a batch or one event, as JSON values (each parsed on its own, so
/// every bad one gets its own reason).
fn events_of(body: &Bytes) -> Result<Vec<serde_json::Value>, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(ApiError::InvalidBody("expected one event or {\"events\": [...]}".into()));
    };
    if !fields.contains_key("events") {
        return Ok(vec![serde_json::Value::Object(fields)]);
    }
    if fields.len() > 1 {
        return Err(ApiError::InvalidBody("a batch has only the field `events`".into()));
    }
    match fields.remove("events") {
        Some(serde_json::Value::Array(events)) => Ok(events),
        _ => Err(ApiError::InvalidBody("`events` must be an array of events".into())),
    }
}

/// The handler (see the module doc).
pub async fn track(gw: &Gateway, call: &mut Call, body: Body) -> Result<Response<Body>, ApiError> {
    let caller = identify::required_caller(gw, call).await?;
    limits::per_key(gw, call, &caller)?;
    let body = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: MAX_REQUEST_BYTES })?;
    let raw = events_of(&body)?;
    if raw.is_empty() {
        return Err(ApiError::InvalidEvents { message: "the batch is empty".into(), details: serde_json::json!([]) });
    }
    if raw.len() > MAX_TRACK_BATCH {
        return Err(ApiError::rejected(
            ErrorCode::TooManyEvents,
            format!("a batch holds at most {MAX_TRACK_BATCH} events; this one has {}", raw.len()),
        ));
    }
    let outcomes = validate(call, &caller, raw);
    let invalid: Vec<_> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.as_ref().err().filter(|r| r.code == "invalid_event").map(|r| detail(i, r)))
        .collect();
    if !invalid.is_empty() {
        return Err(ApiError::InvalidEvents {
            message: format!("{} of {} events are invalid; nothing was recorded", invalid.len(), outcomes.len()),
            details: serde_json::Value::Array(invalid),
        });
    }
    let accepted: Vec<UsageEvent> = outcomes.iter().filter_map(|o| o.as_ref().ok().cloned()).collect();
    if accepted.is_empty() {
        let details = outcomes.iter().enumerate().filter_map(|(i, o)| o.as_ref().err().map(|r| detail(i, r)));
        return Err(ApiError::InvalidEvents {
            message: "no event is within the accepted time window; nothing was recorded".into(),
            details: details.collect(),
        });
    }
    count::count_reported(gw, call, &caller, &accepted).await?;
    let results: Vec<TrackResult> = outcomes.into_iter().enumerate().map(|(index, o)| result(index, o)).collect();
    let response = TrackResponse {
        accepted: accepted.len(),
        rejected: results.len() - accepted.len(),
        counted_units: accepted.iter().map(|e| u64::from(e.cost_units)).sum(),
        results,
    };
    Ok((StatusCode::ACCEPTED, Json(response)).into_response())
}

/// Each event parsed and checked: its usage event, or why it is refused.
fn validate(call: &Call, caller: &Caller, raw: Vec<serde_json::Value>) -> Vec<Result<UsageEvent, EventRejection>> {
    let request_id = call.event_id();
    let period = Period::containing(call.now).key;
    let cx = TrackContext {
        org_id: &caller.key.org_id,
        key_id: &caller.key.id,
        project_id: &caller.key.project_id,
        request_id: &request_id,
        ip: call.client_ip.as_deref(),
        received_at: call.now,
        period: &period,
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<TrackedCall>(v)
                .map_err(|e| EventRejection::malformed(e.to_string()))
                .and_then(|c| c.into_event(i, &cx))
        })
        .collect()
}

fn result(index: usize, outcome: Result<UsageEvent, EventRejection>) -> TrackResult {
    match outcome {
        Ok(e) => {
            TrackResult { index, status: "accepted".into(), id: Some(e.id), code: None, field: None, message: None }
        }
        Err(r) => TrackResult {
            index,
            status: "rejected".into(),
            id: None,
            code: Some(r.code),
            field: r.field,
            message: Some(r.message),
        },
    }
}

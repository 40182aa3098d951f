//! Calls reported by a seller's own server (`POST /api/v1/track`): the event a client sends,
//! its validation, and the usage event it becomes.
//!
//! The rules, each with the reason a rejected event is given:
//! - `endpoint`: 1 to 256 characters, starting with `/`, no whitespace, no control
//!   characters, no `#` or `?` (the path only);
//! - `method`: an HTTP method token of 1 to 16 letters (upper-cased);
//! - `status_code`: 100 to 599; `response_time_ms`: 0 to 3,600,000;
//! - `timestamp`: RFC 3339, not more than [`MAX_CLOCK_SKEW_SECS`] in the future and not
//!   older than [`MAX_EVENT_AGE_HOURS`] (default: the time it was received);
//! - `cost`: 0 to 1,000,000 units (default 1); send 0 for a call already counted by
//!   `/api/v1/verify`;
//! - `metadata`: a JSON object of at most [`MAX_METADATA_BYTES`] serialized;
//! - `id`: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, unique per organization: a
//!   repeated id is recorded once in the log and the statistics.

use crate::usage::{tracked_endpoint_id, UsageEvent, UsageSource};
use crate::{Id, PeriodKey};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Most events in one batch.
pub const MAX_TRACK_BATCH: usize = 1000;
/// Oldest event accepted, in hours before its arrival.
pub const MAX_EVENT_AGE_HOURS: i64 = 24;
/// How far in the future an event's timestamp may be (clients' clocks drift).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;
/// Largest `metadata`, serialized.
pub const MAX_METADATA_BYTES: usize = 2048;
/// Largest `cost` of one event.
pub const MAX_EVENT_COST: u32 = 1_000_000;
const MAX_ENDPOINT_CHARS: usize = 256;
const MAX_CLIENT_ID_CHARS: usize = 128;
const MAX_RESPONSE_TIME_MS: u32 = 3_600_000;

/// One call as the client reports it. Unknown fields are refused, so a misspelt field is
/// an error rather than silently dropped.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackedCall {
    /// The path called on the seller's API, e.g. `/users/{id}` (templated paths group best).
    #[schema(example = "/users/{id}", min_length = 1, max_length = 256, pattern = r"^/[^\s#?\x00-\x1f\x7f-\x9f]*$")]
    pub endpoint: String,
    #[schema(example = "GET", pattern = r"^\s*[A-Za-z]{1,16}\s*$")]
    pub method: String,
    #[schema(minimum = 100, maximum = 599, example = 200)]
    pub status_code: u16,
    #[schema(minimum = 0, maximum = 3600000, example = 42)]
    pub response_time_ms: u32,
    /// RFC 3339; default: when it was received.
    #[schema(example = "2026-12-06T10:00:00Z")]
    pub timestamp: Option<String>,
    /// Cost units (default 1).
    #[schema(minimum = 0, maximum = 1000000)]
    pub cost: Option<u32>,
    /// A JSON object kept with the log entry (at most 2 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The client's id for the call: a repeated id is recorded once.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]{1,128}$")]
    pub id: Option<String>,
}

/// Why one event was refused: the field and a reason a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventRejection {
    /// `invalid_event` (malformed or out of range) or `timestamp_out_of_range`.
    pub code: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl EventRejection {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        EventRejection { code: "invalid_event".into(), field: Some(field.into()), message: message.into() }
    }

    /// An event that is not a well-formed `TrackedCall` (a JSON type error, an unknown or
    /// missing field): serde's message says which.
    pub fn malformed(message: impl Into<String>) -> Self {
        EventRejection { code: "invalid_event".into(), field: None, message: message.into() }
    }
}

/// Who reported the calls and when: what turns a valid call into a usage event.
pub struct TrackContext<'a> {
    pub org_id: &'a Id,
    pub key_id: &'a Id,
    pub project_id: &'a Id,
    /// The request's id: events without a client id get `<request id>.<index>`.
    pub request_id: &'a str,
    pub ip: Option<&'a str>,
    /// When the report arrived (the period counted in, the default timestamp).
    pub received_at: DateTime<Utc>,
    pub period: &'a PeriodKey,
}

impl TrackedCall {
    /// The event's usage event (`source: track`), or why it is refused. Structural rules
    /// come first (`invalid_event`); the time window last (`timestamp_out_of_range`), so a
    /// caller can tell "fix the code" from "sent too late".
    pub fn into_event(self, index: usize, cx: &TrackContext<'_>) -> Result<UsageEvent, EventRejection> {
        let endpoint = self.endpoint.trim();
        if endpoint.is_empty() || endpoint.chars().count() > MAX_ENDPOINT_CHARS {
            return Err(EventRejection::invalid("endpoint", format!("must be 1 to {MAX_ENDPOINT_CHARS} characters")));
        }
        if !endpoint.starts_with('/')
            || endpoint.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '?')
        {
            return Err(EventRejection::invalid(
                "endpoint",
                "must be a path starting with / (no query string, fragment, spaces or control characters)",
            ));
        }
        let method = self.method.trim().to_ascii_uppercase();
        if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(EventRejection::invalid("method", "must be an HTTP method such as GET or POST"));
        }
        if !(100..=599).contains(&self.status_code) {
            return Err(EventRejection::invalid("status_code", "must be an HTTP status, 100 to 599"));
        }
        if self.response_time_ms > MAX_RESPONSE_TIME_MS {
            return Err(EventRejection::invalid("response_time_ms", "must be 0 to 3600000 (one hour)"));
        }
        let cost = self.cost.unwrap_or(1);
        if cost > MAX_EVENT_COST {
            return Err(EventRejection::invalid("cost", format!("must be 0 to {MAX_EVENT_COST}")));
        }
        if let Some(m) = &self.metadata {
            if !m.is_object() {
                return Err(EventRejection::invalid("metadata", "must be a JSON object"));
            }
            if serde_json::to_string(m).map_or(usize::MAX, |s| s.len()) > MAX_METADATA_BYTES {
                return Err(EventRejection::invalid("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes")));
            }
        }
        let id = match &self.id {
            Some(id) => {
                let ok = !id.is_empty()
                    && id.chars().count() <= MAX_CLIENT_ID_CHARS
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
                if !ok {
                    return Err(EventRejection::invalid(
                        "id",
                        format!(
                            "must be 1 to {MAX_CLIENT_ID_CHARS} characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"
                        ),
                    ));
                }
                // Namespaced by organization: two sellers' ids never collide.
                format!("{}:{id}", cx.org_id)
            }
            None => format!("{}.{index}", cx.request_id),
        };
        let timestamp = match &self.timestamp {
            None => cx.received_at,
            Some(raw) => {
                let t = DateTime::parse_from_rfc3339(raw.trim())
                    .map_err(|_| {
                        EventRejection::invalid(
                            "timestamp",
                            "must be an RFC 3339 timestamp such as 2026-12-06T10:00:00Z",
                        )
                    })?
                    .with_timezone(&Utc);
                crate::fold_leap_second(t)
            }
        };
        if timestamp > cx.received_at + Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Err(EventRejection {
                code: "timestamp_out_of_range".into(),
                field: Some("timestamp".into()),
                message: format!("is in the future (more than {MAX_CLOCK_SKEW_SECS} s after the time received)"),
            });
        }
        if timestamp < cx.received_at - Duration::hours(MAX_EVENT_AGE_HOURS) {
            return Err(EventRejection {
                code: "timestamp_out_of_range".into(),
                field: Some("timestamp".into()),
                message: format!("is more than {MAX_EVENT_AGE_HOURS} hours old"),
            });
        }
        Ok(UsageEvent {
            id,
            org_id: cx.org_id.clone(),
            key_id: cx.key_id.clone(),
            project_id: Some(cx.project_id.clone()),
            source: UsageSource::Track,
            endpoint_id: tracked_endpoint_id(UsageSource::Track, &method, endpoint),
            method,
            path: endpoint.to_string(),
            status: self.status_code,
            latency_ms: self.response_time_ms,
            cost_units: cost,
            ip: cx.ip.map(str::to_string),
            timestamp,
            period: cx.period.clone(),
            metadata: self.metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(v: serde_json::Value) -> TrackedCall {
        serde_json::from_value(v).unwrap()
    }

    fn cx<'a>(org: &'a Id, key: &'a Id, period: &'a PeriodKey, now: DateTime<Utc>) -> TrackContext<'a> {
        TrackContext {
            org_id: org,
            key_id: key,
            project_id: key,
            request_id: "req_1",
            ip: None,
            received_at: now,
            period,
        }
    }

    #[test]
    fn a_valid_call_becomes_a_tracked_usage_event() {
        let (org, key, period, now) =
            (Id::from_string("org_a"), Id::from_string("key_a"), PeriodKey::from_string("2026-12"), Utc::now());
        let e = call(json!({"endpoint": "/users/{id}", "method": "get", "status_code": 404, "response_time_ms": 12, "id": "c-1", "metadata": {"region": "eu"}}))
            .into_event(3, &cx(&org, &key, &period, now))
            .unwrap();
        assert_eq!(e.id, "org_a:c-1");
        assert_eq!((e.method.as_str(), e.status, e.latency_ms, e.cost_units), ("GET", 404, 12, 1));
        assert_eq!(e.endpoint_id.as_str(), "track:GET /users/{id}");
        assert_eq!((e.source, e.timestamp), (UsageSource::Track, now));
        let anonymous = call(json!({"endpoint": "/x", "method": "POST", "status_code": 200, "response_time_ms": 0}))
            .into_event(7, &cx(&org, &key, &period, now))
            .unwrap();
        assert_eq!(anonymous.id, "req_1.7");
    }

    #[test]
    fn each_rule_names_its_field() {
        let (org, key, period, now) =
            (Id::from_string("org_a"), Id::from_string("key_a"), PeriodKey::from_string("2026-12"), Utc::now());
        let base = json!({"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": 1});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            call(b).into_event(0, &cx(&org, &key, &period, now)).unwrap_err()
        };
        assert_eq!(with("endpoint", json!("users")).field.as_deref(), Some("endpoint"));
        assert_eq!(with("endpoint", json!("/a b")).field.as_deref(), Some("endpoint"));
        assert_eq!(with("method", json!("GE T")).field.as_deref(), Some("method"));
        assert_eq!(with("status_code", json!(42)).field.as_deref(), Some("status_code"));
        assert_eq!(with("response_time_ms", json!(3_600_001)).field.as_deref(), Some("response_time_ms"));
        assert_eq!(with("cost", json!(1_000_001)).field.as_deref(), Some("cost"));
        assert_eq!(with("metadata", json!([1])).field.as_deref(), Some("metadata"));
        assert_eq!(with("metadata", json!({"x": "y".repeat(3000)})).field.as_deref(), Some("metadata"));
        assert_eq!(with("id", json!("a b")).field.as_deref(), Some("id"));
        assert_eq!(with("timestamp", json!("yesterday")).code, "invalid_event");
        let late = (now - Duration::hours(25)).to_rfc3339();
        assert_eq!(with("timestamp", json!(late)).code, "timestamp_out_of_range");
        let early = (now + Duration::minutes(5)).to_rfc3339();
        assert_eq!(with("timestamp", json!(early)).code, "timestamp_out_of_range");
        let skewed = (now + Duration::seconds(30)).to_rfc3339();
        let mut ok = base.clone();
        ok["timestamp"] = json!(skewed);
        assert!(call(ok).into_event(0, &cx(&org, &key, &period, now)).is_ok());
    }

    #[test]
    fn unknown_fields_and_negative_latency_do_not_parse() {
        assert!(serde_json::from_value::<TrackedCall>(
            json!({"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": 1, "latency": 3})
        )
        .is_err());
        assert!(serde_json::from_value::<TrackedCall>(
            json!({"endpoint": "/x", "method": "GET", "status_code": 200, "response_time_ms": -1})
        )
        .is_err());
    }
}

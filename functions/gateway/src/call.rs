//! One call on its way through the pipeline: what every step reads about the request, and
//! the response headers the steps gather (added to success and error answers alike).

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use std::time::Instant;
use tollgate_domain::{ApiKey, Plan, Subscription};
use tollgate_http::extract::ClientAddr;
use tollgate_http::metrics::Decision;
use tollgate_http::middleware::REQUEST_ID_HEADER;

use crate::limiter::RateDecision;
use crate::upstream::Identity;

/// Who is calling: the key, its organization's subscription and plan.
#[derive(Clone)]
pub struct Caller {
    pub key: ApiKey,
    pub subscription: Subscription,
    pub plan: Plan,
}

/// The request as the steps see it.
pub struct Call {
    pub started: Instant,
    /// The application clock's time when the call arrived.
    pub now: DateTime<Utc>,
    /// Method, URI, headers and extensions (the body travels separately).
    pub parts: Parts,
    /// `x-request-id` (set by the common middleware; empty if missing).
    pub request_id: String,
    pub client_ip: Option<String>,
    /// The path after `/api/v1` (`/` when empty): what the catalog matches.
    pub path: String,
    /// Headers for the answer, filled in along the way.
    pub answer: AnswerHeaders,
    /// What was decided about the caller, when a step answers a refusal without an error
    /// (verify's `valid: false`); otherwise the answer tells.
    pub decision: Option<Decision>,
}

impl Call {
    pub fn new(parts: Parts, now: DateTime<Utc>) -> Self {
        let request_id = parts.headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let client_ip = parts.extensions.get::<ClientAddr>().map(|c| c.0.to_string());
        let path = match parts.uri.path().strip_prefix("/api/v1").unwrap_or("") {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        Call {
            started: Instant::now(),
            now,
            parts,
            request_id,
            client_ip,
            path,
            answer: AnswerHeaders::default(),
            decision: None,
        }
    }

    /// The id of the call's usage event: the request id (a fresh one if the middleware set
    /// none).
    pub fn event_id(&self) -> String {
        if self.request_id.is_empty() {
            tollgate_domain::id::request_id()
        } else {
            self.request_id.clone()
        }
    }

    /// The client IP as a rate-limit bucket label (`-` when the transport gave none).
    pub fn ip_label(&self) -> &str {
        self.client_ip.as_deref().unwrap_or("-")
    }

    /// What the upstream is told about the call (`X-Tollgate-*` headers).
    pub fn identity(&self, caller: Option<&Caller>) -> Identity {
        Identity {
            request_id: self.request_id.clone(),
            org_id: caller.map(|c| c.key.org_id.to_string()),
            key_id: caller.map(|c| c.key.id.to_string()),
            plan_id: caller.map(|c| c.plan.id.to_string()),
            client_ip: self.client_ip.clone(),
        }
    }

    /// Milliseconds since the call arrived.
    pub fn elapsed_ms(&self) -> u32 {
        self.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
    }
}

/// The `RateLimit-*` and `X-Quota-*` headers of the answer.
#[derive(Default)]
pub struct AnswerHeaders {
    pub rate: Option<RateDecision>,
    pub quota: Option<QuotaHeaders>,
}

/// The quota as the answer shows it.
#[derive(Debug, Clone, Copy)]
pub struct QuotaHeaders {
    /// None: the plan has no monthly limit.
    pub limit: Option<u64>,
    pub used: u64,
    pub seconds_to_period_end: i64,
}

impl AnswerHeaders {
    pub fn apply(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        };
        if let Some(r) = self.rate {
            set("ratelimit-limit", r.limit.to_string());
            set("ratelimit-remaining", r.remaining.to_string());
            set("ratelimit-reset", r.reset_secs.to_string());
        }
        if let Some(q) = self.quota {
            set("x-quota-used", q.used.to_string());
            set("x-quota-reset", q.seconds_to_period_end.max(0).to_string());
            if let Some(limit) = q.limit {
                set("x-quota-limit", limit.to_string());
                set("x-quota-remaining", limit.saturating_sub(q.used).to_string());
            }
        }
    }
}

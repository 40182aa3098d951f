//! Stripe's error responses: `{"error": {"type", "message", "code", "param", ...}}` with the
//! HTTP status Stripe uses for each kind (400, 401, 402, 404, 409).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// Why a card payment failed, as Stripe's test cards fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// `card_declined` / `generic_decline` (4000000000000002, and charges on 4000000000000341).
    Generic,
    /// `card_declined` / `insufficient_funds` (4000000000009995).
    InsufficientFunds,
    /// `incorrect_number`: the number fails the Luhn check.
    IncorrectNumber,
}

impl Decline {
    /// The message Stripe shows for this decline.
    pub fn message(self) -> &'static str {
        match self {
            Decline::Generic => "Your card was declined.",
            Decline::InsufficientFunds => "Your card has insufficient funds.",
            Decline::IncorrectNumber => "Your card number is incorrect.",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Decline::Generic | Decline::InsufficientFunds => "card_declined",
            Decline::IncorrectNumber => "incorrect_number",
        }
    }

    fn decline_code(self) -> Option<&'static str> {
        match self {
            Decline::Generic => Some("generic_decline"),
            Decline::InsufficientFunds => Some("insufficient_funds"),
            Decline::IncorrectNumber => None,
        }
    }
}

/// An error answered in Stripe's shape.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stripe's `type`: `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`.
    pub kind: &'static str,
    /// The human-readable message.
    pub message: String,
    /// Stripe's `code`, e.g. `resource_missing`, `parameter_missing`, `card_declined`.
    pub code: Option<&'static str>,
    /// The parameter at fault, in bracket notation (`items[0][price]`).
    pub param: Option<String>,
    /// Further fields of the error object (`decline_code`, `payment_method`, ...).
    pub extra: Map<String, Value>,
    /// Sent as `Stripe-Should-Retry` when Stripe sends it.
    pub should_retry: Option<bool>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            code: None,
            param: None,
            extra: Map::new(),
            should_retry: None,
        }
    }

    /// 400 `invalid_request_error` without a code.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 for a parameter with a bad value.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(message).param(param)
    }

    /// 400 `parameter_missing`.
    pub fn missing_param(param: &str) -> Self {
        Self::invalid(format!("Missing required param: {param}.")).code("parameter_missing").param(param)
    }

    /// 400 `parameter_unknown`: Stripe's answer to a parameter it does not know, which the fake
    /// also gives for Stripe parameters it does not implement (so a caller notices).
    pub fn unknown_param(param: &str) -> Self {
        Self::invalid(format!("Received unknown parameter: {param} (or one the Stripe fake does not implement)"))
            .code("parameter_unknown")
            .param(param)
    }

    /// 404 `resource_missing`: "No such customer: 'cus_x'".
    pub fn no_such(noun: &str, id: &str, param: &str) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("No such {noun}: '{id}'"));
        e.code = Some("resource_missing");
        e.param(param)
    }

    /// 401 for a missing or malformed API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    }

    /// 402 `card_error`.
    pub fn card(decline: Decline) -> Self {
        let mut e = Self::new(StatusCode::PAYMENT_REQUIRED, "card_error", decline.message());
        e.code = Some(decline.code());
        if let Some(d) = decline.decline_code() {
            e.extra.insert("decline_code".into(), Value::from(d));
        }
        e
    }

    /// 400 `idempotency_error` (same key, other parameters).
    pub fn idempotency(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "idempotency_error", message)
    }

    /// 409 while another request with the same idempotency key is still running.
    pub fn idempotency_in_flight(key: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "idempotency_error",
            format!("There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): {key}. Please try again later."),
        );
        e.should_retry = Some(true);
        e
    }

    /// 404 for a path the fake (and Stripe) does not serve.
    pub fn unrecognized_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
        )
    }

    /// Sets `code`.
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets `param`.
    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Adds a field to the error object.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// The `{"error": {...}}` body.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), Value::from(self.kind));
        error.insert("message".into(), Value::from(self.message.clone()));
        if let Some(code) = self.code {
            error.insert("code".into(), Value::from(code));
            error.insert(
                "doc_url".into(),
                Value::from(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-"))),
            );
        }
        if let Some(param) = &self.param {
            error.insert("param".into(), Value::from(param.clone()));
        }
        error.extend(self.extra.clone());
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(retry) = self.should_retry {
            response
                .headers_mut()
                .insert("stripe-should-retry", HeaderValue::from_static(if retry { "true" } else { "false" }));
        }
        response
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

//! Stripe's errors as the port's [`PaymentsError`].

use serde::Deserialize;
use std::fmt;
use tollgate_domain::PaymentsError;

/// Why a request to Stripe failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StripeError {
    /// No answer: the connection failed, or the attempt ran out of time.
    #[error("no answer from Stripe")]
    Network(#[source] reqwest::Error),
    /// Stripe refused the request (a status that is not a success, with its error object).
    #[error("Stripe answered {status}")]
    Api { status: u16, error: ApiError },
    /// An answer that is not the object (or error object) expected.
    #[error("Stripe's answer ({status}) cannot be read")]
    Unreadable {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
    /// An id that cannot name an object in a URL (empty, `.` or `..`): not sent.
    #[error("not an id of Stripe's")]
    BadId,
}

/// The body of Stripe's error answers: `{"error": {...}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ApiError,
}

/// Stripe's error object, as far as it is read (its `param`, `decline_code`, `payment_method`...
/// are not: a payment method's billing details must not reach a log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ApiError {
    /// `api_error`, `card_error`, `idempotency_error`, `invalid_request_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// An error answer of Stripe's API, kept as the source of an `Unavailable` error: the status,
/// type, code and message only (the full error object can carry a payment method with its
/// billing details, which must not reach a log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub kind: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stripe answered {} ({}", self.status, self.kind)?;
        if let Some(code) = &self.code {
            write!(f, ", {code}")?;
        }
        write!(f, ")")?;
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    fn new(error: &ApiError, status: u16) -> Self {
        ApiFailure { status, kind: error.kind.clone(), code: error.code.clone(), message: error.message.clone() }
    }
}

/// Whether Stripe refused the request with this error code.
pub(crate) fn has_code(error: &StripeError, code: &str) -> bool {
    matches!(error, StripeError::Api { error, .. } if error.code.as_deref() == Some(code))
}

/// Whether the error is Stripe's "no such object" (404, or `resource_missing`), or an id that
/// cannot be one.
pub(crate) fn is_missing(error: &StripeError) -> bool {
    match error {
        StripeError::Api { status, error } => *status == 404 || error.code.as_deref() == Some("resource_missing"),
        StripeError::BadId => true,
        StripeError::Network(_) | StripeError::Unreadable { .. } => false,
    }
}

/// Whether the error says a meter event with this identifier was already recorded.
pub(crate) fn is_duplicate_meter_event(error: &StripeError) -> bool {
    let StripeError::Api { status, error: e } = error else { return false };
    if !(400..500).contains(status) {
        return false;
    }
    if e.code.as_deref() == Some("resource_already_exists") {
        return true;
    }
    let message = e.message.as_deref().unwrap_or("").to_ascii_lowercase();
    message.contains("identifier") && (message.contains("already") || message.contains("duplicate"))
}

/// Maps an error of the client to the port's: a refusal of Stripe's with a message is
/// `Rejected` (its message is meant for the user), a missing object `NotFound(what)`, and
/// everything that is not the request's fault `Unavailable`: no answer, a 5xx, rate limiting
/// (429), a lock conflict (409), our own key refused (401/403), or an answer we cannot read.
pub(crate) fn payments_error(error: StripeError, what: &'static str) -> PaymentsError {
    if is_missing(&error) {
        return PaymentsError::NotFound(what);
    }
    match error {
        StripeError::Api { status, error: ref e } => {
            let failure = ApiFailure::new(e, status);
            let provider_fault = status >= 500 || matches!(status, 401 | 403 | 409 | 429) || e.kind == "api_error";
            match (provider_fault, failure.message.clone()) {
                (false, Some(message)) => PaymentsError::Rejected { code: failure.code, message },
                _ => PaymentsError::unavailable(format!("Stripe failed ({what})"), failure),
            }
        }
        other => {
            PaymentsError::unavailable(format!("Stripe could not be reached or answered unreadably ({what})"), other)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(json: &str, status: u16) -> StripeError {
        let parsed: ErrorBody = serde_json::from_str(json).expect("a Stripe error body");
        StripeError::Api { status, error: parsed.error }
    }

    #[test]
    fn a_card_decline_is_rejected_with_stripes_message() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
            "message":"Your card has insufficient funds.","charge":"ch_1"}}"#;
        let e = payments_error(api_error(body, 402), "subscription");
        match e {
            PaymentsError::Rejected { code, message } => {
                assert_eq!(code.as_deref(), Some("card_declined"));
                assert_eq!(message, "Your card has insufficient funds.");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_invalid_parameter_is_rejected() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","param":"unit_amount","message":"Invalid integer: abc"}}"#;
        assert!(matches!(payments_error(api_error(body, 400), "price"), PaymentsError::Rejected { .. }));
    }

    #[test]
    fn a_missing_object_is_not_found() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such customer: 'cus_x'"}}"#;
        assert!(matches!(payments_error(api_error(body, 404), "customer"), PaymentsError::NotFound("customer")));
        // resource_missing on a 400 (e.g. an unknown price in a list of items) is a missing object too.
        assert!(matches!(payments_error(api_error(body, 400), "price"), PaymentsError::NotFound("price")));
        // A 404 without a code (localstripe's).
        let bare = r#"{"error":{"type":"invalid_request_error","message":"Not Found"}}"#;
        assert!(matches!(payments_error(api_error(bare, 404), "invoice"), PaymentsError::NotFound("invoice")));
    }

    #[test]
    fn server_errors_rate_limits_and_a_refused_key_are_unavailable_with_a_source_free_of_details() {
        let server = r#"{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}"#;
        let limited = r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#;
        let key =
            r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****1234"}}"#;
        for (body, status) in [(server, 500), (limited, 429), (key, 401)] {
            let e = payments_error(api_error(body, status), "customer");
            let PaymentsError::Unavailable { source: Some(source), .. } = &e else { panic!("{e:?}") };
            let failure = source.downcast_ref::<ApiFailure>().expect("an ApiFailure source");
            assert_eq!(failure.status, status);
        }
        // An answer that is not Stripe's error object (a proxy's page): unavailable, the parse
        // error kept as the source's source.
        let source = serde_json::from_str::<ErrorBody>("<html>").unwrap_err();
        let e = payments_error(StripeError::Unreadable { status: 502, source }, "invoice");
        let PaymentsError::Unavailable { source: Some(source), .. } = &e else { panic!("{e:?}") };
        assert!(source.to_string().contains("502"), "{source}");
        assert!(std::error::Error::source(source.as_ref()).is_some());
    }

    #[test]
    fn a_duplicate_meter_event_identifier_is_recognised() {
        let exists = r#"{"error":{"type":"invalid_request_error","code":"resource_already_exists","message":"An event with identifier 'x' already exists."}}"#;
        assert!(is_duplicate_meter_event(&api_error(exists, 400)));
        let worded = r#"{"error":{"type":"invalid_request_error","message":"A meter event with the identifier 'x' was already processed"}}"#;
        assert!(is_duplicate_meter_event(&api_error(worded, 400)));
        let other =
            r#"{"error":{"type":"invalid_request_error","message":"No active meter found for event_name 'x'"}}"#;
        assert!(!is_duplicate_meter_event(&api_error(other, 400)));
        assert!(!is_duplicate_meter_event(&api_error(exists, 500)));
    }
}

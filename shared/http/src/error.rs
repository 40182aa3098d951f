//! The one error type of the HTTP layer. It renders itself as
//! `{"error": {"code": "...", "message": "..."}}` with the matching status.

pub use crate::error_code::ErrorCode;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tollgate_domain::{DomainError, KeyRejection, PaymentsError, PortError, StoreError};

/// Body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// `code` is stable and machine-readable; `message` is for humans.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// One of the catalogue's codes (see `ErrorCode`).
    #[schema(value_type = ErrorCode, example = "invalid_credentials")]
    pub code: String,
    pub message: String,
    /// Per-item reasons, for the errors that have them (`invalid_events`: one entry per
    /// refused event, `{index, code, field, message}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<serde_json::Value>,
}

/// Every way a request can fail. Client errors carry a stable code; server errors keep their
/// source for the logs and show only a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `malformed_json`: the body is not valid JSON.
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400 `bad_request`: a query string, header or path that cannot be understood.
    #[error("{0}")]
    BadRequest(String),
    /// 400 `invalid_path`: a gateway path with a dot segment or an encoded slash, which could
    /// reach a path of the upstream outside the endpoint's base.
    #[error("{0}")]
    InvalidPath(String),
    /// 415 `unsupported_media_type`: a JSON body without `Content-Type: application/json`.
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 413 `payload_too_large`: the body is larger than the route accepts.
    #[error("request body is too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// 422 `invalid_body`: JSON of the wrong shape (missing or unknown field, wrong type).
    #[error("{0}")]
    InvalidBody(String),
    /// 422 with the domain rule's code (`invalid_email`, `weak_password`, `invalid_field`).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A refusal with its catalogue code and a message for the client; the status is the
    /// code's (401 `invalid_token`, 403 `admin_required`, 409 `email_taken`, 502
    /// `upstream_unavailable`, ...). 429 has its own variant for `Retry-After`.
    #[error("{message}")]
    Rejected { code: ErrorCode, message: String },
    /// 422 `invalid_events`: tracked events that cannot be recorded; `details` gives each
    /// refused event's index and reason (as JSON), and nothing of the batch is recorded.
    #[error("{message}")]
    InvalidEvents { message: String, details: serde_json::Value },
    /// 404 `not_found`: no such resource (or not yours: the two look the same).
    #[error("{0} not found")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 429: too many requests; `retry_after` seconds go into `Retry-After`.
    #[error("{message}")]
    TooManyRequests { code: ErrorCode, message: String, retry_after: u64 },
    /// 503 `service_unavailable`: the store or another backend did not answer.
    #[error("a backend service is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 500 `internal_error`: a bug; details only in the logs.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A refusal with `code` (its status is the code's) and `message` for the client.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Rejected { code, message: message.into() }
    }
    pub fn invalid_field(field: &'static str, reason: impl Into<String>) -> Self {
        ApiError::Domain(DomainError::InvalidField { field, reason: reason.into() })
    }

    /// The HTTP status: the one of its catalogue code.
    pub fn status(&self) -> StatusCode {
        self.error_code().status()
    }

    /// 403 `account_suspended`: the signed-in account is suspended.
    pub fn account_suspended() -> Self {
        ApiError::rejected(ErrorCode::AccountSuspended, "this account is suspended")
    }

    /// The catalogue entry of this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::InvalidPath(_) => ErrorCode::InvalidPath,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::InvalidBody(_) => ErrorCode::InvalidBody,
            ApiError::Domain(DomainError::InvalidEmail(_)) => ErrorCode::InvalidEmail,
            ApiError::Domain(DomainError::WeakPassword(_)) => ErrorCode::WeakPassword,
            ApiError::Domain(DomainError::InvalidField { .. }) => ErrorCode::InvalidField,
            ApiError::InvalidEvents { .. } => ErrorCode::InvalidEvents,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Rejected { code, .. } | ApiError::TooManyRequests { code, .. } => *code,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The code of the error body (`snake_case`).
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists("member") => {
                ApiError::rejected(ErrorCode::AlreadyMember, "the user is already a member of this organization")
            }
            StoreError::AlreadyExists(what) => {
                ApiError::rejected(ErrorCode::AlreadyExists, format!("{what} already exists"))
            }
            StoreError::NotFound(what) => ApiError::NotFound(what.to_string()),
            StoreError::Conflict("last owner") => {
                ApiError::rejected(ErrorCode::LastOwner, "an organization must keep at least one owner")
            }
            StoreError::Conflict(what) => ApiError::rejected(ErrorCode::Conflict, format!("conflict: {what}")),
            StoreError::LimitReached(what) => {
                ApiError::rejected(ErrorCode::LimitReached, format!("limit reached: {what}"))
            }
            StoreError::InvalidCursor => ApiError::BadRequest("invalid cursor".into()),
            e @ StoreError::Unavailable { .. } => ApiError::Unavailable(Box::new(e)),
            StoreError::Corrupt(m) => ApiError::Internal(format!("corrupt stored data: {m}")),
        }
    }
}

impl From<tollgate_app::AppError> for ApiError {
    fn from(e: tollgate_app::AppError) -> Self {
        use tollgate_app::AppError;
        match e {
            AppError::Store(e) => e.into(),
            AppError::Domain(e) => e.into(),
            AppError::Port(e) => e.into(),
            AppError::Inconsistent(m) => ApiError::Internal(m),
            AppError::Payments(e) => e.into(),
            AppError::Billing { kind, message } => {
                use tollgate_app::BillingRefusal;
                let code = match kind {
                    BillingRefusal::AlreadyOnPlan => ErrorCode::AlreadyOnPlan,
                    BillingRefusal::PlanNotAvailable => ErrorCode::PlanNotAvailable,
                    BillingRefusal::NoPaidSubscription => ErrorCode::NoPaidSubscription,
                };
                ApiError::rejected(code, message)
            }
            e @ AppError::BillingNotConfigured => ApiError::rejected(ErrorCode::BillingNotConfigured, e.to_string()),
        }
    }
}

/// 402 `payment_rejected` with the provider's message, 404, or 502
/// `payment_provider_unavailable` (the cause logged here: the client sees a generic message).
impl From<PaymentsError> for ApiError {
    fn from(e: PaymentsError) -> Self {
        match e {
            PaymentsError::Rejected { message, .. } => ApiError::rejected(ErrorCode::PaymentRejected, message),
            PaymentsError::NotFound(what) => ApiError::NotFound(what.to_string()),
            e @ PaymentsError::Unavailable { .. } => {
                tracing::error!(error = %chain(&e), "the payment provider failed");
                ApiError::rejected(
                    ErrorCode::PaymentProviderUnavailable,
                    "the payment provider did not answer; try again shortly",
                )
            }
        }
    }
}

/// 401 with the rejection's code (`key_revoked`, `key_expired`, `key_rotated`).
impl From<KeyRejection> for ApiError {
    fn from(r: KeyRejection) -> Self {
        let code = match r {
            KeyRejection::Revoked => ErrorCode::KeyRevoked,
            KeyRejection::Expired => ErrorCode::KeyExpired,
            KeyRejection::Rotated => ErrorCode::KeyRotated,
        };
        ApiError::rejected(code, r.to_string())
    }
}

impl From<PortError> for ApiError {
    fn from(e: PortError) -> Self {
        ApiError::Unavailable(Box::new(e))
    }
}

/// The cause of a 5xx answer, kept on the response for the logging middleware
/// (`middleware::log_server_failures`), which logs it inside the request's span. The client
/// sees only a generic message.
#[derive(Debug, Clone)]
pub struct ServerFailure(pub String);

/// The error and its sources, one line, for logs.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // A refusal's message is meant for the client (an upstream's 502/504 included); any
        // other 5xx is a failure of ours: logged, and hidden behind a generic message.
        let refusal = matches!(self, ApiError::Rejected { .. });
        let failure = (status.is_server_error() && !refusal).then(|| ServerFailure(chain(&self)));
        let message = if failure.is_some() {
            match &self {
                ApiError::Unavailable(_) => "a backend service is unavailable; try again shortly".to_string(),
                _ => "internal error".to_string(),
            }
        } else {
            tracing::debug!(status = status.as_u16(), code = self.code(), "request rejected");
            self.to_string()
        };
        let details = match &self {
            ApiError::InvalidEvents { details, .. } => Some(details.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code().to_string(), message, details } };
        let mut resp = (status, axum::Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
        }
        if let Some(failure) = failure {
            resp.extensions_mut().insert(failure);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let e: ApiError = StoreError::AlreadyExists("email").into();
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "already_exists"));
        let e: ApiError = DomainError::WeakPassword("x".into()).into();
        assert_eq!((e.status(), e.code()), (StatusCode::UNPROCESSABLE_ENTITY, "weak_password"));
        let e: ApiError = StoreError::unavailable("down", std::io::Error::other("refused")).into();
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(chain(&e).contains("refused"), "source chain kept: {}", chain(&e));
    }

    #[test]
    fn only_an_invalid_cursor_is_a_bad_request() {
        let e: ApiError = StoreError::InvalidCursor.into();
        assert_eq!(
            (e.status(), e.code(), e.to_string().as_str()),
            (StatusCode::BAD_REQUEST, "bad_request", "invalid cursor")
        );
        let e: ApiError = StoreError::Conflict("usage aggregates changed concurrently").into();
        assert_eq!((e.status(), e.code()), (StatusCode::CONFLICT, "conflict"));
    }

    #[test]
    fn too_many_requests_sets_retry_after() {
        let r = ApiError::TooManyRequests {
            code: ErrorCode::TooManyAttempts,
            message: "slow down".into(),
            retry_after: 42,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
    }
}

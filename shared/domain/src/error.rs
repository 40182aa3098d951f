//! Errors of the domain and of the ports.

use thiserror::Error;

/// A rule of the domain was broken by the input. Every variant is a client error.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    /// The email address is not a plausible address (HTTP 422).
    #[error("invalid email address: {0}")]
    InvalidEmail(String),
    /// The password does not meet the documented policy (HTTP 422).
    #[error("weak password: {0}")]
    WeakPassword(String),
    /// A field is missing, empty, too long or otherwise invalid (HTTP 422).
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

/// A store (port) operation failed.
///
/// The first variants are expected outcomes that callers turn into client errors; `Unavailable`
/// and `Corrupt` are the store's own faults.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique value (for example an email address) is already taken (HTTP 409).
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// The record to change does not exist (HTTP 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A conditional write lost: the record changed state in between (HTTP 409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A limit enforced atomically by the store was reached (HTTP 409 or 422 by context).
    #[error("limit reached: {0}")]
    LimitReached(&'static str),
    /// A page cursor that this store never issued (HTTP 400): the client sent it, so it is
    /// the client's error, not a conflict with the stored state.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The backing store could not be reached or failed (HTTP 503).
    #[error("store unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored record could not be decoded (HTTP 500: a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error, keeping it as the source.
    pub fn unavailable(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Unavailable { message: message.into(), source: Some(Box::new(source)) }
    }
}

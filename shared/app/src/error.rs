//! Why a use case failed.

use tollgate_domain::{DomainError, PortError, StoreError};

/// The failure of a use case. The HTTP layer maps each variant to its status.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A store failure or an expected store outcome (`NotFound` 404, `AlreadyExists` 409,
    /// `Unavailable` 503, ...), mapped as the store error is.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A domain rule was broken: 422 with the rule's code.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// An outgoing port (mail, secrets, password hashing) failed: 503.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Stored data contradicts itself (a bug, or a store changed by hand): 500.
    #[error("inconsistent stored data: {0}")]
    Inconsistent(String),
}

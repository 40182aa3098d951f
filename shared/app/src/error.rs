//! Why a use case failed.

use tollgate_domain::{DomainError, PaymentsError, PortError, StoreError};

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
    /// The payment provider refused (402 `payment_rejected`), lacks the object (404) or
    /// failed (502 `payment_provider_unavailable`).
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    /// A billing rule refused the request (`already_on_plan` 409, `plan_not_available` 422,
    /// `no_paid_subscription` 409): the kind says which, the message is for the client.
    #[error("{message}")]
    Billing { kind: BillingRefusal, message: String },
    /// Billing needs the payment provider and none is configured: 503 `billing_not_configured`.
    #[error("billing is not configured on this deployment: no Stripe key is set, and plans are assigned by an admin")]
    BillingNotConfigured,
    /// Stored data contradicts itself (a bug, or a store changed by hand): 500.
    #[error("inconsistent stored data: {0}")]
    Inconsistent(String),
}

/// Why a billing use case refused the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingRefusal {
    /// The organization is already on the plan.
    AlreadyOnPlan,
    /// The plan cannot be bought (archived, free, or not at the provider).
    PlanNotAvailable,
    /// The change needs a paid subscription.
    NoPaidSubscription,
}

impl AppError {
    pub fn billing(kind: BillingRefusal, message: impl Into<String>) -> Self {
        AppError::Billing { kind, message: message.into() }
    }
}

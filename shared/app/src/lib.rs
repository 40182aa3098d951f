//! The application layer: the platform's use cases over the domain's ports, shared by the
//! route groups, the gateway and the workers. It knows no HTTP and no AWS: callers pass the
//! ports in (`&dyn Store`, ...) and turn an [`AppError`] into their own answer (the HTTP
//! layer renders it as the JSON error).
//!
//! Layers: route groups and workers -> application (this crate) -> domain ports <- adapters.

pub mod analytics;
pub mod billing;
mod error;
pub mod jobs;
pub mod notifications;
pub mod platform_analytics;
pub mod projects;
pub mod subscriptions;
pub mod usage;
pub mod usage_stats;
pub mod users;
pub mod webhooks;

pub use error::{AppError, BillingRefusal};
pub use projects::{default_project, is_project_of, project_of, projects_of};
pub use subscriptions::{current_subscription, plan_in_effect, seed_catalog};
pub use usage::PeriodUsage;
pub use users::{create_user, delete_user, new_user, DeletedUser, NewUser};

//! The domain: entities, value types and the ports (traits) the adapters implement.
//!
//! Pure code: no I/O, no framework. Everything here is testable without a store.

pub mod api_key;
pub mod audit;
pub mod billing;
pub mod clock;
pub mod email;
pub mod endpoint;
pub mod error;
pub mod id;
pub mod job;
pub mod management_token;
pub mod metrics;
pub mod notification;
pub mod notification_settings;
pub mod page;
pub mod password;
pub mod plan;
pub mod ports;
pub mod project;
pub mod revenue;
mod stored_enum;
pub mod team;
pub mod text;
pub mod token;
pub mod totp;
pub mod track;
pub mod usage;
pub mod user;
pub mod webhook;

pub use api_key::{key_scopes, ApiKey, ApiKeyStatus, KeyRejection, KeyRotation, KeySecret, NewApiKey, ParsedKey};
pub use audit::{AuditEvent, AuditQuery};
pub use billing::{
    is_plausible_provider_id, CheckoutSession, CompletedCheckout, Invoice, InvoiceEstimate, InvoiceQuery,
    InvoiceStatus, PaymentMethodSummary, PlanBillingIds, PlanHold, ProviderSubscription, ProviderSubscriptionStatus,
    SubscriptionBilling, UsageReport, UsageSnapshot,
};
pub use clock::{fold_leap_second, Clock, ManualClock, SystemClock};
pub use email::{Email, MailMessage};
pub use endpoint::{is_scope_name, Endpoint, BUILTIN_ECHO};
pub use error::{DomainError, StoreError};
pub use id::Id;
pub use job::{
    JobName, JobRun, JobRunQuery, JobRunStatus, JobTrigger, PruneReport, Schedule, JOB_RUN_RETENTION_DAYS,
    JOB_RUN_STALE_AFTER_MINUTES,
};
pub use management_token::{
    management_scopes, ManagementScope, ManagementToken, ManagementTokenStatus, NewManagementToken,
    MANAGEMENT_TOKEN_PREFIX,
};
pub use metrics::{platform_org_id, DayCount, OrgCalls, OrgDayUsage, UsageRollup, PLATFORM_ORG_ID};
pub use notification::{
    DunningReminder, KeyExpiring, Notification, PaymentFailed, RenderedMail, SubscriptionChanged, TrialEnding,
    WebhookTest,
};
pub use notification_settings::{NotificationSettings, SlackSettings, EMAIL_EVENT_TYPES};
pub use page::PageLimits;
pub use password::{PasswordPolicy, PASSWORD_MAX_LEN, PASSWORD_MIN_LEN};
pub use plan::{
    BillingType, Period, PeriodKey, Plan, PlanDraft, PlanStatus, Subscription, SubscriptionQuery, SubscriptionStatus,
    FREE_PLAN_ID, PAST_DUE_GRACE_DAYS,
};
pub use ports::*;
pub use project::{NewVerifySecret, Project};
pub use revenue::{monthly_recurring_revenue, RevenueChange};
pub use stored_enum::StoredEnum;
pub use team::{permission_table_markdown, Invitation, Permission, INVITATION_VALIDITY};
pub use token::{ActionToken, ActionTokenKind, RefreshFamily, RefreshToken, RotateOutcome, TokenHash};
pub use totp::MfaEnrollment;
pub use track::{EventRejection, TrackContext, TrackedCall};
pub use usage::{
    aggregates_of, endpoint_label, last_use_per_key, thresholds_crossed, thresholds_reached, tracked_endpoint_id,
    verify_endpoint_id, AggregateQuery, Granularity, OrgUsageFacts, QuotaAlert, RateWindow, UsageAggregate,
    UsageCharge, UsageEvent, UsageIncrement, UsageLogQuery, UsageRecord, UsageSource, QUOTA_ALERT_THRESHOLDS,
};
pub use user::{Membership, OrgRole, Organization, Role, User, UserQuery, UserSort, UserStatus};
pub use webhook::{
    DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookInputError, MAX_ENDPOINTS_PER_ORG,
};

//! Ports: what the domain needs from the outside world, shaped by the domain's questions
//! rather than by a database's API. Each has a DynamoDB/AWS adapter and an embedded
//! (SQLite / data-directory) adapter; `tollgate-store-contract` runs one suite against both.
//!
//! Conventions for every store method:
//! - Times are passed in (from the `Clock` port); adapters never read the wall clock, so
//!   expiry is testable and both adapters agree.
//! - A write either happens completely or not at all (transactions / conditional writes).
//! - Expected outcomes (`AlreadyExists`, `NotFound`, `Conflict`, `LimitReached`,
//!   `InvalidCursor`) are
//!   `StoreError` variants; the HTTP layer maps them to 4xx.

use crate::billing::{
    CheckoutSession, CompletedCheckout, Invoice, InvoiceEstimate, InvoiceQuery, PaymentMethodSummary, PlanBillingIds,
    PlanHold, ProviderSubscription, UsageReport,
};
use crate::{
    ActionToken, ActionTokenKind, AggregateQuery, ApiKey, AuditEvent, AuditQuery, DayCount, Email, Endpoint, Id,
    Invitation, JobRun, JobRunQuery, KeyRotation, KeySecret, MailMessage, ManagementToken, Membership, MfaEnrollment,
    NotificationSettings, OrgCalls, OrgRole, OrgUsageFacts, Organization, PeriodKey, Plan, Project, PruneReport,
    RateWindow, RefreshFamily, RefreshToken, RevenueChange, RotateOutcome, StoreError, Subscription, SubscriptionQuery,
    TokenHash, UsageAggregate, UsageCharge, UsageEvent, UsageIncrement, UsageLogQuery, UsageRecord, UsageSnapshot,
    User, UserQuery, WebhookDelivery, WebhookEndpoint,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Users, organizations and memberships.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user with their personal organization and owner membership, all or nothing,
    /// and counts them in the signups of the day of `user.created_at` ([`MetricsRollup`]).
    /// `AlreadyExists("email")` if a user that is not deleted has this email.
    async fn create_user(&self, user: &User, org: &Organization, owner: &Membership) -> Result<(), StoreError>;

    async fn get_user(&self, id: &Id) -> Result<Option<User>, StoreError>;

    /// The user holding this email, unless deleted (deleted users release their email).
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// Writes every mutable field of `user` (names, company, password hash, role, status,
    /// email_verified, updated_at). The email cannot change here, and setting status
    /// `deleted` here does not release the email: use `soft_delete_user`. `NotFound("user")` if the
    /// user does not exist or is deleted.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;

    /// Soft delete: status `deleted`, `deleted_at = now`, the email released for new
    /// registrations; the record itself is kept. `NotFound("user")` if missing or already deleted.
    async fn soft_delete_user(&self, id: &Id, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Whether any user (not deleted) has the `admin` role: first-start bootstrap.
    async fn admin_exists(&self) -> Result<bool, StoreError>;

    /// The organization, unless it was deleted.
    async fn get_organization(&self, id: &Id) -> Result<Option<Organization>, StoreError>;

    /// Memberships of a user, oldest first.
    async fn memberships_of_user(&self, user_id: &Id) -> Result<Vec<Membership>, StoreError>;

    /// The admins' listing: the users matching `query` (`q` a case-insensitive fragment of
    /// email, first name, last name or company; `status`, `role`, `plan_id`: the plan of the
    /// subscription of the user's personal organization), in `query.sort` order with ties by
    /// id, at most `query.page_size()` from `query.cursor` on, and the next page's cursor
    /// (None on the last). Deleted users appear only when `status` asks for them.
    /// `InvalidCursor` for a cursor this store did not issue.
    async fn users_page(&self, query: &UserQuery) -> Result<(Vec<User>, Option<String>), StoreError>;
}

/// Organizations beyond the personal one, their members and invitations.
///
/// Every method that names an organization acts only inside it (tenant isolation lives in
/// the query). An organization always keeps at least one owner: the methods that would leave
/// it without one refuse, exactly under concurrency.
#[async_trait]
pub trait OrganizationRepository: Send + Sync {
    /// Stores a new organization and its first owner's membership, all or nothing.
    /// `AlreadyExists("organization")` if the id exists.
    async fn create_organization(&self, org: &Organization, owner: &Membership) -> Result<(), StoreError>;

    /// Writes the organization's `name`. `NotFound("organization")` if it does not exist.
    async fn rename_organization(&self, org_id: &Id, name: &str) -> Result<(), StoreError>;

    /// Deletes an organization that is not personal: its memberships and invitations go,
    /// every key of it is revoked at `now`, the record itself is kept (with `deleted_at`) so
    /// its ids stay unique and its history readable. `NotFound("organization")` if it does not
    /// exist or was deleted; `Conflict("personal organization")` for a personal one.
    async fn delete_organization(&self, org_id: &Id, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The user's membership of the organization, if any (none in a deleted organization).
    async fn get_membership(&self, org_id: &Id, user_id: &Id) -> Result<Option<Membership>, StoreError>;

    /// The organization's members, oldest first.
    async fn list_members(&self, org_id: &Id) -> Result<Vec<Membership>, StoreError>;

    /// Gives the member `role` and returns the stored membership. `NotFound("member")` if the
    /// user is not a member; `Conflict("last owner")` if this would demote the last owner.
    async fn set_member_role(&self, org_id: &Id, user_id: &Id, role: OrgRole) -> Result<Membership, StoreError>;

    /// Removes the member. `NotFound("member")` if not a member; `Conflict("last owner")` if
    /// they are the last owner.
    async fn remove_member(&self, org_id: &Id, user_id: &Id) -> Result<(), StoreError>;

    /// Stores a new invitation. `AlreadyExists("invitation")` if the id exists.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;

    /// The organization's invitations that were not accepted (expired ones included), newest
    /// first.
    async fn list_invitations(&self, org_id: &Id) -> Result<Vec<Invitation>, StoreError>;

    /// The invitation if it exists *in this organization*.
    async fn get_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<Option<Invitation>, StoreError>;

    /// Withdraws an invitation that was not accepted. `NotFound("invitation")` otherwise.
    async fn delete_invitation(&self, org_id: &Id, invitation_id: &Id) -> Result<(), StoreError>;

    /// Atomically: if the invitation with this token hash is pending at `now` (not accepted,
    /// not expired, its organization not deleted), marks it accepted by `user_id` and adds
    /// the user as a member with the invitation's role; returns the new membership. `None`
    /// if there is no such pending invitation (unknown, used, expired or withdrawn: the link
    /// works once). `AlreadyExists("member")` if the user is already a member, in which case
    /// the invitation stays pending.
    async fn accept_invitation(
        &self,
        token_hash: &TokenHash,
        user_id: &Id,
        now: DateTime<Utc>,
    ) -> Result<Option<Membership>, StoreError>;
}

/// Refresh-token families (login sessions) and one-time action tokens.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Starts a session: a new family with its first token.
    async fn create_family(&self, family: &RefreshFamily, first: &RefreshToken) -> Result<(), StoreError>;

    /// The token with this hash and its family (whatever their state: the caller decides).
    async fn find_refresh_token(&self, hash: &TokenHash) -> Result<Option<(RefreshToken, RefreshFamily)>, StoreError>;

    /// Atomically: if the token `old` has not been rotated, mark it rotated at `now` and store
    /// `new` (same family). If it was already rotated, store nothing and say so (a reuse).
    /// `NotFound("refresh token")` if `old` does not exist.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError>;

    /// Revokes a family (idempotent: the first reason and time are kept).
    async fn revoke_family(&self, family_id: &Id, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Revokes every unrevoked family of the user except `keep`; returns how many.
    async fn revoke_user_families(
        &self,
        user_id: &Id,
        keep: Option<&Id>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    async fn create_action_token(&self, token: &ActionToken) -> Result<(), StoreError>;

    /// Atomically consumes the token if it exists, is of `kind`, is unused and `now` is before
    /// its expiry. A token can be consumed once; every later call returns None.
    async fn consume_action_token(
        &self,
        hash: &TokenHash,
        kind: ActionTokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<ActionToken>, StoreError>;
}

/// Projects: an organization's keys grouped by application (see `Project`).
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Stores a new project if its organization has fewer than `max_projects` projects
    /// (the default one included, once stored). Exact under concurrency.
    /// `LimitReached("projects")` otherwise; `AlreadyExists("project")` if the id exists.
    async fn create_project(&self, project: &Project, max_projects: u32) -> Result<(), StoreError>;

    /// Stores `project` unless a project with its id exists (deleted ones included), and
    /// returns the stored one either way; no limit applies. For the default project, which
    /// is created when first needed. `NotFound("project")` if one with its id was deleted.
    async fn ensure_project(&self, project: &Project) -> Result<Project, StoreError>;

    /// The organization's projects, oldest first (deleted ones are gone).
    async fn list_projects(&self, org_id: &Id) -> Result<Vec<Project>, StoreError>;

    /// The project if it exists *in this organization*.
    async fn get_project(&self, org_id: &Id, project_id: &Id) -> Result<Option<Project>, StoreError>;

    /// Writes `name`, `description`, `verify_secret_hash` and `updated_at`.
    /// `NotFound("project")` if there is no such project in the organization.
    async fn update_project(&self, project: &Project) -> Result<(), StoreError>;

    /// Deletes the project and revokes (at `now`) every key of it not revoked yet; returns
    /// how many keys this call revoked. From the first moment no new key can be created in
    /// it; if the delete is interrupted, calling it again finishes it. `NotFound("project")`
    /// if there is no such project in the organization.
    async fn delete_project(&self, org_id: &Id, project_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError>;

    /// The project whose verify secret has this hash (not deleted).
    async fn find_project_by_verify_secret(&self, hash: &TokenHash) -> Result<Option<Project>, StoreError>;
}

/// API keys and their secrets (as hashes).
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a key with its first secret if the organization has fewer than `max_active`
    /// keys that are usable at `now` (not revoked, not expired), and the key's project
    /// exists in its organization (`NotFound("project")` otherwise, also for a project
    /// being deleted). Exact under concurrency.
    /// `LimitReached("active api keys")` otherwise.
    async fn create_api_key(
        &self,
        key: &ApiKey,
        secret: &KeySecret,
        max_active: u32,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every key of the organization, revoked ones included, newest first.
    async fn list_api_keys(&self, org_id: &Id) -> Result<Vec<ApiKey>, StoreError>;

    /// The key if it exists *in this organization* (tenant isolation lives in the query).
    async fn get_api_key(&self, org_id: &Id, key_id: &Id) -> Result<Option<ApiKey>, StoreError>;

    /// Revokes the key and makes all its secrets unusable. Revoking a revoked key returns it
    /// unchanged. `NotFound("api key")` if there is no such key in the organization.
    async fn revoke_api_key(&self, org_id: &Id, key_id: &Id, now: DateTime<Utc>) -> Result<ApiKey, StoreError>;

    /// Gives the key the rotation's new current secret. The secret that was current until now
    /// stays valid until `rotation.old_valid_until` (`now` ends it at once); any older secret
    /// ends now. Updates `display_prefix`, `last4` and `rotated_at`. `NotFound("api key")` if
    /// no such key in the organization; `Conflict("api key revoked")` if revoked.
    async fn rotate_api_key(
        &self,
        org_id: &Id,
        key_id: &Id,
        rotation: &KeyRotation,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError>;

    /// The key and the secret that has this hash (whatever their state: the caller checks
    /// `ApiKey::check_usable`). Secrets whose `valid_until` passed may no longer be found.
    async fn find_api_key_by_hash(&self, hash: &TokenHash) -> Result<Option<(ApiKey, KeySecret)>, StoreError>;

    /// Revokes every unrevoked key of the organization; returns how many.
    async fn revoke_all_api_keys(&self, org_id: &Id, now: DateTime<Utc>) -> Result<u32, StoreError>;

    /// Moves the key's `last_used_at` forward to `at` (never backwards). Unknown keys are
    /// ignored: the usage worker calls this off the hot path, after the fact.
    async fn mark_api_key_used(&self, org_id: &Id, key_id: &Id, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Fixed-window attempt counters (login throttling per IP and per account).
#[async_trait]
pub trait AttemptCounter: Send + Sync {
    /// Adds one to `bucket` in the window that starts at `window_start` and returns the new
    /// count. The counter may be dropped after `expires_at`.
    async fn add_attempt(
        &self,
        bucket: &str,
        window_start: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    /// The count of `bucket` in that window (0 if none).
    async fn attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<u32, StoreError>;

    /// Takes one back from `bucket` in that window (an attempt counted up front that turned
    /// out not to be a failure). Never goes below zero; nothing happens if there is no count.
    async fn release_attempt(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError>;

    /// Forgets `bucket` in that window (after a successful login).
    async fn clear_attempts(&self, bucket: &str, window_start: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Append-only audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Events matching every filter of the query (`AuditQuery::matches`), newest first with
    /// ties by id, at most `query.page_size()` from `query.cursor` on, and the next page's
    /// cursor (None on the last). `InvalidCursor` for a cursor this store did not issue.
    async fn audit_page(&self, query: &AuditQuery) -> Result<(Vec<AuditEvent>, Option<String>), StoreError>;

    /// The first page of [`AuditLog::audit_page`].
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.audit_page(query).await?.0)
    }
}

/// Idempotency records: "has this id been processed?" (usage events, webhooks, requests).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` within `scope` until `expires_at`. True if this call made the claim; false
    /// if a claim that has not expired at `now` already exists. Exact under concurrency.
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Whether a claim on `key` within `scope` exists and has not expired at `now` (a done
    /// marker: webhook events are claimed once processed).
    async fn is_claimed(&self, scope: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Plans (the pricing catalog).
#[async_trait]
pub trait PlanRepository: Send + Sync {
    /// Every plan, archived ones included, cheapest first (ties by name).
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError>;
    async fn get_plan(&self, id: &Id) -> Result<Option<Plan>, StoreError>;
    /// `AlreadyExists("plan")` if a plan has this id.
    async fn create_plan(&self, plan: &Plan) -> Result<(), StoreError>;
    /// Replaces every field but `id` and `created_at`. `NotFound("plan")`.
    async fn update_plan(&self, plan: &Plan) -> Result<(), StoreError>;
    /// Deletes the plan unless a subscription refers to it: `Ok(false)` and nothing changed
    /// if one does (the caller archives instead). `NotFound("plan")` if missing.
    async fn delete_plan_if_unused(&self, id: &Id) -> Result<bool, StoreError>;
}

/// Subscriptions: one per organization.
#[async_trait]
pub trait SubscriptionRepository: Send + Sync {
    /// Stores `sub` unless its organization already has a subscription, and returns the
    /// organization's subscription either way. Exact under concurrency (one per org). A new
    /// subscription at a recurring price is recorded in the revenue ledger in the same write
    /// (`RevenueChange::of_write`).
    async fn ensure_subscription(&self, sub: &Subscription) -> Result<Subscription, StoreError>;
    async fn get_subscription(&self, id: &Id) -> Result<Option<Subscription>, StoreError>;
    async fn subscription_of_org(&self, org_id: &Id) -> Result<Option<Subscription>, StoreError>;
    /// Subscriptions matching the query, newest first; at most `query.page_size()`.
    async fn list_subscriptions(&self, query: &SubscriptionQuery) -> Result<Vec<Subscription>, StoreError>;
    /// Every subscription matching the query (`org_id`, `plan_id`), a page at a time, in an
    /// order of the store's choosing that stays stable while pages are read: at most
    /// `query.page_size()` from `query.cursor` on, and the cursor of the next page (None on
    /// the last). A subscription created while the pages are read may or may not appear;
    /// none that existed throughout is missed or repeated. `InvalidCursor` for a cursor
    /// this store did not issue. The scheduled jobs walk every organization with it.
    async fn subscriptions_page(
        &self,
        query: &SubscriptionQuery,
    ) -> Result<(Vec<Subscription>, Option<String>), StoreError>;
    /// Replaces plan, status, cancel flags, `billing` and `updated_at`. `NotFound("subscription")`.
    ///
    /// A change of the organization's recurring revenue or plan is recorded in the revenue
    /// ledger (`RevenueChange::of_write`, at `sub.updated_at`) in the same write: every
    /// writer of subscriptions (admin routes, billing, webhooks, jobs) goes through here, so
    /// the store is the one place no change can be missed, and the ledger never disagrees
    /// with the subscriptions after a crash.
    async fn update_subscription(&self, sub: &Subscription) -> Result<(), StoreError>;
    /// The revenue ledger's rows with `at` in `[from, to)`, oldest first (ties in the order
    /// written).
    async fn revenue_changes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError>;
    /// Each organization's latest ledger row with `at` before `at`, one per organization in
    /// no particular order: its `mrr_after` is what the organization paid per month then. An
    /// organization without one had no recurring revenue yet.
    async fn revenue_positions(&self, at: DateTime<Utc>) -> Result<Vec<RevenueChange>, StoreError>;
}

/// Billing records: invoices mirrored from the payment provider.
#[async_trait]
pub trait InvoiceRepository: Send + Sync {
    /// Stores the invoice, or replaces the stored one unless that one is further along
    /// (`InvoiceStatus::rank`): a late event never takes an invoice back from `paid` to
    /// `open`. Returns whether it was written.
    async fn upsert_invoice(&self, invoice: &Invoice) -> Result<bool, StoreError>;
    async fn get_invoice(&self, id: &str) -> Result<Option<Invoice>, StoreError>;
    /// Invoices matching the query, newest first (`created_at`, then id), at most
    /// `query.page_size()`, and the cursor of the next page if there may be one.
    /// `InvalidCursor` for a cursor this store did not issue.
    async fn list_invoices(&self, query: &InvoiceQuery) -> Result<(Vec<Invoice>, Option<String>), StoreError>;
}

/// What has been reported of each organization's metered usage (see `UsageReport`).
#[async_trait]
pub trait UsageReportRepository: Send + Sync {
    /// The organization's report of `period` (all zero when nothing was reported yet).
    async fn usage_report(&self, org_id: &Id, period: &PeriodKey) -> Result<UsageReport, StoreError>;
    /// Starts reporting up to the total `to`: stores `pending = to` if the stored report is
    /// `reported` with nothing pending. `Conflict("usage report")` otherwise (another
    /// reporter moved first: read again).
    async fn begin_usage_report(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        reported: u64,
        to: u64,
    ) -> Result<(), StoreError>;
    /// Completes the pending report `to`: `reported = to`, nothing pending. Completing one
    /// that is already complete is a no-op; `Conflict("usage report")` if another total is
    /// pending.
    async fn finish_usage_report(&self, org_id: &Id, period: &PeriodKey, to: u64) -> Result<(), StoreError>;
    /// Every organization's report of `period`.
    async fn usage_reports(&self, period: &PeriodKey) -> Result<Vec<UsageReport>, StoreError>;
    /// Stores the snapshot of a closed period unless one exists for its organization and
    /// period: true if this call stored it (the period closed now), false if it was closed
    /// before (the stored snapshot is kept unchanged). Exact under concurrency.
    async fn close_usage_period(&self, snapshot: &UsageSnapshot) -> Result<bool, StoreError>;
    /// The snapshot of the organization's closed `period`, if it was closed.
    async fn usage_snapshot(&self, org_id: &Id, period: &PeriodKey) -> Result<Option<UsageSnapshot>, StoreError>;
}

/// Records of scheduled job runs (see `JobRun`).
#[async_trait]
pub trait JobRunRepository: Send + Sync {
    /// Stores `run` (status `running`) unless a run of its job and slot exists: true if this
    /// call made the claim. A run of that slot still `running` that started before
    /// `stale_before` (a run that crashed) is replaced, and that counts as a claim too; a
    /// finished one, or a running one started since, is kept and the answer is false.
    /// Exact under concurrency: of two claims of one slot, one wins.
    async fn claim_job_run(&self, run: &JobRun, stale_before: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Writes the finished run (status, `finished_at`, `report`, `error`) over its claim.
    /// `NotFound("job run")` if there is no run of its job and slot.
    async fn finish_job_run(&self, run: &JobRun) -> Result<(), StoreError>;
    /// Runs matching the query, newest `started_at` first, at most `query.page_size()`;
    /// expired ones may still appear until removed.
    async fn list_job_runs(&self, query: &JobRunQuery) -> Result<Vec<JobRun>, StoreError>;
}

/// Removing what has outlived its retention (the `retention` job).
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Removes up to `batch` expired items of each kind at `now` (usage log entries and
    /// aggregates past their `expires_at`, refresh tokens and revoked or finished sessions
    /// past their expiry, used or expired one-time tokens, expired idempotency claims and
    /// attempt counters, job records past their retention), and says how many went. The
    /// caller calls again while a kind removed a full batch. A store that removes expired
    /// items itself (DynamoDB's TTL) removes nothing here and says `by_ttl`.
    async fn prune_expired(&self, now: DateTime<Utc>, batch: u32) -> Result<PruneReport, StoreError>;
}

/// The endpoint catalog.
#[async_trait]
pub trait EndpointRepository: Send + Sync {
    /// Every endpoint, ordered by path then method.
    async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;
    async fn get_endpoint(&self, id: &Id) -> Result<Option<Endpoint>, StoreError>;
    /// `AlreadyExists("endpoint")` if the id, or the same method and path, exists.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    /// Replaces every field but `id` and `created_at`. `NotFound("endpoint")`;
    /// `AlreadyExists("endpoint")` if another endpoint has the new method and path.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    /// `NotFound("endpoint")`.
    async fn delete_endpoint(&self, id: &Id) -> Result<(), StoreError>;
}

/// Period usage counters: the billing source of truth, and the quota.
#[async_trait]
pub trait UsageCounter: Send + Sync {
    /// Adds `charge.cost` to the counter of (`org_id`, `period`), creating it at 0 if needed,
    /// but only if `hard_limit` is None or the new total is `<= hard_limit`, and, when
    /// `charge.rate` is set, only if its window has counted fewer than `limit` charges (then
    /// it counts this one; windows of other minutes are forgotten). One conditional write:
    /// exact under any concurrency and across processes (never read-then-write). A full rate
    /// window wins over a reached limit (`RateLimited`). The counter may be dropped after
    /// `expires_at`.
    async fn charge(&self, charge: &UsageCharge) -> Result<UsageIncrement, StoreError>;
    /// [`UsageCounter::charge`] without a rate window.
    async fn add_usage(
        &self,
        org_id: &Id,
        period: &PeriodKey,
        cost: u64,
        hard_limit: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> Result<UsageIncrement, StoreError> {
        let charge =
            UsageCharge { org_id: org_id.clone(), period: period.clone(), cost, hard_limit, expires_at, rate: None };
        self.charge(&charge).await
    }
    /// The counter's value (0 if none).
    async fn usage(&self, org_id: &Id, period: &PeriodKey) -> Result<u64, StoreError>;
}

/// The hot path's write: count a metered call against its period quota and keep its usage
/// event, so that nothing counted is lost.
///
/// Two adapters:
/// - the embedded one writes the counter and the event (held on the usage queue) in one
///   SQLite transaction, so a process killed right after counting still delivers the event;
///   it then records the event itself (log entry, aggregates) when the outcome is known, in
///   its next transaction, without the usage queue's round trip;
/// - the other (DynamoDB + SQS on Lambda) counts with one conditional write and sends the
///   event before the answer goes out, for the usage worker to record.
///
/// `facts` are the organization's facts the recording needs (see [`OrgUsageFacts`]): an
/// adapter whose events the usage worker records leaves them to the worker, which reads them.
#[async_trait]
pub trait CallMeter: Send + Sync {
    /// Adds `event.cost_units` to the counter of (`event.org_id`, `event.period`) exactly as
    /// [`UsageCounter::charge`] does (`hard_limit`, the optional shared `rate` window, the
    /// counter kept until `counter_expires_at`). When the call is counted, its event (outcome
    /// not known yet: `status` 0, `latency_ms` 0) is kept where [`CallMeter::record_outcome`]
    /// completes it.
    async fn count(
        &self,
        event: &UsageEvent,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError>;

    /// The counted call's outcome: `event` (same id, final `status` and `latency_ms`) is
    /// recorded in place of the one kept by `count`. Failures are logged, not returned: the
    /// call has been answered by then, and the counter already holds it.
    async fn record_outcome(&self, event: &UsageEvent, facts: OrgUsageFacts);

    /// Counts calls whose outcome is known already (tracked or verified calls of one
    /// organization and period) as one charge of their total cost, exactly as
    /// [`UsageCounter::charge`] does: all of them or, past `hard_limit` or with the `rate`
    /// window full, none. When counted, every event is recorded (or queued for the usage
    /// worker), complete. A batch must not be empty.
    async fn count_batch(
        &self,
        events: &[UsageEvent],
        facts: OrgUsageFacts,
        hard_limit: Option<u64>,
        counter_expires_at: DateTime<Utc>,
        rate: Option<RateWindow>,
    ) -> Result<UsageIncrement, StoreError>;
}

/// Usage logs and aggregates, written by the usage worker.
#[async_trait]
pub trait UsageLog: Send + Sync {
    /// Records each event of `records` once per `event.id`: its log entry (kept until its
    /// `expires_at`) and its share of the hourly and daily aggregates of its (org, key,
    /// endpoint) bucket, the batch's aggregates merged in memory before they are written;
    /// the new events also go into the daily metrics rollup (`UsageRollup`: the platform's
    /// daily aggregates, read with `usage_aggregates` and `platform_org_id()`, and the
    /// organizations' calls per day, read through [`MetricsRollup`]).
    /// One element per record, in order: true if recorded now, false if its id was recorded
    /// before (or earlier in this batch), which changes nothing. On an error, nothing of the
    /// batch may be assumed recorded: the caller retries it whole (ids make that safe).
    async fn record_usage_batch(&self, records: &[UsageRecord]) -> Result<Vec<bool>, StoreError>;
    /// [`UsageLog::record_usage_batch`] for one event.
    async fn record_usage(&self, event: &UsageEvent, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let recorded = self.record_usage_batch(&[UsageRecord { event: event.clone(), expires_at }]).await?;
        Ok(recorded.first().copied().unwrap_or(false))
    }
    /// Entries matching the query, newest first (ties by id, descending), not expired at
    /// `now`, at most `query.page_size()`, and the cursor of the next page (None on the last page). A cursor that is not
    /// one this store issued is `InvalidCursor`.
    async fn query_usage(
        &self,
        query: &UsageLogQuery,
        now: DateTime<Utc>,
    ) -> Result<(Vec<UsageEvent>, Option<String>), StoreError>;
    /// Aggregates of one organization and granularity with bucket start in `[from, to)`,
    /// one per (bucket, key, endpoint), oldest first.
    async fn usage_aggregates(&self, query: &AggregateQuery) -> Result<Vec<UsageAggregate>, StoreError>;
}

/// The platform's daily metrics rollup (`tollgate_domain::metrics`), what the admin
/// analytics read instead of the usage logs. Kept on write: `record_usage_batch` adds the
/// calls, `create_user` the signups. Days are UTC midnights; a range takes the days in
/// `[from, to)`.
#[async_trait]
pub trait MetricsRollup: Send + Sync {
    /// Users created per day, days without any left out, oldest first.
    async fn signups_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError>;
    /// Organizations with at least one recorded call per day, days without any left out,
    /// oldest first.
    async fn active_orgs_per_day(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<DayCount>, StoreError>;
    /// The `limit` organizations with the most calls over the days, most first (ties by
    /// organization id).
    async fn top_orgs_by_calls(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrgCalls>, StoreError>;
}

/// Customer webhooks: the endpoints organizations register, and the deliveries of events to
/// them (see `tollgate_domain::webhook`).
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Stores a new endpoint if its organization has fewer than `max_endpoints`. Exact under
    /// concurrency. `LimitReached("webhooks")` otherwise; `AlreadyExists("webhook")` if the id
    /// exists.
    async fn create_webhook(&self, endpoint: &WebhookEndpoint, max_endpoints: u32) -> Result<(), StoreError>;

    /// The organization's endpoints, oldest first.
    async fn list_webhooks(&self, org_id: &Id) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// The endpoint if it exists *in this organization*.
    async fn get_webhook(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Writes `url`, `events`, `description`, `secret` and `updated_at`.
    /// `NotFound("webhook")` if there is no such endpoint in the organization.
    async fn update_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// Deletes the endpoint (its deliveries stay until they expire; pending ones fail at
    /// their next attempt). `NotFound("webhook")` if there is no such endpoint in the
    /// organization.
    async fn delete_webhook(&self, org_id: &Id, id: &Id) -> Result<(), StoreError>;

    /// Stores the delivery unless one with its id exists (ids derive from event and endpoint:
    /// a redelivered event makes no second delivery). True if this call stored it. Exact
    /// under concurrency.
    async fn create_webhook_delivery(&self, delivery: &WebhookDelivery) -> Result<bool, StoreError>;

    /// The delivery if it exists *in this organization*.
    async fn get_webhook_delivery(&self, org_id: &Id, id: &Id) -> Result<Option<WebhookDelivery>, StoreError>;

    /// The endpoint's deliveries in the organization, newest first (`created_at`, then id),
    /// at most `limit`.
    async fn list_webhook_deliveries(
        &self,
        org_id: &Id,
        endpoint_id: &Id,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Deliveries of every organization that are `pending` with `next_attempt_at <= now`,
    /// oldest `next_attempt_at` first, at most `limit`.
    async fn due_webhook_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Writes an attempt's outcome (`status`, `attempts`, `last_*`, `next_attempt_at`,
    /// `updated_at`, `attempt_log`) if the stored delivery's `attempts` is still
    /// `read_attempts`, so two workers never record the same attempt twice.
    /// `Conflict("webhook delivery")` otherwise; `NotFound("webhook delivery")` if missing.
    async fn record_webhook_attempt(&self, delivery: &WebhookDelivery, read_attempts: u32) -> Result<(), StoreError>;
}

/// Organizations' notification settings (see `tollgate_domain::notification_settings`):
/// one record per organization, absent until first saved.
#[async_trait]
pub trait NotificationSettingsRepository: Send + Sync {
    /// The organization's settings, if it saved any.
    async fn get_notification_settings(&self, org_id: &Id) -> Result<Option<NotificationSettings>, StoreError>;

    /// Stores the organization's settings, replacing any before.
    async fn put_notification_settings(&self, settings: &NotificationSettings) -> Result<(), StoreError>;
}

/// Management tokens of the operator's back end (`tollgate_domain::management_token`),
/// stored with the SHA-256 of their secret.
#[async_trait]
pub trait ManagementTokenRepository: Send + Sync {
    /// Stores a new token with the hash of its secret. `AlreadyExists("management token")`
    /// if the id or the hash exists.
    async fn create_management_token(&self, token: &ManagementToken, hash: &TokenHash) -> Result<(), StoreError>;

    /// Every token, revoked and expired ones included, newest first.
    async fn list_management_tokens(&self) -> Result<Vec<ManagementToken>, StoreError>;

    /// The token whose secret has this hash, whatever its state (the caller checks
    /// `ManagementToken::status`).
    async fn find_management_token_by_hash(&self, hash: &TokenHash) -> Result<Option<ManagementToken>, StoreError>;

    /// Revokes the token (a revoked one is returned unchanged). `NotFound("management token")`.
    async fn revoke_management_token(&self, id: &Id, now: DateTime<Utc>) -> Result<ManagementToken, StoreError>;

    /// Moves the token's `last_used_at` forward to `at` (never backwards); unknown ids are ignored.
    async fn mark_management_token_used(&self, id: &Id, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Two-factor authentication (TOTP, see `tollgate_domain::totp`): one enrolment per user and
/// the hashes of its recovery codes.
///
/// The TOTP secret must be readable to verify codes, so it is stored as is (protected by the
/// store's encryption at rest: SQLite's data directory, DynamoDB's server-side encryption),
/// unlike recovery codes, which are stored only as SHA-256 hashes (`TokenHash`).
#[async_trait]
pub trait MfaRepository: Send + Sync {
    /// The user's enrolment, confirmed or not.
    async fn get_mfa(&self, user_id: &Id) -> Result<Option<MfaEnrollment>, StoreError>;

    /// Stores a new unconfirmed enrolment, replacing an unconfirmed one.
    /// `Conflict("2fa already enabled")` if the user's enrolment is confirmed.
    async fn start_mfa_enrollment(&self, enrollment: &MfaEnrollment) -> Result<(), StoreError>;

    /// Atomically, if the user's enrolment is unconfirmed and still has `secret` (another
    /// enrolment did not replace it since the code was checked): sets `confirmed_at`, sets
    /// `last_used_step` to `step` (the confirming code cannot be used again) and replaces the
    /// recovery codes with `recovery_codes`. `Conflict("2fa enrollment changed")` otherwise.
    async fn confirm_mfa(
        &self,
        user_id: &Id,
        secret: &str,
        step: u64,
        recovery_codes: &[TokenHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Sets the enrolment's `last_used_step` to `step` only if it is greater than the stored
    /// one (or none is stored): true if it did. A conditional write, so of two logins with the
    /// same code only one passes.
    async fn use_totp_step(&self, user_id: &Id, step: u64) -> Result<bool, StoreError>;

    /// Consumes one of the user's recovery codes: true the first time, false after (or for a
    /// code the user never had).
    async fn consume_recovery_code(&self, user_id: &Id, hash: &TokenHash) -> Result<bool, StoreError>;

    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32, StoreError>;

    /// Deletes the enrolment and every recovery code (2FA off). Idempotent.
    async fn delete_mfa(&self, user_id: &Id) -> Result<(), StoreError>;
}

/// Everything a route handler needs from the store, as one object.
pub trait Store:
    UserRepository
    + OrganizationRepository
    + SessionRepository
    + ProjectRepository
    + ApiKeyRepository
    + AttemptCounter
    + AuditLog
    + IdempotencyStore
    + PlanRepository
    + SubscriptionRepository
    + EndpointRepository
    + UsageCounter
    + UsageLog
    + MetricsRollup
    + InvoiceRepository
    + UsageReportRepository
    + JobRunRepository
    + Housekeeping
    + WebhookRepository
    + NotificationSettingsRepository
    + ManagementTokenRepository
    + MfaRepository
{
}
impl<T> Store for T where
    T: UserRepository
        + OrganizationRepository
        + SessionRepository
        + ProjectRepository
        + ApiKeyRepository
        + AttemptCounter
        + AuditLog
        + IdempotencyStore
        + PlanRepository
        + SubscriptionRepository
        + EndpointRepository
        + UsageCounter
        + UsageLog
        + MetricsRollup
        + InvoiceRepository
        + UsageReportRepository
        + JobRunRepository
        + Housekeeping
        + WebhookRepository
        + NotificationSettingsRepository
        + ManagementTokenRepository
        + MfaRepository
{
}

/// The queues the platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    /// Usage events from the gateway to the usage worker.
    Usage,
    /// Quota alerts and other notifications (delivered by a later worker).
    Notifications,
    /// Verified Stripe webhook events, from the webhook endpoint to the webhook worker.
    StripeEvents,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Usage => "usage",
            QueueName::Notifications => "notifications",
            QueueName::StripeEvents => "stripe-events",
        }
    }
}

/// One message: `id` is unique (the event id) so consumers can deduplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub id: String,
    pub body: String,
}

/// Outgoing queues: SQS in AWS, a durable table in the SQLite file locally.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends the messages (the adapter batches: SQS takes 10 per call). Err if any message
    /// could not be sent; messages sent before the error stay sent (consumers deduplicate).
    async fn send(&self, queue: QueueName, messages: &[QueueMessage]) -> Result<(), PortError>;
}

/// Failure of an outgoing port that is not a store (mail, secrets).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn new(message: impl Into<String>) -> Self {
        PortError { message: message.into(), source: None }
    }
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        PortError { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Backups of the store (the `backup` job). The embedded store copies itself into the data
/// directory; DynamoDB has none: the table has point-in-time recovery and an AWS Backup plan.
#[async_trait]
pub trait Backups: Send + Sync {
    /// Writes a backup as of `now` and prunes old ones; returns where it went and how many
    /// are kept.
    async fn back_up(&self, now: DateTime<Utc>) -> Result<BackupWritten, PortError>;
}

/// What [`Backups::back_up`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupWritten {
    /// The backup file.
    pub file: String,
    /// How many backups are kept now (the newest ones).
    pub kept: u32,
}

/// Outgoing mail: SES in AWS, an outbox folder in the data directory locally.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &MailMessage) -> Result<(), PortError>;
}

/// What an endpoint answered to a webhook POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub latency_ms: u32,
}

/// Outgoing webhook requests (an HTTP client; reqwest in every target).
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// POSTs `body` to `url` with `headers`, waiting at most `timeout`; no redirects followed.
    /// The adapter checks the URL policy again first, resolving the host (it is built with
    /// the `ALLOW_INSECURE_WEBHOOK_URLS` setting): the host's addresses may have changed
    /// since the endpoint was registered. Err when there is no answer (refused address, DNS,
    /// connection, timeout); any HTTP status is an answer.
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        timeout: std::time::Duration,
    ) -> Result<WebhookResponse, PortError>;
}

/// An answer of an OpenID Connect provider: the HTTP status and the body parsed as JSON
/// (`Value::Null` when it is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct OidcResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Outgoing requests to an OpenID Connect or OAuth2 provider (discovery, its keys, the token
/// endpoint, a user API):
/// an HTTP client, reqwest in every target. Err when there is no answer (DNS, connection,
/// timeout); any HTTP status is an answer.
#[async_trait]
pub trait OidcHttp: Send + Sync {
    /// GETs `url` (discovery document, JWKS).
    async fn get(&self, url: &str) -> Result<OidcResponse, PortError>;
    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url` (the token endpoint).
    async fn post_form(&self, url: &str, form: &[(String, String)]) -> Result<OidcResponse, PortError>;
    /// GETs `url` with `access_token` as a bearer token (an OAuth2 provider's user API,
    /// e.g. GitHub's).
    async fn get_with_token(&self, url: &str, access_token: &str) -> Result<OidcResponse, PortError>;
}

/// Password hashing (Argon2id in every target). Deliberately slow: adapters run it off the
/// async worker threads.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string of `password` with a fresh salt.
    async fn hash(&self, password: String) -> Result<String, PortError>;
    /// Whether `password` matches the PHC string `hash`. Err if `hash` cannot be read.
    async fn verify(&self, password: String, hash: String) -> Result<bool, PortError>;
    /// Takes as long as `verify` and checks nothing: for an unknown account, so that a login
    /// takes the same time whether or not the account exists.
    async fn verify_nothing(&self, password: String);
}

/// Named secrets: Secrets Manager in AWS (cached), environment / data directory locally.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The secret's value. Implementations never log it.
    async fn get(&self, name: &str) -> Result<String, PortError>;
}

/// Why a call to the payment provider failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// The provider refused the request (a 4xx of its own: a declined card, an invalid
    /// parameter). The message is the provider's, safe to show (HTTP 402 or 422 by context).
    #[error("the payment provider refused the request: {message}")]
    Rejected { code: Option<String>, message: String },
    /// The object does not exist at the provider (HTTP 404 by context).
    #[error("{0} not found at the payment provider")]
    NotFound(&'static str),
    /// The provider could not be reached, or failed (HTTP 502).
    #[error("payment provider unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl PaymentsError {
    pub fn unavailable(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        PaymentsError::Unavailable { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// A Checkout session that starts a subscription to a plan.
#[derive(Debug, Clone)]
pub struct SubscriptionCheckout {
    pub customer_id: String,
    /// Put on the session (`client_reference_id`) and on the subscription's metadata.
    pub org_id: Id,
    pub plan_id: Id,
    pub prices: PlanBillingIds,
    /// Where the provider sends the user back.
    pub success_url: String,
    pub cancel_url: String,
}

/// The payment provider (Stripe): customers, plans' products and prices, Checkout,
/// subscriptions, payment methods, invoices and metered usage. Every create is idempotent
/// (an idempotency key derived from our ids), so a retried request never makes two objects.
#[async_trait]
pub trait Payments: Send + Sync {
    /// The organization's customer: created with `org_id` in its metadata, or the existing
    /// one (the request's idempotency key is derived from the organization id).
    async fn ensure_customer(&self, org_id: &Id, email: &str, name: &str) -> Result<String, PaymentsError>;

    /// Creates or updates the plan's product and prices (`plan.billing` holds what exists):
    /// a recurring price for `price`, and for pay-as-you-go and hybrid plans a meter with a
    /// price of `overage_price` per 1,000 units. A price whose amount changed is replaced (the
    /// old one archived: prices are immutable). Returns the ids to store on the plan.
    async fn sync_plan(&self, plan: &Plan) -> Result<PlanBillingIds, PaymentsError>;

    /// Archives the plan's prices and product: no new subscriptions, current ones go on.
    async fn archive_plan(&self, ids: &PlanBillingIds) -> Result<(), PaymentsError>;

    /// A Checkout session in subscription mode for the plan.
    async fn subscription_checkout(&self, request: &SubscriptionCheckout) -> Result<CheckoutSession, PaymentsError>;

    /// A Checkout session in setup mode: the user adds a payment method.
    async fn setup_checkout(
        &self,
        customer_id: &str,
        org_id: &Id,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<CheckoutSession, PaymentsError>;

    /// A Checkout session as it is now (after `checkout.session.completed`).
    async fn checkout_session(&self, id: &str) -> Result<CompletedCheckout, PaymentsError>;

    /// A subscription as it is now: webhooks re-read it, so their order does not matter.
    async fn subscription(&self, id: &str) -> Result<ProviderSubscription, PaymentsError>;

    /// Starts a subscription to the plan, charged to the customer's default payment method.
    async fn create_subscription(
        &self,
        customer_id: &str,
        org_id: &Id,
        plan_id: &Id,
        prices: &PlanBillingIds,
    ) -> Result<ProviderSubscription, PaymentsError>;

    /// Moves the subscription to the plan's prices: at once with proration (`prorate`, an
    /// upgrade), or without (a downgrade: the next period is billed at the new prices).
    /// `hold` is stored on the subscription (a downgrade keeps the plan paid for until the
    /// period's end); any change without one clears it.
    async fn change_subscription_plan(
        &self,
        id: &str,
        plan_id: &Id,
        prices: &PlanBillingIds,
        prorate: bool,
        hold: Option<&PlanHold>,
    ) -> Result<ProviderSubscription, PaymentsError>;

    /// Sets or clears cancellation at the end of the current period.
    async fn set_cancel_at_period_end(&self, id: &str, cancel: bool) -> Result<ProviderSubscription, PaymentsError>;

    /// The customer's payment methods, the default one marked.
    async fn payment_methods(&self, customer_id: &str) -> Result<Vec<PaymentMethodSummary>, PaymentsError>;

    /// Makes the payment method the customer's default, and `subscription_id`'s (a
    /// subscription's own payment method, which Checkout sets, comes before the customer's).
    /// `NotFound("payment method")` if it is not the customer's.
    async fn set_default_payment_method(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        subscription_id: Option<&str>,
    ) -> Result<(), PaymentsError>;

    /// Removes the payment method from the customer. `NotFound("payment method")` if it is
    /// not the customer's.
    async fn detach_payment_method(&self, customer_id: &str, payment_method_id: &str) -> Result<(), PaymentsError>;

    /// An invoice as it is now, with the organization of its customer.
    async fn invoice(&self, id: &str) -> Result<Invoice, PaymentsError>;

    /// A link to the invoice's PDF.
    async fn invoice_pdf_url(&self, id: &str) -> Result<Option<String>, PaymentsError>;

    /// The next invoice of the customer's subscription, if there is one.
    async fn upcoming_invoice(
        &self,
        customer_id: &str,
        subscription_id: &str,
    ) -> Result<Option<InvoiceEstimate>, PaymentsError>;

    /// A one-off invoice (finalized, charged or sent) for `amount` minor units.
    async fn create_one_off_invoice(
        &self,
        customer_id: &str,
        org_id: &Id,
        amount: i64,
        currency: &str,
        description: &str,
    ) -> Result<Invoice, PaymentsError>;

    /// Marks an open invoice paid out of band.
    async fn mark_invoice_paid(&self, id: &str) -> Result<Invoice, PaymentsError>;

    /// Reports `value` units on a meter for the customer. `identifier` is derived from our
    /// ids: the provider drops a second event with the same identifier, so a retry never
    /// bills twice.
    async fn report_usage(
        &self,
        event_name: &str,
        customer_id: &str,
        value: u64,
        identifier: &str,
        at: DateTime<Utc>,
    ) -> Result<(), PaymentsError>;

    /// The units the provider's meter holds for the customer in `[start, end)`.
    async fn reported_usage(
        &self,
        meter_id: &str,
        customer_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<u64, PaymentsError>;
}

//! The single-table key design, in one place (documented in docs/dynamodb.md).

use crate::item::time_str;
use chrono::{DateTime, Utc};
use tollgate_domain::{Email, Id, JobName, PeriodKey, StoredEnum, TokenHash};

pub(crate) const USER_SK: &str = "PROFILE";
pub(crate) const EMAIL_SK: &str = "EMAIL";
pub(crate) const ORG_SK: &str = "META";
pub(crate) const FAMILY_SK: &str = "FAMILY";
pub(crate) const RTOKEN_SK: &str = "RTOKEN";
pub(crate) const ATOKEN_SK: &str = "ATOKEN";
pub(crate) const KEYHASH_SK: &str = "KEYHASH";
/// Sort-key prefix of API key items in their organization's partition.
pub(crate) const APIKEY_PREFIX: &str = "APIKEY#";
/// Per-organization version of the key set, bumped by every key creation (optimistic lock).
pub(crate) const APIKEY_VERSION_SK: &str = "APIKEYS";
/// Sort-key prefix of project items in their organization's partition.
pub(crate) const PROJECT_PREFIX: &str = "PROJECT#";
/// Per-organization count of live projects (attribute `n`): the exact `max_projects` limit.
pub(crate) const PROJECT_COUNT_SK: &str = "PROJECTS";
pub(crate) const VERIFYSECRET_SK: &str = "VERIFYSECRET";
/// GSI1 sort-key prefixes under `USER#<id>`.
pub(crate) const MEMBER_GSI_PREFIX: &str = "MEMBER#";
pub(crate) const FAMILY_GSI_PREFIX: &str = "RFAM#";
pub(crate) const ADMIN_GSI_PK: &str = "ROLE#admin";
/// The admins' user listing: one write-once index item per user and order, in the user's
/// partition, listed on GSI1 (`users_page`).
pub(crate) const USER_BY_CREATED_SK: &str = "BYCREATED";
pub(crate) const USER_BY_EMAIL_SK: &str = "BYEMAIL";
pub(crate) const USERS_BY_CREATED_GSI_PK: &str = "USERS#created";
pub(crate) const USERS_BY_EMAIL_GSI_PK: &str = "USERS#email";
/// Sort-key prefix of membership items in their organization's partition.
pub(crate) const MEMBER_PREFIX: &str = "MEMBER#";
/// Sort-key prefix of invitation items in their organization's partition.
pub(crate) const INVITE_PREFIX: &str = "INVITE#";
pub(crate) const INVITETOKEN_SK: &str = "INVITETOKEN";

pub(crate) fn user_pk(id: &Id) -> String {
    format!("USER#{id}")
}
pub(crate) fn email_pk(email: &Email) -> String {
    format!("EMAIL#{email}")
}
pub(crate) fn org_pk(id: &Id) -> String {
    format!("ORG#{id}")
}
pub(crate) fn member_sk(user_id: &Id) -> String {
    format!("{MEMBER_PREFIX}{user_id}")
}
pub(crate) fn member_gsi_sk(created_at: DateTime<Utc>, org_id: &Id) -> String {
    format!("{MEMBER_GSI_PREFIX}{}#{org_id}", time_str(created_at))
}
/// `<created_at>#<user>`: the order of `UserSort::NewestFirst` / `OldestFirst`, ties by id.
pub(crate) fn user_created_gsi_sk(created_at: DateTime<Utc>, user_id: &Id) -> String {
    format!("{}#{user_id}", time_str(created_at))
}
/// `<email>#<user>`: the order of `UserSort::EmailAsc`, ties by id.
pub(crate) fn user_email_gsi_sk(email: &Email, user_id: &Id) -> String {
    format!("{email}#{user_id}")
}
pub(crate) fn invite_sk(invitation_id: &Id) -> String {
    format!("{INVITE_PREFIX}{invitation_id}")
}
pub(crate) fn invitetoken_pk(hash: &TokenHash) -> String {
    format!("INVITETOKEN#{}", hash.as_str())
}
pub(crate) fn family_pk(id: &Id) -> String {
    format!("RFAM#{id}")
}
pub(crate) fn family_gsi_sk(created_at: DateTime<Utc>, id: &Id) -> String {
    format!("{FAMILY_GSI_PREFIX}{}#{id}", time_str(created_at))
}
pub(crate) fn rtoken_pk(hash: &TokenHash) -> String {
    format!("RTOKEN#{}", hash.as_str())
}
pub(crate) fn atoken_pk(hash: &TokenHash) -> String {
    format!("ATOKEN#{}", hash.as_str())
}
pub(crate) fn apikey_sk(key_id: &Id) -> String {
    format!("{APIKEY_PREFIX}{key_id}")
}
pub(crate) fn keyhash_pk(hash: &TokenHash) -> String {
    format!("KEYHASH#{}", hash.as_str())
}
pub(crate) fn project_sk(project_id: &Id) -> String {
    format!("{PROJECT_PREFIX}{project_id}")
}
pub(crate) fn verifysecret_pk(hash: &TokenHash) -> String {
    format!("VERIFYSECRET#{}", hash.as_str())
}
/// The bucket goes in the partition key and the window in the sort key, so a bucket that
/// contains `#` cannot collide with another bucket's window.
pub(crate) fn attempt_key(bucket: &str, window_start: DateTime<Utc>) -> (String, String) {
    (format!("ATTEMPT#{bucket}"), format!("W#{}", window_start.timestamp_millis()))
}
/// The high-cardinality key in the partition key (usage-event ids spread over partitions),
/// the scope in the sort key (so a scope containing `#` is unambiguous).
pub(crate) fn idempotency_key(scope: &str, key: &str) -> (String, String) {
    (format!("IDEM#{key}"), format!("SCOPE#{scope}"))
}
pub(crate) fn audit_day_pk(day: &str) -> String {
    format!("AUDIT#{day}")
}
pub(crate) fn audit_day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}
pub(crate) fn audit_sk(at: DateTime<Utc>, id: &Id) -> String {
    format!("{}#{id}", time_str(at))
}
pub(crate) fn org_audit_gsi_pk(org_id: &Id) -> String {
    format!("ORGAUDIT#{org_id}")
}

// Plans, subscriptions, endpoints (catalog.rs).
pub(crate) const PLAN_SK: &str = "PLAN";
/// How many subscriptions refer to a plan (attribute `n`), next to the plan item.
pub(crate) const SUBSCRIBERS_SK: &str = "SUBSCRIBERS";
pub(crate) const PLANS_GSI_PK: &str = "PLANS";
/// An organization's subscription, in the organization's partition (one per org).
pub(crate) const SUBSCRIPTION_SK: &str = "SUBSCRIPTION";
/// The same subscription keyed by its id.
pub(crate) const SUB_SK: &str = "SUB";
pub(crate) const SUBS_GSI_PK: &str = "SUBS";
pub(crate) const ENDPOINT_SK: &str = "ENDPOINT";
pub(crate) const ENDPOINTS_GSI_PK: &str = "ENDPOINTS";
/// Uniqueness claim of an endpoint's (method, path).
pub(crate) const ROUTE_SK: &str = "ROUTE";

/// The revenue ledger: one partition per month of rows (`REVENUE#<YYYY-MM>`), so a month's
/// changes are one Query; sort key `<at>#<org>#<random>`.
pub(crate) fn revenue_pk(month: &PeriodKey) -> String {
    format!("REVENUE#{month}")
}
/// The months that have ledger rows (string set `months`), added to in the same
/// transaction as each row, so `revenue_positions` knows which partitions to read.
pub(crate) const REVENUE_MONTHS_PK: &str = "REVENUE";
pub(crate) const REVENUE_MONTHS_SK: &str = "MONTHS";
pub(crate) fn revenue_sk(at: DateTime<Utc>, org_id: &Id) -> String {
    format!("{}#{org_id}#{}", time_str(at), Id::generate("r"))
}

pub(crate) fn plan_pk(id: &Id) -> String {
    format!("PLAN#{id}")
}
pub(crate) fn sub_pk(id: &Id) -> String {
    format!("SUB#{id}")
}
pub(crate) fn sub_gsi_sk(created_at: DateTime<Utc>, id: &Id) -> String {
    format!("{}#{id}", time_str(created_at))
}
pub(crate) fn endpoint_pk(id: &Id) -> String {
    format!("ENDPOINT#{id}")
}
pub(crate) fn route_pk(method: &str, path: &str) -> String {
    format!("ROUTE#{method}#{path}")
}

// Usage counters, logs and aggregates (usage.rs).
pub(crate) const USAGE_EVENT_SK: &str = "EVENT";
pub(crate) const USAGE_EVENT_PREFIX: &str = "USAGEEVT#";

/// The period counter of an organization: one item per (org, period).
pub(crate) fn usage_counter_key(org_id: &Id, period: &PeriodKey) -> (String, String) {
    (format!("USAGE#{org_id}"), format!("PERIOD#{period}"))
}
/// The attributes of `bucket`'s shared rate window on a period counter item: the window's
/// start (`rlw_<bucket>`, unix seconds) and the charges counted in it (`rln_<bucket>`). Always
/// addressed through placeholders, so any bucket text is a valid name.
pub(crate) fn rate_window_attrs(bucket: &str) -> (String, String) {
    (format!("rlw_{bucket}"), format!("rln_{bucket}"))
}
/// The event id is the whole partition key: the conditional Put on it deduplicates events,
/// and log writes spread over partitions.
pub(crate) fn usage_event_pk(id: &str) -> String {
    format!("{USAGE_EVENT_PREFIX}{id}")
}
pub(crate) fn org_log_gsi_pk(org_id: &Id) -> String {
    format!("ORGLOG#{org_id}")
}
/// `<timestamp>#<event id>`: newest first on a descending Query; also the page cursor.
pub(crate) fn usage_log_gsi_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", time_str(at))
}
pub(crate) fn aggregate_pk(org_id: &Id, granularity: tollgate_domain::Granularity) -> String {
    format!("AGG#{org_id}#{}", granularity.as_str())
}
pub(crate) fn aggregate_sk(bucket_start: DateTime<Utc>, key_id: &Id, endpoint_id: &Id) -> String {
    format!("{}#{key_id}#{endpoint_id}", time_str(bucket_start))
}

// ---- the daily metrics rollup ----

/// The partition of every organization's calls per day (sort key `<day>#<org>`): the
/// admin analytics read a range of days with one Query.
pub(crate) const ORG_DAY_PK: &str = "METRICS#ORGDAY";
pub(crate) fn org_day_sk(day: DateTime<Utc>, org_id: &Id) -> String {
    format!("{}#{org_id}", time_str(day))
}
/// The partition of the signups per day (sort key `<day>`).
pub(crate) const SIGNUPS_PK: &str = "METRICS#SIGNUPS";

// ---- billing records ----

pub(crate) const INVOICE_SK: &str = "INVOICE";
/// GSI1 partition listing every organization's invoices (admin).
pub(crate) const INVOICES_GSI_PK: &str = "INVOICES";
/// Sort-key prefix of both invoice listings (the organization's partition, GSI1 `INVOICES`).
pub(crate) const ORG_INVOICE_PREFIX: &str = "INVOICE#";

pub(crate) fn invoice_pk(id: &str) -> String {
    format!("INVOICE#{id}")
}

pub(crate) fn usage_report_sk(period: &PeriodKey) -> String {
    format!("USAGEREPORT#{period}")
}

/// GSI1 partition listing every organization's usage report of one period.
pub(crate) fn usage_reports_gsi_pk(period: &PeriodKey) -> String {
    format!("USAGEREPORTS#{period}")
}

/// The closed period's snapshot, in the organization's partition.
pub(crate) fn usage_snapshot_sk(period: &PeriodKey) -> String {
    format!("SNAPSHOT#{period}")
}

// ---- scheduled jobs (jobs.rs) ----

/// A job's runs share its partition, one item per slot: the claim is a conditional Put on it.
pub(crate) fn job_pk(job: JobName) -> String {
    format!("JOB#{job}")
}
pub(crate) fn job_run_sk(slot: &str) -> String {
    format!("RUN#{slot}")
}
/// GSI1 partition listing one job's runs by start time (a Query per job; see `list_job_runs`).
pub(crate) fn job_runs_gsi_pk(job: JobName) -> String {
    format!("JOBRUNS#{job}")
}
/// `<started_at>#<slot>`: newest first on a descending Query.
pub(crate) fn job_run_gsi_sk(started_at: DateTime<Utc>, slot: &str) -> String {
    format!("{}#{slot}", time_str(started_at))
}

/// A management token's item (`MGTOKEN#<id>`, `MGTOKEN`), listed on GSI1 under
/// `MGTOKENS`, and the lookup item of its secret's hash (`MGTHASH#<hash>`, `MGTHASH`)
/// holding the token's id.
pub(crate) const MGTOKEN_SK: &str = "MGTOKEN";
pub(crate) const MGTOKENS_GSI_PK: &str = "MGTOKENS";
pub(crate) const MGTHASH_SK: &str = "MGTHASH";

pub(crate) fn mgtoken_pk(id: &Id) -> String {
    format!("MGTOKEN#{id}")
}
pub(crate) fn mgthash_pk(hash: &TokenHash) -> String {
    format!("MGTHASH#{}", hash.as_str())
}

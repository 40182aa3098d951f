//! The single-table key design, in one place (documented in docs/dynamodb.md).

use crate::item::time_str;
use chrono::{DateTime, Utc};
use tollgate_domain::{Email, Id, TokenHash};

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
/// GSI1 sort-key prefixes under `USER#<id>`.
pub(crate) const MEMBER_GSI_PREFIX: &str = "MEMBER#";
pub(crate) const FAMILY_GSI_PREFIX: &str = "RFAM#";
pub(crate) const ADMIN_GSI_PK: &str = "ROLE#admin";

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
    format!("MEMBER#{user_id}")
}
pub(crate) fn member_gsi_sk(created_at: DateTime<Utc>, org_id: &Id) -> String {
    format!("{MEMBER_GSI_PREFIX}{}#{org_id}", time_str(created_at))
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
/// The bucket goes in the partition key and the window in the sort key, so a bucket that
/// contains `#` cannot collide with another bucket's window.
pub(crate) fn attempt_key(bucket: &str, window_start: DateTime<Utc>) -> (String, String) {
    (
        format!("ATTEMPT#{bucket}"),
        format!("W#{}", window_start.timestamp_millis()),
    )
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

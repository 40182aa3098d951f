//! Management tokens: credentials the operator's own back end presents on `/api/admin/...`
//! routes instead of an admin's login, limited to scopes such as `read:customers`.
//!
//! A token looks like `tgm_<43 base62>` (about 256 bits from the OS-seeded CSPRNG, as
//! refresh and action tokens); only its SHA-256 is stored. It acts on behalf of the admin
//! who created it, who is the actor of the audit events it causes.

use crate::stored_enum::stored_enum;
use crate::token::generate_secret_token;
use crate::{DomainError, Id, StoredEnum, TokenHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What every management token starts with (so the admin extractor tells it from a JWT).
pub const MANAGEMENT_TOKEN_PREFIX: &str = "tgm_";

/// Most names one token may carry (every scope there is).
const MAX_SCOPES: usize = 8;

/// What a management token may do. `write:` implies `read:` of the same resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ManagementScope {
    #[serde(rename = "read:customers")]
    ReadCustomers,
    #[serde(rename = "write:customers")]
    WriteCustomers,
    #[serde(rename = "read:plans")]
    ReadPlans,
    #[serde(rename = "write:plans")]
    WritePlans,
    #[serde(rename = "read:subscriptions")]
    ReadSubscriptions,
    #[serde(rename = "write:subscriptions")]
    WriteSubscriptions,
    #[serde(rename = "read:invoices")]
    ReadInvoices,
    #[serde(rename = "write:invoices")]
    WriteInvoices,
}

stored_enum!(ManagementScope {
    ReadCustomers => "read:customers",
    WriteCustomers => "write:customers",
    ReadPlans => "read:plans",
    WritePlans => "write:plans",
    ReadSubscriptions => "read:subscriptions",
    WriteSubscriptions => "write:subscriptions",
    ReadInvoices => "read:invoices",
    WriteInvoices => "write:invoices",
});

impl ManagementScope {
    /// Whether holding `self` allows what `needed` guards: the same scope, or the `write:`
    /// scope of the resource whose `read:` is needed.
    pub fn covers(self, needed: ManagementScope) -> bool {
        use ManagementScope::*;
        self == needed
            || matches!(
                (self, needed),
                (WriteCustomers, ReadCustomers)
                    | (WritePlans, ReadPlans)
                    | (WriteSubscriptions, ReadSubscriptions)
                    | (WriteInvoices, ReadInvoices)
            )
    }

    /// The scope an admin route needs from a management token, decided from its route
    /// pattern (`/api/admin/users/{id}`) and method: `GET`/`HEAD` read, others write. None:
    /// the route takes no management token (tokens themselves, jobs, endpoints, audit logs,
    /// analytics, ...), only an admin's login.
    pub fn for_admin_route(path: &str, method: &str) -> Option<ManagementScope> {
        use ManagementScope::*;
        let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
        let read = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
        let (r, w) = if under("/api/admin/users") {
            (ReadCustomers, WriteCustomers)
        } else if under("/api/admin/plans") {
            (ReadPlans, WritePlans)
        } else if under("/api/admin/subscriptions") {
            (ReadSubscriptions, WriteSubscriptions)
        } else if under("/api/admin/billing/invoices") {
            (ReadInvoices, WriteInvoices)
        } else {
            return None;
        };
        Some(if read { r } else { w })
    }
}

/// Checks and normalises the scopes requested for a token: 1 to 8 known names, duplicates
/// dropped, in the order of [`ManagementScope::ALL`].
pub fn management_scopes(requested: &[String]) -> Result<Vec<ManagementScope>, DomainError> {
    let invalid = |reason: String| Err(DomainError::InvalidField { field: "scopes", reason });
    if requested.is_empty() || requested.len() > MAX_SCOPES {
        return invalid("must hold 1 to 8 scopes".into());
    }
    let mut scopes = Vec::new();
    for name in requested {
        match ManagementScope::parse(name) {
            Some(s) => scopes.push(s),
            None => {
                let known: Vec<&str> = ManagementScope::ALL.iter().map(|s| s.as_str()).collect();
                return invalid(format!("{name:?} is not one of {}", known.join(", ")));
            }
        }
    }
    Ok(ManagementScope::ALL.iter().copied().filter(|s| scopes.contains(s)).collect())
}

/// A management token as stored (never the secret: its hash is stored beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagementToken {
    pub id: Id,
    pub name: String,
    /// `tgm_` and the first 4 characters after it, to recognise the token in listings.
    pub display_prefix: String,
    pub scopes: Vec<ManagementScope>,
    /// The admin who created it: the actor of what it does.
    pub created_by: Id,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Lifecycle status of a management token at a given time (derived, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagementTokenStatus {
    Active,
    Expired,
    Revoked,
}

impl ManagementToken {
    pub fn status(&self, now: DateTime<Utc>) -> ManagementTokenStatus {
        if self.revoked_at.is_some() {
            ManagementTokenStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            ManagementTokenStatus::Expired
        } else {
            ManagementTokenStatus::Active
        }
    }

    /// Whether one of the token's scopes covers `needed`.
    pub fn allows(&self, needed: ManagementScope) -> bool {
        self.scopes.iter().any(|s| s.covers(needed))
    }
}

/// A freshly generated token: the plaintext (shown once) and its hash (stored).
pub struct NewManagementToken {
    /// The full token. Never stored, never logged.
    pub plaintext: String,
    pub hash: TokenHash,
    pub display_prefix: String,
}

impl std::fmt::Debug for NewManagementToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewManagementToken").field("display_prefix", &self.display_prefix).finish_non_exhaustive()
    }
}

impl NewManagementToken {
    pub fn generate() -> Self {
        let plaintext = format!("{MANAGEMENT_TOKEN_PREFIX}{}", generate_secret_token());
        NewManagementToken {
            hash: TokenHash::of(&plaintext),
            display_prefix: plaintext.chars().take(MANAGEMENT_TOKEN_PREFIX.len() + 4).collect(),
            plaintext,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_text_is_serde_name;
    use ManagementScope::*;

    #[test]
    fn scope_text_is_its_serde_name() {
        assert_text_is_serde_name::<ManagementScope>();
    }

    #[test]
    fn write_implies_read_of_the_same_resource_only() {
        assert!(WritePlans.covers(ReadPlans) && WritePlans.covers(WritePlans));
        assert!(!ReadPlans.covers(WritePlans));
        assert!(!WritePlans.covers(ReadCustomers));
        assert!(!WriteCustomers.covers(WriteInvoices));
    }

    #[test]
    fn routes_map_to_scopes() {
        for (path, method, scope) in [
            ("/api/admin/users", "GET", Some(ReadCustomers)),
            ("/api/admin/users/{id}", "HEAD", Some(ReadCustomers)),
            ("/api/admin/users", "POST", Some(WriteCustomers)),
            ("/api/admin/users/{id}/suspend", "POST", Some(WriteCustomers)),
            ("/api/admin/plans/{id}", "DELETE", Some(WritePlans)),
            ("/api/admin/subscriptions/{id}", "PUT", Some(WriteSubscriptions)),
            ("/api/admin/billing/invoices", "GET", Some(ReadInvoices)),
            ("/api/admin/billing/invoices/{id}/void", "POST", Some(WriteInvoices)),
            ("/api/admin/usersx", "GET", None),
            ("/api/admin/tokens", "GET", None),
            ("/api/admin/endpoints", "GET", None),
            ("/api/admin/audit-logs", "GET", None),
            ("/api/admin/jobs", "GET", None),
            ("/api/admin/billing/reconciliation", "GET", None),
        ] {
            assert_eq!(ManagementScope::for_admin_route(path, method), scope, "{method} {path}");
        }
    }

    #[test]
    fn requested_scopes_are_checked() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            management_scopes(&s(&["write:plans", "read:customers", "write:plans"])),
            Ok(vec![ReadCustomers, WritePlans])
        );
        assert!(management_scopes(&[]).is_err());
        assert!(management_scopes(&s(&["admin"])).is_err());
        assert!(management_scopes(&s(&["read:customers"; 9])).is_err());
    }

    #[test]
    fn tokens_look_right_and_hash_to_what_is_stored() {
        let t = NewManagementToken::generate();
        assert_eq!(t.plaintext.len(), 4 + 43);
        assert!(t.plaintext.starts_with(MANAGEMENT_TOKEN_PREFIX) && t.plaintext.starts_with(&t.display_prefix));
        assert!(t.plaintext[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(t.hash, TokenHash::of(&t.plaintext));
        assert!(!format!("{t:?}").contains(&t.plaintext));
    }
}

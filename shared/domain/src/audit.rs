//! The audit log: every admin action and security event.

use crate::{Id, PageLimits};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit record. `action` is a dotted verb such as `user.login`, `api_key.revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: Id,
    pub at: DateTime<Utc>,
    /// Who did it (None for anonymous events such as a failed login of an unknown email).
    pub actor_id: Option<Id>,
    /// Whose data it concerns.
    pub org_id: Option<Id>,
    pub action: String,
    /// What it was done to (a key id, a user id, an email for failed logins...).
    pub target: Option<String>,
    pub ip: Option<String>,
    /// Extra facts; never a secret.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: impl Into<String>, at: DateTime<Utc>) -> Self {
        AuditEvent {
            id: Id::generate(crate::id::prefix::AUDIT),
            at,
            actor_id: None,
            org_id: None,
            action: action.into(),
            target: None,
            ip: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }
    pub fn actor(mut self, id: &Id) -> Self {
        self.actor_id = Some(id.clone());
        self
    }
    pub fn org(mut self, id: &Id) -> Self {
        self.org_id = Some(id.clone());
        self
    }
    pub fn target(mut self, t: impl Into<String>) -> Self {
        self.target = Some(t.into());
        self
    }
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
}

/// Filter for listing audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events of this organization.
    pub org_id: Option<Id>,
    /// Only events strictly before this time (pagination cursor).
    pub before: Option<DateTime<Utc>>,
    /// At most this many; see [`AuditQuery::PAGE`].
    pub limit: u32,
}

impl AuditQuery {
    /// 0 means 100; at most 1000.
    pub const PAGE: PageLimits = crate::page::LISTING;

    /// The number of events to return for this query's `limit`.
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

//! The audit log: every admin action and security event.

use crate::{Id, PageLimits};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit record. `action` is `<resource type>.<verb>`, such as `user.login` or
/// `api_key.revoke`; `target` is the resource's id. Append-only: nothing updates or deletes a
/// record (retention aside).
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
    /// The client's `User-Agent`, when the action came from a request.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Extra facts, with what changed as `changes: {before, after}`; never a secret.
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
            user_agent: None,
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
    pub fn user_agent(mut self, user_agent: Option<String>) -> Self {
        self.user_agent = user_agent;
        self
    }
    /// Sets the extra facts. `null` stands for none: `details` is always a JSON object (the
    /// API documents it so), so `null` keeps it empty.
    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = if d.is_null() { serde_json::Value::Object(Default::default()) } else { d };
        self
    }
    /// Records what changed as `details.changes = {before, after}` (the caller leaves
    /// secrets out of both).
    pub fn changes(mut self, before: serde_json::Value, after: serde_json::Value) -> Self {
        if !self.details.is_object() {
            self.details = serde_json::Value::Object(Default::default());
        }
        self.details["changes"] = serde_json::json!({ "before": before, "after": after });
        self
    }
    /// The resource type: the part of `action` before its last dot.
    pub fn resource_type(&self) -> &str {
        self.action.rsplit_once('.').map_or(self.action.as_str(), |(kind, _)| kind)
    }
}

/// Filter for listing audit events, newest first (ties by id, descending). Every filter set
/// must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events of this organization.
    pub org_id: Option<Id>,
    /// Only events by this actor.
    pub actor_id: Option<Id>,
    /// Only this action (`api_key.revoke`), or with a trailing `*` every action that starts
    /// with what comes before it (`api_key.*`, `user.login*`).
    pub action: Option<String>,
    /// Only events on this resource type (the action's part before its last dot: `api_key`).
    pub resource_type: Option<String>,
    /// Only events on this resource id (`target`).
    pub target: Option<String>,
    /// Only events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events strictly before this time.
    pub before: Option<DateTime<Utc>>,
    /// Where the page starts: the cursor a previous page returned (`AuditLog::audit_page`);
    /// None for the first page.
    pub cursor: Option<String>,
    /// At most this many; see [`AuditQuery::PAGE`].
    pub limit: u32,
}

impl AuditQuery {
    /// Whether `event` passes every filter of this query but the cursor: the reference
    /// semantics the stores implement in their queries.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let action_ok = match self.action.as_deref() {
            None => true,
            Some(a) => match a.strip_suffix('*') {
                Some(prefix) => event.action.starts_with(prefix),
                None => event.action == a,
            },
        };
        action_ok
            && self.org_id.as_ref().is_none_or(|o| event.org_id.as_ref() == Some(o))
            && self.actor_id.as_ref().is_none_or(|a| event.actor_id.as_ref() == Some(a))
            && self.resource_type.as_deref().is_none_or(|t| event.resource_type() == t)
            && self.target.as_deref().is_none_or(|t| event.target.as_deref() == Some(t))
            && self.from.is_none_or(|f| event.at >= f)
            && self.before.is_none_or(|b| event.at < b)
    }

    /// 0 means 100; at most 1000.
    pub const PAGE: PageLimits = crate::page::LISTING;

    /// The number of events to return for this query's `limit`.
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by schemathesis: a login's event was written with `details: null` and the
    /// activity listing answered against its documented schema.
    #[test]
    fn details_are_always_an_object() {
        let now = Utc::now();
        assert_eq!(AuditEvent::new("user.login", now).details(serde_json::Value::Null).details, serde_json::json!({}));
        let with = AuditEvent::new("user.login", now).details(serde_json::json!({"method": "oidc"}));
        assert_eq!(with.details, serde_json::json!({"method": "oidc"}));
    }
}

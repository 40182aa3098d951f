//! The endpoint catalog: what the gateway serves under `/api/v1`.

use crate::{DomainError, Id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an endpoint's calls go: a built-in handler or an HTTP(S) upstream.
pub const BUILTIN_ECHO: &str = "builtin:echo";

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Id,
    pub name: String,
    pub description: Option<String>,
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// Path under `/api/v1`, with `{name}` segments and an optional final `{*rest}`.
    #[schema(example = "/echo/{*rest}")]
    pub path: String,
    /// `https://...`/`http://...` base URL, or `builtin:echo`. The part of the request path
    /// matched by `{*rest}` (or the whole path when there is none) is appended.
    pub upstream_url: String,
    /// Cost units one call adds to the quota.
    pub cost_units: u32,
    /// Requests per minute per key (or per IP for public endpoints), on top of the plan's.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 4294967295.0)]
    pub rate_limit: Option<u32>,
    /// Public endpoints need no key: rate limited per client IP, counted against no quota.
    pub public: bool,
    /// The endpoint's group (e.g. `weather`), named by API keys' `scopes`: a key with scopes
    /// calls this endpoint only if the group is one of them. None: callable by every key.
    #[schema(pattern = "^[a-z0-9][a-z0-9_.:-]{0,49}$", example = "weather")]
    pub scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The methods an endpoint may declare.
pub const METHODS: &[&str] = &["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Paths under `/api/v1` the gateway serves itself (calls reported by, and keys verified
/// for, the seller's own server): no catalog endpoint may take them.
pub const RESERVED_PATHS: &[&str] = &["/track", "/verify"];

/// What [`is_scope_name`] accepts, as a regular expression (for API documents).
pub const SCOPE_PATTERN: &str = "^[a-z0-9][a-z0-9_.:-]{0,49}$";

/// Longest scope (endpoint group) name.
pub const SCOPE_MAX_LEN: usize = 50;

/// Whether `name` is a valid scope (endpoint group) name: `^[a-z0-9][a-z0-9_.:-]{0,49}$`.
pub fn is_scope_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= SCOPE_MAX_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
}

impl Endpoint {
    /// Checks method, path pattern, upstream and cost.
    pub fn validate(&self) -> Result<(), DomainError> {
        let invalid = |field, reason: &str| Err(DomainError::InvalidField { field, reason: reason.into() });
        if !METHODS.contains(&self.method.as_str()) {
            return invalid("method", "must be one of ANY, GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS");
        }
        if !self.path.starts_with('/') || self.path.len() > 200 || self.path.contains("//") {
            return invalid("path", "must start with '/' and be at most 200 characters");
        }
        if RESERVED_PATHS.contains(&self.path.as_str()) {
            return invalid("path", "is reserved: /api/v1/track and /api/v1/verify are the platform's own routes");
        }
        let segments: Vec<&str> = self.path[1..].split('/').collect();
        for (i, seg) in segments.iter().enumerate() {
            let ok = if let Some(name) = seg.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
                i == segments.len() - 1 && is_ident(name)
            } else if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                is_ident(name)
            } else {
                seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            };
            if !ok {
                return invalid("path", "segments are literals, {name}, or a final {*name}");
            }
        }
        let upstream_ok = self.upstream_url == BUILTIN_ECHO
            || ((self.upstream_url.starts_with("https://") || self.upstream_url.starts_with("http://"))
                && self.upstream_url.len() <= 500
                && !self.upstream_url.contains(char::is_whitespace));
        if !upstream_ok {
            return invalid("upstream_url", "must be an http(s) URL or builtin:echo");
        }
        if self.cost_units == 0 || self.cost_units > 1_000_000 {
            return invalid("cost_units", "must be between 1 and 1000000");
        }
        if self.rate_limit == Some(0) {
            return invalid("rate_limit", "must be positive or null");
        }
        if self.scope.as_deref().is_some_and(|s| !is_scope_name(s)) {
            return invalid("scope", "must match ^[a-z0-9][a-z0-9_.:-]{0,49}$ or be null");
        }
        Ok(())
    }

    /// The echo endpoint an empty store starts with, so a newcomer can make a metered call.
    pub fn default_echo(now: DateTime<Utc>) -> Endpoint {
        Endpoint {
            id: Id::from_string("ep_echo"),
            name: "echo".into(),
            description: Some("Built-in echo: answers with what it received.".into()),
            method: "GET".into(),
            path: "/echo/{*rest}".into(),
            upstream_url: BUILTIN_ECHO.into(),
            cost_units: 1,
            rate_limit: None,
            public: false,
            scope: None,
            created_at: now,
            updated_at: now,
        }
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = Endpoint::default_echo(Utc::now());
        assert!(ok.validate().is_ok());
        for (path, good) in [
            ("/a/{id}/b", true),
            ("/{*rest}", true),
            ("/a/{*rest}/b", false),
            ("a", false),
            ("/a//b", false),
            ("/a b", false),
            ("/{}", false),
            ("/track", false),
            ("/verify", false),
            ("/track/{id}", true),
        ] {
            let e = Endpoint { path: path.into(), ..ok.clone() };
            assert_eq!(e.validate().is_ok(), good, "{path}");
        }
        assert!(Endpoint { method: "FETCH".into(), ..ok.clone() }.validate().is_err());
        assert!(Endpoint { upstream_url: "ftp://x".into(), ..ok.clone() }.validate().is_err());
        assert!(Endpoint { cost_units: 0, ..ok.clone() }.validate().is_err());
        assert!(Endpoint { scope: Some("weather".into()), ..ok.clone() }.validate().is_ok());
        assert!(Endpoint { scope: Some("Weather".into()), ..ok }.validate().is_err());
    }

    #[test]
    fn scope_names() {
        for good in ["weather", "0", "a.b:c-d_e", &"a".repeat(50)] {
            assert!(is_scope_name(good), "{good}");
        }
        for bad in ["", "_a", "-a", "A", "a b", "é", &"a".repeat(51)] {
            assert!(!is_scope_name(bad), "{bad}");
        }
    }
}

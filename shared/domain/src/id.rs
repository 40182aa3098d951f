//! Opaque, prefixed identifiers (`usr_…`, `org_…`, `key_…`).

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Alphabet of base62, used for identifiers and API keys.
pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random base62 string of `len` characters from the OS-seeded thread RNG (a CSPRNG).
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| BASE62[rng.gen_range(0..62)] as char).collect()
}

/// An opaque identifier such as `usr_4f9K2…`. The prefix says what it identifies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String)]
pub struct Id(String);

impl Id {
    /// A new random id with the given prefix (`"usr"` gives `usr_<20 base62>`, 119 bits).
    pub fn generate(prefix: &str) -> Self {
        Id(format!("{prefix}_{}", random_base62(20)))
    }
    /// Wraps a stored or client-supplied id. Ids are opaque: no validation beyond length.
    pub fn from_string(s: impl Into<String>) -> Self {
        Id(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether `s` looks like an id with this prefix (cheap filter before any I/O).
    pub fn is_plausible(s: &str, prefix: &str) -> bool {
        s.len() <= 64
            && s.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('_'))
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prefixes of each kind of id.
pub mod prefix {
    pub const USER: &str = "usr";
    pub const ORG: &str = "org";
    pub const API_KEY: &str = "key";
    pub const REFRESH_FAMILY: &str = "rfm";
    pub const REFRESH_TOKEN: &str = "rtk";
    pub const AUDIT: &str = "aud";
    pub const MAIL: &str = "mail";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_prefix_and_are_plausible() {
        let id = Id::generate(prefix::USER);
        assert!(id.as_str().starts_with("usr_"));
        assert_eq!(id.as_str().len(), 24);
        assert!(Id::is_plausible(id.as_str(), "usr"));
        assert!(!Id::is_plausible(id.as_str(), "key"));
        assert!(!Id::is_plausible("usr_", "usr"));
        assert!(!Id::is_plausible("usr_a-b", "usr"));
    }
}

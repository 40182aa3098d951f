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

/// A new request id, `req_<8 base62: the time in ms><12 random base62>` (24 characters, 71
/// random bits per millisecond). The time prefix makes ids sort by time, so the indexes keyed
/// by request id (the usage queue, the usage log) grow at their end instead of dirtying a
/// random page for every call.
pub fn request_id() -> String {
    let mut ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut time = [b'0'; 8];
    for digit in time.iter_mut().rev() {
        *digit = BASE62[(ms % 62) as usize];
        ms /= 62;
    }
    format!("req_{}{}", std::str::from_utf8(&time).expect("ascii"), random_base62(12))
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
    pub const PROJECT: &str = "prj";
    pub const REFRESH_FAMILY: &str = "rfm";
    pub const REFRESH_TOKEN: &str = "rtk";
    pub const AUDIT: &str = "aud";
    pub const MAIL: &str = "mail";
    pub const INVITATION: &str = "inv";
    pub const MANAGEMENT_TOKEN: &str = "mgt";
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

#[cfg(test)]
mod request_id_tests {
    use super::*;

    #[test]
    fn request_ids_sort_by_time_and_differ() {
        let first = request_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = request_id();
        assert_eq!((first.len(), second.len()), (24, 24));
        assert!(first < second, "{first} then {second}");
        assert!(Id::is_plausible(&first, "req"));
        assert_ne!(request_id(), request_id());
    }
}

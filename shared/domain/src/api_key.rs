//! API keys: format, checksum, and lifecycle.
//!
//! A key looks like `sk_live_<random>_<checksum>`: `<random>` is 22 base62 characters
//! (about 131 bits from the OS CSPRNG) and `<checksum>` is the CRC-32 of `sk_live_<random>`
//! in 6 base62 characters. The checksum lets the gateway reject a mistyped key with no I/O;
//! it is not a secret. Only the SHA-256 of the whole key is stored.

use crate::endpoint::is_scope_name;
use crate::id::{random_base62, BASE62};
use crate::{DomainError, Endpoint, Id, TokenHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const KEY_PREFIX: &str = "sk_live_";
const RANDOM_LEN: usize = 22;
const CHECKSUM_LEN: usize = 6;
/// Total length of a well-formed key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_LEN + 1 + CHECKSUM_LEN;

/// CRC-32 (IEEE 802.3, reflected), bitwise: keys are short, so no table is needed.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ascii")
}

/// Why a presented key string is not a well-formed key (decided with no I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Wrong prefix, length or alphabet.
    #[error("malformed API key")]
    Malformed,
    /// Well-formed but the checksum does not match: a typo or a truncated copy.
    #[error("API key checksum mismatch")]
    BadChecksum,
}

/// A key string that passed the format and checksum checks.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedKey(String);

impl std::fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        write!(f, "ParsedKey({})", display_prefix(&self.0))
    }
}

impl ParsedKey {
    pub fn parse(raw: &str) -> Result<Self, KeyFormatError> {
        let raw = raw.trim();
        if raw.len() != KEY_LEN || !raw.starts_with(KEY_PREFIX) {
            return Err(KeyFormatError::Malformed);
        }
        let rest = &raw[KEY_PREFIX.len()..];
        let (random, check) = rest.split_once('_').ok_or(KeyFormatError::Malformed)?;
        if random.len() != RANDOM_LEN
            || check.len() != CHECKSUM_LEN
            || !random.bytes().chain(check.bytes()).all(|b| b.is_ascii_alphanumeric())
        {
            return Err(KeyFormatError::Malformed);
        }
        if checksum(&raw[..KEY_PREFIX.len() + RANDOM_LEN]) != check {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok(ParsedKey(raw.to_string()))
    }
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// The first characters shown in listings: `sk_live_` plus 4 random characters.
fn display_prefix(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 4).collect()
}

/// A freshly generated key: the plaintext (shown to the user once) and what is stored.
pub struct NewApiKey {
    /// The full key. Never stored, never logged.
    pub plaintext: String,
    pub hash: TokenHash,
    pub display_prefix: String,
    pub last4: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("display_prefix", &self.display_prefix)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

impl NewApiKey {
    pub fn generate() -> Self {
        let body = format!("{KEY_PREFIX}{}", random_base62(RANDOM_LEN));
        let plaintext = format!("{body}_{}", checksum(&body));
        NewApiKey {
            hash: TokenHash::of(&plaintext),
            display_prefix: display_prefix(&plaintext),
            last4: plaintext[plaintext.len() - 4..].to_string(),
            plaintext,
        }
    }

    /// What the store keeps of this key as the current secret of `key_id` from `created_at`.
    pub fn current_secret(&self, key_id: &Id, org_id: &Id, created_at: DateTime<Utc>) -> KeySecret {
        KeySecret {
            hash: self.hash.clone(),
            key_id: key_id.clone(),
            org_id: org_id.clone(),
            created_at,
            valid_until: None,
        }
    }
}

/// A rotation as the store applies it: the key's new current secret, what listings show of
/// it, and when the outgoing secret stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub new_secret: KeySecret,
    pub display_prefix: String,
    pub last4: String,
    /// End of the outgoing secret's grace period; `now` ends it at once.
    pub old_valid_until: DateTime<Utc>,
}

impl KeyRotation {
    /// Makes `new` the current secret of `key_id` (in `org_id`) from `now`.
    pub fn new(key_id: &Id, org_id: &Id, new: &NewApiKey, now: DateTime<Utc>, old_valid_until: DateTime<Utc>) -> Self {
        KeyRotation {
            new_secret: new.current_secret(key_id, org_id, now),
            display_prefix: new.display_prefix.clone(),
            last4: new.last4.clone(),
            old_valid_until,
        }
    }
}

/// Lifecycle status of a key at a given time (derived, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

/// An API key as stored (metadata only; the secret lives as `KeySecret` hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: Id,
    pub org_id: Id,
    /// The project the key belongs to (stores read a key from before projects as its
    /// organization's default project, `Project::default_id`).
    pub project_id: Id,
    pub created_by: Id,
    pub name: String,
    /// `sk_live_` plus the first 4 random characters of the current secret.
    pub display_prefix: String,
    /// Last 4 characters of the current secret.
    pub last4: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    /// The endpoint groups (`Endpoint::scope`) the key may call. None: every endpoint.
    /// Some (1 to 20 distinct names, see [`key_scopes`]): only endpoints whose scope is in
    /// the list, plus endpoints with no scope, which every key may call ([`ApiKey::may_call`]).
    pub scopes: Option<Vec<String>>,
}

/// Most scopes one key may carry.
pub const MAX_KEY_SCOPES: usize = 20;

/// Checks and normalises the scopes requested for a key: 1 to [`MAX_KEY_SCOPES`] valid
/// names (`endpoint::is_scope_name`); duplicates are dropped, first occurrences kept in order.
pub fn key_scopes(requested: Vec<String>) -> Result<Vec<String>, DomainError> {
    let invalid = |reason: &str| Err(DomainError::InvalidField { field: "scopes", reason: reason.into() });
    // The count is checked before deduplication, as the API document's `maxItems` says.
    if requested.is_empty() || requested.len() > MAX_KEY_SCOPES {
        return invalid("must hold 1 to 20 names (leave it out, or null, for every endpoint)");
    }
    if let Some(bad) = requested.iter().find(|s| !is_scope_name(s)) {
        return invalid(&format!("{bad:?} does not match ^[a-z0-9][a-z0-9_.:-]{{0,49}}$"));
    }
    let mut scopes: Vec<String> = Vec::with_capacity(requested.len());
    for s in requested {
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    Ok(scopes)
}

/// The hash of one secret of a key. A key has one current secret and, during a rotation's
/// grace period, the previous one (with `valid_until` set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySecret {
    pub hash: TokenHash,
    pub key_id: Id,
    pub org_id: Id,
    pub created_at: DateTime<Utc>,
    /// None for the current secret; the end of the grace period for a rotated-out one.
    pub valid_until: Option<DateTime<Utc>>,
}

/// Why a known key is refused (HTTP 401 with this as the error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("this API key has been revoked")]
    Revoked,
    #[error("this API key has expired")]
    Expired,
    /// The secret was rotated out and its grace period is over.
    #[error("this API key secret was rotated; use the new secret")]
    Rotated,
}

impl ApiKey {
    pub fn status(&self, now: DateTime<Utc>) -> ApiKeyStatus {
        if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        }
    }

    /// Whether this key may call `endpoint`: a key without scopes calls every endpoint; a
    /// key with scopes calls the endpoints whose scope is one of them and the endpoints
    /// that have no scope (groups restrict keys; an ungrouped endpoint is open to all).
    pub fn may_call(&self, endpoint: &Endpoint) -> bool {
        match (&self.scopes, &endpoint.scope) {
            (None, _) | (_, None) => true,
            (Some(scopes), Some(scope)) => scopes.iter().any(|s| s == scope),
        }
    }

    /// Whether a call presenting `secret` of this key is allowed at `now`.
    pub fn check_usable(&self, secret: &KeySecret, now: DateTime<Utc>) -> Result<(), KeyRejection> {
        match self.status(now) {
            ApiKeyStatus::Revoked => Err(KeyRejection::Revoked),
            ApiKeyStatus::Expired => Err(KeyRejection::Expired),
            ApiKeyStatus::Active if secret.valid_until.is_some_and(|u| u <= now) => Err(KeyRejection::Rotated),
            ApiKeyStatus::Active => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn generated_keys_parse_and_hash_consistently() {
        for _ in 0..200 {
            let k = NewApiKey::generate();
            assert_eq!(k.plaintext.len(), KEY_LEN);
            let parsed = ParsedKey::parse(&k.plaintext).expect("valid key");
            assert_eq!(parsed.hash(), k.hash);
            assert!(k.plaintext.starts_with(&k.display_prefix));
            assert!(k.plaintext.ends_with(&k.last4));
        }
    }

    #[test]
    fn any_single_character_typo_is_caught_without_io() {
        let k = NewApiKey::generate().plaintext;
        let body_start = KEY_PREFIX.len();
        for i in body_start..k.len() {
            if &k[i..=i] == "_" {
                continue;
            }
            let mut typo = k.clone().into_bytes();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap();
            assert!(ParsedKey::parse(&typo).is_err(), "typo at {i} accepted");
        }
    }

    #[test]
    fn malformed_keys() {
        assert_eq!(ParsedKey::parse(""), Err(KeyFormatError::Malformed));
        assert_eq!(ParsedKey::parse("sk_test_abc"), Err(KeyFormatError::Malformed));
        let k = NewApiKey::generate().plaintext;
        assert_eq!(ParsedKey::parse(&k[..k.len() - 1]), Err(KeyFormatError::Malformed));
        let swapped = k.replacen("sk_live_", "sk_test_", 1);
        assert_eq!(ParsedKey::parse(&swapped), Err(KeyFormatError::Malformed));
        assert!(!format!("{:?}", ParsedKey::parse(&k).unwrap()).contains(&k));
    }

    #[test]
    fn crc32_matches_reference() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn status_and_usability() {
        let now = Utc::now();
        let mut key = ApiKey {
            id: Id::generate("key"),
            org_id: Id::generate("org"),
            project_id: Id::generate("prj"),
            created_by: Id::generate("usr"),
            name: "k".into(),
            display_prefix: "sk_live_abcd".into(),
            last4: "wxyz".into(),
            created_at: now,
            last_used_at: None,
            expires_at: Some(now + Duration::hours(1)),
            revoked_at: None,
            rotated_at: None,
            scopes: None,
        };
        let secret = KeySecret {
            hash: TokenHash::of("x"),
            key_id: key.id.clone(),
            org_id: key.org_id.clone(),
            created_at: now,
            valid_until: None,
        };
        assert_eq!(key.check_usable(&secret, now), Ok(()));
        assert_eq!(key.check_usable(&secret, now + Duration::hours(2)), Err(KeyRejection::Expired));
        let old = KeySecret { valid_until: Some(now + Duration::minutes(5)), ..secret.clone() };
        assert_eq!(key.check_usable(&old, now), Ok(()));
        assert_eq!(key.check_usable(&old, now + Duration::minutes(6)), Err(KeyRejection::Rotated));
        key.revoked_at = Some(now);
        assert_eq!(key.status(now), ApiKeyStatus::Revoked);
        assert_eq!(key.check_usable(&secret, now), Err(KeyRejection::Revoked));
    }

    #[test]
    fn scopes_decide_which_endpoints_a_key_calls() {
        let now = Utc::now();
        let key = ApiKey {
            id: Id::generate("key"),
            org_id: Id::generate("org"),
            project_id: Id::generate("prj"),
            created_by: Id::generate("usr"),
            name: "k".into(),
            display_prefix: "sk_live_abcd".into(),
            last4: "wxyz".into(),
            created_at: now,
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            rotated_at: None,
            scopes: None,
        };
        let ungrouped = Endpoint::default_echo(now);
        let weather = Endpoint { scope: Some("weather".into()), ..ungrouped.clone() };
        let maps = Endpoint { scope: Some("maps".into()), ..ungrouped.clone() };
        for e in [&ungrouped, &weather, &maps] {
            assert!(key.may_call(e), "an unscoped key calls everything");
        }
        let scoped = ApiKey { scopes: Some(vec!["weather".into()]), ..key };
        assert!(scoped.may_call(&weather));
        assert!(!scoped.may_call(&maps));
        assert!(scoped.may_call(&ungrouped), "an ungrouped endpoint is open to every key");
    }

    #[test]
    fn key_scopes_are_checked_and_deduplicated() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(key_scopes(s(&["b", "a", "b"])), Ok(s(&["b", "a"])));
        assert!(key_scopes(vec![]).is_err());
        assert!(key_scopes(s(&["Weather"])).is_err());
        let many: Vec<String> = (0..21).map(|i| format!("g{i}")).collect();
        assert!(key_scopes(many.clone()).is_err());
        assert_eq!(key_scopes(many[..20].to_vec()).map(|v| v.len()), Ok(20));
        let mut dup = many[..19].to_vec();
        dup.push("g0".into());
        assert_eq!(key_scopes(dup).map(|v| v.len()), Ok(19));
    }
}

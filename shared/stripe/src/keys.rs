//! Idempotency keys, derived from our ids, so that a retried create returns the object the
//! first attempt made instead of making a second one. Stripe keeps a key for 24 hours and
//! answers a reuse with other parameters with an error, so each key also names what makes the
//! object different (an amount, the price it replaces, a hash of the free-text fields).

use sha2::{Digest, Sha256};

/// Stripe takes keys of up to 255 characters.
const MAX_LEN: usize = 255;

/// `parts` joined with `-`; a key that would be too long keeps its start and ends in a hash
/// of the whole.
pub(crate) fn key(parts: &[&str]) -> String {
    let joined = parts.join("-");
    if joined.len() <= MAX_LEN {
        return joined;
    }
    let hash = short_hash(&[&joined]);
    let mut cut = MAX_LEN - hash.len() - 1;
    while !joined.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash}", &joined[..cut])
}

/// 16 hex characters of SHA-256 over `fields` (each length-prefixed, so ("ab","c") and
/// ("a","bc") differ): names free text such as a product's name in a key.
pub(crate) fn short_hash(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The minute of `unix` seconds: for creates with no id of ours to name them (a Checkout
/// session, a one-off invoice), a retry within the same minute finds the first one.
pub(crate) fn minute(unix: i64) -> String {
    (unix.div_euclid(60)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_parts_joined() {
        assert_eq!(key(&["customer", "org_123"]), "customer-org_123");
        assert_eq!(key(&["price", "prod_1", "900", "usd", "new"]), "price-prod_1-900-usd-new");
    }

    #[test]
    fn a_long_key_is_cut_and_hashed_within_stripes_limit() {
        let long = "x".repeat(400);
        let a = key(&["checkout", &long, "a"]);
        let b = key(&["checkout", &long, "b"]);
        assert_eq!(a.len(), MAX_LEN);
        assert_ne!(a, b, "the hash keeps keys of different parts apart");
        assert!(a.starts_with("checkout-xxx"));
    }

    #[test]
    fn hashes_are_stable_and_field_separated() {
        assert_eq!(short_hash(&["Pro", "For teams"]), short_hash(&["Pro", "For teams"]));
        assert_ne!(short_hash(&["ab", "c"]), short_hash(&["a", "bc"]));
        assert_eq!(short_hash(&["x"]).len(), 16);
    }

    #[test]
    fn minutes_floor() {
        assert_eq!(minute(119), "1");
        assert_eq!(minute(120), "2");
    }
}

//! Object ids with Stripe's prefixes (`cus_`, `sub_`, `in_`, ...).

use rand::distributions::Alphanumeric;
use rand::Rng;

/// A new id: `prefix` followed by 24 random letters and digits, like Stripe's.
pub fn new_id(prefix: &str) -> String {
    let suffix: String = rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{suffix}")
}

/// A random upper-case hex string (invoice prefixes, fingerprints' filler).
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0').to_ascii_uppercase()).collect()
}

//! A small in-process cache with a time-to-live, for the hot path's lookups.
//!
//! Entries live `ttl` (5 s by default): that bounds how long a revoked or expired key, a
//! suspended account or a changed plan can still be honoured by one gateway instance.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Map from key to value with per-entry expiry. Misses are cached too (as `None` values by
/// the caller) so a flood of unknown keys does not reach the store.
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
    max_entries: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        TtlCache { ttl, entries: Mutex::new(HashMap::new()), max_entries }
    }

    /// The fresh value, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("cache lock");
        entries.get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let c = TtlCache::new(Duration::from_millis(30), 10);
        c.insert("a", 1);
        assert_eq!(c.get(&"a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&"a"), None);
        for i in 0..25 {
            c.insert(if i % 2 == 0 { "x" } else { "y" }, i);
        }
        assert_eq!(c.get(&"y"), Some(23));
    }
}

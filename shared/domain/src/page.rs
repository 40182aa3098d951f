//! Page sizes of the store's listings.

/// How a listing turns a requested page size into the one it returns: 0 asks for `default`,
/// and no page is bigger than `max` (a bound on one store round trip, whatever the caller asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// The page size when the query asks for 0.
    pub default: u32,
    /// The largest page returned.
    pub max: u32,
}

impl PageLimits {
    /// The page size for a query's `limit`.
    pub const fn page_size(self, limit: u32) -> u32 {
        match limit {
            0 => self.default,
            l if l > self.max => self.max,
            l => l,
        }
    }
}

/// The limits of every listing today: 100 by default, at most 1000.
pub(crate) const LISTING: PageLimits = PageLimits { default: 100, max: 1000 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_the_default_and_the_max_caps() {
        assert_eq!([0, 1, 999, 1000, 1001, u32::MAX].map(|l| LISTING.page_size(l)), [100, 1, 999, 1000, 1000, 1000]);
    }
}

//! The store contract against an in-memory `SqliteStore`, one test per case, so this crate
//! checks itself without building the cross-crate tests (which run it on a file).

use std::sync::Arc;
use tollgate_embedded::SqliteStore;
use tollgate_store_contract::SharedStore;

/// A fresh in-memory store for one case.
async fn fresh_store() -> (SharedStore, ()) {
    (Arc::new(SqliteStore::open_in_memory().expect("open in-memory store")), ())
}

tollgate_store_contract::store_contract_tests!(fresh_store());

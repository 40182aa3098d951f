//! The store contract against an in-memory `SqliteStore`, so this crate checks itself without
//! building the cross-crate tests (`tests/tests/contract_sqlite.rs` runs it on a file).

use std::sync::Arc;
use tollgate_embedded::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_sqlite_store_meets_the_contract() {
    let store = SqliteStore::open_in_memory().expect("open in-memory store");
    tollgate_store_contract::run_all(Arc::new(store)).await;
}

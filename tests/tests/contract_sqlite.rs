//! The store contract against the embedded SQLite adapter, on a fresh database file.

use std::sync::Arc;
use tollgate_embedded::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_meets_the_contract() {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-contract-sqlite-{}-{}",
        std::process::id(),
        tollgate_domain::id::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).expect("create temporary directory");
    let store = SqliteStore::open(&dir.join("tollgate.db")).expect("open sqlite store");

    tollgate_store_contract::run_all(Arc::new(store)).await;

    // Only reached when every case passed: a failed run leaves the file for inspection.
    std::fs::remove_dir_all(&dir).expect("remove temporary directory");
}

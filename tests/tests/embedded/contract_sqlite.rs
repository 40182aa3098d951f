//! The store contract against the embedded SQLite adapter: one test per case, each on a
//! fresh database file.

use std::path::PathBuf;
use std::sync::Arc;
use tollgate_embedded::SqliteStore;
use tollgate_store_contract::SharedStore;

/// A case's temporary directory: removed when the case passed, left for inspection (with
/// its database file) when it failed.
struct KeptOnFailure(PathBuf);

impl Drop for KeptOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::fs::remove_dir_all(&self.0).expect("remove temporary directory");
        }
    }
}

/// A fresh store on a new database file for one case.
async fn fresh_store() -> (SharedStore, KeptOnFailure) {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-contract-sqlite-{}-{}",
        std::process::id(),
        tollgate_domain::id::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).expect("create temporary directory");
    let store = SqliteStore::open(&dir.join("tollgate.db")).expect("open sqlite store");
    (Arc::new(store), KeptOnFailure(dir))
}

tollgate_store_contract::store_contract_tests!(fresh_store());

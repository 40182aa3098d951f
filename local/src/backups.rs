//! The `Backups` port on the embedded store: online SQLite backups in `$DATA_DIR/backups/`
//! (`SqliteStore::backup_into`), the newest `BACKUPS_KEPT` kept, and `tollgate restore`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::PathBuf;
use tollgate_domain::{BackupWritten, Backups, PortError};
use tollgate_embedded::SqliteStore;

/// How many backups the `backup` job keeps.
pub const BACKUPS_KEPT: usize = 30;

/// Backups of the SQLite store into a folder.
pub struct SqliteBackups {
    store: SqliteStore,
    dir: PathBuf,
}

impl SqliteBackups {
    /// Backups of `store` into `dir` (`$DATA_DIR/backups`).
    pub fn new(store: SqliteStore, dir: impl Into<PathBuf>) -> Self {
        SqliteBackups { store, dir: dir.into() }
    }
}

#[async_trait]
impl Backups for SqliteBackups {
    async fn back_up(&self, now: DateTime<Utc>) -> Result<BackupWritten, PortError> {
        let backup = self
            .store
            .backup_into(&self.dir, now, BACKUPS_KEPT)
            .await
            .map_err(|e| PortError::with_source("could not back up the store", e))?;
        let kept = u32::try_from(backup.kept).unwrap_or(u32::MAX);
        Ok(BackupWritten { file: backup.path.display().to_string(), kept })
    }
}

//! WAL checkpoints off the store's lock.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into
//! the database file. With `synchronous=NORMAL` the checkpoint is the only step that waits
//! for the disk (an fsync of the WAL before it, one of the database after). By default the
//! connection whose commit takes the WAL past 1,000 pages runs it, right after that commit:
//! for this store that is inside its one lock, so every call waiting on the store (the
//! gateway's group commit among them) waits for both fsyncs, several times a second under load.
//!
//! So a file-backed store runs passive checkpoints on a thread of its own with a connection
//! of its own, every [`INTERVAL`]. A passive checkpoint takes no lock a writer needs: commits
//! go on while it copies and syncs. The store's connection keeps an automatic checkpoint, at
//! [`WRITER_CHECKPOINT_PAGES`], as a bound: should the thread fall behind, or a constant
//! stream of commits keep the WAL from starting over (it restarts only when a writer finds it
//! fully copied back), the writer finishes the copy itself once, and the WAL starts over.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the background thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(50);

/// WAL pages (of 4 KiB) past which the writing connection checkpoints itself.
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// The checkpoint thread of one store; dropping it stops the thread and waits for it (its
/// connection is closed when the drop returns).
pub(crate) struct CheckpointThread {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CheckpointThread {
    /// Starts checkpointing the database at `path` (already in WAL mode).
    pub(crate) fn start(path: &Path) -> std::io::Result<Self> {
        let path = path.to_path_buf();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
            let conn = match Connection::open(&path) {
                Ok(c) => c,
                Err(e) => {
                    // The writer's own automatic checkpoint still bounds the WAL.
                    tracing::error!(error = %e, "checkpoint thread cannot open the database");
                    return;
                }
            };
            // Only a message (none is sent) or the store's drop ends the wait early.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                if let Err(e) = checkpoint(&conn) {
                    tracing::warn!(error = %e, "background WAL checkpoint failed");
                }
            }
        })?;
        Ok(CheckpointThread { stop: Some(stop), thread: Some(thread) })
    }
}

/// One passive checkpoint: copies what it can without waiting for anyone.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for CheckpointThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use std::time::{Duration, Instant};
    use tollgate_domain::Id;

    /// The database file's pages, read from its header (bytes 28..32): what checkpoints have
    /// copied back from the WAL so far.
    fn pages_in_file(path: &std::path::Path) -> u32 {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes.get(28..32).map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()))
    }

    #[tokio::test]
    async fn a_file_store_is_checkpointed_by_its_own_thread_and_the_writer_only_as_a_bound() {
        let dir = std::env::temp_dir().join(format!("tollgate-checkpoint-{}", Id::generate("t")));
        let path = dir.join("tollgate.db");
        let store = SqliteStore::open(&path).unwrap();
        // The migrations are a few hundred pages in the WAL, far below the writer's bound:
        // only the checkpoint thread copies them into the file.
        let writer_bound: u32 =
            store.call(|c| Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!(writer_bound, super::WRITER_CHECKPOINT_PAGES);
        let deadline = Instant::now() + Duration::from_secs(10);
        while pages_in_file(&path) <= 1 {
            assert!(Instant::now() < deadline, "no checkpoint copied the migrations into the file");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropping the store stops the thread and closes both connections: the last one to
        // close removes the WAL.
        drop(store);
        assert!(!dir.join("tollgate.db-wal").exists(), "a connection is still open");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

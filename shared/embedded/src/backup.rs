//! Online backup of the embedded store, and restoring one.
//!
//! A backup is `VACUUM INTO` a new file: a consistent, compact copy of the database as of
//! one read transaction, taken while the server keeps serving (in WAL mode a reader does not
//! block writers). Backups are named `tollgate-<YYYYMMDDTHHMMSSZ>.db` (UTC), so they list in
//! time order, and only the newest few are kept.

use crate::sqlite::MIGRATIONS;
use crate::SqliteStore;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::path::{Path, PathBuf};
use tollgate_domain::StoreError;

const PREFIX: &str = "tollgate-";
const SUFFIX: &str = ".db";
/// `YYYYMMDDTHHMMSSZ`: fixed width, so names sort as times.
const STAMP: &str = "%Y%m%dT%H%M%SZ";

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| StoreError::unavailable(what, e)
}

/// Where a backup file stands in time: its stamp and its same-second suffix (`-2`, ...; 0
/// without one). None for a file that is not a backup of ours.
fn backup_order(name: &str) -> Option<(String, u32)> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (stamp, n) = match rest.split_once('-') {
        Some((stamp, n)) => (stamp, n.parse().ok()?),
        None => (rest, 0),
    };
    chrono::NaiveDateTime::parse_from_str(stamp, STAMP).ok()?;
    Some((stamp.to_string(), n))
}

/// Flushes a directory entry change (create, rename, delete) to disk, where the platform
/// allows it (Unix); elsewhere a no-op.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(format!("cannot sync {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    File::open(path).and_then(|f| f.sync_all()).map_err(io_error(format!("cannot sync {}", path.display())))
}

fn path_text(path: &Path) -> Result<&str, StoreError> {
    path.to_str().ok_or_else(|| StoreError::Unavailable {
        message: format!("{} is not a UTF-8 path (SQLite needs one)", path.display()),
        source: None,
    })
}

impl SqliteStore {
    /// Writes an online backup of the database into `dir` (created if missing) as
    /// `tollgate-<YYYYMMDDTHHMMSSZ>.db` of `now` (`-2`, `-3`, ... appended if that name is
    /// taken), then deletes the oldest `tollgate-*.db` backups in `dir` so that the newest
    /// `keep` remain (at least the new one, whatever `keep` says). Returns the new file and
    /// how many backups `dir` holds now.
    ///
    /// Safe while the store is in use: the copy is one read transaction. On a file-backed
    /// store it runs on a connection of its own, so the store's requests are not held up
    /// (WAL readers do not block the writer); an in-memory store is copied on its connection.
    /// The copy is written under a temporary name, synced and then renamed, so a crash never
    /// leaves a partial file that looks like a backup.
    pub async fn backup_into(&self, dir: &Path, now: DateTime<Utc>, keep: usize) -> Result<Backup, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
        let stamp = now.format(STAMP).to_string();
        let mut target = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
        let mut n = 1;
        while target.try_exists().map_err(io_error(format!("cannot read {}", dir.display())))? {
            n += 1;
            target = dir.join(format!("{PREFIX}{stamp}-{n}{SUFFIX}"));
        }
        // Not a backup name (backup_order rejects it), so pruning never counts it.
        let partial = dir.join(format!(".{PREFIX}{stamp}-{n}{SUFFIX}.partial"));
        // VACUUM INTO refuses an existing file: one left by a crashed backup goes first.
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::unavailable(format!("cannot remove {}", partial.display()), e));
            }
            _ => {}
        }
        let into = path_text(&partial)?.to_string();
        match self.path() {
            Some(db) => {
                let db = db.to_path_buf();
                let into = into.clone();
                tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                    let reader = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
                        .map_err(|e| StoreError::unavailable(format!("cannot open {}", db.display()), e))?;
                    reader.busy_timeout(std::time::Duration::from_secs(5)).map_err(vacuum_failed)?;
                    reader.execute("VACUUM INTO ?1", [into]).map_err(vacuum_failed)?;
                    Ok(())
                })
                .await
                .map_err(|e| StoreError::unavailable("backup task failed", e))??;
            }
            None => {
                self.call(move |c| {
                    c.execute("VACUUM INTO ?1", [into])?;
                    Ok(())
                })
                .await?;
            }
        }
        sync_file(&partial)?;
        std::fs::rename(&partial, &target).map_err(io_error(format!("cannot rename to {}", target.display())))?;
        sync_dir(dir)?;
        tracing::info!(backup = %target.display(), "sqlite backup written");
        let kept = prune_backups(dir, keep.max(1))?;
        Ok(Backup { path: target, kept })
    }
}

/// A backup [`SqliteStore::backup_into`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The new backup file.
    pub path: PathBuf,
    /// How many backups its folder holds now (the newest ones).
    pub kept: usize,
}

fn vacuum_failed(e: rusqlite::Error) -> StoreError {
    StoreError::unavailable("VACUUM INTO failed", e)
}

/// Deletes the oldest backups in `dir` until `keep` remain, and returns how many remain.
/// Other files are left alone.
fn prune_backups(dir: &Path, keep: usize) -> Result<usize, StoreError> {
    let listing = std::fs::read_dir(dir).map_err(io_error(format!("cannot list {}", dir.display())))?;
    let mut backups = Vec::new();
    for entry in listing {
        let entry = entry.map_err(io_error(format!("cannot list {}", dir.display())))?;
        let name = entry.file_name();
        if let Some(order) = name.to_str().and_then(backup_order) {
            backups.push((order, entry.path()));
        }
    }
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let kept = backups.len() - excess;
    for (_, old) in backups.into_iter().take(excess) {
        std::fs::remove_file(&old).map_err(io_error(format!("cannot remove {}", old.display())))?;
        tracing::info!(backup = %old.display(), "old sqlite backup removed");
    }
    Ok(kept)
}

/// Checks that `backup` is a sound database of this build: it opens as SQLite, `PRAGMA
/// integrity_check` says `ok`, and its schema version is one this build knows (1 ..= the
/// number of migrations: 0 is not a Tollgate database, a newer one needs a newer build).
fn check_backup(backup: &Path) -> Result<(), StoreError> {
    let refuse = |why: String| StoreError::Corrupt(format!("{} is not a usable backup: {why}", backup.display()));
    // Read-only and without creating anything next to it: a check must not change the file.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(backup, flags).map_err(|e| refuse(e.to_string()))?;
    let integrity: Vec<String> = c
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| refuse(e.to_string()))?;
    if integrity != ["ok"] {
        return Err(refuse(format!("integrity check: {}", integrity.join("; "))));
    }
    let version: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| refuse(e.to_string()))?;
    let known = MIGRATIONS.len() as u32;
    if version == 0 {
        return Err(refuse("it has no Tollgate schema (user_version 0)".into()));
    }
    if version > known {
        return Err(refuse(format!("its schema version {version} is newer than this build knows ({known})")));
    }
    Ok(())
}

/// Replaces the database file `db` with the backup file `backup`.
///
/// **The server (and anything else using `db`) must not be running**: an open connection
/// would keep writing to the file being replaced. Stop it, restore, start it again; the
/// store migrates the restored file forward on open if the backup is older than this build.
///
/// `backup` is checked first (see [`check_backup`]: a SQLite file whose integrity check
/// passes and whose schema version this build knows); a file that fails is refused with
/// `StoreError::Corrupt` and `db` is left untouched. Then the backup is copied to a temporary
/// file next to `db`, synced, the stale `-wal` / `-shm` files of the old database are
/// removed (they belong to the file being replaced and would be replayed into the new one),
/// and the copy is renamed over `db`: the replacement itself is atomic.
pub fn restore_backup(backup: &Path, db: &Path) -> Result<(), StoreError> {
    check_backup(backup)?;
    let dir = match db.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
    let name = db.file_name().and_then(|n| n.to_str()).ok_or_else(|| StoreError::Unavailable {
        message: format!("{} is not a database file path", db.display()),
        source: None,
    })?;
    let temp = dir.join(format!(".{name}.restore"));
    std::fs::copy(backup, &temp).map_err(io_error(format!(
        "cannot copy {} to {}",
        backup.display(),
        temp.display()
    )))?;
    sync_file(&temp)?;
    for side in ["-wal", "-shm"] {
        let stale = dir.join(format!("{name}{side}"));
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::unavailable(format!("cannot remove {}", stale.display()), e));
            }
            _ => {}
        }
    }
    std::fs::rename(&temp, db).map_err(io_error(format!("cannot rename {} to {}", temp.display(), db.display())))?;
    sync_dir(&dir)?;
    tracing::info!(backup = %backup.display(), db = %db.display(), "sqlite backup restored");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tollgate_domain::{Id, PlanRepository};
    use tollgate_store_contract::new_plan;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tollgate-backup-{}", Id::generate("t")));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, h, m, s).unwrap()
    }

    fn backups_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| backup_order(n).is_some())
            .collect();
        names.sort_by_key(|n| backup_order(n));
        names
    }

    #[tokio::test]
    async fn a_backup_restores_into_a_working_store() {
        let dir = temp_dir();
        let store = SqliteStore::open(&dir.join("live").join("tollgate.db")).unwrap();
        let plan = new_plan("Backed up", 500, tollgate_store_contract::now_ms());
        store.create_plan(&plan).await.unwrap();

        let backup = store.backup_into(&dir.join("backups"), at(2, 30, 0), 7).await.unwrap().path;
        assert_eq!(backup.file_name().unwrap(), "tollgate-20261206T023000Z.db");
        // Written after the backup: not in it.
        let later = new_plan("Later", 600, tollgate_store_contract::now_ms());
        store.create_plan(&later).await.unwrap();

        let restored_path = dir.join("restored").join("tollgate.db");
        restore_backup(&backup, &restored_path).unwrap();
        let restored = SqliteStore::open(&restored_path).unwrap();
        assert_eq!(restored.schema_version().await.unwrap() as usize, MIGRATIONS.len());
        assert_eq!(restored.get_plan(&plan.id).await.unwrap(), Some(plan.clone()));
        assert_eq!(restored.get_plan(&later.id).await.unwrap(), None);

        // Restoring over an existing database (with its WAL) replaces it.
        drop(restored);
        let again = store.backup_into(&dir.join("backups"), at(2, 30, 0), 7).await.unwrap();
        assert_eq!(again.kept, 2);
        let again = again.path;
        assert_eq!(again.file_name().unwrap(), "tollgate-20261206T023000Z-2.db", "same second: a suffix");
        restore_backup(&again, &restored_path).unwrap();
        let restored = SqliteStore::open(&restored_path).unwrap();
        assert_eq!(restored.get_plan(&later.id).await.unwrap(), Some(later));
        drop((store, restored));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn keep_removes_the_oldest_backups_only() {
        let dir = temp_dir();
        let backups = dir.join("backups");
        std::fs::create_dir_all(&backups).unwrap();
        std::fs::write(backups.join("notes.txt"), "not a backup").unwrap();
        let store = SqliteStore::open_in_memory().unwrap();
        for (i, t) in [at(2, 30, 0), at(2, 30, 0), at(1, 0, 0), at(3, 0, 0)].into_iter().enumerate() {
            store.backup_into(&backups, t, 10).await.unwrap();
            assert_eq!(backups_in(&backups).len(), i + 1);
        }
        let newest = store.backup_into(&backups, at(4, 0, 0), 3).await.unwrap();
        assert_eq!(newest.kept, 3);
        let newest = newest.path;
        assert_eq!(
            backups_in(&backups),
            ["tollgate-20261206T023000Z-2.db", "tollgate-20261206T030000Z.db", "tollgate-20261206T040000Z.db"]
        );
        // keep 0 still keeps the backup just made.
        store.backup_into(&backups, at(5, 0, 0), 0).await.unwrap();
        assert_eq!(backups_in(&backups), ["tollgate-20261206T050000Z.db"]);
        assert!(!newest.exists());
        assert!(backups.join("notes.txt").exists(), "other files are left alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_bad_backup_is_refused_and_the_database_is_untouched() {
        let dir = temp_dir();
        let db = dir.join("tollgate.db");
        let store = SqliteStore::open(&db).unwrap();
        let plan = new_plan("Kept", 100, tollgate_store_contract::now_ms());
        store.create_plan(&plan).await.unwrap();
        drop(store);
        let before = std::fs::read(&db).unwrap();

        let not_a_db = dir.join("garbage.db");
        std::fs::write(&not_a_db, vec![7u8; 8192]).unwrap();
        let empty_sqlite = dir.join("empty.db");
        Connection::open(&empty_sqlite).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let newer = dir.join("newer.db");
        let c = Connection::open(&newer).unwrap();
        c.pragma_update(None, "user_version", MIGRATIONS.len() as u32 + 1).unwrap();
        drop(c);
        for bad in [&not_a_db, &empty_sqlite, &newer, &dir.join("missing.db")] {
            match restore_backup(bad, &db) {
                Err(StoreError::Corrupt(m)) => assert!(m.contains("not a usable backup"), "{m}"),
                other => panic!("{} should be refused, got {other:?}", bad.display()),
            }
            assert_eq!(std::fs::read(&db).unwrap(), before, "the database is unchanged");
        }
        let store = SqliteStore::open(&db).unwrap();
        assert_eq!(store.get_plan(&plan.id).await.unwrap(), Some(plan));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backup_names_order_by_time_then_suffix() {
        assert_eq!(backup_order("tollgate-20261206T023000Z.db"), Some(("20261206T023000Z".into(), 0)));
        assert_eq!(backup_order("tollgate-20261206T023000Z-12.db"), Some(("20261206T023000Z".into(), 12)));
        for other in ["tollgate.db", "tollgate-latest.db", "tollgate-20261206T023000Z.db-wal", ".tollgate-x.partial"] {
            assert_eq!(backup_order(other), None, "{other}");
        }
    }
}

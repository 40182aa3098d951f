//! Embedded adapters for the single-process server: every port backed by one SQLite file and
//! a data directory, so the platform runs with no cloud services.
//!
//! - [`SqliteStore`]: the `Store` ports (users, sessions, API keys, attempt counters, audit
//!   log, idempotency records, plans, subscriptions, endpoints, usage counters, usage logs
//!   and aggregates) in one SQLite database in WAL mode.
//! - [`OutboxMailer`]: the `Mailer` port, writing each message as a JSON file to an outbox folder.
//! - [`SqliteQueue`]: the `Queue` port as a durable table in the same SQLite file, with the
//!   receive / ack / retry / dead-letter side the in-process workers use.
//! - [`SqliteCallMeter`]: the `CallMeter` port on both: a call's counter increment and its
//!   usage event commit in one transaction, so a crash right after counting loses no event.
//! - [`LocalSecrets`]: the `Secrets` port, from the environment or generated once into the
//!   data directory.
//! - Backups: [`SqliteStore::backup_into`] (an online `VACUUM INTO` copy, the newest few
//!   kept) and [`restore_backup`] (checked, then swapped in atomically while the server is
//!   stopped).

mod backup;
mod mailer;
mod meter;
mod queue;
mod secrets;
mod sqlite;

pub use backup::{restore_backup, Backup};
pub use mailer::OutboxMailer;
pub use meter::{GroupCommitStats, SqliteCallMeter};
pub use queue::{DeadLetter, QueueStats, ReceivedMessage, RetryOutcome, SqliteQueue, DEFAULT_MAX_ATTEMPTS};
pub use secrets::LocalSecrets;
pub use sqlite::SqliteStore;

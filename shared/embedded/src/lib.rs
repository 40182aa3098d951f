//! Embedded adapters for the single-process server: every port backed by one SQLite file and
//! a data directory, so the platform runs with no cloud services.
//!
//! - [`SqliteStore`]: the `Store` ports (users, sessions, API keys, attempt counters, audit
//!   log, idempotency records) in one SQLite database in WAL mode.
//! - [`OutboxMailer`]: the `Mailer` port, writing each message as a JSON file to an outbox folder.
//! - [`LocalSecrets`]: the `Secrets` port, from the environment or generated once into the
//!   data directory.

mod mailer;
mod secrets;
mod sqlite;

pub use mailer::OutboxMailer;
pub use secrets::LocalSecrets;
pub use sqlite::SqliteStore;

//! The `tollgate` command line: serve (no arguments), or one command on the local data
//! directory (`DATA_DIR`, with the rest of the configuration from the environment as for
//! serving):
//!
//! - `tollgate job <name> [--at <RFC 3339 time>]`: runs a job once, by hand, as of `--at`
//!   (default now), and prints what it did as JSON. Exit status 1 if the run failed.
//! - `tollgate restore <backup file>`: replaces the database with a backup (the server must
//!   be stopped).

use crate::{platform_from_config, Config, ServerError};
use chrono::{DateTime, Utc};
use tollgate_app::jobs::{run_job, run_summary};
use tollgate_domain::{JobName, JobRunStatus, JobTrigger};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve the platform (no arguments).
    Serve,
    /// Run one job by hand.
    Job { job: JobName, at: Option<DateTime<Utc>> },
    /// Replace the database with a backup.
    Restore { file: std::path::PathBuf },
    /// Print the usage.
    Help,
}

/// The usage text.
pub const USAGE: &str = "usage:
  tollgate                                   serve the platform (configuration from the environment)
  tollgate job <name> [--at <RFC 3339 time>] run a job once on DATA_DIR and print what it did
  tollgate restore <backup file>             replace DATA_DIR's database with a backup (server stopped)

jobs: period-close, quota-alerts, dunning, retention, key-expiry, backup, webhook-retries";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] => Ok(Command::Serve),
        ["-h" | "--help" | "help"] => Ok(Command::Help),
        ["job", name, rest @ ..] => {
            let job = JobName::parse(name).ok_or_else(|| format!("unknown job {name:?}"))?;
            let at = match rest {
                [] => None,
                ["--at", t] => Some(
                    DateTime::parse_from_rfc3339(t)
                        .map_err(|e| format!("--at {t:?}: not an RFC 3339 time ({e})"))?
                        .with_timezone(&Utc),
                ),
                other => return Err(format!("unexpected arguments after the job name: {other:?}")),
            };
            Ok(Command::Job { job, at })
        }
        ["restore", file] => Ok(Command::Restore { file: file.into() }),
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Runs `job` on the configured data directory and prints its summary; Ok(false) if the
/// run failed.
pub async fn run_job_command(config: &Config, job: JobName, at: Option<DateTime<Utc>>) -> Result<bool, ServerError> {
    let platform = platform_from_config(config).await?;
    let ports = platform.state.jobs.clone().ok_or_else(|| ServerError::Config("jobs are not available".into()))?;
    let now = platform.state.now();
    let run = run_job(&ports, job, JobTrigger::Manual, at.unwrap_or(now), now)
        .await
        .map_err(|e| ServerError::Config(format!("job {job}: {e}")))?;
    println!("{}", serde_json::to_string_pretty(&run_summary(&run)).unwrap_or_default());
    Ok(run.status != JobRunStatus::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse(&args(&[])), Ok(Command::Serve));
        assert_eq!(parse(&args(&["job", "quota-alerts"])), Ok(Command::Job { job: JobName::QuotaAlerts, at: None }));
        let at = DateTime::parse_from_rfc3339("2027-01-01T00:00:01Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            parse(&args(&["job", "period-close", "--at", "2027-01-01T00:00:01Z"])),
            Ok(Command::Job { job: JobName::PeriodClose, at: Some(at) })
        );
        assert!(parse(&args(&["job", "nope"])).unwrap_err().contains("unknown job"));
        assert!(parse(&args(&["job", "backup", "--at", "tomorrow"])).unwrap_err().contains("RFC 3339"));
        assert_eq!(parse(&args(&["restore", "b.db"])), Ok(Command::Restore { file: "b.db".into() }));
        assert!(parse(&args(&["frobnicate"])).is_err());
    }
}

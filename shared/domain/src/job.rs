//! Scheduled jobs: their names, their schedules, and the record of each run.
//!
//! Every job is idempotent and safe to run late, twice or concurrently: the work it does
//! per item is guarded by its own conditional write (a period is closed once, an alert is
//! claimed once). On top of that, each scheduled run claims a [`JobRun`] record for its job
//! and slot (the hour or day it runs for), so a schedule that fires twice does the work once.

use crate::stored_enum::stored_enum;
use chrono::{DateTime, Datelike, Duration, DurationRound, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// A scheduled job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobName {
    /// Hourly: closes every organization's period that has ended (usage snapshot, metered
    /// units reported to the payment provider).
    PeriodClose,
    /// Hourly backstop of the gateway's quota alerts (80 % and 100 %).
    QuotaAlerts,
    /// Daily: reminders for past-due subscriptions, and the move to the Free plan's limits
    /// when the grace period ends.
    Dunning,
    /// Daily: removes what has outlived its retention (usage logs, sessions, one-time
    /// tokens, idempotency claims, job records).
    Retention,
    /// Daily: tells owners about API keys that expire within 7 days, once per key.
    KeyExpiry,
    /// Daily: an online backup of the embedded store (nothing to do on DynamoDB, which has
    /// point-in-time recovery and AWS Backup).
    Backup,
    /// Every minute: outbound webhook deliveries whose retry is due.
    WebhookRetries,
}

/// How often a job runs (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// At second 0 of every minute.
    EveryMinute,
    /// At this minute of every hour.
    Hourly { minute: u32 },
    /// At this time of every day.
    Daily { hour: u32, minute: u32 },
}

impl Schedule {
    /// The EventBridge Scheduler expression (`cron(minutes hours day-of-month month
    /// day-of-week year)`); `template.yaml` uses exactly these, and a test checks it.
    pub fn expression(self) -> String {
        match self {
            Schedule::EveryMinute => "rate(1 minute)".to_string(),
            Schedule::Hourly { minute } => format!("cron({minute} * * * ? *)"),
            Schedule::Daily { hour, minute } => format!("cron({minute} {hour} * * ? *)"),
        }
    }

    /// The first time after `t` (strictly) at which the schedule fires.
    pub fn next_after(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let minute_start = t.duration_trunc(Duration::minutes(1)).unwrap_or(t);
        match self {
            Schedule::EveryMinute => minute_start + Duration::minutes(1),
            Schedule::Hourly { minute } => {
                let hour_start = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
                let candidate = hour_start + Duration::minutes(i64::from(minute));
                if candidate > t {
                    candidate
                } else {
                    candidate + Duration::hours(1)
                }
            }
            Schedule::Daily { hour, minute } => {
                let day = Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0).single().unwrap_or(t);
                let candidate = day + Duration::hours(i64::from(hour)) + Duration::minutes(i64::from(minute));
                if candidate > t {
                    candidate
                } else {
                    candidate + Duration::days(1)
                }
            }
        }
    }

    /// The slot a run at `t` belongs to: the minute, hour or day, as text
    /// (`2026-12-06T10:05`, `2026-12-06T10`, `2026-12-06`). One scheduled run per slot.
    pub fn slot(self, t: DateTime<Utc>) -> String {
        match self {
            Schedule::EveryMinute => format!("{}T{:02}:{:02}", t.date_naive(), t.hour(), t.minute()),
            Schedule::Hourly { .. } => format!("{}T{:02}", t.date_naive(), t.hour()),
            Schedule::Daily { .. } => t.date_naive().to_string(),
        }
    }
}

impl JobName {
    /// Every job, in the order `GET /api/admin/jobs` lists them.
    pub const ALL: [JobName; 7] = [
        JobName::PeriodClose,
        JobName::QuotaAlerts,
        JobName::Dunning,
        JobName::Retention,
        JobName::KeyExpiry,
        JobName::Backup,
        JobName::WebhookRetries,
    ];

    /// The name used in URLs, events and the CLI (`period-close`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobName::PeriodClose => "period-close",
            JobName::QuotaAlerts => "quota-alerts",
            JobName::Dunning => "dunning",
            JobName::Retention => "retention",
            JobName::KeyExpiry => "key-expiry",
            JobName::Backup => "backup",
            JobName::WebhookRetries => "webhook-retries",
        }
    }

    /// The job of this name, if there is one.
    pub fn parse(name: &str) -> Option<JobName> {
        JobName::ALL.into_iter().find(|j| j.as_str() == name)
    }

    /// When it runs. Hourly jobs run a few minutes past the hour, daily ones in the quiet
    /// hours, spread out so they do not overlap.
    pub fn schedule(self) -> Schedule {
        match self {
            JobName::PeriodClose => Schedule::Hourly { minute: 5 },
            JobName::QuotaAlerts => Schedule::Hourly { minute: 15 },
            JobName::Dunning => Schedule::Daily { hour: 9, minute: 0 },
            JobName::Retention => Schedule::Daily { hour: 3, minute: 0 },
            JobName::KeyExpiry => Schedule::Daily { hour: 8, minute: 0 },
            JobName::Backup => Schedule::Daily { hour: 2, minute: 30 },
            JobName::WebhookRetries => Schedule::EveryMinute,
        }
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What set a run off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobTrigger {
    /// The scheduler (EventBridge Scheduler, or the local server's): one run per slot.
    Scheduled,
    /// An admin (`POST /api/admin/jobs/{name}/run`) or the CLI: runs whenever asked.
    Manual,
}

stored_enum!(JobTrigger { Scheduled => "scheduled", Manual => "manual" });

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobRunStatus {
    Running,
    Succeeded,
    Failed,
}

stored_enum!(JobRunStatus { Running => "running", Succeeded => "succeeded", Failed => "failed" });

/// One run of a job: claimed when it starts, completed when it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobRun {
    pub job: JobName,
    /// The slot of a scheduled run (see [`Schedule::slot`]); a manual run's own id
    /// (`manual-<time>-<random>`), so it never collides with another run.
    pub slot: String,
    pub trigger: JobTrigger,
    pub status: JobRunStatus,
    /// The time the run acted as of (the clock's time, or the CLI's `--at`).
    pub at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the run did (`{"alerts_sent": 1, ...}`), once finished.
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// The record may be removed after this.
    pub expires_at: DateTime<Utc>,
}

/// How long job records are kept.
pub const JOB_RUN_RETENTION_DAYS: i64 = 30;

/// A running run older than this is taken to have crashed: the next scheduled run of its
/// slot may take it over.
pub const JOB_RUN_STALE_AFTER_MINUTES: i64 = 15;

impl JobRun {
    /// A new run of `job` as of `at`, started at `started_at`.
    pub fn start(job: JobName, trigger: JobTrigger, at: DateTime<Utc>, started_at: DateTime<Utc>) -> JobRun {
        let slot = match trigger {
            JobTrigger::Scheduled => job.schedule().slot(at),
            JobTrigger::Manual => {
                format!("manual-{}-{}", started_at.format("%Y%m%dT%H%M%S%.3f"), crate::Id::generate("run").as_str())
            }
        };
        JobRun {
            job,
            slot,
            trigger,
            status: JobRunStatus::Running,
            at,
            started_at,
            finished_at: None,
            report: None,
            error: None,
            expires_at: started_at + Duration::days(JOB_RUN_RETENTION_DAYS),
        }
    }

    /// How long it took, once finished.
    pub fn duration_ms(&self) -> Option<i64> {
        self.finished_at.map(|f| (f - self.started_at).num_milliseconds())
    }

    /// How long it took (zero until finished, and for a run that did nothing).
    pub fn duration(&self) -> std::time::Duration {
        (self.finished_at.unwrap_or(self.started_at) - self.started_at).to_std().unwrap_or_default()
    }
}

/// Job runs, newest first.
#[derive(Debug, Clone, Default)]
pub struct JobRunQuery {
    /// Only this job's runs.
    pub job: Option<JobName>,
    /// At most this many (0 means 20; at most 100).
    pub limit: u32,
}

impl JobRunQuery {
    pub const PAGE: crate::PageLimits = crate::PageLimits { default: 20, max: 100 };
    pub fn page_size(&self) -> u32 {
        Self::PAGE.page_size(self.limit)
    }
}

/// What a retention pass removed (see `Housekeeping`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PruneReport {
    pub usage_logs: u64,
    pub usage_aggregates: u64,
    pub sessions: u64,
    pub action_tokens: u64,
    pub claims: u64,
    pub attempt_counters: u64,
    pub job_runs: u64,
    /// Whether the store removes expired items itself (DynamoDB TTL): then the counts are 0
    /// and the items go within a day or two of their expiry, reads skipping them meanwhile.
    pub by_ttl: bool,
}

impl PruneReport {
    /// The counts of each kind.
    fn counts(&self) -> [u64; 7] {
        [
            self.usage_logs,
            self.usage_aggregates,
            self.sessions,
            self.action_tokens,
            self.claims,
            self.attempt_counters,
            self.job_runs,
        ]
    }

    /// Adds another pass's counts to these.
    pub fn add(&mut self, other: &PruneReport) {
        self.usage_logs += other.usage_logs;
        self.usage_aggregates += other.usage_aggregates;
        self.sessions += other.sessions;
        self.action_tokens += other.action_tokens;
        self.claims += other.claims;
        self.attempt_counters += other.attempt_counters;
        self.job_runs += other.job_runs;
        self.by_ttl |= other.by_ttl;
    }

    /// The most items of one kind this pass removed: a pass that removed a full batch of
    /// some kind may have left more of it.
    pub fn most_of_one_kind(&self) -> u64 {
        self.counts().into_iter().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn names_round_trip() {
        for job in JobName::ALL {
            assert_eq!(JobName::parse(job.as_str()), Some(job));
            assert_eq!(serde_json::to_value(job).unwrap(), job.as_str());
        }
        assert_eq!(JobName::parse("nope"), None);
    }

    #[test]
    fn schedules_fire_when_they_say() {
        let hourly = Schedule::Hourly { minute: 5 };
        assert_eq!(hourly.next_after(t("2026-12-06T10:04:59Z")), t("2026-12-06T10:05:00Z"));
        assert_eq!(hourly.next_after(t("2026-12-06T10:05:00Z")), t("2026-12-06T11:05:00Z"));
        assert_eq!(hourly.expression(), "cron(5 * * * ? *)");
        let daily = Schedule::Daily { hour: 3, minute: 0 };
        assert_eq!(daily.next_after(t("2026-12-31T03:00:00Z")), t("2027-01-01T03:00:00Z"));
        assert_eq!(daily.next_after(t("2026-12-31T02:59:00Z")), t("2026-12-31T03:00:00Z"));
        assert_eq!(daily.expression(), "cron(0 3 * * ? *)");
        assert_eq!(Schedule::EveryMinute.next_after(t("2026-12-06T10:04:30Z")), t("2026-12-06T10:05:00Z"));
        assert_eq!(hourly.slot(t("2026-12-06T10:59:00Z")), "2026-12-06T10");
        assert_eq!(daily.slot(t("2026-12-06T10:59:00Z")), "2026-12-06");
    }

    #[test]
    fn manual_runs_have_slots_of_their_own() {
        let now = t("2026-12-06T10:00:00Z");
        let a = JobRun::start(JobName::QuotaAlerts, JobTrigger::Manual, now, now);
        let b = JobRun::start(JobName::QuotaAlerts, JobTrigger::Manual, now, now);
        assert_ne!(a.slot, b.slot);
        let s = JobRun::start(JobName::QuotaAlerts, JobTrigger::Scheduled, now, now);
        assert_eq!(s.slot, "2026-12-06T10");
    }
}

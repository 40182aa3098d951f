//! The scheduled jobs on the embedded store: a month boundary closed once however the runs
//! overlap, quota alerts exactly once whoever sees the crossing first, dunning and key
//! expiry notices once, every `events/schedule/` fixture through the scheduler's handler,
//! and the admin routes.

use crate::gateway::{put_on_plan, user_with_key};
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::time::Instant;
use tollgate_app::jobs::{run_job, run_summary, JobPorts};
use tollgate_domain::{AuditQuery, JobName, JobTrigger, SubscriptionStatus, UsageCharge, FREE_PLAN_ID};
use tollgate_tests::app::{gateway_request, TestApp};

fn ports(app: &TestApp) -> JobPorts {
    app.platform.state.jobs.clone().expect("the local platform runs jobs")
}

/// Runs `job` by hand as of `at` and returns its summary.
async fn run(app: &TestApp, job: JobName, at: DateTime<Utc>) -> Value {
    let run = run_job(&ports(app), job, JobTrigger::Manual, at, at).await.expect("job runs");
    run_summary(&run)
}

/// The mails of `kind` to `to` in the outbox, once at least `n` are there (5 s at most).
async fn mails(app: &TestApp, to: &str, kind: &str, n: usize) -> Vec<tollgate_domain::MailMessage> {
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found: Vec<_> = app.outbox().into_iter().filter(|m| m.kind == kind && m.to.as_str() == to).collect();
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{n} {kind} mail(s) to {to} after 5 s: {found:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn period_close_closes_the_month_once_however_the_runs_overlap() {
    let app = TestApp::new().await;
    // The last hours of this month (access tokens are checked against the wall clock, so the
    // test's clock goes forward, not back).
    let month = tollgate_domain::Period::containing(app.clock_now());
    let next = tollgate_domain::Period::containing(month.end);
    app.clock.set(month.end - Duration::hours(2));
    let (_, key, org) = user_with_key(&app, "close@example.com").await;
    for _ in 0..5 {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    // Before the month ends there is nothing of it to close (the month before is closed).
    let early = run(&app, JobName::PeriodClose, month.end - Duration::hours(1)).await;
    assert_ne!(early["period"], month.key.as_str());

    // The first second of next month: two runs at once (one scheduled, one by hand), then two more.
    let boundary = month.end + Duration::seconds(1);
    app.clock.set(boundary);
    let p = ports(&app);
    let (a, b) = tokio::join!(
        run_job(&p, JobName::PeriodClose, JobTrigger::Scheduled, boundary, boundary),
        run_job(&p, JobName::PeriodClose, JobTrigger::Manual, boundary, boundary),
    );
    let (a, b) = (run_summary(&a.unwrap()), run_summary(&b.unwrap()));
    let c = run(&app, JobName::PeriodClose, boundary + Duration::minutes(5)).await;
    let again = run_job(&p, JobName::PeriodClose, JobTrigger::Scheduled, boundary, boundary).await.unwrap();
    let again = run_summary(&again);
    assert_eq!(again["status"], "skipped", "a slot runs once: {again}");
    for s in [&a, &b, &c] {
        assert_eq!(s["status"], "succeeded", "{s}");
        assert_eq!(s["period"], month.key.as_str());
        assert_eq!(s["new_period"], next.key.as_str());
    }
    let closed: u64 = [&a, &b, &c].iter().map(|s| s["closed"].as_u64().unwrap()).sum();
    let before: u64 = [&a, &b, &c].iter().map(|s| s["already_closed"].as_u64().unwrap()).sum();
    assert_eq!((closed, before), (1, 2), "closed once: {a} {b} {c}");

    let store = app.state.store.as_ref();
    let snapshot = store.usage_snapshot(&org, &month.key).await.unwrap().expect("the month's snapshot");
    assert_eq!((snapshot.counted, snapshot.billable, snapshot.reported), (5, 0, 0));
    assert_eq!(snapshot.plan_id.as_str(), FREE_PLAN_ID);
    // The closed counter is still readable; the new period starts at zero.
    assert_eq!(store.usage(&org, &month.key).await.unwrap(), 5);
    assert_eq!(store.usage(&org, &next.key).await.unwrap(), 0);
    let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(store.usage(&org, &next.key).await.unwrap(), 1);
    assert_eq!(store.usage(&org, &month.key).await.unwrap(), 5, "the closed month stays frozen");
}

#[tokio::test]
async fn quota_alerts_go_out_once_whoever_sees_the_crossing_first() {
    let app = TestApp::new().await;
    let email = "backstop@example.com";
    let (_, key, org) = user_with_key(&app, email).await;
    put_on_plan(app.state.store.as_ref(), &org, |p| p.monthly_limit = Some(10)).await;
    // The gateway sees 80 %: the alert is in the outbox within 5 seconds.
    for _ in 0..8 {
        let r = app.send(gateway_request(Method::GET, "/api/v1/echo/x", Some(&key), None)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let warned = mails(&app, email, "quota.threshold_reached", 1).await;
    assert!(warned[0].text_body.contains("Used: 8 of 10 units (80.0%)"), "{}", warned[0].text_body);

    // The backstop by hand, through the admin route: nothing more to send.
    let admin = app.admin_token().await;
    let r = app.call(Method::POST, "/api/admin/jobs/quota-alerts/run", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["job"].as_str(), r.body["status"].as_str()), (Some("quota-alerts"), Some("succeeded")));
    assert_eq!(r.body["alerts_sent"], 0, "{:?}", r.body);

    // Usage reaches 100 % without the gateway noticing (counted elsewhere): the backstop
    // raises it, once.
    let now = app.clock_now();
    let period = tollgate_domain::Period::containing(now);
    let charge = UsageCharge {
        org_id: org.clone(),
        period: period.key.clone(),
        cost: 2,
        hard_limit: None,
        expires_at: period.end + Duration::days(400),
        rate: None,
    };
    app.state.store.charge(&charge).await.unwrap();
    let first = run(&app, JobName::QuotaAlerts, now).await;
    let second = run(&app, JobName::QuotaAlerts, now).await;
    assert_eq!((first["alerts_sent"].as_u64(), second["alerts_sent"].as_u64()), (Some(1), Some(0)));
    let exceeded = mails(&app, email, "quota.exceeded", 1).await;
    assert!(exceeded[0].text_body.contains("Used: 10 of 10 units (100.0%)"), "{}", exceeded[0].text_body);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let all: Vec<_> = app.outbox().into_iter().filter(|m| m.kind.starts_with("quota.")).map(|m| m.kind).collect();
    assert_eq!(all.len(), 2, "one mail per threshold: {all:?}");
}

#[tokio::test]
async fn dunning_reminds_on_its_days_and_ends_the_grace_period_once() {
    let app = TestApp::new().await;
    let email = "dunning@example.com";
    let (_, _, org) = user_with_key(&app, email).await;
    let store = app.state.store.as_ref();
    let mut sub = store.subscription_of_org(&org).await.unwrap().unwrap();
    let since = app.clock_now() - Duration::days(3) - Duration::hours(1);
    sub.status = SubscriptionStatus::PastDue;
    sub.billing.past_due_since = Some(since);
    store.update_subscription(&sub).await.unwrap();

    let now = app.clock_now();
    let first = run(&app, JobName::Dunning, now).await;
    assert_eq!((first["past_due"].as_u64(), first["reminders_sent"].as_u64()), (Some(1), Some(1)), "{first}");
    let same_day = run(&app, JobName::Dunning, now + Duration::hours(2)).await;
    assert_eq!(same_day["reminders_sent"], 0, "day 3's reminder goes once: {same_day}");
    let reminder = mails(&app, email, "dunning.reminder", 1).await;
    assert!(reminder[0].text_body.contains("past due for 3 days"), "{}", reminder[0].text_body);

    // A week later (the run on days 4 to 7 was missed): only the final notice goes.
    let late = run(&app, JobName::Dunning, since + Duration::days(8)).await;
    assert_eq!((late["reminders_sent"].as_u64(), late["final_notices"].as_u64()), (Some(0), Some(1)), "{late}");
    let again = run(&app, JobName::Dunning, since + Duration::days(9)).await;
    assert_eq!(again["final_notices"], 0);
    let all = mails(&app, email, "dunning.reminder", 2).await;
    assert!(all.iter().any(|m| m.text_body.contains("Free plan's limits apply")), "{all:?}");
    let audit = store.list_audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "billing.grace_period_ended").count(), 1);
    // And the Free plan's limits apply.
    let (_, plan) = tollgate_app::current_subscription(store, &org, since + Duration::days(8)).await.unwrap();
    assert_eq!(plan.id.as_str(), FREE_PLAN_ID);
}

#[tokio::test]
async fn key_expiry_tells_the_owner_once_per_key() {
    let app = TestApp::new().await;
    let email = "expiry@example.com";
    let (access, _) = app.user(email).await;
    let now = app.clock_now();
    let soon = (now + Duration::days(3)).to_rfc3339();
    let later = (now + Duration::days(30)).to_rfc3339();
    for (name, at) in [("soon", &soon), ("later", &later)] {
        let r = app
            .call(Method::POST, "/api/user/api-keys", Some(json!({"name": name, "expires_at": at})), Some(&access))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let first = run(&app, JobName::KeyExpiry, now).await;
    assert_eq!((first["keys_expiring"].as_u64(), first["notices_sent"].as_u64()), (Some(1), Some(1)), "{first}");
    let second = run(&app, JobName::KeyExpiry, now + Duration::days(1)).await;
    assert_eq!(second["notices_sent"], 0);
    let mail = mails(&app, email, "api_key.expiring", 1).await;
    assert!(mail[0].subject.contains("\"soon\""), "{}", mail[0].subject);
}

#[tokio::test]
async fn every_schedule_fixture_runs_through_the_scheduler_handler() {
    let app = TestApp::new().await;
    user_with_key(&app, "fixtures@example.com").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/schedule");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: scheduler::ScheduledJobEvent =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("a scheduler event");
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let now = app.clock_now();
        let summary =
            scheduler::handle(&ports(&app), &event, now, |_| {}).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((summary["job"].as_str(), summary["status"].as_str()), (Some(name.as_str()), Some("succeeded")));
        assert_eq!(summary["trigger"], "scheduled");
        // The schedule firing twice: the second invocation does nothing.
        let twice = scheduler::handle(&ports(&app), &event, now, |_| {}).await.unwrap();
        assert_eq!(twice["status"], "skipped", "{name}: {twice}");
        seen.push(name);
    }
    seen.sort();
    let mut all: Vec<String> = JobName::ALL.iter().map(|j| j.as_str().to_string()).collect();
    all.sort();
    assert_eq!(seen, all, "one fixture per job");
    let unknown = scheduler::ScheduledJobEvent { job: "nope".into(), at: None };
    assert!(matches!(
        scheduler::handle(&ports(&app), &unknown, app.clock_now(), |_| {}).await,
        Err(scheduler::SchedulerError::UnknownJob(_))
    ));
}

#[tokio::test]
async fn the_admin_routes_list_the_jobs_and_refuse_others() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user("notadmin@example.com").await;
    run(&app, JobName::Retention, app.clock_now()).await;
    let r = app.call(Method::GET, "/api/admin/jobs", None, Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let jobs = r.body["data"].as_array().unwrap();
    assert_eq!(jobs.len(), JobName::ALL.len());
    let retention = jobs.iter().find(|j| j["name"] == "retention").unwrap();
    assert_eq!(retention["schedule"], "cron(0 3 * * ? *)");
    assert_eq!(retention["last_run"]["status"], "succeeded", "{retention}");
    assert!(retention["last_run"]["finished_at"].is_string());
    assert!(jobs.iter().find(|j| j["name"] == "dunning").unwrap()["last_run"].is_null());

    // A run by hand is counted in the metrics (`GET /metrics`, the global registry).
    let counted = || {
        let text = tollgate_http::metrics::Registry::global().render();
        let labels = [("job", "key-expiry"), ("outcome", "succeeded")];
        tollgate_http::metrics::sample_value(&text, "tollgate_job_runs_total", &labels).unwrap_or(0.0)
    };
    let before = counted();
    let r = app.call(Method::POST, "/api/admin/jobs/key-expiry/run", None, Some(&admin)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::OK, Some("succeeded")), "{:?}", r.body);
    assert_eq!(counted(), before + 1.0);

    let r = app.call(Method::POST, "/api/admin/jobs/nope/run", None, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    for (method, path) in [(Method::GET, "/api/admin/jobs"), (Method::POST, "/api/admin/jobs/retention/run")] {
        let r = app.call(method.clone(), path, None, Some(&user)).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_required"), "{method} {path}");
        let r = app.call(method, path, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let audit = app.state.store.list_audit(&AuditQuery { limit: 50, ..Default::default() }).await.unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "job.run").count(),
        1,
        "the run by hand is audited; refused ones are not runs"
    );
}

#[test]
fn template_schedules_are_the_jobs_schedules() {
    let template = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
        .expect("template.yaml");
    for job in JobName::ALL {
        let input = format!("Input: '{{\"job\": \"{job}\"}}'");
        let at = template.find(&input).unwrap_or_else(|| panic!("no schedule runs {job}"));
        // The expression is the line before the timezone, just above the input.
        let before = &template[..at];
        let expression = before.lines().rev().find_map(|l| l.trim().strip_prefix("ScheduleExpression: ")).unwrap();
        assert_eq!(expression, job.schedule().expression(), "{job}");
    }
}

#[tokio::test]
async fn the_backup_job_writes_a_copy_that_restores_with_the_same_data() {
    let app = TestApp::new().await;
    app.user("kept@example.com").await;
    let now = app.clock_now();
    let first = run(&app, JobName::Backup, now).await;
    let second = run(&app, JobName::Backup, now + Duration::seconds(1)).await;
    assert_eq!((first["status"].as_str(), second["kept"].as_u64()), (Some("succeeded"), Some(2)), "{first} {second}");
    let file = std::path::PathBuf::from(second["file"].as_str().unwrap());
    assert!(file.starts_with(app.dir.0.join(tollgate_local::BACKUPS_DIR)), "{file:?}");

    // Restore into another data directory, open it: the same data.
    let restored = tollgate_tests::app::TempDir::new("restored");
    let db = restored.0.join(tollgate_local::DB_FILE);
    tollgate_embedded::restore_backup(&file, &db).expect("restore");
    let store = tollgate_embedded::SqliteStore::open(&db).unwrap();
    let email = tollgate_domain::Email::parse("kept@example.com").unwrap();
    use tollgate_domain::UserRepository;
    assert!(store.find_user_by_email(&email).await.unwrap().is_some(), "the user is in the restored store");
    // A file that is not a backup is refused and changes nothing.
    let junk = restored.0.join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    assert!(tollgate_embedded::restore_backup(&junk, &db).is_err());
    assert!(store.find_user_by_email(&email).await.unwrap().is_some());
}

#[tokio::test]
async fn retention_removes_what_has_expired_in_batches() {
    let app = TestApp::new().await;
    let store = app.state.store.as_ref();
    let now = app.clock_now();
    for i in 0..3 {
        let key = format!("old-{i}");
        assert!(store.claim("retention_test", &key, now - Duration::days(2), now - Duration::days(1)).await.unwrap());
    }
    assert!(store.claim("retention_test", "live", now, now + Duration::days(1)).await.unwrap());
    let report = run(&app, JobName::Retention, now).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert!(report["removed"]["claims"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["removed"]["by_ttl"], false);
    assert!(store.is_claimed("retention_test", "live", now).await.unwrap(), "live claims stay");
    let again = run(&app, JobName::Retention, now).await;
    assert_eq!(again["removed"]["claims"], 0, "{again}");
}

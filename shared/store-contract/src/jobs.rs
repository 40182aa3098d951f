//! Cases for `JobRunRepository`, the period close of `UsageReportRepository`,
//! `SubscriptionRepository::subscriptions_page` and `Housekeeping`: what the scheduled jobs
//! need from a store.

use crate::{concurrently, new_action_token, new_event, new_family, new_subscription, now_ms, unique, SharedStore};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use tollgate_domain::id::prefix;
use tollgate_domain::{
    ActionTokenKind, Id, JobName, JobRun, JobRunQuery, JobRunStatus, JobTrigger, PeriodKey, StoreError,
    SubscriptionQuery, UsageLogQuery, UsageSnapshot, JOB_RUN_STALE_AFTER_MINUTES,
};

/// A new running run of `job` started at `started_at` (not stored yet), in a slot of its own
/// so runs of other cases never collide with it.
pub fn new_job_run(job: JobName, started_at: DateTime<Utc>) -> JobRun {
    JobRun { slot: unique("slot"), ..JobRun::start(job, JobTrigger::Scheduled, started_at, started_at) }
}

/// The newest runs (of `job`, or of every job), at most `limit`.
async fn runs(store: &SharedStore, job: Option<JobName>, limit: u32) -> Vec<JobRun> {
    store.list_job_runs(&JobRunQuery { job, limit }).await.unwrap()
}

/// The stored run of `run`'s job and slot, looked up among the newest runs of its job (the
/// cases start their runs years ahead, so theirs are the newest).
async fn stored_run(store: &SharedStore, run: &JobRun) -> Option<JobRun> {
    runs(store, Some(run.job), 100).await.into_iter().find(|r| r.slot == run.slot)
}

pub async fn job_run_claim_is_exact_under_concurrency(store: &SharedStore) {
    // Years ahead: newer than any run another case or an earlier run left in the store.
    let t0 = now_ms() + Duration::days(3650);
    let stale_before = t0 - Duration::minutes(JOB_RUN_STALE_AFTER_MINUTES);
    let run = new_job_run(JobName::QuotaAlerts, t0);
    let shared = run.clone();
    let results = concurrently(store, move |s, i| {
        let mine = JobRun { started_at: shared.started_at + Duration::milliseconds(i as i64), ..shared.clone() };
        async move { s.claim_job_run(&mine, stale_before).await.unwrap() }
    })
    .await;
    assert_eq!(results.iter().filter(|&&won| won).count(), 1, "exactly one concurrent claim of a slot wins");
    let winner = results.iter().position(|&w| w).unwrap() as i64;
    let claimed = stored_run(store, &run).await.expect("the claim is stored");
    assert_eq!(claimed.status, JobRunStatus::Running);
    assert_eq!(claimed.started_at, t0 + Duration::milliseconds(winner), "the winner's claim is stored");

    // Finishing writes status, finished_at, report and error over the claim.
    let done = JobRun {
        status: JobRunStatus::Succeeded,
        finished_at: Some(claimed.started_at + Duration::seconds(2)),
        report: Some(serde_json::json!({"alerts_sent": 3, "orgs": ["a", "b"]})),
        ..claimed.clone()
    };
    store.finish_job_run(&done).await.unwrap();
    assert_eq!(stored_run(store, &run).await, Some(done.clone()), "the finished run round-trips");
    let much_later = t0 + Duration::days(1);
    let retry = JobRun { started_at: much_later, ..run.clone() };
    assert!(!store.claim_job_run(&retry, much_later).await.unwrap(), "a finished run is never claimed again");
    assert_eq!(stored_run(store, &run).await, Some(done), "and stays as it was");

    // A running claim: fresh, it holds; once stale (started before `stale_before`), the
    // next claim takes it over.
    let running = new_job_run(JobName::Dunning, t0);
    assert!(store.claim_job_run(&running, t0 - Duration::minutes(15)).await.unwrap());
    let next = JobRun { started_at: t0 + Duration::minutes(5), ..running.clone() };
    assert!(!store.claim_job_run(&next, t0).await.unwrap(), "a running claim started at `stale_before` holds");
    assert_eq!(stored_run(store, &running).await, Some(running.clone()));
    let takeover = JobRun { started_at: t0 + Duration::minutes(20), ..running.clone() };
    assert!(
        store.claim_job_run(&takeover, t0 + Duration::milliseconds(1)).await.unwrap(),
        "a running claim started before `stale_before` is taken over"
    );
    assert_eq!(stored_run(store, &running).await, Some(takeover.clone()), "the new claim replaced it");

    let failed = JobRun {
        status: JobRunStatus::Failed,
        finished_at: Some(takeover.started_at + Duration::milliseconds(1500)),
        error: Some("upstream said no".into()),
        ..takeover
    };
    store.finish_job_run(&failed).await.unwrap();
    assert_eq!(stored_run(store, &running).await, Some(failed), "a failed run round-trips its error");

    let unknown = new_job_run(JobName::Dunning, t0);
    let result = store.finish_job_run(&unknown).await;
    assert!(matches!(result, Err(StoreError::NotFound("job run"))), "finishing an unknown run: {result:?}");
}

pub async fn job_runs_list_newest_first_and_by_job(store: &SharedStore) {
    // Further ahead than the claim case: these are the newest runs in the store.
    let base = now_ms() + Duration::days(7300);
    let at = |s: i64| base + Duration::seconds(s);
    let mut stored = Vec::new();
    for (job, s) in [
        (JobName::KeyExpiry, 2),
        (JobName::Retention, 1),
        (JobName::Retention, 5),
        (JobName::KeyExpiry, 4),
        (JobName::Retention, 3),
    ] {
        let run = new_job_run(job, at(s));
        assert!(store.claim_job_run(&run, at(s) - Duration::minutes(15)).await.unwrap());
        stored.push(run);
    }
    let [k2, r1, r5, k4, r3] = <[JobRun; 5]>::try_from(stored).unwrap();

    assert_eq!(
        runs(store, None, 4).await,
        vec![r5.clone(), k4.clone(), r3.clone(), k2.clone()],
        "newest first, every job"
    );
    assert_eq!(runs(store, Some(JobName::Retention), 2).await, vec![r5.clone(), r3.clone()], "one job's, limited");
    let retention = runs(store, Some(JobName::Retention), 0).await;
    assert_eq!(retention[..3], [r5, r3, r1], "0 is the default page, newest first");
    assert!(retention.iter().all(|r| r.job == JobName::Retention), "only that job's runs");
    let key_expiry = runs(store, Some(JobName::KeyExpiry), 10).await;
    assert_eq!(key_expiry[..2], [k4, k2]);
    assert!(runs(store, None, 1000).await.len() <= JobRunQuery::PAGE.max as usize, "the page size is capped");
}

pub async fn usage_period_closes_once_under_concurrency(store: &SharedStore) {
    let now = now_ms();
    let org = Id::generate(prefix::ORG);
    let period = PeriodKey::from_string(unique("period"));
    let snapshot = |i: u64| UsageSnapshot {
        org_id: org.clone(),
        period: period.clone(),
        plan_id: Id::from_string(format!("plan_{i}")),
        counted: 1000 + i,
        billable: 900 + i,
        reported: 800 + i,
        closed_at: now + Duration::milliseconds(i as i64),
    };
    let results = concurrently(store, {
        let snapshots: Vec<UsageSnapshot> = (0..crate::CONCURRENT_TASKS as u64).map(snapshot).collect();
        move |s, i| {
            let mine = snapshots[i].clone();
            async move { s.close_usage_period(&mine).await.unwrap() }
        }
    })
    .await;
    assert_eq!(results.iter().filter(|&&closed| closed).count(), 1, "exactly one concurrent close stores a snapshot");
    let winner = results.iter().position(|&w| w).unwrap() as u64;
    assert_eq!(store.usage_snapshot(&org, &period).await.unwrap(), Some(snapshot(winner)), "the winner's snapshot");

    let late = UsageSnapshot { counted: 5, closed_at: now + Duration::hours(1), ..snapshot(99) };
    assert!(!store.close_usage_period(&late).await.unwrap(), "a closed period does not close again");
    assert_eq!(store.usage_snapshot(&org, &period).await.unwrap(), Some(snapshot(winner)), "and keeps its snapshot");

    let other_org = Id::generate(prefix::ORG);
    assert_eq!(store.usage_snapshot(&other_org, &period).await.unwrap(), None, "another org's period is open");
    let other_period = PeriodKey::from_string(unique("period"));
    assert_eq!(store.usage_snapshot(&org, &other_period).await.unwrap(), None, "another period is open");
    let theirs = UsageSnapshot { org_id: other_org.clone(), ..snapshot(7) };
    assert!(store.close_usage_period(&theirs).await.unwrap(), "periods close per organization");
    assert_eq!(store.usage_snapshot(&other_org, &period).await.unwrap(), Some(theirs));
}

pub async fn subscriptions_page_walks_every_subscription(store: &SharedStore) {
    let now = now_ms();
    // A plan of this case only: the walk sees no other case's subscriptions.
    let plan = Id::generate("plan");
    let mut subs = Vec::new();
    for i in 0..25 {
        // Five subscriptions per creation time: the order must break ties.
        let sub = new_subscription(&Id::generate(prefix::ORG), &plan, now + Duration::seconds(i / 5));
        subs.push(store.ensure_subscription(&sub).await.unwrap());
    }
    let other = store
        .ensure_subscription(&new_subscription(&Id::generate(prefix::ORG), &Id::generate("plan"), now))
        .await
        .unwrap();

    let query = |org_id: Option<&Id>, plan_id: Option<&Id>, cursor: Option<String>| SubscriptionQuery {
        org_id: org_id.cloned(),
        plan_id: plan_id.cloned(),
        limit: 7,
        cursor,
    };
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = store.subscriptions_page(&query(None, Some(&plan), cursor.take())).await.unwrap();
        sizes.push(page.len());
        seen.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(sizes.len() <= 10, "the walk ends");
    }
    assert_eq!(sizes, [7, 7, 7, 4], "full pages of 7, no cursor after the last");
    let ids: HashSet<&Id> = seen.iter().map(|s| &s.id).collect();
    assert_eq!(ids.len(), seen.len(), "no subscription is repeated");
    assert_eq!(ids, subs.iter().map(|s| &s.id).collect(), "every subscription of the plan is seen");
    assert!(seen.iter().all(|s| subs.contains(s)), "as stored");

    let (mine, next) = store.subscriptions_page(&query(Some(&subs[3].org_id), None, None)).await.unwrap();
    assert_eq!((mine, next), (vec![subs[3].clone()], None), "the org filter");
    let (theirs, _) = store.subscriptions_page(&query(Some(&other.org_id), Some(&plan), None)).await.unwrap();
    assert!(theirs.is_empty(), "the org filter and the plan filter together");
    let (all, _) =
        store.subscriptions_page(&SubscriptionQuery { limit: 1000, ..query(None, None, None) }).await.unwrap();
    assert!(all.contains(&other) && all.contains(&subs[24]), "no filter: every plan's");

    for garbage in ["not a cursor", "", "12:", "2026-01-01T00:00:00Z"] {
        let bad = store.subscriptions_page(&query(None, Some(&plan), Some(garbage.into()))).await;
        assert!(matches!(bad, Err(StoreError::InvalidCursor)), "cursor {garbage:?}: {bad:?}");
    }
}

pub async fn prune_expired_removes_only_expired(store: &SharedStore) {
    let now = now_ms();
    let (past, future) = (now - Duration::hours(1), now + Duration::hours(1));
    let before_expiry = now - Duration::hours(2);

    let scope = unique("prune");
    let (expired_key, expired_key2, live_key) = (unique("req"), unique("req"), unique("req"));
    assert!(store.claim(&scope, &expired_key, before_expiry, past).await.unwrap());
    assert!(store.claim(&scope, &expired_key2, before_expiry, past).await.unwrap());
    assert!(store.claim(&scope, &live_key, now, future).await.unwrap());

    let expired_token = new_action_token(ActionTokenKind::VerifyEmail, before_expiry, Duration::hours(1));
    let live_token = new_action_token(ActionTokenKind::VerifyEmail, now, Duration::hours(1));
    let used_token = new_action_token(ActionTokenKind::ResetPassword, now, Duration::hours(1));
    for t in [&expired_token, &live_token, &used_token] {
        store.create_action_token(t).await.unwrap();
    }
    assert!(store.consume_action_token(&used_token.hash, used_token.kind, now).await.unwrap().is_some());

    let org = Id::generate(prefix::ORG);
    let (key, ep) = (Id::generate(prefix::API_KEY), Id::generate("ep"));
    let old_event = new_event(&org, &key, &ep, before_expiry);
    let live_event = new_event(&org, &key, &ep, now);
    assert!(store.record_usage(&old_event, past).await.unwrap());
    assert!(store.record_usage(&live_event, future).await.unwrap());

    // The live counter first: adding to one removes some expired ones on the way.
    let bucket = unique("login");
    assert_eq!(store.add_attempt(&bucket, now, future).await.unwrap(), 1);
    assert_eq!(store.add_attempt(&bucket, before_expiry, past).await.unwrap(), 1);

    let user = Id::generate(prefix::USER);
    let (old_family, mut old_first) = new_family(&user, now - Duration::days(31));
    old_first.expires_at = past;
    store.create_family(&old_family, &old_first).await.unwrap();
    let (live_family, live_first) = new_family(&user, now);
    store.create_family(&live_family, &live_first).await.unwrap();

    let old_run = JobRun { expires_at: past, ..new_job_run(JobName::Retention, now - Duration::days(31)) };
    let live_run = new_job_run(JobName::Retention, now);
    for run in [&old_run, &live_run] {
        assert!(store.claim_job_run(run, run.started_at - Duration::minutes(15)).await.unwrap());
        let done = JobRun { status: JobRunStatus::Succeeded, finished_at: Some(run.started_at), ..run.clone() };
        store.finish_job_run(&done).await.unwrap();
    }

    let first = store.prune_expired(now, 1).await.unwrap();
    if first.by_ttl {
        // The store's TTL removes them later; meanwhile every read already skips them.
        assert_eq!(first, tollgate_domain::PruneReport { by_ttl: true, ..Default::default() });
        assert!(!store.is_claimed(&scope, &expired_key, now).await.unwrap());
        assert!(store.is_claimed(&scope, &live_key, now).await.unwrap());
        assert_eq!(store.consume_action_token(&expired_token.hash, expired_token.kind, now).await.unwrap(), None);
        let q = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };
        assert_eq!(store.query_usage(&q, now).await.unwrap().0, vec![live_event]);
        return;
    }

    // At most one per kind with a batch of 1; then passes until no kind fills its batch.
    for (kind, n) in [
        ("usage_logs", first.usage_logs),
        ("usage_aggregates", first.usage_aggregates),
        ("sessions", first.sessions),
        ("action_tokens", first.action_tokens),
        ("claims", first.claims),
        ("attempt_counters", first.attempt_counters),
        ("job_runs", first.job_runs),
    ] {
        assert!(n <= 1, "{kind}: a pass removes at most `batch`, got {n}");
    }
    assert_eq!(first.claims, 1, "two claims expired, one went");
    let mut total = first;
    loop {
        let pass = store.prune_expired(now, 100).await.unwrap();
        total.usage_logs += pass.usage_logs;
        total.usage_aggregates += pass.usage_aggregates;
        total.sessions += pass.sessions;
        total.action_tokens += pass.action_tokens;
        total.claims += pass.claims;
        total.attempt_counters += pass.attempt_counters;
        total.job_runs += pass.job_runs;
        let counts =
            [pass.usage_logs, pass.sessions, pass.action_tokens, pass.claims, pass.attempt_counters, pass.job_runs];
        if counts.iter().all(|&n| n < 100) {
            break;
        }
    }
    // At least this case's (a shared store may hold other expired items).
    assert!(total.usage_logs >= 1, "{total:?}");
    assert!(total.sessions >= 1, "{total:?}");
    assert!(total.action_tokens >= 2, "the expired and the used token: {total:?}");
    assert!(total.claims >= 2, "{total:?}");
    assert!(total.attempt_counters >= 1, "{total:?}");
    assert!(total.job_runs >= 1, "{total:?}");
    assert_eq!(store.prune_expired(now, 100).await.unwrap(), Default::default(), "nothing expired is left");

    // The expired ones are gone: reads as of before their expiry no longer find them.
    assert!(!store.is_claimed(&scope, &expired_key, before_expiry).await.unwrap(), "expired claim removed");
    assert!(store.is_claimed(&scope, &live_key, now).await.unwrap(), "live claim kept");
    let expired_consume = store.consume_action_token(&expired_token.hash, expired_token.kind, before_expiry);
    assert_eq!(expired_consume.await.unwrap(), None, "expired action token removed");
    let q = UsageLogQuery { org_id: Some(org.clone()), ..Default::default() };
    assert_eq!(store.query_usage(&q, before_expiry).await.unwrap().0, vec![live_event], "expired entry removed");
    assert_eq!(store.attempts(&bucket, before_expiry).await.unwrap(), 0, "expired counter removed");
    assert_eq!(store.attempts(&bucket, now).await.unwrap(), 1, "live counter kept");
    assert_eq!(store.find_refresh_token(&old_first.hash).await.unwrap(), None, "expired token removed");
    let live = store.find_refresh_token(&live_first.hash).await.unwrap();
    assert_eq!(live, Some((live_first, live_family)), "live session kept");
    assert_eq!(stored_run(store, &old_run).await, None, "expired job run removed");
    assert!(stored_run(store, &live_run).await.is_some(), "live job run kept");
    let live_consume = store.consume_action_token(&live_token.hash, live_token.kind, now).await.unwrap();
    assert_eq!(live_consume, Some(live_token), "live action token kept");
}

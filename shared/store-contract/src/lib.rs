//! The contract every `tollgate_domain::Store` implementation must meet, as one test suite.
//!
//! The SQLite and DynamoDB adapters both run every case, one test each
//! ([`store_contract_tests!`]); a behaviour either adapter needs to get right belongs here
//! rather than in adapter-specific tests. Each case creates its own data with fresh random
//! ids and emails, so cases could share one store (and a store may hold data from earlier
//! runs); the tests give each case a fresh one.
//!
//! Times: every case works with a `now` truncated to milliseconds, the precision stores keep.
//! The suite stays small (a few hundred store calls) because emulators are slow; only the
//! concurrency cases fan out, with 20 tasks each, except the quota case
//! ([`CONCURRENT_QUOTA_TASKS`] adds on one counter) and the rate-window case (60 charges on
//! two windows of one counter).

mod api_keys;
mod billing;
mod catalog;
mod jobs;
mod management_tokens;
mod metering;
mod metrics;
mod mfa;
mod misc;
mod notification_settings;
mod organizations;
mod projects;
mod sessions;
mod users;
mod webhooks;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use tollgate_domain::Store;

pub use api_keys::*;
pub use billing::*;
pub use catalog::*;
pub use jobs::*;
pub use management_tokens::*;
pub use metering::*;
pub use metrics::*;
pub use mfa::*;
pub use misc::*;
pub use notification_settings::*;
pub use organizations::*;
pub use projects::*;
pub use sessions::*;
pub use users::*;
pub use webhooks::*;

/// The store under test, shareable with spawned tasks.
pub type SharedStore = Arc<dyn Store>;

/// How many tasks the concurrency cases start at once.
pub const CONCURRENT_TASKS: usize = 20;

/// One `#[tokio::test]` per contract case, each named after its case and run on a fresh
/// store, so one failure hides no other and a case runs alone by name (`cargo test
/// user_create_and_read_back`). `$fixture` is an expression evaluating to a future of
/// `(SharedStore, keep)`: the store for one case and whatever must live until the case ends
/// (a temporary directory, an emulator), dropped after it.
///
/// ```ignore
/// tollgate_store_contract::store_contract_tests!(async { (fresh_store(), ()) });
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($fixture:expr) => {
        $crate::store_contract_tests! { @cases ($fixture)
            // Needs a store without an admin: every case gets a fresh one.
            admin_exists_tracks_live_admins,
            user_create_and_read_back,
            duplicate_email_is_rejected_with_nothing_written,
            update_user_round_trips_mutable_fields,
            soft_delete_hides_user_and_releases_email,
            users_page_filters_sorts_and_pages,
            organization_create_rename_and_list_members,
            set_member_role_keeps_an_owner,
            remove_member_keeps_an_owner,
            owners_demoting_each_other_concurrently_keep_one,
            invitations_create_list_get_delete,
            accept_invitation_works_once,
            delete_organization_removes_members_and_invitations_and_revokes_keys,
            refresh_family_create_find_rotate,
            refresh_rotation_is_atomic_under_concurrency,
            revoke_family_is_idempotent,
            revoke_user_families_keeps_one,
            action_tokens_are_single_use,
            action_token_consumed_once_under_concurrency,
            projects_create_list_get_update_with_tenant_isolation,
            project_limit_counts_the_organizations_projects,
            project_limit_is_exact_under_concurrency,
            ensure_project_keeps_the_first_and_ignores_the_limit,
            ensure_project_is_exact_under_concurrency,
            delete_project_revokes_its_keys,
            find_project_by_verify_secret,
            api_keys_create_list_get_with_tenant_isolation,
            api_key_limit_counts_only_usable_keys,
            api_key_limit_is_exact_under_concurrency,
            api_key_find_by_hash_and_revoke,
            api_key_rotation_with_grace_period,
            revoke_all_api_keys_counts,
            mark_api_key_used_moves_forward_only,
            api_key_scopes_round_trip_through_every_read,
            attempt_counters_by_bucket_and_window,
            attempt_counter_is_exact_under_concurrency,
            audit_log_lists_newest_first_with_filters,
            audit_page_filters_by_actor_action_resource_target_and_time,
            audit_page_cursor_walks_ties_once,
            idempotency_claims,
            idempotency_claim_is_exact_under_concurrency,
            plans_create_get_update_round_trip,
            plans_list_cheapest_first_ties_by_name,
            delete_plan_only_when_unused,
            subscription_ensure_keeps_the_first,
            subscription_ensure_is_exact_under_concurrency,
            subscriptions_list_filters_and_update,
            revenue_ledger_records_subscription_changes,
            endpoints_crud_with_unique_method_and_path,
            endpoints_list_by_path_then_method,
            endpoint_scope_round_trips_and_clears,
            usage_counter_adds_up_to_the_hard_limit,
            usage_counter_is_exact_under_concurrency,
            usage_charge_with_a_rate_window,
            usage_rate_window_is_exact_under_concurrency,
            usage_record_batch_dedupes_and_merges_aggregates,
            usage_record_once_with_hourly_and_daily_aggregates,
            metrics_rollup_counts_signups_per_day,
            metrics_rollup_follows_recorded_usage_once,
            usage_query_filters,
            usage_query_pages_with_a_cursor,
            usage_query_skips_expired_entries,
            invoices_upsert_never_moves_backwards,
            invoices_list_newest_first_by_org_and_status_with_a_cursor,
            usage_reports_begin_and_finish_exactly_once,
            usage_report_begin_is_exact_under_concurrency,
            webhooks_create_list_get_update_delete_with_tenant_isolation,
            webhook_limit_counts_and_frees_on_delete,
            webhook_limit_is_exact_under_concurrency,
            webhook_deliveries_are_idempotent_and_listed_newest_first,
            webhook_deliveries_due_and_conditional_attempts,
            notification_settings_round_trip_overwrite_and_tenant_isolation,
            management_tokens_create_find_list_revoke,
            mfa_enroll_confirm_and_delete,
            mfa_steps_only_move_forward_and_recovery_codes_work_once,
            mfa_step_and_recovery_code_are_exact_under_concurrency,
            job_run_claim_is_exact_under_concurrency,
            job_runs_list_newest_first_and_by_job,
            usage_period_closes_once_under_concurrency,
            subscriptions_page_walks_every_subscription,
            prune_expired_removes_only_expired,
        }
    };
    (@cases ($fixture:expr) $($case:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _keep): ($crate::SharedStore, _) = $fixture.await;
                $crate::$case(&store).await;
            }
        )*
    };
}

/// The current time at millisecond precision (what stores keep).
pub fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("current time in range")
}

/// A random lower-case suffix for names, emails and buckets.
pub(crate) fn unique(tag: &str) -> String {
    format!("{tag}-{}", tollgate_domain::id::random_base62(12).to_lowercase())
}

/// Runs `make(i)` for `i in 0..CONCURRENT_TASKS` on spawned tasks, all released at once, and
/// returns the results in task order.
pub(crate) async fn concurrently<T, F, Fut>(store: &SharedStore, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(SharedStore, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    concurrently_n(store, CONCURRENT_TASKS, make).await
}

/// Runs `make(i)` for `i in 0..tasks` on spawned tasks, all released at once, and returns
/// the results in task order.
pub(crate) async fn concurrently_n<T, F, Fut>(store: &SharedStore, tasks: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(SharedStore, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let fut = make(Arc::clone(store), i);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("contract task panicked"));
    }
    out
}

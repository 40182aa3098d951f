//! Billing use cases: plans at the payment provider, upgrades and downgrades, and applying
//! the provider's state (from webhooks) to our subscriptions and billing records.
//!
//! Rules that hold throughout:
//! - Our subscription changes only from the provider's own state, read back from it (a
//!   webhook names the object, we fetch it): never on a browser's redirect, and the order in
//!   which webhooks arrive does not matter, since each applies the latest state.
//! - A downgrade takes effect at the end of the paid period: the provider's subscription
//!   moves to the cheaper prices at once without proration (so the next invoice is the
//!   cheaper one) and records the plan paid for and until when (`PlanHold`, in its
//!   metadata); our plan follows the hold until the provider's period rolls over.
//! - Money is integer minor units with a currency, as the plans hold it.

use crate::{current_subscription, AppError, BillingRefusal};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_domain::{
    AuditEvent, BillingType, Id, Notification, PaymentFailed, Payments, Period, PeriodKey, Plan, PlanBillingIds,
    PlanHold, PlanStatus, ProviderSubscription, ProviderSubscriptionStatus, Queue, QueueName, Store, Subscription,
    SubscriptionChanged, SubscriptionCheckout, SubscriptionStatus, TrialEnding, FREE_PLAN_ID,
};

/// Idempotency scope of processed Stripe events.
pub const STRIPE_EVENT_SCOPE: &str = "stripe_event";
/// How long a processed event's id is remembered (Stripe retries for up to 3 days).
pub const STRIPE_EVENT_MEMORY_DAYS: i64 = 30;

/// Whether a plan is sold through the payment provider (anything that can cost money).
pub fn is_paid(plan: &Plan) -> bool {
    plan.price > 0 || plan.billing_type != BillingType::Subscription
}

/// After an admin created or changed a plan: creates or updates its product and prices at
/// the provider and stores their ids on the plan; archives them for an archived plan. Free
/// plans have nothing at the provider. Returns the plan as stored.
pub async fn sync_plan(store: &dyn Store, payments: &dyn Payments, plan: Plan) -> Result<Plan, AppError> {
    if !is_paid(&plan) && plan.billing.is_none() {
        return Ok(plan);
    }
    if plan.status == PlanStatus::Archived {
        if let Some(ids) = &plan.billing {
            payments.archive_plan(ids).await?;
        }
        return Ok(plan);
    }
    let ids = payments.sync_plan(&plan).await?;
    if plan.billing.as_ref() == Some(&ids) {
        return Ok(plan);
    }
    let plan = Plan { billing: Some(ids), ..plan };
    store.update_plan(&plan).await?;
    Ok(plan)
}

/// The plan whose provider prices include one of `price_ids`.
async fn plan_of_prices(store: &dyn Store, price_ids: &[String]) -> Result<Option<Plan>, AppError> {
    let plans = store.list_plans().await?;
    Ok(plans
        .into_iter()
        .find(|p| p.billing.as_ref().is_some_and(|ids| ids.price_ids().any(|id| price_ids.iter().any(|x| x == id)))))
}

/// The organization's customer at the provider, created on its first paid action and kept
/// on its subscription.
pub async fn ensure_customer(
    store: &dyn Store,
    payments: &dyn Payments,
    org_id: &Id,
    user_id: &Id,
    now: DateTime<Utc>,
) -> Result<(Subscription, String), AppError> {
    let (sub, _) = current_subscription(store, org_id, now).await?;
    if let Some(customer) = sub.billing.customer_id.clone() {
        return Ok((sub, customer));
    }
    let user = store.get_user(user_id).await?.ok_or(tollgate_domain::StoreError::NotFound("user"))?;
    let name = match store.get_organization(org_id).await? {
        Some(org) => org.name,
        None => format!("{} {}", user.first_name, user.last_name),
    };
    // Idempotent at the provider (keyed by the organization): a race makes one customer.
    let customer = payments.ensure_customer(org_id, user.email.as_str(), &name).await?;
    let mut sub = sub;
    sub.billing.customer_id = Some(customer.clone());
    sub.updated_at = now;
    store.update_subscription(&sub).await?;
    Ok((sub, customer))
}

/// The target of an upgrade or downgrade: an active paid plan, with its product and prices
/// at the provider (a plan that has none yet, such as the seeded Pro and Business plans of a
/// deployment that just got a Stripe key, gets them here, on its first purchase).
async fn purchasable_plan(
    store: &dyn Store,
    payments: &dyn Payments,
    plan_id: &Id,
) -> Result<(Plan, PlanBillingIds), AppError> {
    let plan = store.get_plan(plan_id).await?.ok_or(tollgate_domain::StoreError::NotFound("plan"))?;
    if plan.status != PlanStatus::Active {
        return Err(AppError::billing(BillingRefusal::PlanNotAvailable, "this plan is archived"));
    }
    if !is_paid(&plan) {
        return Err(AppError::billing(BillingRefusal::PlanNotAvailable, "a free plan is not bought: downgrade to it"));
    }
    let plan = match plan.billing {
        Some(_) => plan,
        None => sync_plan(store, payments, plan).await?,
    };
    let ids = plan.billing.clone().ok_or_else(|| AppError::Inconsistent(format!("plan {} was not synced", plan.id)))?;
    Ok((plan, ids))
}

/// What the user's plan changes act through.
#[derive(Clone, Copy)]
pub struct BillingPorts<'a> {
    pub store: &'a dyn Store,
    pub payments: &'a dyn Payments,
    /// Where the change's `subscription.updated` notification goes (none: not notified).
    pub notifications: Option<&'a dyn Queue>,
}

/// Where the provider sends the user back after Checkout.
#[derive(Debug, Clone)]
pub struct ReturnUrls {
    pub success: String,
    pub cancel: String,
}

/// What an upgrade did.
#[derive(Debug)]
pub enum UpgradeOutcome {
    /// No payment method on file: the user pays on this hosted page; the plan changes when
    /// the provider's webhook arrives.
    Checkout { url: String },
    /// Charged to the payment method on file (with proration): in effect now.
    Changed(Subscription),
}

/// Moves the organization to a more expensive paid plan (or starts its first paid plan).
pub async fn upgrade(
    ports: BillingPorts<'_>,
    org_id: &Id,
    user_id: &Id,
    plan_id: &Id,
    urls: &ReturnUrls,
    now: DateTime<Utc>,
) -> Result<UpgradeOutcome, AppError> {
    let BillingPorts { store, payments, notifications } = ports;
    let (current, _) = current_subscription(store, org_id, now).await?;
    if &current.plan_id == plan_id && current.billing.provider_subscription_id.is_some() {
        return Err(AppError::billing(BillingRefusal::AlreadyOnPlan, "the organization is already on this plan"));
    }
    let (plan, prices) = purchasable_plan(store, payments, plan_id).await?;
    let (_, customer) = ensure_customer(store, payments, org_id, user_id, now).await?;
    if let Some(provider_id) = &current.billing.provider_subscription_id {
        let remote = payments.change_subscription_plan(provider_id, &plan.id, &prices, true, None).await?;
        let sub = apply_and_notify(store, notifications, &remote, now).await?;
        return Ok(UpgradeOutcome::Changed(sub));
    }
    let has_default = payments.payment_methods(&customer).await?.iter().any(|m| m.is_default);
    if has_default {
        let remote = payments.create_subscription(&customer, org_id, &plan.id, &prices).await?;
        let sub = apply_and_notify(store, notifications, &remote, now).await?;
        return Ok(UpgradeOutcome::Changed(sub));
    }
    let session = payments
        .subscription_checkout(&SubscriptionCheckout {
            customer_id: customer,
            org_id: org_id.clone(),
            plan_id: plan.id.clone(),
            prices,
            success_url: urls.success.clone(),
            cancel_url: urls.cancel.clone(),
        })
        .await?;
    Ok(UpgradeOutcome::Checkout { url: session.url })
}

/// The organization's paid subscription at the provider, or `no_paid_subscription`.
fn provider_subscription_id(sub: &Subscription) -> Result<&str, AppError> {
    sub.billing.provider_subscription_id.as_deref().ok_or_else(|| {
        AppError::billing(BillingRefusal::NoPaidSubscription, "the organization has no paid subscription")
    })
}

/// Moves the organization to a cheaper plan at the end of the current period; to the Free
/// plan, that is a cancellation at the period's end.
pub async fn downgrade(
    ports: BillingPorts<'_>,
    org_id: &Id,
    plan_id: &Id,
    now: DateTime<Utc>,
) -> Result<Subscription, AppError> {
    let BillingPorts { store, payments, notifications } = ports;
    let (current, _) = current_subscription(store, org_id, now).await?;
    let provider_id = provider_subscription_id(&current)?.to_string();
    if &current.plan_id == plan_id {
        return Err(AppError::billing(BillingRefusal::AlreadyOnPlan, "the organization is already on this plan"));
    }
    if plan_id.as_str() == FREE_PLAN_ID {
        return set_cancel_at_period_end(ports, org_id, true, now).await;
    }
    let (plan, prices) = purchasable_plan(store, payments, plan_id).await?;
    // The plan paid for stays until the period's end, recorded on Stripe's subscription.
    let until = current.billing.current_period_end.unwrap_or(now);
    let hold = PlanHold { plan_id: current.plan_id.clone(), until };
    let remote = payments.change_subscription_plan(&provider_id, &plan.id, &prices, false, Some(&hold)).await?;
    apply_and_notify(store, notifications, &remote, now).await
}

/// Cancels at the end of the period (`cancel`), or takes that back (resume).
pub async fn set_cancel_at_period_end(
    ports: BillingPorts<'_>,
    org_id: &Id,
    cancel: bool,
    now: DateTime<Utc>,
) -> Result<Subscription, AppError> {
    let BillingPorts { store, payments, notifications } = ports;
    let (current, _) = current_subscription(store, org_id, now).await?;
    let provider_id = provider_subscription_id(&current)?;
    let remote = payments.set_cancel_at_period_end(provider_id, cancel).await?;
    apply_and_notify(store, notifications, &remote, now).await
}

/// Applies the provider's subscription after a change the user asked for here (an upgrade
/// charged to the card on file, a downgrade, a cancellation), and queues the
/// `subscription.updated` notification to `notifications`: the provider's webhook that
/// follows finds the change applied already and notifies nothing. The change has happened
/// by then, so a queue failure is logged, not returned.
async fn apply_and_notify(
    store: &dyn Store,
    notifications: Option<&dyn Queue>,
    remote: &ProviderSubscription,
    now: DateTime<Utc>,
) -> Result<Subscription, AppError> {
    let change = apply_provider_change(store, remote, now).await?;
    if let Some(queue) = notifications {
        if let Some(notification) = subscription_notification(store, &change, now).await? {
            if let Err(e) = queue.send(QueueName::Notifications, &[notification.to_message()]).await {
                tracing::warn!(error = %e, org_id = %change.after.org_id, "subscription change not notified");
            }
        }
    }
    Ok(change.after)
}

/// Applies the provider's subscription as it is now to the organization's subscription:
/// plan (from its prices), status, period and cancellation. Idempotent, and safe in any
/// order since `remote` is always the latest state read from the provider. An ended
/// subscription puts the organization back on the Free plan, unless it has moved on to
/// another provider subscription since.
pub async fn apply_provider_subscription(
    store: &dyn Store,
    remote: &ProviderSubscription,
    now: DateTime<Utc>,
) -> Result<Subscription, AppError> {
    Ok(apply_provider_change(store, remote, now).await?.after)
}

/// A subscription before and after the provider's state was applied to it.
struct SubscriptionChange {
    before: Subscription,
    after: Subscription,
}

/// [`apply_provider_subscription`], saying what it changed.
async fn apply_provider_change(
    store: &dyn Store,
    remote: &ProviderSubscription,
    now: DateTime<Utc>,
) -> Result<SubscriptionChange, AppError> {
    let org_id = remote.org_id.clone().ok_or_else(|| {
        AppError::Inconsistent(format!("provider subscription {} has no org_id in its metadata", remote.id))
    })?;
    let (mut sub, _) = current_subscription(store, &org_id, now).await?;
    let ours = sub.billing.provider_subscription_id.as_deref();
    let before = sub.clone();
    use ProviderSubscriptionStatus as P;
    match remote.status {
        // Not paid yet (Checkout still open, or a first payment that failed): nothing starts.
        P::Incomplete => return Ok(SubscriptionChange { after: sub, before }),
        P::Canceled | P::IncompleteExpired => {
            if ours.is_some_and(|id| id != remote.id) {
                // An older subscription ending: the organization has moved on.
                return Ok(SubscriptionChange { after: sub, before });
            }
            sub.plan_id = Id::from_string(FREE_PLAN_ID);
            sub.status = SubscriptionStatus::Active;
            sub.cancel_at_period_end = false;
            sub.canceled_at = sub.canceled_at.or(Some(now));
            sub.billing.provider_subscription_id = None;
            sub.billing.current_period_start = None;
            sub.billing.current_period_end = None;
            sub.billing.pending_plan_id = None;
            sub.billing.past_due_since = None;
        }
        P::Active | P::Trialing | P::PastDue | P::Unpaid | P::Paused => {
            let plan = plan_of_prices(store, &remote.price_ids).await?.ok_or_else(|| {
                AppError::Inconsistent(format!(
                    "provider subscription {} has prices of no plan: {:?}",
                    remote.id, remote.price_ids
                ))
            })?;
            // A downgrade waiting for the period's end (on the provider's subscription, so
            // no event order can apply it early): the plan paid for until then.
            match remote.hold.as_ref().filter(|h| remote.current_period_start < h.until) {
                Some(hold) => {
                    sub.plan_id = hold.plan_id.clone();
                    sub.billing.pending_plan_id = Some(plan.id.clone());
                }
                None => {
                    sub.plan_id = plan.id.clone();
                    sub.billing.pending_plan_id = None;
                }
            }
            let past_due = matches!(remote.status, P::PastDue | P::Unpaid);
            sub.status = if past_due { SubscriptionStatus::PastDue } else { SubscriptionStatus::Active };
            sub.billing.past_due_since = if past_due { sub.billing.past_due_since.or(Some(now)) } else { None };
            sub.cancel_at_period_end = remote.cancel_at_period_end;
            sub.canceled_at = None;
            sub.billing.provider_subscription_id = Some(remote.id.clone());
            sub.billing.customer_id = Some(remote.customer_id.clone());
            sub.billing.current_period_start = Some(remote.current_period_start);
            sub.billing.current_period_end = Some(remote.current_period_end);
        }
    }
    if sub != before {
        sub.updated_at = now;
        store.update_subscription(&sub).await?;
    }
    Ok(SubscriptionChange { after: sub, before })
}

/// Reads the provider's subscription `id` as it is now and applies it (see
/// [`apply_provider_subscription`]).
async fn resync_subscription(
    store: &dyn Store,
    payments: &dyn Payments,
    id: &str,
    now: DateTime<Utc>,
) -> Result<SubscriptionChange, AppError> {
    let remote = payments.subscription(id).await?;
    apply_provider_change(store, &remote, now).await
}

/// The notification of a subscription whose plan or status changed (None if neither did).
/// Its id names the change: the stored state it changed (the subscription and that state's
/// `updated_at`) and the state it led to, so whoever applies the change (the provider's
/// webhook, redelivered or not, or the API call that made it, racing the webhook) notifies
/// it once.
async fn subscription_notification(
    store: &dyn Store,
    change: &SubscriptionChange,
    now: DateTime<Utc>,
) -> Result<Option<Notification>, AppError> {
    let SubscriptionChange { before, after } = change;
    let changed = before.plan_id != after.plan_id
        || before.status != after.status
        || before.cancel_at_period_end != after.cancel_at_period_end;
    if !changed {
        return Ok(None);
    }
    let plan_name = store.get_plan(&after.plan_id).await?.map_or_else(|| after.plan_id.to_string(), |p| p.name);
    Ok(Some(Notification::SubscriptionChanged(SubscriptionChanged {
        id: format!(
            "subscription_changed_{}_{}_{}_{}_{}",
            after.id,
            before.updated_at.timestamp_millis(),
            after.plan_id,
            tollgate_domain::StoredEnum::as_str(after.status),
            if after.cancel_at_period_end { "ending" } else { "renewing" }
        ),
        org_id: after.org_id.clone(),
        subscription_id: after.id.clone(),
        plan_id: after.plan_id.clone(),
        plan_name,
        previous_plan_id: (before.plan_id != after.plan_id).then(|| before.plan_id.clone()),
        status: after.status,
        cancel_at_period_end: after.cancel_at_period_end,
        at: now,
    })))
}

/// Billing work queued by the platform itself, beside Stripe's events, on the same queue
/// and worker (the only ones that talk to Stripe): the usage worker asks for an
/// organization's metered units to be reported after each batch that recorded some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum BillingTask {
    /// Report what is not yet reported of `org_id`'s metered units in `period` (from the
    /// period counter: cumulative, so one task covers every earlier batch too).
    ReportUsage { org_id: Id, period: PeriodKey },
}

impl BillingTask {
    /// The task as a queue message; `nonce` keeps two requests apart (a request arriving
    /// while an earlier one is being processed must not be taken for it).
    pub fn to_message(&self, nonce: &str) -> tollgate_domain::QueueMessage {
        let id = match self {
            BillingTask::ReportUsage { org_id, period } => format!("report_usage.{org_id}.{period}.{nonce}"),
        };
        tollgate_domain::QueueMessage { id, body: serde_json::to_string(self).expect("serialisable") }
    }

    /// Carries the task out.
    pub async fn run(&self, store: &dyn Store, payments: &dyn Payments, now: DateTime<Utc>) -> Result<(), AppError> {
        match self {
            BillingTask::ReportUsage { org_id, period } => {
                let Some(period) = Period::from_key(period) else {
                    return Err(AppError::Inconsistent(format!("a usage report task for the period {period}")));
                };
                // A meter event's time lies inside its period.
                let at = now.min(period.end - chrono::Duration::seconds(1));
                let outcome = report_metered_usage(store, payments, org_id, &period, at).await?;
                tracing::debug!(org_id = %org_id, period = %period.key, ?outcome, "metered usage reported");
                Ok(())
            }
        }
    }
}

/// The parts of a Stripe event the worker needs: which object, of which type.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEventEnvelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: StripeEventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeEventData {
    pub object: StripeEventObject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeEventObject {
    /// Absent on `invoice.upcoming` (a preview has no id).
    pub id: Option<String>,
}

/// What processing one Stripe event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeEventOutcome {
    /// Its effect was applied.
    Applied,
    /// The event was processed before: nothing done.
    Duplicate,
    /// A type this platform does not act on (or nothing to re-read): acknowledged.
    Ignored,
}

/// Processes one verified Stripe event, once: re-reads the object it names from the
/// provider and applies that state, queues the notifications it gives rise to (a failed
/// payment, a changed subscription, a trial ending; each named after the event, so a retry
/// notifies once), then remembers the event id. A failure leaves the event unremembered,
/// for the queue to retry; applying is idempotent, so a retry after a partial run is safe.
#[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.kind))]
pub async fn process_stripe_event(
    store: &dyn Store,
    payments: &dyn Payments,
    notifications: &dyn Queue,
    event: &StripeEventEnvelope,
    now: DateTime<Utc>,
) -> Result<StripeEventOutcome, AppError> {
    if store.is_claimed(STRIPE_EVENT_SCOPE, &event.id, now).await? {
        return Ok(StripeEventOutcome::Duplicate);
    }
    let object_id = event.data.object.id.as_deref();
    let mut notify = Vec::new();
    // The organization whose state the event changed, for the audit log.
    let org: Option<Id> = match (event.kind.as_str(), object_id) {
        ("checkout.session.completed", Some(id)) => {
            let session = payments.checkout_session(id).await?;
            match &session.subscription_id {
                Some(sub_id) => {
                    let change = resync_subscription(store, payments, sub_id, now).await?;
                    notify.extend(subscription_notification(store, &change, now).await?);
                    Some(change.after.org_id)
                }
                // Setup mode: the card is read live from the provider.
                None => session.org_id,
            }
        }
        (
            "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted",
            Some(id),
        ) => {
            let change = resync_subscription(store, payments, id, now).await?;
            notify.extend(subscription_notification(store, &change, now).await?);
            Some(change.after.org_id)
        }
        ("customer.subscription.trial_will_end", Some(id)) => {
            let remote = payments.subscription(id).await?;
            let change = apply_provider_change(store, &remote, now).await?;
            // While trialing, the provider's current period ends with the trial.
            notify.push(Notification::TrialEnding(TrialEnding {
                id: format!("trial_ending_{}", event.id),
                org_id: change.after.org_id.clone(),
                subscription_id: change.after.id.clone(),
                trial_end: remote.current_period_end,
                at: now,
            }));
            Some(change.after.org_id)
        }
        (
            "invoice.created"
            | "invoice.finalized"
            | "invoice.paid"
            | "invoice.payment_failed"
            | "invoice.payment_succeeded"
            | "invoice.voided"
            | "invoice.marked_uncollectible",
            Some(id),
        ) => {
            let invoice = payments.invoice(id).await?;
            store.upsert_invoice(&invoice).await?;
            // A payment that failed or succeeded moves the subscription (past due, restored).
            if let Some(sub_id) = &invoice.subscription_id {
                if matches!(event.kind.as_str(), "invoice.paid" | "invoice.payment_failed") {
                    let change = resync_subscription(store, payments, sub_id, now).await?;
                    notify.extend(subscription_notification(store, &change, now).await?);
                }
            }
            if event.kind == "invoice.payment_failed" {
                notify.push(Notification::PaymentFailed(PaymentFailed {
                    id: format!("payment_failed_{}", event.id),
                    org_id: invoice.org_id.clone(),
                    invoice_id: invoice.id.clone(),
                    amount_due: invoice.amount_due,
                    currency: invoice.currency.clone(),
                    next_attempt_at: None,
                    at: now,
                }));
            }
            Some(invoice.org_id)
        }
        // Payment methods and the customer's default are read live from the provider.
        _ => None,
    };
    if !notify.is_empty() {
        let messages: Vec<_> = notify.iter().map(Notification::to_message).collect();
        notifications.send(QueueName::Notifications, &messages).await?;
    }
    let outcome = match org {
        Some(org_id) => {
            let audit = AuditEvent::new("billing.stripe_event", now)
                .org(&org_id)
                .target(event.id.clone())
                .details(serde_json::json!({ "type": event.kind, "object": object_id }));
            store.record_audit(&audit).await?;
            StripeEventOutcome::Applied
        }
        None => StripeEventOutcome::Ignored,
    };
    store.claim(STRIPE_EVENT_SCOPE, &event.id, now, now + chrono::Duration::days(STRIPE_EVENT_MEMORY_DAYS)).await?;
    Ok(outcome)
}

/// What [`report_metered_usage`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageReportOutcome {
    /// The plan bills no units, or the organization has no paid subscription at the provider.
    NotMetered,
    /// Everything billable was reported already.
    UpToDate,
    /// Units were reported (a pending report from an earlier, cut-short run included).
    Reported { units: u64 },
}

/// Reports the organization's billable units of `period` that the payment provider has not
/// seen yet: pay-as-you-go plans bill every unit, hybrid plans those beyond `monthly_limit`.
/// The period counter is the source of truth, so the report is cumulative and exact: each
/// range of units goes out once under an identifier made of the range (see `UsageReport`),
/// a report cut short is finished with the same identifier, and concurrent reporters are
/// serialised by the store's conditional writes.
///
/// `at` is the meter event's time (inside the period: now while it runs, its last second
/// once it has ended).
#[tracing::instrument(skip_all, fields(org_id = %org_id, period = %period.key))]
pub async fn report_metered_usage(
    store: &dyn Store,
    payments: &dyn Payments,
    org_id: &Id,
    period: &tollgate_domain::Period,
    at: DateTime<Utc>,
) -> Result<UsageReportOutcome, AppError> {
    let Some(sub) = store.subscription_of_org(org_id).await? else {
        return Ok(UsageReportOutcome::NotMetered);
    };
    let Some(plan) = store.get_plan(&sub.plan_id).await? else {
        return Ok(UsageReportOutcome::NotMetered);
    };
    let event_name = plan.billing.as_ref().and_then(|b| b.meter_event_name.clone());
    let (Some(event_name), Some(customer)) = (event_name, sub.billing.customer_id.clone()) else {
        return Ok(UsageReportOutcome::NotMetered);
    };
    if plan.billing_type == BillingType::Subscription || sub.billing.provider_subscription_id.is_none() {
        return Ok(UsageReportOutcome::NotMetered);
    }
    let billable = plan.overage_units(store.usage(org_id, &period.key).await?);
    let mut report = store.usage_report(org_id, &period.key).await?;
    let mut units = 0;
    // A report cut short: the same range and identifier again (the provider drops a repeat).
    if let Some(pending) = report.pending {
        payments
            .report_usage(&event_name, &customer, pending - report.reported, &report.identifier(pending), at)
            .await?;
        store.finish_usage_report(org_id, &period.key, pending).await?;
        units += pending - report.reported;
        report.reported = pending;
        report.pending = None;
    }
    if billable > report.reported {
        store.begin_usage_report(org_id, &period.key, report.reported, billable).await?;
        payments
            .report_usage(&event_name, &customer, billable - report.reported, &report.identifier(billable), at)
            .await?;
        store.finish_usage_report(org_id, &period.key, billable).await?;
        units += billable - report.reported;
    }
    Ok(if units > 0 { UsageReportOutcome::Reported { units } } else { UsageReportOutcome::UpToDate })
}

/// One organization's metered units of a period: ours and the provider's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReconciliationLine {
    #[schema(value_type = String)]
    pub org_id: Id,
    #[schema(value_type = String)]
    pub plan_id: Id,
    /// The period counter (every unit counted).
    pub counted: u64,
    /// The units the plan bills of them (all for pay-as-you-go, beyond the included quota
    /// for hybrid).
    pub billable: u64,
    /// The units we reported.
    pub reported: u64,
    /// A report under way or cut short, if any.
    pub pending: Option<u64>,
    /// The provider's own total on the plan's meter for the period.
    pub provider_total: u64,
    /// Whether the three totals (billable, reported, the provider's) differ.
    pub mismatch: bool,
}

/// Every organization on a metered plan, for `period`: our counter, the units we reported
/// and the provider's meter total, with differences flagged.
pub async fn reconcile(
    store: &dyn Store,
    payments: &dyn Payments,
    period: &tollgate_domain::Period,
) -> Result<Vec<ReconciliationLine>, AppError> {
    let mut lines = Vec::new();
    for plan in store.list_plans().await? {
        let Some(meter_id) = plan.billing.as_ref().and_then(|b| b.meter_id.clone()) else {
            continue;
        };
        let query = tollgate_domain::SubscriptionQuery {
            plan_id: Some(plan.id.clone()),
            limit: tollgate_domain::SubscriptionQuery::PAGE.max,
            ..Default::default()
        };
        for sub in store.list_subscriptions(&query).await? {
            let Some(customer) = &sub.billing.customer_id else { continue };
            let counted = store.usage(&sub.org_id, &period.key).await?;
            let report = store.usage_report(&sub.org_id, &period.key).await?;
            let provider_total = payments.reported_usage(&meter_id, customer, period.start, period.end).await?;
            let billable = plan.overage_units(counted);
            lines.push(ReconciliationLine {
                org_id: sub.org_id.clone(),
                plan_id: plan.id.clone(),
                counted,
                billable,
                reported: report.reported,
                pending: report.pending,
                provider_total,
                mismatch: billable != report.reported || report.reported != provider_total,
            });
        }
    }
    Ok(lines)
}

//! Handlers of the billing route group: plans, the organization's subscription and its
//! changes, payment methods and invoices.
//!
//! Without a payment provider configured, every route that needs it answers 503
//! `billing_not_configured`; the price list and the subscription's state stay readable.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::billing::{self, ReturnUrls, UpgradeOutcome};
use tollgate_app::{current_subscription, PeriodUsage};
use tollgate_domain::{
    is_plausible_provider_id, Id, Invoice, InvoiceEstimate, InvoiceQuery, PaymentMethodSummary, Period, Plan,
    PlanStatus, Subscription,
};
use tollgate_http::{can, page_limit, ApiError, ApiJson, ApiQuery, AppState, AuthUser, Authorized, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// The plans open to new subscriptions, cheapest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<Plan>,
}

/// The organization's subscription, its plan and the current period's usage.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionDetails {
    pub subscription: Subscription,
    /// The plan whose limits apply now (the Free plan while past due beyond the grace period).
    pub plan: Plan,
    /// The current billing period (calendar month, UTC); `end` is exclusive.
    pub period: Period,
    pub usage: PeriodUsage,
    /// The next invoice as the payment provider estimates it (paid subscriptions only; `null`
    /// when billing is not configured or the provider did not answer).
    pub next_invoice: Option<InvoiceEstimate>,
}

/// The active plans, for a pricing page. No authentication.
#[utoipa::path(get, path = "/api/plans", tag = "billing",
    responses(
        (status = 200, description = "Active plans, cheapest first", body = PlanList),
    ))]
pub async fn list_plans(State(state): State<AppState>) -> Result<Json<PlanList>, ApiError> {
    let data = state.store.list_plans().await?.into_iter().filter(|p| p.status == PlanStatus::Active).collect();
    Ok(Json(PlanList { data }))
}

/// The signed-in user's subscription (a new organization is on the Free plan), its plan,
/// the usage of the current period against it, and the next invoice's estimate.
#[utoipa::path(get, path = "/api/user/subscription", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Subscription, plan and usage", body = SubscriptionDetails),
    ))]
pub async fn get_subscription(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<SubscriptionDetails>, ApiError> {
    let now = state.now();
    let (subscription, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
    let period = Period::containing(now);
    let usage = PeriodUsage::load(state.store.as_ref(), &auth.org_id, &period, &plan).await?;
    let next_invoice = next_invoice(&state, &subscription).await;
    Ok(Json(SubscriptionDetails { subscription, plan, period, usage, next_invoice }))
}

/// The provider's estimate of the next invoice; a failure only leaves it out.
async fn next_invoice(state: &AppState, sub: &Subscription) -> Option<InvoiceEstimate> {
    let payments = state.payments.as_deref()?;
    let (customer, provider_id) =
        (sub.billing.customer_id.as_deref()?, sub.billing.provider_subscription_id.as_deref()?);
    match payments.upcoming_invoice(customer, provider_id).await {
        Ok(estimate) => estimate,
        Err(e) => {
            tracing::warn!(error = %e, "the next invoice's estimate could not be read");
            None
        }
    }
}

/// The plan to move to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    pub plan_id: String,
}

/// An upgrade: either in effect now (`subscription`), or waiting for payment on the hosted
/// page at `checkout_url` (the plan changes when the payment provider confirms it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpgradeResponse {
    pub checkout_url: Option<String>,
    pub subscription: Option<Subscription>,
}

/// The organization's subscription after a change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionResponse {
    pub subscription: Subscription,
}

/// A payment provider's id from a path (`pm_...`, `in_...`); anything else is 404.
fn provider_id<'a>(raw: &'a str, prefix: &str, what: &str) -> Result<&'a str, ApiError> {
    if is_plausible_provider_id(raw, prefix) {
        Ok(raw)
    } else {
        Err(ApiError::NotFound(what.into()))
    }
}

fn plan_id(raw: &str) -> Result<Id, ApiError> {
    if Id::is_plausible(raw, tollgate_app::subscriptions::PLAN_PREFIX) {
        Ok(Id::from_string(raw))
    } else {
        Err(ApiError::NotFound("plan".into()))
    }
}

/// Where the payment provider sends the user back after its hosted pages.
fn return_urls(state: &AppState, what: &str) -> ReturnUrls {
    let base = &state.settings.public_base_url;
    ReturnUrls {
        success: format!("{base}/billing?{what}=success&session_id={{CHECKOUT_SESSION_ID}}"),
        cancel: format!("{base}/billing?{what}=canceled"),
    }
}

/// Moves to a more expensive plan. With a payment method on file the change is charged
/// with proration and takes effect at once; without one the answer is a `checkout_url`.
#[utoipa::path(post, path = "/api/user/subscription/upgrade", tag = "billing", security(("bearer" = [])),
    request_body = ChangePlanRequest,
    responses(
        (status = 200, description = "In effect (`subscription`), or pay at `checkout_url`", body = UpgradeResponse),
        (status = 402, description = "`payment_rejected`: the payment method was declined", body = ErrorBody),
        (status = 404, description = "`not_found`: no such plan", body = ErrorBody),
        (status = 409, description = "`already_on_plan`", body = ErrorBody),
        (status = 422, description = "`plan_not_available`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn upgrade(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    ApiJson(req): ApiJson<ChangePlanRequest>,
) -> Result<Json<UpgradeResponse>, ApiError> {
    let payments = state.payments()?;
    let plan_id = plan_id(&req.plan_id)?;
    let urls = return_urls(&state, "checkout");
    let outcome =
        billing::upgrade(billing_ports(&state, payments), &auth.org_id, &auth.user.id, &plan_id, &urls, state.now())
            .await?;
    Ok(Json(match outcome {
        UpgradeOutcome::Checkout { url } => UpgradeResponse { checkout_url: Some(url), subscription: None },
        UpgradeOutcome::Changed(sub) => UpgradeResponse { checkout_url: None, subscription: Some(sub) },
    }))
}

/// Moves to a cheaper plan at the end of the current period (to the Free plan: cancels at
/// the period's end). Until then the current plan's limits apply.
#[utoipa::path(post, path = "/api/user/subscription/downgrade", tag = "billing", security(("bearer" = [])),
    request_body = ChangePlanRequest,
    responses(
        (status = 200, description = "The subscription, `billing.pending_plan_id` set", body = SubscriptionResponse),
        (status = 404, description = "`not_found`: no such plan", body = ErrorBody),
        (status = 409, description = "`no_paid_subscription` or `already_on_plan`", body = ErrorBody),
        (status = 422, description = "`plan_not_available`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn downgrade(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    ApiJson(req): ApiJson<ChangePlanRequest>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let payments = state.payments()?;
    let plan_id = plan_id(&req.plan_id)?;
    let subscription = billing::downgrade(billing_ports(&state, payments), &auth.org_id, &plan_id, state.now()).await?;
    Ok(Json(SubscriptionResponse { subscription }))
}

/// Cancels the paid subscription at the end of the current period.
#[utoipa::path(post, path = "/api/user/subscription/cancel", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "`cancel_at_period_end` is true", body = SubscriptionResponse),
        (status = 409, description = "`no_paid_subscription`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    cancel_at_period_end(&state, &auth, true).await
}

/// Takes back a cancellation at the period's end.
#[utoipa::path(post, path = "/api/user/subscription/resume", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "`cancel_at_period_end` is false", body = SubscriptionResponse),
        (status = 409, description = "`no_paid_subscription`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    cancel_at_period_end(&state, &auth, false).await
}

async fn cancel_at_period_end(
    state: &AppState,
    auth: &AuthUser,
    cancel: bool,
) -> Result<Json<SubscriptionResponse>, ApiError> {
    let payments = state.payments()?;
    let ports = billing_ports(state, payments);
    let subscription = billing::set_cancel_at_period_end(ports, &auth.org_id, cancel, state.now()).await?;
    Ok(Json(SubscriptionResponse { subscription }))
}

/// The organization's payment methods.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodList {
    pub data: Vec<PaymentMethodSummary>,
}

/// A hosted page of the payment provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutLink {
    pub checkout_url: String,
}

/// The organization's customer at the provider (created on its first paid action).
async fn customer(state: &AppState, auth: &AuthUser) -> Result<String, ApiError> {
    let payments = state.payments()?;
    let (_, customer) =
        billing::ensure_customer(state.store.as_ref(), payments, &auth.org_id, &auth.user.id, state.now()).await?;
    Ok(customer)
}

/// The organization's stored payment methods (cards: brand, last 4 digits, expiry), the
/// default one marked.
#[utoipa::path(get, path = "/api/user/billing/payment-methods", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Payment methods", body = PaymentMethodList),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn list_payment_methods(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
) -> Result<Json<PaymentMethodList>, ApiError> {
    let payments = state.payments()?;
    let (sub, _) = current_subscription(state.store.as_ref(), &auth.org_id, state.now()).await?;
    let data = match &sub.billing.customer_id {
        Some(customer) => payments.payment_methods(customer).await?,
        None => Vec::new(),
    };
    Ok(Json(PaymentMethodList { data }))
}

/// Adds a payment method: answers the hosted page where the user enters it.
#[utoipa::path(post, path = "/api/user/billing/payment-methods", tag = "billing", security(("bearer" = [])),
    responses(
        (status = 200, description = "Enter the payment method at `checkout_url`", body = CheckoutLink),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn add_payment_method(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
) -> Result<Json<CheckoutLink>, ApiError> {
    let customer = customer(&state, &auth).await?;
    let urls = return_urls(&state, "payment_method");
    let session = state.payments()?.setup_checkout(&customer, &auth.org_id, &urls.success, &urls.cancel).await?;
    Ok(Json(CheckoutLink { checkout_url: session.url }))
}

/// Removes a payment method of the organization's (404 for anyone else's).
#[utoipa::path(delete, path = "/api/user/billing/payment-methods/{id}", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method id (`pm_...`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn delete_payment_method(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = provider_id(&id, "pm_", "payment method")?;
    let customer = customer(&state, &auth).await?;
    state.payments()?.detach_payment_method(&customer, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a payment method of the organization's the one invoices, and the paid
/// subscription's renewals, are charged to.
#[utoipa::path(post, path = "/api/user/billing/payment-methods/{id}/default", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method id (`pm_...`)")),
    responses(
        (status = 204, description = "Now the default"),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn set_default_payment_method(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let payments = state.payments()?;
    let id = provider_id(&id, "pm_", "payment method")?;
    let (sub, customer) =
        billing::ensure_customer(state.store.as_ref(), payments, &auth.org_id, &auth.user.id, state.now()).await?;
    // The paid subscription is charged to it too (its own payment method comes first).
    let subscription = sub.billing.provider_subscription_id.as_deref();
    payments.set_default_payment_method(&customer, id, subscription).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of invoices.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoicePageQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Invoices, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoicePage {
    pub data: Vec<Invoice>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The organization's invoices, mirrored from the payment provider, newest first.
#[utoipa::path(get, path = "/api/user/billing/invoices", tag = "billing", security(("bearer" = [])),
    params(InvoicePageQuery),
    responses(
        (status = 200, description = "One page of invoices", body = InvoicePage),
        (status = 400, description = "`bad_request`: a malformed limit or cursor", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn list_invoices(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    ApiQuery(q): ApiQuery<InvoicePageQuery>,
) -> Result<Json<InvoicePage>, ApiError> {
    state.payments()?;
    let query = InvoiceQuery {
        org_id: Some(auth.org_id.clone()),
        status: None,
        created_in: None,
        cursor: q.cursor.filter(|c| !c.is_empty()),
        limit: page_limit(q.limit, InvoiceQuery::PAGE)?,
    };
    let (data, next_cursor) = state.store.list_invoices(&query).await?;
    Ok(Json(InvoicePage { data, next_cursor }))
}

/// A link to an invoice's PDF.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLink {
    pub url: String,
}

/// A link to the PDF of one of the organization's invoices (404 for anyone else's).
#[utoipa::path(post, path = "/api/user/billing/download-invoice/{id}", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id (`in_...`)")),
    responses(
        (status = 200, description = "The PDF's URL", body = InvoiceLink),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn download_invoice(
    State(state): State<AppState>,
    auth: Authorized<can::ManageBilling>,
    Path(id): Path<String>,
) -> Result<Json<InvoiceLink>, ApiError> {
    let payments = state.payments()?;
    let id = provider_id(&id, "in_", "invoice")?;
    // Tenant isolation: only an invoice mirrored for the caller's organization.
    let invoice = state.store.get_invoice(id).await?.filter(|i| i.org_id == auth.org_id);
    let invoice = invoice.ok_or_else(|| ApiError::NotFound("invoice".into()))?;
    let url = payments.invoice_pdf_url(&invoice.id).await?;
    let url = url.ok_or_else(|| ApiError::NotFound("invoice PDF (the invoice is not finalized)".into()))?;
    Ok(Json(InvoiceLink { url }))
}

/// What a plan change acts through: the state's store and queue, and `payments`.
fn billing_ports<'a>(state: &'a AppState, payments: &'a dyn tollgate_domain::Payments) -> billing::BillingPorts<'a> {
    billing::BillingPorts { store: state.store.as_ref(), payments, notifications: state.queue.as_deref() }
}

//! `/api/admin/billing/...`: every organization's invoices, one-off invoices, payments
//! received out of band, and the reconciliation of metered units with the provider.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::billing::ReconciliationLine;
use tollgate_domain::{AuditEvent, Id, Invoice, InvoiceQuery, InvoiceStatus, Period, PeriodKey};
use tollgate_http::{page_limit, AdminUser, ApiError, ApiJson, ApiQuery, AppState, ErrorBody};
use utoipa::{IntoParams, ToSchema};

/// Filters of the invoice listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceFilter {
    /// Only this organization's invoices.
    pub org_id: Option<String>,
    /// Only invoices in this state.
    pub status: Option<InvoiceStatus>,
    /// Only invoices created in this month (`YYYY-MM`, UTC).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub period: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Invoices of every organization, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminInvoicePage {
    pub data: Vec<Invoice>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A `YYYY-MM` query parameter (400 `bad_request` otherwise).
fn period(raw: &str) -> Result<Period, ApiError> {
    Period::from_key(&PeriodKey::from_string(raw.trim()))
        .ok_or_else(|| ApiError::BadRequest("period must be YYYY-MM".into()))
}

/// Every organization's invoices (mirrored from the payment provider), newest first.
#[utoipa::path(get, path = "/api/admin/billing/invoices", operation_id = "admin_list_invoices", tag = "admin", security(("bearer" = [])),
    params(InvoiceFilter),
    responses(
        (status = 200, description = "One page of invoices", body = AdminInvoicePage),
        (status = 400, description = "`bad_request`: a malformed limit, status, period or cursor", body = ErrorBody),
    ))]
pub async fn list_invoices(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(f): ApiQuery<InvoiceFilter>,
) -> Result<Json<AdminInvoicePage>, ApiError> {
    let query = InvoiceQuery {
        org_id: f.org_id.map(Id::from_string),
        status: f.status,
        created_in: f.period.as_deref().map(period).transpose()?,
        cursor: f.cursor.filter(|c| !c.is_empty()),
        limit: page_limit(f.limit, InvoiceQuery::PAGE)?,
    };
    let (data, next_cursor) = state.store.list_invoices(&query).await?;
    Ok(Json(AdminInvoicePage { data, next_cursor }))
}

/// A one-off invoice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoiceRequest {
    pub org_id: String,
    /// Minor units of `currency`, at least 1.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// ISO 4217, lower case (default `usd`).
    #[schema(pattern = "^[a-z]{3}$")]
    pub currency: Option<String>,
    /// The invoice line's text (1 to 500 characters).
    #[schema(min_length = 1, max_length = 500)]
    pub description: String,
}

/// Invoices an organization once for `amount`, through the payment provider (charged to its
/// default payment method, or sent). The invoice appears in the listings when the
/// provider's webhooks arrive.
#[utoipa::path(post, path = "/api/admin/billing/invoices", operation_id = "admin_create_invoice", tag = "admin", security(("bearer" = [])),
    request_body = CreateInvoiceRequest,
    responses(
        (status = 201, description = "The invoice, finalized", body = Invoice),
        (status = 404, description = "`not_found`: no such organization", body = ErrorBody),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn create_invoice(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(req): ApiJson<CreateInvoiceRequest>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    let payments = state.payments()?;
    let now = state.now();
    if req.amount < 1 {
        return Err(ApiError::invalid_field("amount", "must be at least 1 (minor units)"));
    }
    let currency = req.currency.unwrap_or_else(|| "usd".into());
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(ApiError::invalid_field("currency", "must be a lower-case ISO 4217 code such as usd"));
    }
    let description = req.description.trim();
    if description.is_empty() || description.chars().count() > 500 {
        return Err(ApiError::invalid_field("description", "must be 1 to 500 characters"));
    }
    let org = state
        .store
        .get_organization(&Id::from_string(&req.org_id))
        .await?
        .ok_or_else(|| ApiError::NotFound("organization".into()))?;
    let (_, customer) =
        tollgate_app::billing::ensure_customer(state.store.as_ref(), payments, &org.id, &org.owner_id, now).await?;
    let invoice = payments.create_one_off_invoice(&customer, &org.id, req.amount, &currency, description).await?;
    state.store.upsert_invoice(&invoice).await?;
    state
        .audit(
            AuditEvent::new("invoice.create", now)
                .actor(&admin.user.id)
                .target(invoice.id.clone())
                .ip(admin.ip)
                .details(serde_json::json!({ "org_id": org.id, "amount": req.amount, "currency": currency })),
        )
        .await;
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// Records that an open invoice was paid out of band (a bank transfer): the provider marks
/// it paid, and the mirrored record follows.
#[utoipa::path(post, path = "/api/admin/billing/invoices/{id}/mark-paid", operation_id = "admin_mark_invoice_paid", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice id (`in_...`)")),
    responses(
        (status = 200, description = "The invoice, paid", body = Invoice),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn mark_paid(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    let payments = state.payments()?;
    let now = state.now();
    let stored = state.store.get_invoice(&id).await?.ok_or_else(|| ApiError::NotFound("invoice".into()))?;
    let invoice = payments.mark_invoice_paid(&stored.id).await?;
    state.store.upsert_invoice(&invoice).await?;
    state
        .audit(
            AuditEvent::new("invoice.mark_paid", now)
                .actor(&admin.user.id)
                .target(invoice.id.clone())
                .ip(admin.ip)
                .details(serde_json::json!({ "org_id": invoice.org_id, "amount_paid": invoice.amount_paid })),
        )
        .await;
    Ok(Json(invoice))
}

/// The period to reconcile.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// `YYYY-MM` (default: the current period).
    #[param(pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$")]
    pub period: Option<String>,
}

/// Metered units of one period, ours against the payment provider's.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reconciliation {
    #[schema(value_type = String)]
    pub period: tollgate_domain::PeriodKey,
    /// One line per organization on a metered plan.
    pub data: Vec<ReconciliationLine>,
    /// How many lines differ.
    pub mismatches: usize,
}

/// Per organization on a pay-as-you-go or hybrid plan: our period counter, the billable
/// units, the units we reported, and the provider's own meter total, differences flagged.
#[utoipa::path(get, path = "/api/admin/billing/reconciliation", operation_id = "admin_billing_reconciliation", tag = "admin", security(("bearer" = [])),
    params(ReconciliationQuery),
    responses(
        (status = 200, description = "The period's lines", body = Reconciliation),
        (status = 400, description = "`bad_request`: a period that is not `YYYY-MM`", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`", body = ErrorBody),
    ))]
pub async fn reconciliation(
    State(state): State<AppState>,
    _admin: AdminUser,
    ApiQuery(q): ApiQuery<ReconciliationQuery>,
) -> Result<Json<Reconciliation>, ApiError> {
    let payments = state.payments()?;
    let period = match q.period {
        Some(raw) => period(&raw)?,
        None => Period::containing(state.now()),
    };
    let data = tollgate_app::billing::reconcile(state.store.as_ref(), payments, &period).await?;
    let mismatches = data.iter().filter(|l| l.mismatch).count();
    Ok(Json(Reconciliation { period: period.key, data, mismatches }))
}

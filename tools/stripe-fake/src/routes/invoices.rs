//! `/v1/invoices`, `/v1/invoiceitems`, and the hosted invoice page and PDF.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::{escape_html, respond, AppState, Form};
use crate::billing::invoices::{self as rules, money, NewInvoice};
use crate::billing::payments::check_attached;
use crate::billing::subscriptions::cycle_lines;
use crate::clock::period_end;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::{find, InvoiceItem, InvoiceStatus, Metadata, Origin, State as FakeState, SubStatus};

fn render(s: &FakeState, id: &str, p: &Params) -> ApiResult<Json<Value>> {
    let inv = find(&s.invoices, id, "invoice", "id")?;
    respond(s, objects::invoice(s, inv), p)
}

/// `GET /v1/invoices/{id}` (e.g. `expand[]=customer`)
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| render(s, &id, &p))
}

/// `GET /v1/invoices?customer=&subscription=&status=&limit=&starting_after=`, newest first.
pub async fn list(State(app): AppState, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&["customer", "subscription", "status", "limit", "starting_after", "collection_method"])?;
    let status = p.one_of("status", &["draft", "open", "paid", "uncollectible", "void"])?;
    let limit = p.u64("limit")?.unwrap_or(10).clamp(1, 100) as usize;
    app.with(|s| {
        let customer = p.opt_str("customer")?;
        let subscription = p.opt_str("subscription")?;
        let mut invoices: Vec<_> = s
            .invoices
            .values()
            .filter(|i| customer.is_none_or(|c| i.customer == c))
            .filter(|i| subscription.is_none_or(|x| i.subscription.as_deref() == Some(x)))
            .filter(|i| status.is_none_or(|st| i.status.as_str() == st))
            .collect();
        invoices.sort_by_key(|i| std::cmp::Reverse((i.created, i.seq)));
        let from = match p.opt_str("starting_after")? {
            Some(after) => {
                find(&s.invoices, after, "invoice", "starting_after")?;
                invoices.iter().position(|i| i.id == after).map_or(invoices.len(), |i| i + 1)
            }
            None => 0,
        };
        let page: Vec<Value> = invoices.iter().skip(from).take(limit).map(|i| objects::invoice(s, i)).collect();
        let has_more = from + page.len() < invoices.len();
        respond(s, objects::list(page, has_more, "/v1/invoices"), &p)
    })
}

/// `POST /v1/invoices`: a draft for the customer, with their pending invoice items when
/// `pending_invoice_items_behavior=include`.
pub async fn create(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "customer",
        "subscription",
        "collection_method",
        "days_until_due",
        "auto_advance",
        "pending_invoice_items_behavior",
        "metadata",
        "description",
        "currency",
        "default_payment_method",
    ])?;
    let customer = p.required_str("customer")?.to_string();
    let collection_method = match p.one_of("collection_method", &["charge_automatically", "send_invoice"])? {
        Some("send_invoice") => {
            p.u64("days_until_due")?.ok_or_else(|| ApiError::missing_param("days_until_due"))?;
            "send_invoice"
        }
        _ => "charge_automatically",
    };
    let include = p.one_of("pending_invoice_items_behavior", &["exclude", "include"])? == Some("include");
    let auto_advance = p.bool("auto_advance")?.unwrap_or(false);
    let metadata = p.new_metadata("metadata")?;
    let description = p.opt_str("description")?.map(str::to_string);
    app.with(|s| {
        let c = find(&s.customers, &customer, "customer", "customer")?;
        let subscription = p.opt_str("subscription")?.map(str::to_string);
        if let Some(sub) = &subscription {
            find(&s.subscriptions, sub, "subscription", "subscription")?;
        }
        let default_payment_method = p.opt_str("default_payment_method")?.map(str::to_string);
        if let Some(pm) = &default_payment_method {
            check_attached(s, &customer, pm, "default_payment_method")?;
        }
        let currency = p
            .opt_str("currency")?
            .map(str::to_lowercase)
            .or_else(|| c.currency.clone())
            .unwrap_or_else(|| "usd".into());
        let now = s.now_for_customer(&customer);
        let id = new_id("in_");
        let lines =
            if include { rules::take_pending_items(s, &customer, subscription.as_deref(), &id) } else { Vec::new() };
        let new = NewInvoice {
            customer,
            subscription,
            billing_reason: "manual",
            collection_method,
            auto_advance,
            metadata,
            description,
            currency,
            period_start: now,
            period_end: now,
            default_payment_method,
            created: now,
        };
        rules::create(s, new, id.clone(), lines, &origin);
        render(s, &id, &p)
    })
}

/// `POST /v1/invoiceitems`: a pending item, or a line on a draft invoice.
pub async fn create_item(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "customer",
        "amount",
        "currency",
        "description",
        "invoice",
        "metadata",
        "subscription",
        "period",
        "quantity",
    ])?;
    let customer = p.required_str("customer")?.to_string();
    let amount = p.i64("amount")?.ok_or_else(|| ApiError::missing_param("amount"))?;
    let quantity = p.u64("quantity")?.unwrap_or(1);
    let description = p.opt_str("description")?.map(str::to_string);
    let metadata = p.new_metadata("metadata")?;
    let period = p.child("period")?;
    app.with(|s| {
        let c = find(&s.customers, &customer, "customer", "customer")?;
        let currency = p
            .opt_str("currency")?
            .map(str::to_lowercase)
            .or_else(|| c.currency.clone())
            .ok_or_else(|| ApiError::missing_param("currency"))?;
        let invoice = p.opt_str("invoice")?.map(str::to_string);
        if let Some(inv_id) = &invoice {
            let inv = find(&s.invoices, inv_id, "invoice", "invoice")?;
            if inv.status != InvoiceStatus::Draft {
                return Err(ApiError::invalid_param("invoice", "You can only add invoice items to draft invoices."));
            }
            if inv.customer != customer {
                return Err(ApiError::invalid_param("invoice", "The invoice belongs to another customer."));
            }
            if inv.currency != currency {
                return Err(ApiError::invalid_param(
                    "currency",
                    format!("The currency must match the invoice's currency ({}).", inv.currency),
                ));
            }
        }
        let subscription = p.opt_str("subscription")?.map(str::to_string);
        if let Some(sub) = &subscription {
            find(&s.subscriptions, sub, "subscription", "subscription")?;
        }
        let now = s.now_for_customer(&customer);
        let (start, end) = match &period {
            Some(pp) => (
                pp.i64("start")?.ok_or_else(|| ApiError::missing_param("period[start]"))?,
                pp.i64("end")?.ok_or_else(|| ApiError::missing_param("period[end]"))?,
            ),
            None => (now, now),
        };
        let ii = InvoiceItem {
            id: new_id("ii_"),
            seq: s.next_seq(),
            created: now,
            customer: customer.clone(),
            amount: amount * quantity as i64,
            currency,
            description,
            invoice: invoice.clone(),
            period_start: start,
            period_end: end,
            proration: false,
            subscription,
            subscription_item: None,
            price: None,
            quantity,
            metadata,
            test_clock: s.clock_of(&customer).map(str::to_string),
        };
        if let Some(inv) = &invoice {
            rules::add_lines(s, inv, vec![rules::line_from_item(&ii)]);
        }
        let snapshot = objects::invoice_item(s, &ii);
        s.invoice_items.insert(ii.id.clone(), ii);
        s.emit("invoiceitem.created", now, snapshot.clone(), None, &origin);
        respond(s, snapshot, &p)
    })
}

/// `POST /v1/invoices/{id}/finalize`
pub async fn finalize(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["auto_advance"])?;
    app.with(|s| {
        let customer = find(&s.invoices, &id, "invoice", "id")?.customer.clone();
        if let Some(auto) = p.bool("auto_advance")? {
            if let Some(inv) = s.invoices.get_mut(&id) {
                inv.auto_advance = auto;
            }
        }
        let now = s.now_for_customer(&customer);
        rules::finalize(s, &id, now, &origin)?;
        render(s, &id, &p)
    })
}

/// `POST /v1/invoices/{id}/pay`: `paid_out_of_band=true` marks it paid; otherwise the
/// default payment method (or `payment_method`) is charged: 402 `card_error` on a decline.
pub async fn pay(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["paid_out_of_band", "payment_method", "off_session", "forgive"])?;
    let out_of_band = p.bool("paid_out_of_band")?.unwrap_or(false);
    let payment_method = p.opt_str("payment_method")?.map(str::to_string);
    p.bool("off_session")?;
    p.bool("forgive")?;
    app.with(|s| {
        let inv = find(&s.invoices, &id, "invoice", "id")?;
        let customer = inv.customer.clone();
        match inv.status {
            InvoiceStatus::Paid => return Err(ApiError::invalid("Invoice is already paid")),
            InvoiceStatus::Void => return Err(ApiError::invalid("You cannot pay a void invoice.")),
            InvoiceStatus::Draft | InvoiceStatus::Open => {}
        }
        if let Some(pm) = &payment_method {
            check_attached(s, &customer, pm, "payment_method")?;
        }
        let now = s.now_for_customer(&customer);
        // Paying a draft finalizes it first, as Stripe does.
        if s.invoices.get(&id).is_some_and(|i| i.status == InvoiceStatus::Draft) {
            rules::finalize(s, &id, now, &origin)?;
        }
        if s.invoices.get(&id).is_some_and(|i| i.status == InvoiceStatus::Open) {
            rules::attempt(s, &id, now, out_of_band, payment_method.as_deref(), &origin).map_err(|f| f.into_error())?;
        }
        render(s, &id, &p)
    })
}

/// `POST /v1/invoices/create_preview` (`customer`, `subscription`): the next invoice of the
/// subscription (the customer's first live one if not given): the licensed prices of the next
/// period, the metered usage of the current period so far, and pending invoice items.
pub async fn create_preview(State(app): AppState, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["customer", "subscription"])?;
    app.with(|s| {
        let subscription = match p.opt_str("subscription")? {
            Some(id) => Some(find(&s.subscriptions, id, "subscription", "subscription")?.clone()),
            None => None,
        };
        let customer = match (p.opt_str("customer")?, &subscription) {
            (Some(c), Some(sub)) if sub.customer != c => {
                return Err(ApiError::invalid_param(
                    "subscription",
                    "The subscription does not belong to this customer.",
                ))
            }
            (Some(c), _) => c.to_string(),
            (None, Some(sub)) => sub.customer.clone(),
            (None, None) => return Err(ApiError::missing_param("customer")),
        };
        let c = find(&s.customers, &customer, "customer", "customer")?;
        let balance = c.balance;
        let subscription = subscription.or_else(|| {
            let mut live: Vec<_> =
                s.subscriptions.values().filter(|x| x.customer == customer && x.status.is_live()).collect();
            live.sort_by_key(|x| x.seq);
            live.first().map(|x| (*x).clone())
        });
        let subscription =
            subscription.filter(|x| x.status != SubStatus::Canceled && x.status != SubStatus::IncompleteExpired);
        let mut lines = Vec::new();
        let now = s.now_for_customer(&customer);
        let (created, period) = match &subscription {
            Some(sub) => {
                let current = (sub.current_period_start, sub.current_period_end);
                let next = (!sub.cancel_at_period_end).then(|| {
                    (
                        sub.current_period_end,
                        period_end(sub.billing_cycle_anchor, sub.interval, sub.interval_count, sub.period_index + 1),
                    )
                });
                lines.extend(cycle_lines(s, sub, Some(current), next));
                (sub.current_period_end, current)
            }
            None => (now, (now, now)),
        };
        lines.extend(rules::pending_lines(s, &customer, subscription.as_ref().map(|x| x.id.as_str())));
        if subscription.is_none() && lines.is_empty() {
            return Err(ApiError::no_such("upcoming invoice for customer", &customer, "customer")
                .code("invoice_upcoming_none")
                .with("message", Value::from(format!("No upcoming invoices for customer: {customer}"))));
        }
        let new = match &subscription {
            Some(sub) => NewInvoice::for_subscription(sub, "upcoming", period, created),
            None => NewInvoice {
                customer: customer.clone(),
                subscription: None,
                billing_reason: "manual",
                collection_method: "charge_automatically",
                auto_advance: true,
                metadata: Metadata::new(),
                description: None,
                currency: lines.first().map_or_else(|| "usd".to_string(), |l| l.currency.clone()),
                period_start: period.0,
                period_end: period.1,
                default_payment_method: None,
                created,
            },
        };
        let mut preview = rules::build(s, new, new_id("upcoming_in_"), lines);
        preview.starting_balance = balance;
        respond(s, objects::invoice(s, &preview), &p)
    })
}

/// `GET /invoices/{id}`: the hosted invoice page (`hosted_invoice_url`).
pub async fn hosted_page(State(app): AppState, Path(id): Path<String>) -> Response {
    app.with(|s| match s.invoices.get(&id) {
        None => (StatusCode::NOT_FOUND, Html("<p>No such invoice.</p>".to_string())).into_response(),
        Some(inv) => {
            let lines: String = inv
                .lines
                .iter()
                .map(|l| {
                    format!(
                        "<tr><td>{}</td><td>{}</td></tr>",
                        escape_html(l.description.as_deref().unwrap_or("")),
                        money(l.amount, &l.currency)
                    )
                })
                .collect();
            Html(format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Invoice {number}</title></head><body>\
<h1>Invoice {number}</h1><p>Status: {status}</p><table>{lines}</table><p>Amount due: {due}</p>\
<p><a href=\"/invoices/{id}/pdf\">Download PDF</a></p></body></html>",
                number = inv.number.as_deref().unwrap_or(&inv.id),
                status = inv.status.as_str(),
                due = money(inv.amount_due(), &inv.currency),
            ))
            .into_response()
        }
    })
}

/// `GET /invoices/{id}/pdf`: a minimal one-page PDF (`invoice_pdf`).
pub async fn pdf(State(app): AppState, Path(id): Path<String>) -> Response {
    app.with(|s| match s.invoices.get(&id) {
        None => (StatusCode::NOT_FOUND, "No such invoice").into_response(),
        Some(inv) => {
            let text = format!(
                "Invoice {} - {} - {}",
                inv.number.as_deref().unwrap_or(&inv.id),
                inv.status.as_str(),
                money(inv.amount_due(), &inv.currency)
            );
            ([("content-type", "application/pdf")], minimal_pdf(&text)).into_response()
        }
    })
}

/// A valid single-page PDF showing one line of text (ASCII; parentheses removed).
fn minimal_pdf(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| c.is_ascii() && !matches!(c, '(' | ')' | '\\')).collect();
    let stream = format!("BT /F1 14 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{body}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1));
    out.into_bytes()
}

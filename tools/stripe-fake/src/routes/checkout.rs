//! `/v1/checkout/sessions` and the hosted checkout page (`/checkout/{id}`).

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use chrono::Datelike;
use serde_json::Value;

use super::{escape_html, respond, AppState, Form};
use crate::billing::checkout::{self, CardInput};
use crate::clock::wall_now;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::{find, CheckoutSession, Origin, SessionLine, SessionMode, SetupIntent};

/// Sessions expire after 24 hours, Stripe's default.
const SESSION_LIFETIME: i64 = 24 * 3600;

/// `POST /v1/checkout/sessions`
pub async fn create(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "mode",
        "customer",
        "customer_email",
        "client_reference_id",
        "line_items",
        "subscription_data",
        "metadata",
        "success_url",
        "cancel_url",
        "currency",
        "payment_method_types",
        "expires_at",
    ])?;
    let mode = match p.one_of("mode", &["payment", "setup", "subscription"])? {
        None => return Err(ApiError::missing_param("mode")),
        Some("payment") => {
            return Err(ApiError::invalid_param(
                "mode",
                "The Stripe fake supports `setup` and `subscription` mode only.",
            ))
        }
        Some("setup") => SessionMode::Setup,
        Some(_) => SessionMode::Subscription,
    };
    let customer = p.opt_str("customer")?.map(str::to_string);
    let customer_email = p.opt_str("customer_email")?.map(str::to_string);
    if customer.is_some() && customer_email.is_some() {
        return Err(ApiError::invalid("You may only specify one of these parameters: customer, customer_email."));
    }
    let mut lines = Vec::new();
    for item in p.list("line_items")? {
        item.allow(&["price", "quantity"])?;
        lines.push((item.required_str("price")?.to_string(), item.u64("quantity")?, item.name("quantity")));
    }
    let subscription_metadata = match p.child("subscription_data")? {
        None => Default::default(),
        Some(sd) => {
            sd.allow(&["metadata"])?;
            sd.new_metadata("metadata")?
        }
    };
    for t in p.strings("payment_method_types")? {
        if t != "card" {
            return Err(ApiError::invalid_param(
                "payment_method_types",
                format!("The Stripe fake supports `card` only, not `{t}`."),
            ));
        }
    }
    let metadata = p.new_metadata("metadata")?;
    app.with(|s| {
        if let Some(c) = &customer {
            find(&s.customers, c, "customer", "customer")?;
        }
        let mut line_items = Vec::new();
        for (price_id, quantity, quantity_param) in lines {
            let price = find(&s.prices, &price_id, "price", "line_items[price]")?;
            let quantity = match (price.is_metered(), quantity) {
                (true, Some(_)) => {
                    return Err(ApiError::invalid_param(
                        quantity_param,
                        "Quantity should not be specified where usage_type is `metered`.",
                    ))
                }
                (false, None) => return Err(ApiError::missing_param(&quantity_param)),
                (_, q) => q,
            };
            if !price.active {
                return Err(ApiError::invalid(
                    "The price specified is inactive. This field only accepts active prices.",
                ));
            }
            if price.recurring.is_none() {
                return Err(ApiError::invalid(
                    "The Stripe fake's subscription-mode sessions accept recurring prices only.",
                ));
            }
            line_items.push(SessionLine { id: new_id("li_"), price: price_id, quantity });
        }
        match mode {
            SessionMode::Subscription if line_items.is_empty() => return Err(ApiError::missing_param("line_items")),
            SessionMode::Setup if !line_items.is_empty() => {
                return Err(ApiError::invalid_param("line_items", "You cannot pass `line_items` in `setup` mode."))
            }
            _ => {}
        }
        let now = customer.as_deref().map_or_else(wall_now, |c| s.now_for_customer(c));
        let expires_at = p.i64("expires_at")?.unwrap_or(now + SESSION_LIFETIME);
        let setup_intent = match mode {
            SessionMode::Setup => {
                let si = SetupIntent {
                    id: new_id("seti_"),
                    created: now,
                    customer: customer.clone(),
                    payment_method: None,
                    succeeded: false,
                    metadata: Default::default(),
                };
                let snapshot = objects::setup_intent(&si);
                let id = si.id.clone();
                s.setup_intents.insert(id.clone(), si);
                s.emit("setup_intent.created", now, snapshot, None, &origin);
                Some(id)
            }
            SessionMode::Subscription => None,
        };
        let session = CheckoutSession {
            id: new_id("cs_test_a1"),
            created: now,
            expires_at,
            mode,
            customer,
            customer_email,
            client_reference_id: p.opt_str("client_reference_id")?.map(str::to_string),
            line_items,
            subscription_metadata,
            metadata,
            success_url: p.opt_str("success_url")?.map(str::to_string),
            cancel_url: p.opt_str("cancel_url")?.map(str::to_string),
            currency: p.opt_str("currency")?.map(str::to_lowercase),
            complete: false,
            subscription: None,
            setup_intent,
            invoice: None,
        };
        let id = session.id.clone();
        s.sessions.insert(id.clone(), session);
        render(s, &id, &p)
    })
}

fn render(s: &crate::state::State, id: &str, p: &Params) -> ApiResult<Json<Value>> {
    let cs = find(&s.sessions, id, "checkout.session", "id")?;
    let mut value = objects::checkout_session(s, cs);
    // line_items is not an id but a sub-list: Stripe includes it only when expanded.
    if p.strings("expand")?.iter().any(|e| e == "line_items") {
        value["line_items"] = objects::checkout_line_items(s, cs);
    }
    respond(s, value, p)
}

/// `GET /v1/checkout/sessions/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| render(s, &id, &p))
}

/// The hosted page: what is bought, a card field and a button.
fn page_html(s: &crate::state::State, cs: &CheckoutSession, error: Option<&str>) -> String {
    let items: String = cs
        .line_items
        .iter()
        .filter_map(|l| s.prices.get(&l.price).map(|p| (l, p)))
        .map(|(l, p)| {
            let name = s.products.get(&p.product).map_or(p.product.as_str(), |x| x.name.as_str());
            let qty = l.quantity.map_or_else(|| "metered".to_string(), |q| format!("{q} ×"));
            format!(
                "<li>{} {} at {}</li>",
                escape_html(&qty),
                escape_html(name),
                crate::billing::invoices::money(p.unit_amount, &p.currency)
            )
        })
        .collect();
    let button = match cs.mode {
        SessionMode::Setup => "Save card",
        SessionMode::Subscription => "Pay",
    };
    let error = error.map_or(String::new(), |e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e)));
    let year = chrono::Utc::now().year() % 100 + 5;
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stripe fake checkout</title></head><body>\
<h1>Stripe fake checkout</h1><p>Session <code>{id}</code></p><ul>{items}</ul>{error}\
<form method=\"post\" action=\"/checkout/{id}\">\
<label>Card number <input name=\"card\" value=\"4242424242424242\" autocomplete=\"cc-number\"></label>\
<label>Expiry <input name=\"exp\" value=\"12/{year:02}\"></label>\
<label>CVC <input name=\"cvc\" value=\"123\"></label>\
<button type=\"submit\">{button}</button></form></body></html>",
        id = escape_html(&cs.id),
    )
}

/// `GET /checkout/{id}`
pub async fn page(State(app): AppState, Path(id): Path<String>) -> Response {
    app.with(|s| match s.sessions.get(&id) {
        None => (StatusCode::NOT_FOUND, Html("<p>No such checkout session.</p>".to_string())).into_response(),
        Some(cs) if cs.complete => {
            Html("<p>This Checkout Session is no longer active.</p>".to_string()).into_response()
        }
        Some(cs) => Html(page_html(s, cs, None)).into_response(),
    })
}

/// Reads `MM/YY` (or `MM/YYYY`); `None` when malformed.
fn parse_expiry(exp: &str) -> Option<(u32, i32)> {
    let (m, y) = exp.split_once('/')?;
    let month: u32 = m.trim().parse().ok().filter(|m| (1..=12).contains(m))?;
    let year: i32 = y.trim().parse().ok()?;
    Some((month, if year < 100 { 2000 + year } else { year }))
}

/// `POST /checkout/{id}` (form fields `card`, optional `exp`): completes the session and
/// redirects to its success URL, or shows the page again with the card's error.
pub async fn submit(State(app): AppState, Path(id): Path<String>, Form(body): Form) -> Response {
    let p = Params::root(&body).ok();
    let field = |k: &str| p.as_ref().and_then(|p| p.opt_str(k).ok().flatten()).map(str::to_string);
    let number = field("card").unwrap_or_default();
    let now = chrono::Utc::now();
    let expiry = match field("exp") {
        None => Some((12, now.year() + 5)),
        Some(e) => parse_expiry(&e),
    };
    app.with(|s| {
        let Some(cs) = s.sessions.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, Html("<p>No such checkout session.</p>".to_string())).into_response();
        };
        let card = match expiry {
            None => {
                return (
                    StatusCode::PAYMENT_REQUIRED,
                    Html(page_html(s, &cs, Some("Your card's expiration date is invalid."))),
                )
                    .into_response()
            }
            Some((m, y)) if (y, m) < (now.year(), now.month()) => {
                return (StatusCode::PAYMENT_REQUIRED, Html(page_html(s, &cs, Some("Your card has expired."))))
                    .into_response()
            }
            Some((exp_month, exp_year)) => CardInput { number, exp_month, exp_year },
        };
        match checkout::complete(s, &id, &card) {
            Ok(Some(url)) => Redirect::to(&url).into_response(),
            Ok(None) => Html("<p>Thanks! Your checkout is complete.</p>".to_string()).into_response(),
            Err(message) => (StatusCode::PAYMENT_REQUIRED, Html(page_html(s, &cs, Some(&message)))).into_response(),
        }
    })
}

//! `/v1/subscriptions`.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::billing::changes::{self, ItemChange, SubscriptionUpdate};
use crate::billing::subscriptions::{self as rules, NewItem, NewSubscription, PaymentBehavior, Proration};
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::params::Params;
use crate::state::{find, Origin};

const PAYMENT_BEHAVIORS: [&str; 4] =
    ["allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"];
const PRORATION_BEHAVIORS: [&str; 3] = ["always_invoice", "create_prorations", "none"];

fn render(s: &crate::state::State, id: &str, p: &Params) -> ApiResult<Json<Value>> {
    let sub = find(&s.subscriptions, id, "subscription", "id")?;
    respond(s, objects::subscription(s, sub), p)
}

/// `POST /v1/subscriptions`
pub async fn create(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "customer",
        "items",
        "metadata",
        "description",
        "default_payment_method",
        "proration_behavior",
        "payment_behavior",
        "collection_method",
    ])?;
    p.one_of("proration_behavior", &PRORATION_BEHAVIORS)?;
    if p.one_of("collection_method", &["charge_automatically", "send_invoice"])? == Some("send_invoice") {
        return Err(ApiError::invalid_param(
            "collection_method",
            "The Stripe fake supports `charge_automatically` only.",
        ));
    }
    let mut items = Vec::new();
    for item in p.list("items")? {
        item.allow(&["price", "quantity", "metadata"])?;
        items.push(NewItem {
            price: item.required_str("price")?.to_string(),
            quantity: item.u64("quantity")?,
            metadata: item.new_metadata("metadata")?,
            param: item.path().to_string(),
        });
    }
    let new = NewSubscription {
        customer: p.required_str("customer")?.to_string(),
        items,
        metadata: p.new_metadata("metadata")?,
        description: p.opt_str("description")?.map(str::to_string),
        default_payment_method: p.opt_str("default_payment_method")?.map(str::to_string),
        payment_behavior: PaymentBehavior::parse(p.one_of("payment_behavior", &PAYMENT_BEHAVIORS)?),
    };
    app.with(|s| {
        let id = rules::create(s, new, &origin)?;
        render(s, &id, &p)
    })
}

/// `GET /v1/subscriptions/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| render(s, &id, &p))
}

/// `POST /v1/subscriptions/{id}`
pub async fn update(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[
        "items",
        "proration_behavior",
        "payment_behavior",
        "cancel_at_period_end",
        "metadata",
        "default_payment_method",
        "description",
    ])?;
    let mut items = Vec::new();
    for item in p.list("items")? {
        item.allow(&["id", "price", "quantity", "deleted", "metadata"])?;
        items.push(ItemChange {
            id: item.opt_str("id")?.map(str::to_string),
            price: item.opt_str("price")?.map(str::to_string),
            quantity: item.u64("quantity")?,
            deleted: item.bool("deleted")?.unwrap_or(false),
            metadata: item.metadata("metadata")?,
            param: item.path().to_string(),
        });
    }
    let upd = SubscriptionUpdate {
        items,
        proration: Proration::parse(p.one_of("proration_behavior", &PRORATION_BEHAVIORS)?),
        payment_behavior: PaymentBehavior::parse(p.one_of("payment_behavior", &PAYMENT_BEHAVIORS)?),
        cancel_at_period_end: p.bool("cancel_at_period_end")?,
        metadata: p.metadata("metadata")?,
        default_payment_method: p
            .has("default_payment_method")
            .then(|| p.opt_str("default_payment_method"))
            .transpose()?
            .map(|o| o.map(str::to_string)),
        description: p.has("description").then(|| p.opt_str("description")).transpose()?.map(|o| o.map(str::to_string)),
    };
    app.with(|s| {
        changes::update(s, &id, upd, &origin)?;
        render(s, &id, &p)
    })
}

/// `DELETE /v1/subscriptions/{id}` (`invoice_now`, `prorate`)
pub async fn cancel(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["invoice_now", "prorate"])?;
    let invoice_now = p.bool("invoice_now")?.unwrap_or(false);
    let prorate = p.bool("prorate")?.unwrap_or(false);
    app.with(|s| {
        changes::cancel(s, &id, invoice_now, prorate, &origin)?;
        render(s, &id, &p)
    })
}

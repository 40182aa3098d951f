//! `/v1/payment_methods` and `/v1/customers/{id}/payment_methods`.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::billing::payments::{self, resolve_token};
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::params::Params;
use crate::state::{find, Origin, State as FakeState};

/// The customer's card payment methods, newest first, as a list page.
fn list_of(s: &FakeState, customer: Option<&str>, p: &Params, url: &str) -> ApiResult<Json<Value>> {
    if let Some(t) = p.opt_str("type")? {
        // Only cards exist in the fake: any other type has none.
        if t != "card" {
            return respond(s, objects::list(Vec::new(), false, url), p);
        }
    }
    let limit = p.u64("limit")?.unwrap_or(10).clamp(1, 100) as usize;
    let mut pms: Vec<_> = s
        .payment_methods
        .values()
        .filter(|pm| pm.customer.is_some() && (customer.is_none() || pm.customer.as_deref() == customer))
        .collect();
    pms.sort_by_key(|pm| std::cmp::Reverse((pm.created, pm.seq)));
    let from = match p.opt_str("starting_after")? {
        Some(after) => pms.iter().position(|pm| pm.id == after).map_or(pms.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = pms.iter().skip(from).take(limit).map(|pm| objects::payment_method(pm)).collect();
    let has_more = from + page.len() < pms.len();
    respond(s, objects::list(page, has_more, url), p)
}

/// `GET /v1/payment_methods?customer=&type=card`
pub async fn list(State(app): AppState, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&["customer", "type", "limit", "starting_after"])?;
    app.with(|s| {
        let customer = p.opt_str("customer")?;
        if let Some(c) = customer {
            find(&s.customers, c, "customer", "customer")?;
        }
        list_of(s, customer, &p, "/v1/payment_methods")
    })
}

/// `GET /v1/customers/{id}/payment_methods`
pub async fn list_for_customer(
    State(app): AppState,
    Path(id): Path<String>,
    Form(query): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&["type", "limit", "starting_after", "allow_redisplay"])?;
    app.with(|s| {
        find(&s.customers, &id, "customer", "customer")?;
        list_of(s, Some(&id), &p, &format!("/v1/customers/{id}/payment_methods"))
    })
}

/// `GET /v1/payment_methods/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| {
        respond(s, objects::payment_method(find(&s.payment_methods, &id, "PaymentMethod", "payment_method")?), &p)
    })
}

/// `POST /v1/payment_methods/{id}/attach` (`customer`). Stripe's test tokens
/// (`pm_card_visa`, `pm_card_chargeCustomerFail`, ...) attach a new card.
pub async fn attach(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["customer"])?;
    let customer = p.required_str("customer")?.to_string();
    app.with(|s| {
        find(&s.customers, &customer, "customer", "customer")?;
        let now = s.now_for_customer(&customer);
        let pm = resolve_token(s, &id, now)?;
        payments::attach(s, &pm, &customer, now, &origin)?;
        respond(s, objects::payment_method(&s.payment_methods[&pm]), &p)
    })
}

/// `POST /v1/payment_methods/{id}/detach`. A detached card stops being anyone's default.
pub async fn detach(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&[])?;
    app.with(|s| {
        let pm = find(&s.payment_methods, &id, "PaymentMethod", "payment_method")?;
        let customer = pm.customer.clone().ok_or_else(|| {
            ApiError::invalid(
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            )
        })?;
        let now = s.now_for_customer(&customer);
        if let Some(pm) = s.payment_methods.get_mut(&id) {
            pm.customer = None;
            pm.detached = true;
        }
        let snapshot = objects::payment_method(&s.payment_methods[&id]);
        s.emit("payment_method.detached", now, snapshot.clone(), None, &origin);
        if s.customers.get(&customer).and_then(|c| c.default_payment_method.as_deref()) == Some(id.as_str()) {
            payments::set_default(s, &customer, None, now, &origin)?;
        }
        let subs: Vec<String> = s
            .subscriptions
            .values()
            .filter(|x| x.default_payment_method.as_deref() == Some(id.as_str()))
            .map(|x| x.id.clone())
            .collect();
        for sub in subs {
            let before = objects::subscription(s, &s.subscriptions[&sub]);
            if let Some(x) = s.subscriptions.get_mut(&sub) {
                x.default_payment_method = None;
            }
            let after = objects::subscription(s, &s.subscriptions[&sub]);
            s.emit_update("customer.subscription.updated", now, &before, after, &origin);
        }
        respond(s, snapshot, &p)
    })
}

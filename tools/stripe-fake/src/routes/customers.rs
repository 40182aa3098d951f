//! `/v1/customers`.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::billing::customers::{self as customer_rules, NewCustomer};
use crate::billing::payments::{attach, check_attached, resolve_token, set_default};
use crate::error::ApiResult;
use crate::objects;
use crate::params::Params;
use crate::state::{find, Origin};

/// `POST /v1/customers`
pub async fn create(
    State(app): AppState,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["email", "name", "description", "metadata", "test_clock", "payment_method", "invoice_settings"])?;
    let settings = p.child("invoice_settings")?;
    if let Some(settings) = &settings {
        settings.allow(&["default_payment_method"])?;
    }
    app.with(|s| {
        let test_clock = p.opt_str("test_clock")?;
        if let Some(clock) = test_clock {
            find(&s.clocks, clock, "test_clock", "test_clock")?;
        }
        let new = NewCustomer {
            email: p.opt_str("email")?.map(str::to_string),
            name: p.opt_str("name")?.map(str::to_string),
            description: p.opt_str("description")?.map(str::to_string),
            metadata: p.new_metadata("metadata")?,
            test_clock: test_clock.map(str::to_string),
        };
        let default_pm = settings.as_ref().map(|st| st.opt_str("default_payment_method")).transpose()?.flatten();
        let id = customer_rules::create(s, new, &origin);
        let now = s.now_for_customer(&id);
        let mut attached = None;
        if let Some(pm) = p.opt_str("payment_method")? {
            let pm = resolve_token(s, pm, now)?;
            attach(s, &pm, &id, now, &origin)?;
            attached = Some(pm);
        }
        if let Some(pm) = default_pm {
            // A test token given as both is the card just attached.
            let pm = match &attached {
                Some(a) if Some(pm) == p.opt_str("payment_method")? => a.clone(),
                _ => pm.to_string(),
            };
            check_attached(s, &id, &pm, "invoice_settings[default_payment_method]")?;
            set_default(s, &id, Some(&pm), now, &origin)?;
        }
        respond(s, objects::customer(s, &s.customers[&id]), &p)
    })
}

/// `GET /v1/customers/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| {
        let c = find(&s.customers, &id, "customer", "id")?;
        respond(s, objects::customer(s, c), &p)
    })
}

/// `POST /v1/customers/{id}`
pub async fn update(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["email", "name", "description", "metadata", "invoice_settings"])?;
    let settings = p.child("invoice_settings")?;
    if let Some(settings) = &settings {
        settings.allow(&["default_payment_method"])?;
    }
    app.with(|s| {
        let before_customer = find(&s.customers, &id, "customer", "id")?.clone();
        let mut c = before_customer.clone();
        if p.has("email") {
            c.email = p.opt_str("email")?.map(str::to_string);
        }
        if p.has("name") {
            c.name = p.opt_str("name")?.map(str::to_string);
        }
        if p.has("description") {
            c.description = p.opt_str("description")?.map(str::to_string);
        }
        if let Some(md) = p.metadata("metadata")? {
            md.apply(&mut c.metadata, "metadata")?;
        }
        if let Some(settings) = &settings {
            if settings.has("default_payment_method") {
                let pm = settings.opt_str("default_payment_method")?;
                if let Some(pm) = pm {
                    check_attached(s, &id, pm, "invoice_settings[default_payment_method]")?;
                }
                c.default_payment_method = pm.map(str::to_string);
            }
        }
        let now = s.now_for_customer(&id);
        let before = objects::customer(s, &before_customer);
        s.customers.insert(id.clone(), c);
        let after = objects::customer(s, &s.customers[&id]);
        s.emit_update("customer.updated", now, &before, after.clone(), &origin);
        respond(s, after, &p)
    })
}

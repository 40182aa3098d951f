//! `/_fake/*`: helpers that are not Stripe's (no API key needed).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{AppState, Form};
use crate::app::lock;
use crate::error::ApiResult;
use crate::params::Params;

/// `GET /_fake/health`
pub async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `POST /_fake/reset`: forgets every object, event and idempotency key (the webhook URL
/// stays).
pub async fn reset(State(app): AppState) -> Json<Value> {
    app.with(|s| {
        let fresh = crate::state::State::new(s.base_url.clone(), s.webhook_url.clone());
        *s = fresh;
    });
    lock(&app.idempotency).clear();
    Json(json!({ "ok": true }))
}

/// `POST /_fake/config` (`webhook_url`; empty stops posting): for tests that start the fake
/// before the server that receives its webhooks.
pub async fn config(State(app): AppState, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["webhook_url"])?;
    let url = p.opt_str("webhook_url")?.map(str::to_string);
    app.with(|s| s.webhook_url = url.clone());
    Ok(Json(json!({ "webhook_url": url })))
}

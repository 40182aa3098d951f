//! `/v1/events`: what was sent, so tests can look.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::error::{ApiError, ApiResult};
use crate::objects;
use crate::params::Params;

/// `GET /v1/events/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| {
        let event = s.event(&id).cloned().ok_or_else(|| ApiError::no_such("event", &id, "id"))?;
        respond(s, event, &p)
    })
}

/// `GET /v1/events?type=&types[]=&limit=&starting_after=`, newest first like Stripe's.
pub async fn list(State(app): AppState, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&["type", "types", "limit", "starting_after"])?;
    let limit = p.u64("limit")?.unwrap_or(10).clamp(1, 100) as usize;
    let kind = p.opt_str("type")?.map(str::to_string);
    let kinds = p.strings("types")?;
    app.with(|s| {
        // `type` may end in `*` (e.g. `invoice.*`), as Stripe allows.
        let matches = |t: &str| match &kind {
            Some(k) if k.ends_with('*') => t.starts_with(&k[..k.len() - 1]),
            Some(k) => t == k,
            None => kinds.is_empty() || kinds.iter().any(|k| k == t),
        };
        let newest_first: Vec<&Value> =
            s.events.iter().rev().filter(|e| e["type"].as_str().is_some_and(matches)).collect();
        let from = match p.opt_str("starting_after")? {
            Some(after) => newest_first.iter().position(|e| e["id"] == after).map_or(newest_first.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<Value> = newest_first.iter().skip(from).take(limit).map(|e| (*e).clone()).collect();
        let has_more = from + page.len() < newest_first.len();
        respond(s, objects::list(page, has_more, "/v1/events"), &p)
    })
}

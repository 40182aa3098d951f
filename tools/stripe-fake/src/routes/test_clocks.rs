//! `/v1/test_helpers/test_clocks`.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde_json::Value;

use super::{respond, AppState, Form};
use crate::billing::lifecycle;
use crate::clock::wall_now;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::objects;
use crate::params::Params;
use crate::state::{find, Origin, TestClock};

/// Stripe deletes test clocks 30 days after creation.
const CLOCK_LIFETIME: i64 = 30 * 86_400;

/// `POST /v1/test_helpers/test_clocks` (`frozen_time`, `name`)
pub async fn create(State(app): AppState, Form(body): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["frozen_time", "name"])?;
    let frozen_time = p.i64("frozen_time")?.ok_or_else(|| ApiError::missing_param("frozen_time"))?;
    let name = p.opt_str("name")?.map(str::to_string);
    app.with(|s| {
        let now = wall_now();
        let clock =
            TestClock { id: new_id("clock_"), created: now, frozen_time, name, deletes_after: now + CLOCK_LIFETIME };
        let snapshot = objects::test_clock(&clock, None);
        s.clocks.insert(clock.id.clone(), clock);
        respond(s, snapshot, &p)
    })
}

/// `GET /v1/test_helpers/test_clocks/{id}`
pub async fn retrieve(State(app): AppState, Path(id): Path<String>, Form(query): Form) -> ApiResult<Json<Value>> {
    let p = Params::root(&query)?;
    p.allow(&[])?;
    app.with(|s| respond(s, objects::test_clock(find(&s.clocks, &id, "test_clock", "id")?, None), &p))
}

/// `POST /v1/test_helpers/test_clocks/{id}/advance` (`frozen_time`). The fake applies the
/// advance before answering; the answer still says `advancing`, as Stripe's does, and the
/// clock reads `ready` from then on (`test_helpers.test_clock.ready` is recorded last).
pub async fn advance(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(origin): Extension<Origin>,
    Form(body): Form,
) -> ApiResult<Json<Value>> {
    let p = Params::root(&body)?;
    p.allow(&["frozen_time"])?;
    let to = p.i64("frozen_time")?.ok_or_else(|| ApiError::missing_param("frozen_time"))?;
    app.with(|s| {
        let clock = find(&s.clocks, &id, "test_clock", "id")?;
        if to <= clock.frozen_time {
            return Err(ApiError::invalid_param(
                "frozen_time",
                "The frozen_time must be after the test clock's current frozen_time.",
            ));
        }
        let advancing = objects::test_clock(clock, Some(to));
        s.emit("test_helpers.test_clock.advancing", wall_now(), advancing.clone(), None, &origin);
        lifecycle::advance(s, Some(&id), to);
        let ready = objects::test_clock(&s.clocks[&id], None);
        s.emit("test_helpers.test_clock.ready", wall_now(), ready, None, &Origin::default());
        let mut answer = advancing;
        answer["frozen_time"] = Value::from(to);
        respond(s, answer, &p)
    })
}

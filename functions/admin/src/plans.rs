//! `/api/admin/plans`: the plan catalog.

use crate::{double_option, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_app::subscriptions::PLAN_PREFIX;
use tollgate_domain::{AuditEvent, BillingType, Id, Plan, PlanDraft, PlanStatus, FREE_PLAN_ID};
use tollgate_http::openapi::fields;
use tollgate_http::{AdminUser, ApiError, ApiJson, AppState, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// Every plan, archived ones included, cheapest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanList {
    pub data: Vec<Plan>,
}

/// A new plan. Fields left out take the documented defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlanRequest {
    #[schema(schema_with = fields::name)]
    pub name: String,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
    /// Default `subscription`.
    pub billing_type: Option<BillingType>,
    /// Price per period in minor units of `currency`, >= 0.
    #[schema(example = 1900, minimum = 0)]
    pub price: i64,
    #[schema(schema_with = currency)]
    pub currency: Option<String>,
    /// Requests per minute per key, 1 to 1000000.
    #[schema(example = 300, minimum = 1, maximum = 1000000)]
    pub rate_limit: i64,
    /// Extra requests in a burst, 0 to 1000000; default none.
    #[schema(minimum = 0, maximum = 1000000)]
    pub burst: Option<i64>,
    /// Units per period, >= 1; `null` or absent = unlimited.
    #[schema(minimum = 1)]
    pub monthly_limit: Option<i64>,
    /// Minor units per 1,000 units of overage, >= 0; required for `pay_as_you_go` and `hybrid`.
    #[schema(minimum = 0)]
    pub overage_price: Option<i64>,
    /// Days usage logs are kept, 1 to 3650; default 30.
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<i64>,
    /// Usable API keys per organization, 1 to 1000; default 10.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_api_keys: Option<i64>,
    /// Projects per organization (the default project included), 1 to 1000; default 1
    /// for a free plan, 5 for a paid one.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_projects: Option<i64>,
    /// A JSON object shown on the pricing page; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub features: Option<serde_json::Value>,
    /// Default `active`.
    pub status: Option<PlanStatus>,
}

/// A partial update: fields left out keep their value; `null` clears the nullable ones
/// (`description`, `burst`, `monthly_limit` (= unlimited), `overage_price`). The result is
/// validated as a whole, as on creation. Subscribers see the change at once (the gateway
/// within its cache time).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlanRequest {
    #[schema(schema_with = fields::name_update)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = fields::description)]
    pub description: Option<Option<String>>,
    pub billing_type: Option<BillingType>,
    #[schema(minimum = 0)]
    pub price: Option<i64>,
    #[schema(schema_with = currency)]
    pub currency: Option<String>,
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1000000)]
    pub burst: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub monthly_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub overage_price: Option<Option<i64>>,
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<i64>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_api_keys: Option<i64>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_projects: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub features: Option<serde_json::Value>,
    /// `archived`: no new subscriptions; existing subscribers keep the plan.
    pub status: Option<PlanStatus>,
}

/// `currency`: three lower-case letters (ISO 4217); absent or `null`: `usd` on creation,
/// unchanged on update.
fn currency() -> utoipa::openapi::schema::Object {
    fields::string(true).pattern(Some(r"^\s*[a-z]{3}\s*$")).examples(["usd"]).build()
}

/// Result of a deletion. A plan with subscribers is archived instead of deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeletedPlan {
    /// True when the plan is gone.
    pub deleted: bool,
    /// True when the plan still has subscribers and was archived instead (it no longer
    /// appears on the price list; the subscribers keep it).
    pub archived: bool,
    /// The plan as it was deleted, or as it is now archived.
    pub plan: Plan,
}

/// The plan as stored (timestamps at the store's precision).
/// The plan as stored, after its product and prices at the payment provider were brought in
/// line (when billing is configured: created, updated, or archived with the plan). If the
/// provider fails, the plan stays saved without them (502): saving it again retries.
async fn stored(state: &AppState, plan: Plan) -> Result<Plan, ApiError> {
    let plan = match &state.payments {
        Some(payments) => tollgate_app::billing::sync_plan(state.store.as_ref(), payments.as_ref(), plan).await?,
        None => plan,
    };
    Ok(state.store.get_plan(&plan.id).await?.unwrap_or(plan))
}

async fn existing_plan(state: &AppState, raw: &str) -> Result<Plan, ApiError> {
    let id = path_id(raw, PLAN_PREFIX, "plan")?;
    state.store.get_plan(&id).await?.ok_or_else(|| ApiError::NotFound("plan".into()))
}

/// Every plan, archived ones included.
#[utoipa::path(get, path = "/api/admin/plans", operation_id = "admin_list_plans", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The plans", body = PlanList),
    ))]
pub async fn list_plans(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<PlanList>, ApiError> {
    Ok(Json(PlanList { data: state.store.list_plans().await? }))
}

/// Creates a plan (id `plan_<random>`).
#[utoipa::path(post, path = "/api/admin/plans", operation_id = "admin_create_plan", tag = "admin", security(("bearer" = [])),
    request_body = CreatePlanRequest,
    responses(
        (status = 201, description = "The new plan", body = Plan),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn create_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(req): ApiJson<CreatePlanRequest>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    let now = state.now();
    let plan = PlanDraft {
        name: req.name,
        description: req.description,
        billing_type: req.billing_type.unwrap_or(BillingType::Subscription),
        price: req.price,
        currency: req.currency.unwrap_or_else(|| "usd".into()),
        rate_limit: req.rate_limit,
        burst: req.burst,
        monthly_limit: req.monthly_limit,
        overage_price: req.overage_price,
        retention_days: req.retention_days.unwrap_or(30),
        max_api_keys: req.max_api_keys.unwrap_or(10),
        max_projects: req.max_projects.unwrap_or(if req.price > 0 { 5 } else { 1 }),
        features: req.features.unwrap_or_else(|| serde_json::json!({})),
        status: req.status.unwrap_or(PlanStatus::Active),
    }
    .into_plan(Id::generate(PLAN_PREFIX), now, now)?;
    state.store.create_plan(&plan).await?;
    state
        .audit(
            AuditEvent::new("plan.create", now).actor(&admin.user.id).target(plan.id.to_string()).ip(admin.ip).details(
                serde_json::json!({ "name": plan.name, "billing_type": plan.billing_type, "price": plan.price }),
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(stored(&state, plan).await?)))
}

/// Updates a plan: a partial update (see `UpdatePlanRequest`).
#[utoipa::path(put, path = "/api/admin/plans/{id}", operation_id = "admin_update_plan", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")),
    request_body = UpdatePlanRequest,
    responses(
        (status = 200, description = "The updated plan", body = Plan),
        (status = 422, description = "`invalid_field`", body = ErrorBody),
    ))]
pub async fn update_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdatePlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    let now = state.now();
    let current = existing_plan(&state, &id).await?;
    let mut d = PlanDraft::of(&current);
    let mut changed: Vec<&str> = Vec::new();
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = req.$field {
                d.$field = v;
                changed.push(stringify!($field));
            }
        };
    }
    set!(name);
    set!(description);
    set!(billing_type);
    set!(price);
    set!(currency);
    set!(rate_limit);
    set!(burst);
    set!(monthly_limit);
    set!(overage_price);
    set!(retention_days);
    set!(max_api_keys);
    set!(max_projects);
    set!(features);
    set!(status);
    // The provider's ids stay with the plan: the sync below updates them in place.
    let plan = Plan { billing: current.billing.clone(), ..d.into_plan(current.id.clone(), current.created_at, now)? };
    state.store.update_plan(&plan).await?;
    state
        .audit(
            AuditEvent::new("plan.update", now)
                .actor(&admin.user.id)
                .target(plan.id.to_string())
                .ip(admin.ip)
                .details(serde_json::json!({ "fields": changed })),
        )
        .await;
    Ok(Json(stored(&state, plan).await?))
}

/// Deletes a plan no subscription refers to. A plan with subscribers is archived instead
/// (still 200, with `archived: true`). The Free plan, where new organizations start, cannot
/// be deleted (409 `default_plan`).
#[utoipa::path(delete, path = "/api/admin/plans/{id}", operation_id = "admin_delete_plan", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Plan id")),
    responses(
        (status = 200, description = "Deleted (`deleted: true`) or, having subscribers, archived (`archived: true`)", body = DeletedPlan),
        (status = 409, description = "`default_plan`: the default (Free) plan cannot be deleted", body = ErrorBody),
    ))]
pub async fn delete_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<DeletedPlan>, ApiError> {
    let now = state.now();
    let mut plan = existing_plan(&state, &id).await?;
    if plan.id.as_str() == FREE_PLAN_ID {
        return Err(ApiError::rejected(
            ErrorCode::DefaultPlan,
            "new organizations start on this plan; it cannot be deleted",
        ));
    }
    let target = plan.id.to_string();
    let event =
        |action: &str| AuditEvent::new(action, now).actor(&admin.user.id).target(target.clone()).ip(admin.ip.clone());
    if state.store.delete_plan_if_unused(&plan.id).await? {
        state.audit(event("plan.delete").details(serde_json::json!({ "name": plan.name }))).await;
        return Ok(Json(DeletedPlan { deleted: true, archived: false, plan }));
    }
    if plan.status != PlanStatus::Archived {
        plan.status = PlanStatus::Archived;
        plan.updated_at = now;
        state.store.update_plan(&plan).await?;
        state.audit(event("plan.archive").details(serde_json::json!({ "reason": "has subscribers" }))).await;
        plan = stored(&state, plan).await?;
    }
    Ok(Json(DeletedPlan { deleted: false, archived: true, plan }))
}

//! Handlers of `/api/user/webhooks`: the organization's webhook endpoints, their test event,
//! their signing secret and their deliveries. Every query is scoped to the caller's
//! organization, so another tenant's endpoint id is simply "not found". The signing secret
//! is in the answers that create or rotate it, nowhere else, and never in a log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tollgate_app::webhooks::check_endpoint_url;
use tollgate_domain::text::DESCRIPTION_MAX;
use tollgate_domain::webhook::{generate_secret, validate_events, EVENT_TYPES};
use tollgate_domain::{
    AuditEvent, DeliveryAttempt, DeliveryStatus, Id, Notification, PageLimits, QueueName, StoreError, WebhookDelivery,
    WebhookEndpoint, WebhookInputError, WebhookTest, MAX_ENDPOINTS_PER_ORG,
};
use tollgate_http::openapi::fields;
use tollgate_http::views::optional_text_field;
use tollgate_http::{
    can, page_limit, ApiError, ApiJson, ApiQuery, AppState, AuthUser, Authorized, ErrorBody, ErrorCode,
};
use utoipa::{IntoParams, ToSchema};

/// Page sizes of the delivery listing.
const DELIVERY_PAGE: PageLimits = PageLimits { default: 20, max: 100 };

/// An endpoint as shown (never with its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    #[schema(example = "wh_4f9K2mZq8TfW1pLx0aB3")]
    pub id: Id,
    pub url: String,
    /// Subscribed event types, or `["*"]` for all of them.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        WebhookView {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub data: Vec<WebhookView>,
    /// How many endpoints an organization may register.
    pub limit: u32,
    /// The event types an endpoint can subscribe to.
    pub event_types: Vec<String>,
}

/// A new endpoint, with its signing secret: shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    pub id: Id,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    /// The key of the `Tollgate-Signature` HMAC. Store it now: it is not shown again
    /// (rotate it to get a new one).
    #[schema(example = "whsec_4f9K2mZq8TfW1pLx0aB3cD0x7Qa2ab34")]
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new signing secret: shown this once; the previous one stops signing at once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedWebhookSecret {
    pub id: Id,
    pub secret: String,
}

/// The test event queued for the endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueuedTestEvent {
    /// The event's `id`, as the endpoint will receive it.
    pub event_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// `https://` URL (no private, loopback or link-local host).
    #[schema(example = "https://hooks.example.com/tollgate")]
    pub url: String,
    /// Event types, or `["*"]` for all of them.
    #[schema(example = json!(["quota.threshold_reached", "quota.exceeded"]))]
    pub events: Vec<String>,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
}

/// A partial update: fields left out keep their value; an empty description clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[schema(schema_with = fields::description)]
    pub description: Option<String>,
}

/// A delivery of one event to the endpoint, with its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryView {
    pub id: Id,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The endpoint's HTTP status at the last attempt (none if it did not answer).
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<u32>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest attempts, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

impl From<WebhookDelivery> for WebhookDeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        WebhookDeliveryView {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_latency_ms: d.last_latency_ms,
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
            attempt_log: d.attempt_log,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveryList {
    /// Newest first.
    pub data: Vec<WebhookDeliveryView>,
}

/// The size of the delivery listing.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// 1 to 100 (20 when absent).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// 422: `invalid_webhook_url` for a refused URL, the field's code otherwise.
fn input_error(e: WebhookInputError) -> ApiError {
    match e {
        WebhookInputError::InvalidUrl(message) => ApiError::rejected(ErrorCode::InvalidWebhookUrl, message),
        WebhookInputError::Field(e) => ApiError::Domain(e),
    }
}

/// Ids that cannot be ours are 404 without touching the store.
fn webhook_id(raw: &str) -> Result<Id, ApiError> {
    WebhookEndpoint::parse_id(raw).ok_or_else(|| ApiError::NotFound("webhook".into()))
}

/// The organization's endpoint `raw`, or 404.
async fn webhook_of(state: &AppState, auth: &AuthUser, raw: &str) -> Result<WebhookEndpoint, ApiError> {
    let id = webhook_id(raw)?;
    state.store.get_webhook(&auth.org_id, &id).await?.ok_or_else(|| ApiError::NotFound("webhook".into()))
}

/// The audit event of `action` by the signed-in user on the endpoint `id`.
fn webhook_event(action: &str, now: DateTime<Utc>, auth: &AuthUser, id: &Id) -> AuditEvent {
    auth.audit_event(action, now).target(id.to_string())
}

/// The organization's webhook endpoints, oldest first.
#[utoipa::path(get, path = "/api/user/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "The endpoints", body = WebhookList)))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
) -> Result<Json<WebhookList>, ApiError> {
    let data = state.store.list_webhooks(&auth.org_id).await?.iter().map(WebhookView::from).collect();
    let event_types = EVENT_TYPES.iter().map(|t| t.to_string()).collect();
    Ok(Json(WebhookList { data, limit: MAX_ENDPOINTS_PER_ORG, event_types }))
}

/// Registers an endpoint. The answer carries its signing secret, shown this once.
#[utoipa::path(post, path = "/api/user/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "The endpoint, with its secret", body = CreatedWebhook),
        (status = 409, description = "`webhook_limit_reached`: the organization has 10 endpoints", body = ErrorBody),
        (status = 422, description = "`invalid_webhook_url`: a refused URL; `invalid_field`: unknown event types or a too long description", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    let now = state.now();
    let allow_insecure = state.settings.allow_insecure_webhook_urls;
    let endpoint =
        WebhookEndpoint::new(&auth.org_id, &req.url, &req.events, req.description.as_deref(), allow_insecure, now)
            .map_err(input_error)?;
    check_endpoint_url(&endpoint.url, allow_insecure).await.map_err(input_error)?;
    state.store.create_webhook(&endpoint, MAX_ENDPOINTS_PER_ORG).await.map_err(|e| match e {
        StoreError::LimitReached(_) => ApiError::rejected(
            ErrorCode::WebhookLimitReached,
            format!("an organization may register {MAX_ENDPOINTS_PER_ORG} webhook endpoints; delete one first"),
        ),
        e => e.into(),
    })?;
    state.audit(webhook_event("webhook.create", now, &auth, &endpoint.id)).await;
    let created = CreatedWebhook {
        id: endpoint.id,
        url: endpoint.url,
        events: endpoint.events,
        description: endpoint.description,
        secret: endpoint.secret,
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One endpoint (without its secret).
#[utoipa::path(get, path = "/api/user/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "`not_found`: no such endpoint in the organization", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(WebhookView::from(&webhook_of(&state, &auth, &id).await?)))
}

/// Changes an endpoint's URL, event types or description.
#[utoipa::path(put, path = "/api/user/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_webhook_url` or `invalid_field`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhookRequest>,
) -> Result<Json<WebhookView>, ApiError> {
    let now = state.now();
    let mut endpoint = webhook_of(&state, &auth, &id).await?;
    if let Some(events) = &req.events {
        endpoint.events = validate_events(events)?;
    }
    if let Some(description) = &req.description {
        endpoint.description = optional_text_field("description", Some(description), DESCRIPTION_MAX)?;
    }
    if let Some(url) = &req.url {
        endpoint.url =
            check_endpoint_url(url, state.settings.allow_insecure_webhook_urls).await.map_err(input_error)?;
    }
    endpoint.updated_at = now;
    state.store.update_webhook(&endpoint).await?;
    state.audit(webhook_event("webhook.update", now, &auth, &endpoint.id)).await;
    Ok(Json(WebhookView::from(&endpoint)))
}

/// Deletes an endpoint: it receives nothing more (pending deliveries fail).
#[utoipa::path(delete, path = "/api/user/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    state.store.delete_webhook(&auth.org_id, &id).await?;
    state.audit(webhook_event("webhook.delete", state.now(), &auth, &id)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a `webhook.test` event for the endpoint (whatever its event types); it arrives
/// within seconds, signed like every event.
#[utoipa::path(post, path = "/api/user/webhooks/{id}/test", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = QueuedTestEvent),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn test_webhook(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<QueuedTestEvent>), ApiError> {
    let endpoint = webhook_of(&state, &auth, &id).await?;
    let event = WebhookTest {
        id: Id::generate("evt").to_string(),
        org_id: auth.org_id.clone(),
        endpoint_id: endpoint.id.clone(),
        at: state.now(),
    };
    let event_id = event.id.clone();
    state.enqueue(QueueName::Notifications, &[Notification::WebhookTest(event).to_message()]).await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedTestEvent { event_id })))
}

/// Replaces the endpoint's signing secret; the answer carries the new one, shown this once.
#[utoipa::path(post, path = "/api/user/webhooks/{id}/rotate-secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The new secret", body = RotatedWebhookSecret),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
) -> Result<Json<RotatedWebhookSecret>, ApiError> {
    let now = state.now();
    let mut endpoint = webhook_of(&state, &auth, &id).await?;
    endpoint.secret = generate_secret();
    endpoint.updated_at = now;
    state.store.update_webhook(&endpoint).await?;
    state.audit(webhook_event("webhook.rotate_secret", now, &auth, &endpoint.id)).await;
    Ok(Json(RotatedWebhookSecret { id: endpoint.id, secret: endpoint.secret }))
}

/// The endpoint's deliveries, newest first: status, attempts, last response and timing.
#[utoipa::path(get, path = "/api/user/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id"), DeliveryQuery),
    responses(
        (status = 200, description = "The deliveries", body = WebhookDeliveryList),
        (status = 400, description = "`bad_request`: a limit outside 1 to 100", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id, webhook_id = %id))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<WebhookDeliveryList>, ApiError> {
    let limit = page_limit(q.limit, DELIVERY_PAGE)?;
    let endpoint = webhook_of(&state, &auth, &id).await?;
    let data = state.store.list_webhook_deliveries(&auth.org_id, &endpoint.id, limit).await?;
    Ok(Json(WebhookDeliveryList { data: data.into_iter().map(WebhookDeliveryView::from).collect() }))
}

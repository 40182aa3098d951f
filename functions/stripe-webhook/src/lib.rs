//! The `stripe-webhook` function: `POST /api/stripe/webhook`.
//!
//! It does as little as possible before answering, so Stripe sees a 2xx within
//! milliseconds: read the raw body (at most [`MAX_EVENT_BYTES`]), verify `Stripe-Signature`
//! against the signing secret with a 300-second tolerance (a missing, malformed, stale or
//! wrong signature is 400 `invalid_signature`, and nothing is stored), and put the event on
//! the Stripe events queue under its own id (SQS in AWS, the durable SQLite queue locally).
//! The webhook worker applies it, once.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tollgate_domain::billing::signature;
use tollgate_domain::{Clock, Queue, QueueMessage, QueueName, Secrets};
use tollgate_http::{ApiError, ErrorBody, ErrorCode};
use utoipa::{OpenApi, ToSchema};

/// Stripe's events are far smaller; a bigger body is refused before it is read.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// The path Stripe posts to.
pub const WEBHOOK_PATH: &str = "/api/stripe/webhook";

/// The name of the signing secret: the environment variable `STRIPE_WEBHOOK_SECRET` locally,
/// the field `stripe_webhook_secret` of the platform's secret in AWS.
pub const WEBHOOK_SECRET_NAME: &str = "stripe_webhook_secret";

/// Where the signing secret comes from.
#[derive(Clone)]
pub enum WebhookSecret {
    /// Read once at start (the environment); `None`: billing is not configured.
    Fixed(Option<Arc<str>>),
    /// Looked up per event through the `Secrets` port (Secrets Manager, cached with a
    /// refresh TTL, so a rotated secret is picked up without a deployment).
    Named(Arc<dyn Secrets>),
}

impl WebhookSecret {
    /// The secret, or `None` when none is configured (or it cannot be read: logged).
    async fn get(&self) -> Option<String> {
        match self {
            WebhookSecret::Fixed(s) => s.as_deref().map(str::to_string),
            WebhookSecret::Named(secrets) => match secrets.get(WEBHOOK_SECRET_NAME).await {
                Ok(v) if !v.trim().is_empty() => Some(v),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = %e, "the Stripe webhook signing secret could not be read");
                    None
                }
            },
        }
    }
}

/// What the webhook endpoint needs.
#[derive(Clone)]
pub struct StripeWebhook {
    pub secret: WebhookSecret,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
}

/// The answer Stripe gets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Received {
    pub received: bool,
}

/// The fields of the event read here: its id (the queue message's id, so a redelivery
/// from Stripe is one message) and type (for the logs).
#[derive(Deserialize)]
struct EventHead {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

/// Receives a Stripe event: verified, queued, acknowledged.
#[utoipa::path(post, path = "/api/stripe/webhook", tag = "stripe",
    request_body(content = Object, description = "A Stripe event, signed in `Stripe-Signature`"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256>`")),
    responses(
        (status = 200, description = "Queued for processing", body = Received),
        (status = 400, description = "`invalid_signature`, or `malformed_json` for a signed body that is not an event", body = ErrorBody),
        (status = 503, description = "`billing_not_configured`: no signing secret", body = ErrorBody),
    ))]
pub async fn receive(
    State(hook): State<StripeWebhook>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let secret = hook.secret.get().await.ok_or_else(|| {
        ApiError::rejected(ErrorCode::BillingNotConfigured, "no Stripe webhook signing secret is configured")
    })?;
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    if let Err(e) = signature::verify(&secret, header, &body, hook.clock.now().timestamp()) {
        tracing::warn!(reason = %e, "Stripe webhook refused");
        return Err(ApiError::rejected(ErrorCode::InvalidSignature, e.to_string()));
    }
    let head: EventHead = serde_json::from_slice(&body)
        .map_err(|e| ApiError::MalformedJson(format!("a signed body that is not a Stripe event: {e}")))?;
    let body = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::MalformedJson("a signed body that is not UTF-8".into()))?;
    hook.queue.send(QueueName::StripeEvents, &[QueueMessage { id: head.id.clone(), body }]).await?;
    tracing::info!(event_id = %head.id, event_type = %head.kind, "Stripe event queued");
    Ok(Json(Received { received: true }))
}

#[derive(OpenApi)]
#[openapi(
    paths(receive),
    tags((name = "stripe", description = "Stripe's webhooks (signed; not for API clients)"))
)]
struct StripeWebhookApi;

/// The webhook's OpenAPI description (merged into the platform's spec).
pub fn openapi() -> utoipa::openapi::OpenApi {
    StripeWebhookApi::openapi()
}

/// The webhook's route (without the common layers: `finish_router` adds them).
pub fn routes(hook: StripeWebhook) -> Router {
    Router::new().route(WEBHOOK_PATH, post(receive)).layer(DefaultBodyLimit::max(MAX_EVENT_BYTES)).with_state(hook)
}

/// The finished router for the Lambda function. No CORS: only Stripe's servers post here,
/// never a browser.
pub fn router(hook: StripeWebhook) -> Router {
    tollgate_http::finish_router(routes(hook), &[])
}

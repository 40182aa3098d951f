//! Handlers of `/api/user/notifications/settings`: which events the organization's owner is
//! mailed, and which go to a Slack channel (plans with `features.slack`). Customer webhooks
//! keep their own event lists (`/api/user/webhooks`); the answer lists them so every channel
//! shows in one place. The Slack URL is a secret: answers show it masked, logs never.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use tollgate_app::current_subscription;
use tollgate_app::webhooks::check_endpoint_url;
use tollgate_domain::notification_settings::{check_slack_url, validate_email_settings, validate_slack_events};
use tollgate_domain::{AuditEvent, Id, NotificationSettings, SlackSettings, WebhookInputError};
use tollgate_http::{can, ApiError, ApiJson, AppState, AuthUser, Authorized, ErrorBody, ErrorCode};
use utoipa::ToSchema;

/// The Slack channel as shown: its URL masked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlackView {
    /// The incoming-webhook URL with its token masked.
    #[schema(example = "https://hooks.slack.com/services/T000/B000/****")]
    pub webhook_url: String,
    /// Event types posted, or `["*"]` for all of them.
    pub events: Vec<String>,
}

/// A customer webhook endpoint, in short (manage them at `/api/user/webhooks`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookSummary {
    pub id: Id,
    pub url: String,
    pub events: Vec<String>,
}

/// The organization's effective notification settings, every channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationSettingsView {
    /// Every event type that can be mailed, with whether it is.
    #[schema(example = json!({"quota.threshold_reached": false, "quota.exceeded": true}))]
    pub email: BTreeMap<String, bool>,
    /// The Slack channel, or null.
    pub slack: Option<SlackView>,
    /// Whether the organization's plan includes Slack notifications.
    pub slack_available: bool,
    /// The organization's webhook endpoints.
    pub webhooks: Vec<WebhookSummary>,
    /// When the settings were last saved (null: never, the defaults apply).
    pub updated_at: Option<DateTime<Utc>>,
}

/// The Slack channel to post to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackRequest {
    /// An incoming-webhook URL, `https://hooks.slack.com/...`.
    #[schema(example = "https://hooks.slack.com/services/T000/B000/XXXXXXXX")]
    pub webhook_url: String,
    /// Event types to post, or `["*"]` for all of them.
    #[schema(example = json!(["quota.exceeded", "invoice.payment_failed"]))]
    pub events: Vec<String>,
}

/// A partial update: fields left out keep their value; `email` changes only the types it
/// names; `slack: null` removes the channel.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationSettingsRequest {
    /// Event type -> mailed or not.
    #[schema(example = json!({"quota.threshold_reached": false}))]
    pub email: Option<BTreeMap<String, bool>>,
    /// The Slack channel (the plan must include Slack), or null to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<SlackRequest>, nullable)]
    pub slack: Option<Option<SlackRequest>>,
}

/// A field that is present (`Some`, even when null) rather than left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// 422: `invalid_webhook_url` for a refused URL, the field's code otherwise.
fn input_error(e: WebhookInputError) -> ApiError {
    match e {
        WebhookInputError::InvalidUrl(message) => {
            ApiError::rejected(ErrorCode::InvalidWebhookUrl, format!("slack.webhook_url: {message}"))
        }
        WebhookInputError::Field(e) => ApiError::Domain(e),
    }
}

/// The settings as stored, or the defaults.
async fn settings_of(state: &AppState, org_id: &Id) -> Result<(NotificationSettings, bool), ApiError> {
    Ok(match state.store.get_notification_settings(org_id).await? {
        Some(s) => (s, true),
        None => (NotificationSettings::defaults(org_id, state.now()), false),
    })
}

/// The answer of both routes.
async fn view(
    state: &AppState,
    auth: &AuthUser,
    settings: &NotificationSettings,
    saved: bool,
) -> Result<NotificationSettingsView, ApiError> {
    let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, state.now()).await?;
    let webhooks = state.store.list_webhooks(&auth.org_id).await?;
    Ok(NotificationSettingsView {
        email: settings.effective_email(),
        slack: settings.slack.as_ref().map(|s| SlackView { webhook_url: s.masked_url(), events: s.events.clone() }),
        slack_available: plan.allows_slack(),
        webhooks: webhooks.into_iter().map(|w| WebhookSummary { id: w.id, url: w.url, events: w.events }).collect(),
        updated_at: saved.then_some(settings.updated_at),
    })
}

/// The organization's notification settings: every email event type with its on/off, the
/// Slack channel (masked) and the webhook endpoints.
#[utoipa::path(get, path = "/api/user/notifications/settings", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, description = "The effective settings", body = NotificationSettingsView)))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id))]
pub async fn get_notification_settings(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let (settings, saved) = settings_of(&state, &auth.org_id).await?;
    Ok(Json(view(&state, &auth, &settings, saved).await?))
}

/// Changes which events are mailed, and the Slack channel.
#[utoipa::path(put, path = "/api/user/notifications/settings", tag = "notifications", security(("bearer" = [])),
    request_body = UpdateNotificationSettingsRequest,
    responses(
        (status = 200, description = "The effective settings", body = NotificationSettingsView),
        (status = 403, description = "`feature_not_in_plan`: the plan does not include Slack", body = ErrorBody),
        (status = 422, description = "`invalid_field`: an unknown event type; `invalid_webhook_url`: a refused Slack URL", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all, fields(org_id = %auth.org_id))]
pub async fn update_notification_settings(
    State(state): State<AppState>,
    auth: Authorized<can::ManageWebhooks>,
    ApiJson(req): ApiJson<UpdateNotificationSettingsRequest>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let now = state.now();
    let allow_insecure = state.settings.allow_insecure_webhook_urls;
    // Everything is checked before anything is written.
    if let Some(email) = &req.email {
        validate_email_settings(email)?;
    }
    let slack = match &req.slack {
        Some(Some(s)) => {
            let events = validate_slack_events(&s.events)?;
            let url = check_slack_url(&s.webhook_url, allow_insecure).map_err(input_error)?;
            let (_, plan) = current_subscription(state.store.as_ref(), &auth.org_id, now).await?;
            if !plan.allows_slack() {
                return Err(ApiError::rejected(
                    ErrorCode::FeatureNotInPlan,
                    format!("the {} plan does not include Slack notifications; upgrade to use them", plan.name),
                ));
            }
            let url = check_endpoint_url(&url, allow_insecure).await.map_err(input_error)?;
            Some(Some(SlackSettings { webhook_url: url, events }))
        }
        Some(None) => Some(None),
        None => None,
    };

    let (mut settings, _) = settings_of(&state, &auth.org_id).await?;
    if let Some(email) = req.email {
        settings.email.extend(email);
    }
    if let Some(slack) = slack {
        settings.slack = slack;
    }
    settings.updated_at = now;
    state.store.put_notification_settings(&settings).await?;

    let details = serde_json::json!({
        "email_off": settings.email.iter().filter(|(_, on)| !**on).map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        "slack": settings.slack.as_ref().map(|s| &s.events),
    });
    let event = AuditEvent::new("notification_settings.update", now)
        .actor(&auth.user.id)
        .org(&auth.org_id)
        .target(auth.org_id.to_string())
        .ip(auth.ip.clone())
        .details(details);
    state.audit(event).await;
    Ok(Json(view(&state, &auth, &settings, true).await?))
}

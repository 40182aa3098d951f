//! The `account` route group (`/api/user/account/...`): profile, password change, account
//! deletion and the organization's activity (its audit log); the organization's webhook
//! endpoints (`/api/user/webhooks/...`); and its notification settings
//! (`/api/user/notifications/settings`: email per event type, Slack).

mod activity;
mod handlers;
mod notification_settings;
mod webhooks;

use tollgate_http::AppState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use activity::ActivityFilter;
pub use handlers::{ChangePasswordRequest, DeleteAccountRequest, UpdateProfileRequest};
pub use notification_settings::{
    NotificationSettingsView, SlackRequest, SlackView, UpdateNotificationSettingsRequest, WebhookSummary,
};
pub use webhooks::{
    CreateWebhookRequest, CreatedWebhook, QueuedTestEvent, RotatedWebhookSecret, UpdateWebhookRequest,
    WebhookDeliveryList, WebhookDeliveryView, WebhookList, WebhookView,
};

#[derive(OpenApi)]
#[openapi(tags(
    (name = "account", description = "The signed-in user's account"),
    (name = "webhooks", description = "Webhook endpoints of the signed-in user's organization: signed JSON events"),
    (name = "notifications", description = "Notification settings of the signed-in user's organization: email per event type, Slack"),
))]
struct AccountApi;

/// The route group with its OpenAPI description, at the production paths.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(AccountApi::openapi())
        .routes(routes!(handlers::get_profile, handlers::update_profile))
        .routes(routes!(handlers::change_password))
        .routes(routes!(handlers::delete_account))
        .routes(routes!(activity::list_activity))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(webhooks::get_webhook, webhooks::update_webhook, webhooks::delete_webhook))
        .routes(routes!(webhooks::test_webhook))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(
            notification_settings::get_notification_settings,
            notification_settings::update_notification_settings
        ))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    tollgate_http::finish_router(router.with_state(state))
}

//! The `account` route group (`/api/user/account/...`): profile, password change, account
//! deletion and the organization's activity (its audit log); the organization's webhook
//! endpoints (`/api/user/webhooks/...`); its notification settings
//! (`/api/user/notifications/settings`: email per event type, Slack); and organizations,
//! their members, invitations and export (`/api/user/orgs/...`).

mod activity;
mod export;
mod handlers;
mod notification_settings;
mod orgs;
mod webhooks;

use tollgate_http::{routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use activity::ActivityFilter;
pub use handlers::{ChangePasswordRequest, DeleteAccountRequest, UpdateProfileRequest};
pub use notification_settings::{
    NotificationSettingsView, SlackRequest, SlackView, UpdateNotificationSettingsRequest, WebhookSummary,
};
pub use orgs::{
    AcceptInvitationRequest, CreateInvitationRequest, CreateOrganizationRequest, DeleteOrganizationRequest,
    InvitationList, InvitationView, MemberList, MemberView, OrganizationList, OrganizationView, UpdateMemberRequest,
    UpdateOrganizationRequest,
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
    (name = "organizations", description = "Organizations, members with roles, invitations"),
))]
struct AccountApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AccountApi::openapi)
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
        .routes(routes!(orgs::list_organizations, orgs::create_organization))
        .routes(routes!(orgs::get_organization, orgs::update_organization, orgs::delete_organization))
        .routes(routes!(orgs::list_members))
        .routes(routes!(orgs::update_member, orgs::remove_member))
        .routes(routes!(orgs::list_invitations, orgs::create_invitation))
        .routes(routes!(orgs::delete_invitation))
        .routes(routes!(orgs::accept_invitation))
        .routes(routes!(export::export_organization))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

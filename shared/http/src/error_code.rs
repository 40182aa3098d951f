//! The catalogue of error codes: the `code` of every JSON error body, with its status and
//! when it is answered. The README's error table is checked against it by a test, and the
//! OpenAPI document lists it as the `code` schema.

use axum::http::StatusCode;
use serde::Serialize;

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = ($status:ident, $text:literal), )*) => {
        /// Every error code the API answers with. Each doc line: the status, then when.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears in the error body (`snake_case`).
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $text,)* }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// The doc line: when this code is answered.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => concat!($($doc),*).trim_ascii(),)* }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (a truncated body included).
    MalformedJson = (BAD_REQUEST, "malformed_json"),
    /// A query string, header or path parameter cannot be understood.
    BadRequest = (BAD_REQUEST, "bad_request"),
    /// A gateway path with a dot segment or an encoded slash.
    InvalidPath = (BAD_REQUEST, "invalid_path"),
    /// An OpenID Connect sign-in whose `state` is unknown, expired (10 minutes) or already used: start again.
    InvalidOidcState = (BAD_REQUEST, "invalid_oidc_state"),
    /// A Stripe webhook whose `Stripe-Signature` is missing, malformed, stale or wrong.
    InvalidSignature = (BAD_REQUEST, "invalid_signature"),
    /// No access token was sent.
    MissingToken = (UNAUTHORIZED, "missing_token"),
    /// The access token is not valid (bad signature, malformed, or its account is gone).
    InvalidToken = (UNAUTHORIZED, "invalid_token"),
    /// The access token has expired: refresh it.
    TokenExpired = (UNAUTHORIZED, "token_expired"),
    /// Wrong email or password (or a wrong current password).
    InvalidCredentials = (UNAUTHORIZED, "invalid_credentials"),
    /// The two-factor code (TOTP or recovery code) is wrong or was already used.
    InvalidMfaCode = (UNAUTHORIZED, "invalid_mfa_code"),
    /// The login's `mfa_token` is unknown, expired (5 minutes) or already used: log in again.
    InvalidMfaToken = (UNAUTHORIZED, "invalid_mfa_token"),
    /// The identity provider refused the sign-in's code, or its ID token failed verification (signature, issuer, audience, expiry or nonce).
    InvalidIdToken = (UNAUTHORIZED, "invalid_id_token"),
    /// No refresh token in the body or the cookie.
    MissingRefreshToken = (UNAUTHORIZED, "missing_refresh_token"),
    /// The refresh token is unknown.
    InvalidRefreshToken = (UNAUTHORIZED, "invalid_refresh_token"),
    /// The refresh token has expired: log in again.
    RefreshTokenExpired = (UNAUTHORIZED, "refresh_token_expired"),
    /// The session of the refresh token has ended.
    RefreshTokenRevoked = (UNAUTHORIZED, "refresh_token_revoked"),
    /// An already-rotated refresh token was presented: the whole session is revoked.
    RefreshTokenReused = (UNAUTHORIZED, "refresh_token_reused"),
    /// A gateway call without an API key to a non-public endpoint.
    MissingApiKey = (UNAUTHORIZED, "missing_api_key"),
    /// The API key is malformed, mistyped (bad checksum) or unknown.
    InvalidApiKey = (UNAUTHORIZED, "invalid_api_key"),
    /// The API key has been revoked.
    KeyRevoked = (UNAUTHORIZED, "key_revoked"),
    /// The API key has expired.
    KeyExpired = (UNAUTHORIZED, "key_expired"),
    /// A rotated-out secret of the key, after its grace period.
    KeyRotated = (UNAUTHORIZED, "key_rotated"),
    /// The account (or the owner of the API key) is suspended or deleted.
    AccountSuspended = (FORBIDDEN, "account_suspended"),
    /// The route requires the admin role.
    AdminRequired = (FORBIDDEN, "admin_required"),
    /// The deployment requires admins to use two-factor authentication (`ADMIN_REQUIRE_2FA`):
    /// enrol at `/api/admin/auth/2fa/enroll` and `/confirm` first.
    MfaEnrollmentRequired = (FORBIDDEN, "mfa_enrollment_required"),
    /// The caller's role in the organization does not allow this (the README's permission
    /// table); a caller who is not a member gets 404 instead.
    PermissionDenied = (FORBIDDEN, "permission_denied"),
    /// The credential's scopes do not cover the call: an API key's scopes leave out the
    /// endpoint's group, or a management token lacks the route's scope (or the route takes
    /// no management token at all).
    InsufficientScope = (FORBIDDEN, "insufficient_scope"),
    /// The subscription of the key's organization has ended.
    SubscriptionInactive = (FORBIDDEN, "subscription_inactive"),
    /// The organization's plan does not include the feature (Slack notifications, for one).
    FeatureNotInPlan = (FORBIDDEN, "feature_not_in_plan"),
    /// The payment provider refused the payment or the payment method (a declined card).
    PaymentRejected = (PAYMENT_REQUIRED, "payment_rejected"),
    /// No such resource, or not yours (the two look the same), or no such route.
    NotFound = (NOT_FOUND, "not_found"),
    /// The route exists, not with this method.
    MethodNotAllowed = (METHOD_NOT_ALLOWED, "method_not_allowed"),
    /// The resource already exists.
    AlreadyExists = (CONFLICT, "already_exists"),
    /// The request conflicts with the current state.
    Conflict = (CONFLICT, "conflict"),
    /// A limit of the current state is reached.
    LimitReached = (CONFLICT, "limit_reached"),
    /// An account with this email already exists.
    EmailTaken = (CONFLICT, "email_taken"),
    /// An OpenID Connect sign-in for an existing account's email that the identity provider does not vouch for (`email_verified` is not true).
    EmailNotVerified = (CONFLICT, "email_not_verified"),
    /// The plan's number of usable API keys is reached.
    KeyLimitReached = (CONFLICT, "key_limit_reached"),
    /// The plan's number of projects is reached.
    ProjectLimitReached = (CONFLICT, "project_limit_reached"),
    /// The organization has 10 webhook endpoints, the most it may register.
    WebhookLimitReached = (CONFLICT, "webhook_limit_reached"),
    /// The organization's default project cannot be deleted.
    DefaultProject = (CONFLICT, "default_project"),
    /// Only an active key can be rotated.
    KeyNotActive = (CONFLICT, "key_not_active"),
    /// An endpoint with this method and path already exists.
    EndpointExists = (CONFLICT, "endpoint_exists"),
    /// The default (Free) plan cannot be deleted.
    DefaultPlan = (CONFLICT, "default_plan"),
    /// The change would leave the organization without an owner.
    LastOwner = (CONFLICT, "last_owner"),
    /// The user is already a member of the organization.
    AlreadyMember = (CONFLICT, "already_member"),
    /// The email address is already verified.
    AlreadyVerified = (CONFLICT, "already_verified"),
    /// The organization is already on this plan.
    AlreadyOnPlan = (CONFLICT, "already_on_plan"),
    /// The change needs a paid subscription, and the organization has none.
    NoPaidSubscription = (CONFLICT, "no_paid_subscription"),
    /// The body is larger than the route accepts.
    PayloadTooLarge = (PAYLOAD_TOO_LARGE, "payload_too_large"),
    /// A tracked batch of more than 1,000 events.
    TooManyEvents = (PAYLOAD_TOO_LARGE, "too_many_events"),
    /// A JSON body without `Content-Type: application/json`.
    UnsupportedMediaType = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    /// JSON of the wrong shape (a missing or unknown field, a wrong type).
    InvalidBody = (UNPROCESSABLE_ENTITY, "invalid_body"),
    /// Not an email address.
    InvalidEmail = (UNPROCESSABLE_ENTITY, "invalid_email"),
    /// The password breaks the password policy.
    WeakPassword = (UNPROCESSABLE_ENTITY, "weak_password"),
    /// A field is empty, too long, out of range or otherwise invalid.
    InvalidField = (UNPROCESSABLE_ENTITY, "invalid_field"),
    /// A webhook URL the policy refuses: not `https://`, malformed, with credentials, or a
    /// host that is or resolves to a private, loopback, link-local or other special address.
    InvalidWebhookUrl = (UNPROCESSABLE_ENTITY, "invalid_webhook_url"),
    /// A deletion whose `confirm` field is not the name of what it deletes.
    ConfirmationRequired = (UNPROCESSABLE_ENTITY, "confirmation_required"),
    /// Tracked events that cannot be recorded (`details` lists each with its index and
    /// reason), or an empty batch: nothing of the batch is recorded.
    InvalidEvents = (UNPROCESSABLE_ENTITY, "invalid_events"),
    /// The plan cannot be bought: archived, free, or not set up at the payment provider.
    PlanNotAvailable = (UNPROCESSABLE_ENTITY, "plan_not_available"),
    /// Too many login or mail attempts: wait for `Retry-After`.
    TooManyAttempts = (TOO_MANY_REQUESTS, "too_many_attempts"),
    /// The rate limit is reached: wait for `Retry-After`.
    RateLimited = (TOO_MANY_REQUESTS, "rate_limited"),
    /// The monthly quota is used up; `Retry-After` is the period's end.
    QuotaExceeded = (TOO_MANY_REQUESTS, "quota_exceeded"),
    /// A bug; details only in the logs.
    InternalError = (INTERNAL_SERVER_ERROR, "internal_error"),
    /// The gateway could not get an answer from the upstream (the call is counted).
    UpstreamUnavailable = (BAD_GATEWAY, "upstream_unavailable"),
    /// The payment provider (Stripe) did not answer or failed: try again shortly.
    PaymentProviderUnavailable = (BAD_GATEWAY, "payment_provider_unavailable"),
    /// The OpenID Connect provider (discovery, keys or token endpoint) did not answer or answered nonsense: try again shortly.
    OidcProviderUnavailable = (BAD_GATEWAY, "oidc_provider_unavailable"),
    /// The store or another backend did not answer: try again shortly.
    ServiceUnavailable = (SERVICE_UNAVAILABLE, "service_unavailable"),
    /// Billing is not configured on this deployment (no Stripe key): an admin assigns plans.
    BillingNotConfigured = (SERVICE_UNAVAILABLE, "billing_not_configured"),
    /// Sign-in with an OpenID Connect provider is not configured on this deployment (`OIDC_*`).
    OidcNotConfigured = (SERVICE_UNAVAILABLE, "oidc_not_configured"),
    /// The upstream did not answer in time (the call is counted).
    UpstreamTimeout = (GATEWAY_TIMEOUT, "upstream_timeout"),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_serdes_name_and_every_code_is_documented() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(!code.description().is_empty(), "{code}");
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{code}");
        }
        let mut texts: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), ErrorCode::ALL.len(), "codes are unique");
    }
}

//! Outbound HTTP adapters, at the edge: the domain's `WebhookSender` (customer webhooks and
//! Slack) and `OidcHttp` (OpenID Connect discovery, keys and token endpoint) over one HTTP
//! stack (reqwest with rustls, no OpenSSL). A crate of its own so that each function links
//! it only where it sends: the notifications worker and the scheduler (webhooks), the auth
//! function (OIDC sign-in), and the local server (both).

pub mod https;
mod oidc_http;
mod webhook_sender;

pub use oidc_http::ReqwestOidcHttp;
pub use webhook_sender::ReqwestWebhookSender;

//! The `auth` route group: registration, login, sessions (refresh-token rotation), email
//! verification and password reset, admin two-factor authentication, for users (`/api/user/auth/...`) and admins
//! (`/api/admin/auth/...`).

mod email_flows;
mod login;
mod mail;
mod mfa;
pub mod oidc;
pub mod register;
mod session;
mod throttle;

use tollgate_http::{routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use login::{AdminLoginResponse, LoginRequest, MfaChallengeResponse, TokenResponse};
pub use mfa::{EnrollResponse, RecoveryCodesResponse};
pub use register::RegisterRequest;

#[derive(OpenApi)]
#[openapi(tags((name = "auth", description = "Registration, login and sessions")))]
struct AuthApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(AuthApi::openapi)
        .routes(routes!(register::register))
        .routes(routes!(login::login))
        .routes(routes!(login::admin_login))
        .routes(routes!(mfa::login_2fa))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::disable))
        .routes(routes!(oidc::start))
        .routes(routes!(oidc::callback))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::admin_logout))
        .routes(routes!(email_flows::verify_email))
        .routes(routes!(email_flows::resend_verification))
        .routes(routes!(email_flows::forgot_password))
        .routes(routes!(email_flows::reset_password))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

//! HTTP glue shared by every route group: the error type, extractors, JWTs, password
//! hashing, application state, middleware, metrics and logging setup.

pub mod accounts;
pub mod cookies;
pub mod error;
pub mod error_code;
pub mod extract;
pub mod jwt;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod password;
pub mod route_table;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod views;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use error_code::ErrorCode;
pub use extract::{
    can, page_limit, path_id, require_permission, user_agent, AdminUser, ApiJson, ApiQuery, AuthUser, Authorized,
    ClientAddr, ClientIp, OptionalJson, RequiredPermission, ORG_HEADER,
};
pub use jwt::{AccessClaims, JwtKeys};
pub use middleware::finish_router;
pub use route_table::RouteTable;
pub use settings::{IdentityProvider, OidcSettings, Settings};
pub use state::{AppState, Ports};

/// The name of the secret (in Secrets Manager, or the data directory locally) that signs JWTs.
pub const JWT_SECRET_NAME: &str = "jwt_signing_key";

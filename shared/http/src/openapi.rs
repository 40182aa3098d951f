//! OpenAPI pieces shared by the route groups.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::Modify;

/// Name of the bearer-JWT security scheme used by `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// Adds the bearer-JWT security scheme to a spec.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

//! The route registry: every route group of the platform in one place. Both composition
//! roots take their routes from here: the single-process server serves [`routes`] (plus the
//! gateway, which has its own state), each Lambda function serves its own group, and the
//! `public` function serves [`public_router`], whose spec ([`openapi`]) is built from the
//! same list. A new route group is added to [`routes`] and nowhere else.

pub mod public;

use tollgate_http::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Every route group on the application state, with its OpenAPI paths: `public` (health and
/// the spec), auth, account, api-keys, usage, billing, admin.
pub fn routes() -> OpenApiRouter<AppState> {
    public::routes()
        .merge(auth::routes())
        .merge(account::routes())
        .merge(api_keys::routes())
        .merge(usage::routes())
        .merge(billing::routes())
        .merge(admin::routes())
}

/// The full specification: [`routes`] and the gateway, with the error answers every
/// operation gets from its kind.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut api = routes().into_openapi();
    // The gateway and the Stripe webhook have their own state (not `AppState`), so they
    // join the spec here.
    api.merge(gateway::openapi());
    api.merge(stripe_webhook::openapi());
    utoipa::Modify::modify(&tollgate_http::openapi::CommonErrors, &mut api);
    api
}

/// The finished router of the `public` function: health and the spec, no state;
/// `cors_origins` as in [`tollgate_http::finish_router`].
pub fn public_router(cors_origins: &[String]) -> axum::Router {
    let (router, _) = public::routes::<()>().split_for_parts();
    tollgate_http::finish_router(router, cors_origins)
}

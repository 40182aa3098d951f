//! A route group built either with its OpenAPI description or without it.
//!
//! `utoipa_axum::routes!` builds each handler's OpenAPI operation and schemas at run time,
//! next to its `MethodRouter`. A Lambda function serves its routes and throws the description
//! away (only the `public` function serves the spec), yet the code that builds it was linked
//! into every function: about a megabyte of the admin binary. A route group written once as
//! `fn routes<T: RouteTable<S>>() -> T` with [`routes!`](crate::routes) builds, for
//! [`OpenApiRouter`], exactly what `utoipa_axum::routes!` built (the spec, the single-process
//! server); for [`axum::Router`], the same routes without building (or linking) the
//! description.

use crate::state::AppState;
use axum::routing::MethodRouter;
use axum::Router;
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};
use utoipa_axum::router::OpenApiRouter;

#[doc(hidden)]
pub use utoipa_axum as __utoipa_axum;

/// The schemas and paths of some handlers (`routes!`'s half that `OpenApiRouter` needs).
pub type Description = (Vec<(String, RefOr<Schema>)>, Paths);

/// Handlers at one path, as written by [`routes!`](crate::routes): each half is built only
/// when called, so a table that never calls `description` never links it.
pub struct Routes<S, D, R>
where
    D: FnOnce() -> Description,
    R: FnOnce() -> (Vec<String>, MethodRouter<S>),
{
    /// The handlers' OpenAPI operations and the schemas they refer to.
    pub description: D,
    /// The handlers' paths and the method router that serves them.
    pub router: R,
}

/// What a route group is built into: [`OpenApiRouter`] (routes and description) or
/// [`axum::Router`] (routes alone).
pub trait RouteTable<S>: Sized {
    /// An empty table; `api` (the group's tags, info, modifiers) is called only by a table
    /// that keeps the description.
    fn with_openapi(api: impl FnOnce() -> OpenApi) -> Self;

    /// The table with `routes` added.
    fn routes<D, R>(self, routes: Routes<S, D, R>) -> Self
    where
        D: FnOnce() -> Description,
        R: FnOnce() -> (Vec<String>, MethodRouter<S>);

    /// The table with `other`'s routes (and description) added.
    fn merge(self, other: Self) -> Self;
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> for OpenApiRouter<S> {
    fn with_openapi(api: impl FnOnce() -> OpenApi) -> Self {
        OpenApiRouter::with_openapi(api())
    }

    fn routes<D, R>(self, routes: Routes<S, D, R>) -> Self
    where
        D: FnOnce() -> Description,
        R: FnOnce() -> (Vec<String>, MethodRouter<S>),
    {
        let (schemas, paths) = (routes.description)();
        let (_, method_router) = (routes.router)();
        OpenApiRouter::routes(self, (schemas, paths, method_router))
    }

    fn merge(self, other: Self) -> Self {
        OpenApiRouter::merge(self, other)
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> for Router<S> {
    fn with_openapi(_: impl FnOnce() -> OpenApi) -> Self {
        Router::new()
    }

    fn routes<D, R>(self, routes: Routes<S, D, R>) -> Self
    where
        D: FnOnce() -> Description,
        R: FnOnce() -> (Vec<String>, MethodRouter<S>),
    {
        // As `OpenApiRouter::routes`: the method router at each of the handlers' paths,
        // the empty path as "/".
        let (paths, method_router) = (routes.router)();
        paths.iter().fold(self, |router, path| {
            let path = if path.is_empty() { "/" } else { path };
            router.route(path, method_router.clone())
        })
    }

    fn merge(self, other: Self) -> Self {
        Router::merge(self, other)
    }
}

/// A route group's finished router for its Lambda function: its routes built without the
/// description (`routes::<axum::Router<AppState>>()`), the state, and the common layers with
/// the state's CORS origins ([`finish_router`](crate::finish_router)).
pub fn finish_group(routes: Router<AppState>, state: AppState) -> Router {
    let cors_origins = state.settings.cors_origins.clone();
    crate::finish_router(routes.with_state(state), &cors_origins)
}

/// `utoipa_axum::routes!` for a [`RouteTable`]: handlers annotated with `#[utoipa::path]` at
/// one path, their description built only by a table that keeps it. The calling crate
/// depends on `axum` and `utoipa`, as for `utoipa_axum::routes!`. (A handler is taken as
/// `::`-separated identifiers, not a `path` fragment: `utoipa_axum::routes!`'s inner rules,
/// which find its `__path_` struct, cannot take a `path` fragment from another macro.)
#[macro_export]
macro_rules! routes {
    ( $( $( $segment:ident )::+ ),+ $(,)? ) => {
        $crate::route_table::Routes {
            description: || {
                let mut paths = utoipa::openapi::path::Paths::new();
                let mut schemas = Vec::<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>::new();
                $(
                    let (path, item, types) = $crate::route_table::__utoipa_axum::routes!(@resolve_types $( $segment )::+ : schemas);
                    paths.add_path_operation(&path, types, item);
                )+
                (schemas, paths)
            },
            router: || {
                use $crate::route_table::__utoipa_axum::PathItemExt;
                let mut paths = Vec::<String>::new();
                let mut method_router = axum::routing::MethodRouter::new();
                $(
                    let path = $crate::route_table::__utoipa_axum::routes!(@path [path()] of $( $segment )::+);
                    let types = $crate::route_table::__utoipa_axum::routes!(@path [methods()] of $( $segment )::+);
                    method_router = types.iter().fold(method_router, |router, path_type| {
                        router.on(path_type.to_method_filter(), $( $segment )::+)
                    });
                    if !paths.contains(&path) {
                        paths.push(path);
                    }
                )+
                (paths, method_router)
            },
        }
    };
}

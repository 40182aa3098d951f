//! Lambda entry point of the `public` function: health and the OpenAPI spec, from the route
//! registry. It needs no state, so it has no store or secret access.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_http::telemetry::init();
    let settings = tollgate_http::Settings::from_env()?;
    tollgate_lambda::serve(tollgate_routes::public_router(&settings.cors_origins)).await
}

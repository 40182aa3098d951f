//! Lambda entry point of the `public` route group.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_http::telemetry::init();
    tollgate_lambda::serve(public::router()).await
}

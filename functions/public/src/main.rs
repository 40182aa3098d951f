//! Lambda entry point of the `public` route group.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tollgate_http::telemetry::init();
    tollgate_http::lambda::run(public::router()).await
}

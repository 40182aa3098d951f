//! Lambda entry point of the `admin` route group: the Lambda composition root starts it on
//! the AWS adapters, then serves the group's router behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::serve_admin_route_group(admin::router).await
}

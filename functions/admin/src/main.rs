//! Lambda entry point of the `admin` route group (the routes that call no payment provider,
//! `admin::operations_routes`): the Lambda composition root starts it on the AWS adapters,
//! then serves the group's router behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::serve_route_group_with_queue(admin::router).await
}

//! Lambda entry point of the scheduled jobs' runs and the runs by hand (`admin::jobs_routes`):
//! the Lambda composition root starts it on the AWS adapters with the jobs' ports, then serves
//! the routes behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::serve_admin_jobs_route_group(admin::jobs_router).await
}

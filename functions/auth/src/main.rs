//! Lambda entry point of the `auth` route group: the Lambda composition root starts it on
//! the AWS adapters, with SES as its mailer (the one route group that sends mail), then
//! serves the group's router behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::serve_route_group_with_mail(auth::router).await
}

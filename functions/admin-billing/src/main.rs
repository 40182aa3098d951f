//! Lambda entry point of the admin routes that call the payment provider
//! (`admin::billing_routes`: the plan catalog and invoices): the Lambda composition root
//! starts it on the AWS adapters with Stripe, then serves the routes behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    tollgate_lambda::serve_billing_route_group(admin::billing_router).await
}

//! Lambda entry point of the `auth` route group: the Lambda composition root starts it on
//! the AWS adapters, with SES as its mailer (the one route group that sends mail) and the
//! reqwest client of OpenID Connect sign-in (used when `OIDC_*` is configured), then serves
//! the group's router behind API Gateway.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), tollgate_lambda::Error> {
    let oidc = tollgate_outbound::ReqwestOidcHttp::new()?;
    tollgate_lambda::serve_route_group_with_mail(|state| auth::router(state.with_oidc(Arc::new(oidc)))).await
}

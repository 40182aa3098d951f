//! The `billing` route group: the public price list, the signed-in organization's
//! subscription (upgrade through Checkout, downgrade and cancel at the period's end), its
//! payment methods and its invoices. The payment provider is `AppState::payments`.

mod handlers;

use tollgate_http::{routes, AppState, RouteTable};
use utoipa::OpenApi;

pub use handlers::{
    CheckoutLink, InvoiceLink, InvoicePage, PaymentMethodList, PlanList, SubscriptionDetails, SubscriptionResponse,
    UpgradeResponse,
};

#[derive(OpenApi)]
#[openapi(tags((name = "billing", description = "Plans, the signed-in user's subscription, payment methods and invoices")))]
struct BillingApi;

/// The route group at the production paths: with its OpenAPI description as an
/// `OpenApiRouter` (the spec), without building it as an `axum::Router` (see [`RouteTable`]).
pub fn routes<T: RouteTable<AppState>>() -> T {
    T::with_openapi(BillingApi::openapi)
        .routes(routes!(handlers::list_plans))
        .routes(routes!(handlers::get_subscription))
        .routes(routes!(handlers::upgrade))
        .routes(routes!(handlers::downgrade))
        .routes(routes!(handlers::cancel))
        .routes(routes!(handlers::resume))
        .routes(routes!(handlers::list_payment_methods, handlers::add_payment_method))
        .routes(routes!(handlers::delete_payment_method))
        .routes(routes!(handlers::set_default_payment_method))
        .routes(routes!(handlers::list_invoices))
        .routes(routes!(handlers::download_invoice))
}

/// The finished router (common layers included) for the Lambda function.
pub fn router(state: AppState) -> axum::Router {
    tollgate_http::route_table::finish_group(routes(), state)
}

//! The `Payments` port on Stripe, over a small hand-written client of Stripe's HTTP API:
//! reqwest with the workspace's outbound TLS (`tollgate_outbound::https`), form-encoded
//! parameters (`form`), answers read with serde into only the fields the adapter uses
//! (`objects`), every request pinned to one API version (`client::API_VERSION`).
//!
//! Modules: `client` (sending, retries, headers, error answers), `form` (the parameter
//! encoding), `requests` (each call's method, path and parameters), `objects` (the answers),
//! `map` (answers as the domain's types), `error` (failures as `PaymentsError`), `keys`
//! (idempotency keys).
//!
//! What it calls, per method (every create with an `Idempotency-Key` derived from our ids:
//! see `keys` and `requests`):
//!
//! | method | Stripe |
//! |---|---|
//! | `ensure_customer` | `POST /v1/customers` |
//! | `sync_plan` | `POST /v1/products[/{id}]`, `GET /v1/prices/{id}`, `POST /v1/prices[/{id}]`, `GET /v1/billing/meters/{id}`, `POST /v1/billing/meters`, `POST /v1/billing/meters/{id}/reactivate\|deactivate` |
//! | `archive_plan` | `POST /v1/prices/{id}`, `POST /v1/products/{id}`, `GET /v1/billing/meters/{id}`, `POST /v1/billing/meters/{id}/deactivate` |
//! | `subscription_checkout`, `setup_checkout` | (`GET /v1/customers/{id}`,) `POST /v1/checkout/sessions` |
//! | `checkout_session` | `GET /v1/checkout/sessions/{id}` |
//! | `subscription`, `set_cancel_at_period_end`, `change_subscription_plan` | `GET`/`POST /v1/subscriptions/{id}` |
//! | `create_subscription` | `GET /v1/customers/{id}`, `POST /v1/subscriptions` |
//! | `payment_methods` | `GET /v1/customers/{id}`, `GET /v1/payment_methods?customer=&type=card` |
//! | `set_default_payment_method`, `detach_payment_method` | `GET /v1/payment_methods/{id}`, `POST /v1/customers/{id}` and `POST /v1/subscriptions/{id}` / `POST /v1/payment_methods/{id}/detach` |
//! | `invoice`, `invoice_pdf_url` | `GET /v1/invoices/{id}?expand[]=customer` (`GET /v1/customers/{id}` if not expanded) |
//! | `upcoming_invoice` | `POST /v1/invoices/create_preview` |
//! | `create_one_off_invoice` | `POST /v1/invoiceitems`, `POST /v1/invoices`, `POST /v1/invoices/{id}/finalize` |
//! | `mark_invoice_paid` | `GET /v1/invoices/{id}`, `POST /v1/invoices/{id}/pay` |
//! | `report_usage` | `POST /v1/billing/meter_events` |
//! | `reported_usage` | `GET /v1/billing/meters/{id}/event_summaries` |

mod client;
mod config;
mod error;
mod form;
mod keys;
mod map;
mod objects;
mod payments;
mod requests;

pub use config::{StripeConfig, StripeConfigError, DEFAULT_API_BASE};
pub use error::ApiFailure;
pub use payments::StripePayments;

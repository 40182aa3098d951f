//! Every cross-crate test on the embedded (SQLite) store, in one test binary so the
//! workspace links it once: the routers (`api`), metering, the gateway, the usage pipeline,
//! the Lambda fixtures (API Gateway events through each function's router) and the store
//! contract, one test per case. Run one module or test by name, e.g.
//! `cargo test --test embedded contract_sqlite::` or `cargo test --test embedded api::auth`.

mod admin_2fa;
mod admin_analytics;
mod admin_users;
mod api;
mod api_metering;
mod aws_template;
mod billing_webhook;
mod contract_sqlite;
mod cors;
mod dashboard;
mod gateway;
mod jobs;
mod lambda_fixtures;
mod metrics;
mod notification_settings;
mod oidc;
mod projects;
mod scopes;
mod teams;
mod track;
mod usage_analytics;
mod usage_pipeline;
mod webhooks;

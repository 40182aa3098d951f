//! Router tests: every route group on the embedded store, driven with `oneshot`.

mod account;
mod api_keys;
mod auth;
mod errors;
mod openapi;
mod times;

//! The billing rules: payments, invoices, subscriptions, metered usage, checkout, and what
//! happens as time passes. Everything here works on [`crate::state::State`] and records
//! the events Stripe would send.

pub mod changes;
pub mod checkout;
pub mod customers;
pub mod invoices;
pub mod lifecycle;
pub mod payments;
pub mod renewal;
pub mod subscriptions;
pub mod usage;

//! Billing end to end against the Stripe fake (`tools/stripe-fake`, started in-process on a
//! free port): the real Stripe adapter (`tollgate-stripe`), the real HTTP routes, Stripe's
//! signed webhooks into `POST /api/stripe/webhook`, the webhook worker, and the gateway's
//! limits after each step. One test binary, so the workspace links it once.

mod admin;
mod fixtures;
mod flow;
mod metered;
mod support;

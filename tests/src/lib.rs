pub mod app;
pub mod moto;
pub mod oidc;

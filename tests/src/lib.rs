pub mod moto;
pub mod app;

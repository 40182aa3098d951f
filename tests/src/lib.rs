pub mod app;
pub mod moto;

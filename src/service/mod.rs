//! The service layer: what the admin API, the CLI (through the admin API), the
//! BigCommerce connection commands and a future web console all call. It works on
//! [`crate::state::AppState`] and never on HTTP types.

pub mod accounts;
pub mod app;
pub mod backup;
pub mod quotes;
pub mod reports;
pub mod rules;

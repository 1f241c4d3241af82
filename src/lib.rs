//! Levy: a tax provider for BigCommerce stores.
//!
//! The pure tax engine ([`engine`], [`zones`], [`rounding`], [`rules`]) is usable on
//! its own; the service wraps it with storage, the provider API and the admin API.

pub mod cli;
pub mod currency;
pub mod engine;
pub mod error;
pub mod json;
pub mod quote;
pub mod rounding;
pub mod rules;
pub mod zones;

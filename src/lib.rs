//! Levy: a tax provider for BigCommerce stores.
//!
//! The pure tax engine ([`engine`], [`exact`], [`zones`], [`rounding`], [`rules`]) is usable on
//! its own; the service wraps it with storage, the provider API and the admin API.

pub mod accounts;
pub mod api;
pub mod app;
pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod connect;
pub mod currency;
pub mod engine;
pub mod error;
pub mod exact;
pub mod json;
pub mod lanes;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod quote;
pub mod render;
pub mod report;
pub mod rounding;
pub mod rules;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod zones;

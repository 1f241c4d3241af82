//! Every integration test in one binary: one link instead of nineteen (build times in
//! BENCHMARKS.md). Each module is one area; `common` starts the real server and the CLI.

mod common;

mod admin_api;
mod admin_reports;
mod app;
mod backup;
mod bench_scripts;
mod browser;
mod cli;
mod cli_admin;
mod cli_usage;
mod connect;
mod crash;
mod durability;
mod fixtures;
mod framework_errors;
mod group_commit;
mod hostile;
mod jurisdictions;
mod logs;
mod properties;
mod provider_auth;
mod provider_errors;
mod provider_lifecycle;
mod readme;
mod reference;
mod render;
mod storage;
mod wire;
mod woocommerce;
mod zip_rates;

//! What the service shares between requests: the live directory of accounts and
//! compiled rules, the store, limits and metrics. Built once at start; every layer above
//! the store (service, HTTP) works through it.

use crate::accounts::Directory;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::store::Storage;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Everything the service and its handlers share.
pub struct AppState {
    /// Accounts and compiled rules; replaced whole on every change.
    pub directory: ArcSwap<Directory>,
    /// Accounts and quotes; every write through it returns once durable.
    pub store: Storage,
    pub limits: Limits,
    /// Serializes account changes (read-modify-write of the directory and the store).
    pub account_writes: Arc<tokio::sync::Mutex<()>>,
    pub metrics: Arc<Metrics>,
    /// Where large requests are parsed, priced and rendered (see [`crate::lanes`]).
    pub heavy: crate::lanes::Lane,
    /// The admin listener's bearer token.
    pub admin_token: String,
    /// The BigCommerce app, when configured (`/app/*`).
    pub app: Option<Arc<crate::app::AppSettings>>,
}

//! The service's logs: structured fields, escaped, to standard error off the request path.
//!
//! Values that come from requests are logged with `?` (Debug), which quotes and escapes
//! control characters, so a taxability code holding a newline or an ANSI escape cannot
//! forge a log line or colour a terminal. Colours are used only when standard error is a
//! terminal. `json` writes one JSON object per line for log collectors.

use serde::{Deserialize, Serialize};
use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The default filter: Levy at info (with one access line per request), the framework's
/// per-connection noise (a client's malformed request logged as an error) off.
const DEFAULT_FILTER: &str = "info,actix_http::h1=off,actix_server=warn";

/// Installs the subscriber; the guard flushes the last lines when dropped.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEVY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    // A line is handed to a writer thread: a slow terminal or pipe never holds a request.
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// The account a request was for, left in its extensions for the access log.
#[derive(Debug, Clone)]
pub struct RequestAccount(pub String);

//! What a committed quote looks like in storage.

use crate::quote::QuoteRequest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteStatus {
    Committed,
    Voided,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteKind {
    Commit,
    Adjust,
    Void,
}

/// One step of a quote's history. Commit and adjust carry the request and the exact
/// response bytes that were sent; void carries neither.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteVersion {
    pub version: u32,
    pub kind: QuoteKind,
    pub request: Option<QuoteRequest>,
    /// The response body exactly as sent, so a retry gets the same bytes.
    pub response: Option<Box<RawValue>>,
    pub adjust_description: Option<String>,
    pub at: DateTime<Utc>,
}

/// A persisted quote with its whole history, oldest version first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteRecord {
    pub id: String,
    pub account: String,
    pub store_hash: String,
    pub status: QuoteStatus,
    /// Minted at the first commit; external ids derive from it so they never change.
    pub external_key: String,
    pub versions: Vec<QuoteVersion>,
}

impl QuoteRecord {
    /// The latest version that carries a request and response (commit or adjust).
    pub fn latest_priced(&self) -> Option<&QuoteVersion> {
        self.versions.iter().rev().find(|v| v.response.is_some())
    }

    pub fn next_version(&self) -> u32 {
        self.versions.last().map_or(1, |v| v.version + 1)
    }

    /// The external id of a document of this quote.
    pub fn external_id(&self, document_id: &str) -> String {
        format!("levy-{}-{}", self.external_key, document_id)
    }
}

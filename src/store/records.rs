//! What a committed quote looks like in storage: a small head (status, keys, the
//! latest version numbers) and each version as a record of its own, so that an adjust
//! appends one version instead of rewriting the quote's history.

use crate::quote::QuoteRequest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Which quote: BigCommerce's order ids are per store, so one account's stores can
/// each have an order 113, and each is a quote of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuoteKey {
    pub account: String,
    pub store_hash: String,
    pub id: String,
}

impl QuoteKey {
    pub fn new(account: &str, store_hash: &str, id: &str) -> QuoteKey {
        QuoteKey {
            account: account.to_string(),
            store_hash: store_hash.to_string(),
            id: id.to_string(),
        }
    }
}

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
    /// Shared with the decision that stored it: a commit does not copy its request.
    pub request: Option<std::sync::Arc<QuoteRequest>>,
    /// The response body exactly as sent, so a retry gets the same bytes.
    pub response: Option<Box<RawValue>>,
    /// How the response was computed (SPEC 10.8); none for voids and for versions
    /// stored before audits were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Box<RawValue>>,
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
}

/// A quote without its history: what every update reads and rewrites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteHead {
    pub id: String,
    pub account: String,
    pub store_hash: String,
    pub status: QuoteStatus,
    pub external_key: String,
    /// The number of the latest version (versions are numbered from 1, without gaps).
    pub version: u32,
    /// The number of the latest version that carries a request and response; 0 if none.
    pub priced: u32,
}

impl QuoteHead {
    pub fn key(&self) -> QuoteKey {
        QuoteKey::new(&self.account, &self.store_hash, &self.id)
    }

    pub fn next_version(&self) -> u32 {
        self.version + 1
    }

    /// The external id of a document of this quote.
    pub fn external_id(&self, document_id: &str) -> String {
        format!("levy-{}-{}", self.external_key, document_id)
    }

    /// The head after `version` is appended.
    pub fn with(mut self, version: &QuoteVersion) -> QuoteHead {
        self.version = version.version;
        if version.response.is_some() {
            self.priced = version.version;
        }
        self
    }
}

/// What a quote update sees and what it leaves: the head and the latest priced version.
#[derive(Debug, Clone)]
pub struct QuoteState {
    pub head: QuoteHead,
    pub latest: Option<QuoteVersion>,
}

impl QuoteRecord {
    pub fn key(&self) -> QuoteKey {
        QuoteKey::new(&self.account, &self.store_hash, &self.id)
    }

    /// The head of this record.
    pub fn head(&self) -> QuoteHead {
        QuoteHead {
            id: self.id.clone(),
            account: self.account.clone(),
            store_hash: self.store_hash.clone(),
            status: self.status,
            external_key: self.external_key.clone(),
            version: self.versions.last().map_or(0, |v| v.version),
            priced: self.latest_priced().map_or(0, |v| v.version),
        }
    }

    /// A whole record from its head and its versions, oldest first.
    pub fn from_parts(head: QuoteHead, versions: Vec<QuoteVersion>) -> QuoteRecord {
        QuoteRecord {
            id: head.id,
            account: head.account,
            store_hash: head.store_hash,
            status: head.status,
            external_key: head.external_key,
            versions,
        }
    }
}

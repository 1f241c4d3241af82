//! The latest committed quotes of an account, newest first: the console's quote list.

use super::{total_tax, Report};
use crate::store::{QuoteHead, QuoteStatus, QuoteVersion};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentQuote {
    pub id: String,
    pub store_hash: String,
    pub status: QuoteStatus,
    pub version: u32,
    /// When its latest version was written.
    pub at: DateTime<Utc>,
    pub currency: String,
    /// Tax of the latest priced version.
    #[serde(with = "crate::json::dec")]
    pub tax: Decimal,
}

/// Keeps the `limit` newest quotes of one store; memory follows `limit`.
pub struct Recent {
    store_hash: String,
    limit: usize,
    quotes: Vec<RecentQuote>,
}

impl Recent {
    pub fn new(store_hash: &str, limit: usize) -> Recent {
        Recent {
            store_hash: store_hash.to_string(),
            limit,
            quotes: Vec::new(),
        }
    }

    pub fn rows(mut self) -> Vec<RecentQuote> {
        self.quotes
            .sort_by(|a, b| b.at.cmp(&a.at).then(a.id.cmp(&b.id)));
        self.quotes
    }
}

impl Report for Recent {
    fn add(&mut self, head: &QuoteHead, latest: Option<&QuoteVersion>) {
        if head.store_hash != self.store_hash {
            return;
        }
        let Some(latest) = latest else { return };
        let currency = latest
            .request
            .as_ref()
            .map(|r| r.currency_code.to_ascii_uppercase())
            .unwrap_or_default();
        self.quotes.push(RecentQuote {
            id: head.id.clone(),
            store_hash: head.store_hash.clone(),
            status: head.status,
            version: head.version,
            at: latest.at,
            currency,
            tax: total_tax(latest).unwrap_or_default().normalize(),
        });
        if self.quotes.len() > 2 * self.limit {
            self.quotes.sort_by_key(|q| std::cmp::Reverse(q.at));
            self.quotes.truncate(self.limit);
        }
    }
}

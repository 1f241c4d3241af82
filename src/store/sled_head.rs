//! A quote's head as the sled store keeps it.
//!
//! A new quote's first version rides inside its head's record, so committing a new quote
//! is one sled insert instead of two (sled's cost is mostly per insert: a 120-byte head
//! costs nearly what a 1.3 KB version does; BENCHMARKS.md, commits). The version moves
//! to a key of its own when the quote gets a second one. The record is the pair
//! `[head, first version]`, a JSON array, where a head alone is a JSON object: heads
//! written before (or after the move) read as they are, and no migration is needed.

use super::{QuoteHead, QuoteVersion};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A stored head, with the quote's first version when it has not moved out yet.
#[derive(Debug)]
pub(super) struct StoredHead {
    pub head: QuoteHead,
    /// Version 1, priced, while it is the quote's only version.
    pub first: Option<QuoteVersion>,
}

impl StoredHead {
    /// Whether a head and a version may be stored as one record: a quote's first and
    /// only version, priced (what a commit of a new quote appends).
    pub fn may_hold(head: &QuoteHead, version: &QuoteVersion) -> bool {
        version.version == 1 && head.version == 1 && head.priced == 1 && version.response.is_some()
    }
}

impl<'de> Deserialize<'de> for StoredHead {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StoredHead, D::Error> {
        d.deserialize_any(StoredHeadVisitor)
    }
}

struct StoredHeadVisitor;

impl<'de> Visitor<'de> for StoredHeadVisitor {
    type Value = StoredHead;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a quote head, or a head and its first version")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StoredHead, A::Error> {
        let head = QuoteHead::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(StoredHead { head, first: None })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StoredHead, A::Error> {
        let head: QuoteHead = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let first: QuoteVersion = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        if !StoredHead::may_hold(&head, &first) {
            return Err(de::Error::custom(
                "a head holds a version other than its first and only priced one",
            ));
        }
        Ok(StoredHead {
            head,
            first: Some(first),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{QuoteKind, QuoteStatus};

    fn head(version: u32) -> QuoteHead {
        QuoteHead {
            id: "113".into(),
            account: "acme".into(),
            store_hash: "abc".into(),
            status: QuoteStatus::Committed,
            external_key: "k".into(),
            version,
            priced: version,
        }
    }

    fn first() -> QuoteVersion {
        QuoteVersion {
            version: 1,
            kind: QuoteKind::Commit,
            request: None,
            response: Some(serde_json::value::RawValue::from_string("{\"a\":1}".into()).unwrap()),
            audit: None,
            adjust_description: None,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_head_alone_and_a_head_with_its_first_version_both_read() {
        let alone = serde_json::to_vec(&head(3)).unwrap();
        let read: StoredHead = serde_json::from_slice(&alone).unwrap();
        assert_eq!(read.head, head(3));
        assert!(read.first.is_none());

        let pair = serde_json::to_vec(&(&head(1), &first())).unwrap();
        let read: StoredHead = serde_json::from_slice(&pair).unwrap();
        assert_eq!(read.head, head(1));
        let v = read.first.unwrap();
        assert_eq!((v.version, v.response.unwrap().get()), (1, "{\"a\":1}"));
    }

    #[test]
    fn a_head_holding_any_other_version_is_damaged() {
        let mut later = first();
        later.version = 2;
        let pair = serde_json::to_vec(&(&head(2), &later)).unwrap();
        assert!(serde_json::from_slice::<StoredHead>(&pair).is_err());
        let unpriced = QuoteVersion {
            response: None,
            ..first()
        };
        let pair = serde_json::to_vec(&(&head(1), &unpriced)).unwrap();
        assert!(serde_json::from_slice::<StoredHead>(&pair).is_err());
        let three = serde_json::to_vec(&(&head(1), &first(), 1)).unwrap();
        assert!(serde_json::from_slice::<StoredHead>(&three).is_err());
    }
}

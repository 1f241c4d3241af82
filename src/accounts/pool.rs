//! Equal rules documents, shared.
//!
//! Most stores of a provider start from the same template and many never change it:
//! 50,000 copies of one small document, parsed and compiled, would be most of the
//! directory's memory (and parsing them most of its start-up). The pool keys each live
//! document by its JSON text (Levy writes records with one serializer, so equal documents
//! have equal text): a record whose rules text is already live shares that parse, and an
//! account whose rules are already compiled shares the compiled form. Equality is decided
//! on the whole text, never on a hash alone. Entries are held weakly: rules no account uses
//! any more are freed.

use super::{Account, LiveAccount};
use crate::engine::CompiledRules;
use crate::rules::ValidRules;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

#[derive(Debug)]
struct Entry {
    text: Box<str>,
    valid: Weak<ValidRules>,
    compiled: Weak<CompiledRules>,
}

impl Entry {
    fn used(&self) -> bool {
        self.valid.strong_count() > 0 || self.compiled.strong_count() > 0
    }
}

#[derive(Debug, Default)]
pub struct RulesPool {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Hash of the text -> the documents with that hash.
    by_hash: HashMap<u64, Vec<Entry>>,
    /// When to drop the entries no account uses (their texts would pile up as merchants
    /// edit their rules): at twice the count of the last sweep, so sweeping stays O(1)
    /// per entry made.
    sweep_at: usize,
}

static GLOBAL: LazyLock<RulesPool> = LazyLock::new(RulesPool::default);

impl RulesPool {
    /// The process's pool: records are decoded through it (see [`shared_rules`]).
    pub fn global() -> &'static RulesPool {
        &GLOBAL
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for `text`, made when missing.
    fn entry<'a>(entries: &'a mut Entries, text: &str) -> &'a mut Entry {
        if entries.by_hash.len() >= entries.sweep_at {
            entries.by_hash.retain(|_, same| {
                same.retain(Entry::used);
                !same.is_empty()
            });
            entries.sweep_at = (2 * entries.by_hash.len()).max(64);
        }
        let same = entries.by_hash.entry(key(text)).or_default();
        let at = match same.iter().position(|e| &*e.text == text) {
            Some(at) => at,
            None => {
                same.push(Entry {
                    text: text.into(),
                    valid: Weak::new(),
                    compiled: Weak::new(),
                });
                same.len() - 1
            }
        };
        &mut same[at]
    }

    /// The parsed rules of this JSON text: the live parse of an equal text, or a new one.
    pub fn document(&self, text: &str) -> Result<Arc<ValidRules>, serde_json::Error> {
        if let Some(found) = self.find(text, |e| e.valid.upgrade()) {
            return Ok(found);
        }
        let parsed = Arc::new(serde_json::from_str::<ValidRules>(text)?);
        let mut entries = self.lock();
        let entry = Self::entry(&mut entries, text);
        Ok(match entry.valid.upgrade() {
            Some(raced) => raced,
            None => {
                entry.valid = Arc::downgrade(&parsed);
                parsed
            }
        })
    }

    fn find<T>(&self, text: &str, get: impl Fn(&Entry) -> Option<T>) -> Option<T> {
        let entries = self.lock();
        entries
            .by_hash
            .get(&key(text))?
            .iter()
            .find(|e| &*e.text == text)
            .and_then(get)
    }

    /// `account` ready for estimates: its rules replaced by an equal live document's and
    /// compiled only when no equal document is compiled. Compiling a large document takes
    /// a while: callers on the executor run this on the blocking pool.
    pub fn live(&self, mut account: Account) -> LiveAccount {
        let Ok(text) = serde_json::to_string(&*account.rules) else {
            let rules = Arc::new(CompiledRules::from_valid(&account.rules));
            return LiveAccount { account, rules };
        };
        {
            let mut entries = self.lock();
            let entry = Self::entry(&mut entries, &text);
            match entry.valid.upgrade() {
                Some(valid) => account.rules = valid,
                None => entry.valid = Arc::downgrade(&account.rules),
            }
            if let Some(rules) = entry.compiled.upgrade() {
                return LiveAccount { account, rules };
            }
        }
        // Compiled outside the lock: another account's change need not wait for it.
        let compiled = Arc::new(CompiledRules::from_valid(&account.rules));
        let mut entries = self.lock();
        let entry = Self::entry(&mut entries, &text);
        let rules = match entry.compiled.upgrade() {
            Some(raced) => raced,
            None => {
                entry.compiled = Arc::downgrade(&compiled);
                compiled
            }
        };
        LiveAccount { account, rules }
    }

    /// How many distinct documents are in use (for tests and metrics).
    pub fn distinct(&self) -> usize {
        let entries = self.lock();
        entries
            .by_hash
            .values()
            .flatten()
            .filter(|e| e.used())
            .count()
    }
}

fn key(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Deserializes an account's rules through the global pool: a record whose document is
/// already live costs a text comparison, not a parse.
pub(crate) fn shared_rules<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Arc<ValidRules>, D::Error> {
    use serde::Deserialize;
    let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
    RulesPool::global()
        .document(raw.get())
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulesDocument;

    fn account(id: &str, rules: &ValidRules) -> Account {
        Account {
            id: id.into(),
            store_hashes: vec![],
            profiles: vec![],
            credentials: vec![],
            rules: Arc::new(rules.clone()),
            created_at: chrono::Utc::now(),
            app: None,
        }
    }

    fn template() -> ValidRules {
        let doc: RulesDocument =
            serde_json::from_str(include_str!("../../demo/rules.json")).unwrap();
        doc.validate().unwrap()
    }

    #[test]
    fn equal_documents_share_one_parse_and_one_compilation_and_are_freed_unused() {
        let pool = RulesPool::default();
        let a = pool.live(account("a", &template()));
        let b = pool.live(account("b", &template()));
        assert!(Arc::ptr_eq(&a.account.rules, &b.account.rules));
        assert!(Arc::ptr_eq(&a.rules, &b.rules));
        let mut other = template().into_document();
        other.rates[0].name = "Changed".into();
        let c = pool.live(account("c", &other.validate().unwrap()));
        assert!(!Arc::ptr_eq(&a.rules, &c.rules), "a different document");
        assert_eq!(pool.distinct(), 2);
        drop(c);
        assert_eq!(pool.distinct(), 1, "unused rules are not kept");
    }

    #[test]
    fn texts_of_documents_no_account_uses_are_swept() {
        let pool = RulesPool::default();
        let kept = pool.live(account("kept", &template()));
        for i in 0..1000 {
            let mut edited = template().into_document();
            edited.rates[0].name = format!("Edit {i}");
            drop(pool.live(account("a", &edited.validate().unwrap())));
        }
        let held: usize = pool.lock().by_hash.values().map(Vec::len).sum();
        assert!(held <= 128, "{held} texts held for one live document");
        assert_eq!(pool.distinct(), 1);
        drop(kept);
    }

    #[test]
    fn records_with_equal_rules_decode_to_one_document_that_is_compiled_once() {
        let record = serde_json::to_string(&account("a", &template())).unwrap();
        let a: Account = serde_json::from_str(&record).unwrap();
        let b: Account = serde_json::from_str(&record.replace("\"a\"", "\"b\"")).unwrap();
        assert_eq!(b.id, "b");
        assert!(Arc::ptr_eq(&a.rules, &b.rules), "one parse for both");
        assert_eq!(*a.rules, template(), "and it is the document");
        let pool = RulesPool::global();
        let (a, b) = (pool.live(a), pool.live(b));
        assert!(Arc::ptr_eq(&a.rules, &b.rules), "one compilation");
    }
}

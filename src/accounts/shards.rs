//! A string-keyed hash map for directory snapshots: split into shards, each behind an
//! `Arc`. A snapshot's copy shares every shard but the one a key lives in, so a change
//! copies 1/256 of the map, and a lookup stays one hash probe — the estimate path reads
//! these maps on every request, where a B-tree of string keys cost 13 % of its CPU at
//! 50,000 accounts (pointer chasing and comparisons, BENCHMARKS.md).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

const SHARDS: usize = 256;

type Shard<V> = Arc<HashMap<Arc<str>, V>>;

#[derive(Debug, Clone)]
pub(super) struct Shards<V> {
    shards: Arc<[Shard<V>]>,
}

impl<V> Default for Shards<V> {
    fn default() -> Self {
        Shards {
            shards: (0..SHARDS).map(|_| Arc::new(HashMap::new())).collect(),
        }
    }
}

/// Which shard holds `key`. Keys are chosen by operators and by Levy (usernames), not by
/// the requests that look them up, so a fixed hash is enough here; the maps inside keep
/// std's randomized hasher.
fn shard(key: &str) -> usize {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() >> 56) as usize % SHARDS
}

impl<V: Clone> Shards<V> {
    pub(super) fn get(&self, key: &str) -> Option<&V> {
        self.shards[shard(key)].get(key)
    }

    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The shard of `key`, made this snapshot's own (copied if another shares it).
    fn own(&mut self, key: &str) -> &mut HashMap<Arc<str>, V> {
        let shards = own_slice(&mut self.shards);
        Arc::make_mut(&mut shards[shard(key)])
    }

    pub(super) fn insert(&mut self, key: Arc<str>, value: V) {
        self.own(&key).insert(key, value);
    }

    pub(super) fn remove(&mut self, key: &str) {
        if self.contains_key(key) {
            self.own(key).remove(key);
        }
    }
}

/// `Arc::make_mut` for a slice of shard pointers: copies the (small) slice when shared.
fn own_slice<T: Clone>(this: &mut Arc<[T]>) -> &mut [T] {
    if Arc::get_mut(this).is_none() {
        *this = this.iter().cloned().collect();
    }
    Arc::get_mut(this).expect("unique after the copy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_shares_all_but_the_changed_shard() {
        let mut a: Shards<u32> = Shards::default();
        for i in 0..1000 {
            a.insert(Arc::from(format!("k{i}")), i);
        }
        let mut b = a.clone();
        b.insert(Arc::from("k7"), 70);
        b.remove("k8");
        assert_eq!(
            (a.get("k7"), a.get("k8")),
            (Some(&7), Some(&8)),
            "unchanged"
        );
        assert_eq!((b.get("k7"), b.get("k8")), (Some(&70), None));
        let shared = (0..SHARDS)
            .filter(|&i| Arc::ptr_eq(&a.shards[i], &b.shards[i]))
            .count();
        let touched = if shard("k7") == shard("k8") { 1 } else { 2 };
        assert_eq!(shared, SHARDS - touched);
    }
}

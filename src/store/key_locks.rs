//! One lock per quote key, held only while that quote is updated.
//!
//! Striped locks (a fixed array indexed by a hash) let two quotes share a stripe: a small
//! commit whose key met a large quote's stripe waited for that quote's whole update. Here
//! only updates of the same key wait for each other; the set of held keys is locked for
//! an instant per update.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex};

#[derive(Default)]
pub struct KeyLocks {
    held: Mutex<HashSet<Vec<u8>>>,
    released: Condvar,
}

/// Holds one key until dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: Vec<u8>,
}

impl KeyLocks {
    pub fn lock(&self, key: &[u8]) -> KeyGuard<'_> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(key) {
            held = self.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(key.to_vec());
        KeyGuard {
            locks: self,
            key: key.to_vec(),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.key);
        drop(held);
        // Waiters exist only when one key is updated concurrently: rare, so waking them
        // all (each re-checks its own key) costs nothing in the common case.
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_key_is_held_by_one_and_other_keys_are_free() {
        let locks = Arc::new(KeyLocks::default());
        let a = locks.lock(b"a");
        // Another key is not blocked by `a`.
        drop(locks.lock(b"b"));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let locks = locks.clone();
            std::thread::spawn(move || {
                let _a = locks.lock(b"a");
                tx.send(()).unwrap();
            })
        };
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .is_err());
        drop(a);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
        assert!(locks.held.lock().unwrap().is_empty());
    }
}

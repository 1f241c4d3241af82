//! The embedded store: sled 0.34.
//!
//! Two trees: `accounts` (id -> account) and `quote_log`, which holds each quote's head
//! (`H` + quote key -> status, keys, latest version numbers) and each of its versions
//! (`V` + quote key + version (big-endian) -> one version). A quote key is the account,
//! the quote id and the store hash, each preceded by its length, so no byte of an id can
//! make two keys meet, and one account's quotes (or one id's stores) share a prefix. A new
//! quote's first version rides inside its head's record until a second version moves it out
//! ([`super::sled_head`]): committing a new quote is one insert. Any other update
//! inserts its version, then the small head: the head is the commit point. A version
//! beyond its head's number (a crash between the two inserts, never acknowledged) is
//! ignored by every read and overwritten by the next update. Two plain inserts keep
//! updates of different quotes concurrent (a sled batch or transaction would take a
//! tree-wide lock), and an update's cost does not grow with the quote's history. Updates of one
//! quote are serialized by a lock of that quote's key. Stores written before this layout are converted
//! at start: one `quotes` record per quote (every version inside) is split, and heads and
//! versions keyed without the store hash (`h`/`v` keys) are re-keyed.
//!
//! Durability: a quote update is also appended to the commit log
//! ([`super::commit_log`]), and [`SledStore::sync`] makes it durable by writing that log and
//! syncing it, not by flushing sled. sled is flushed at a checkpoint: when the log has
//! grown past [`CHECKPOINT_BYTES`], or when a write that is not in the log (accounts,
//! markers, restore) must become durable; the log is emptied after. Opening the store
//! replays the log. sled's `flush` ends in `sync_file_range` on Linux, which does not flush
//! the drive's cache, and sled writes large values to blob files it never fsyncs, so a
//! checkpoint follows the flush with `fdatasync` of sled's log file and of every blob file
//! written since, and an fsync of the blob directory.

use super::commit_log::CommitLog;
pub use super::record_codec::DEFAULT_ZSTD_LEVEL;
use super::record_codec::{backend, decode, encode, with_encoded};
use super::sled_head::StoredHead;
use super::{
    QuoteChange, QuoteHead, QuoteKey, QuoteRecord, QuoteState, QuoteVersion, Store, StoreError,
};
use crate::accounts::Account;
use crate::error::LevyError;
use sled::Transactional;
use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The commit log's size that makes the next sync a checkpoint (see the module's doc):
/// about ten thousand 3-item commits, replayed at start in a fraction of a second.
pub const CHECKPOINT_BYTES: u64 = 32 << 20;

pub struct SledStore {
    db: sled::Db,
    accounts: sled::Tree,
    /// Heads (`h` keys) and versions (`v` keys) of every quote.
    quotes: sled::Tree,
    /// Serializes updates of one quote (and only of that quote).
    locks: super::key_locks::KeyLocks,
    dir: PathBuf,
    /// The log file, kept open for fdatasync.
    log: File,
    /// Blob files already fsynced.
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
    /// zstd level of new records (`0`: uncompressed); reading takes either.
    zstd_level: i32,
    /// Quote updates since the last checkpoint, durable once written and synced.
    commits: CommitLog,
    /// A write outside the commit log happened since the last checkpoint, so the next
    /// sync must flush sled itself. Set after the write, before its call returns.
    unlogged: AtomicBool,
    /// Serializes [`Store::sync`].
    syncing: Mutex<()>,
}

/// Appends one length-prefixed key component.
fn component(k: &mut Vec<u8>, part: &str) {
    k.extend_from_slice(&(part.len() as u32).to_be_bytes());
    k.extend_from_slice(part.as_bytes());
}

/// The prefix of an account's quotes (and, with `id`, of one id's quotes in every store).
fn quote_prefix(account: &str, id: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + 48);
    component(&mut k, account);
    if let Some(id) = id {
        component(&mut k, id);
    }
    k
}

fn quote_key(key: &QuoteKey) -> Vec<u8> {
    let mut k = quote_prefix(&key.account, Some(&key.id));
    component(&mut k, &key.store_hash);
    k
}

fn tagged(tag: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 6);
    k.push(tag);
    k.extend_from_slice(key);
    k
}

const HEAD: u8 = b'H';
const VERSION: u8 = b'V';
/// Heads and versions of the layout before store hashes were part of the key.
const OLD_HEAD: u8 = b'h';
const OLD_VERSION: u8 = b'v';

/// The key of a quote's head.
fn head_key(quote_key: &[u8]) -> Vec<u8> {
    tagged(HEAD, quote_key)
}

fn version_key(quote_key: &[u8], version: u32) -> Vec<u8> {
    let mut k = tagged(VERSION, quote_key);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// The account a tagged quote key (head or version) belongs to.
fn account_of(tagged_key: &[u8]) -> Option<&[u8]> {
    components(tagged_key.get(1..)?).next()
}

/// The store hash of a tagged head key (its third component), read from the key so that
/// no record is decoded for it.
fn store_of(tagged_key: &[u8]) -> Option<String> {
    let mut parts = components(tagged_key.get(1..)?);
    let store = parts.nth(2)?;
    String::from_utf8(store.to_vec()).ok()
}

/// The length-prefixed components of a quote key, in order.
fn components(mut key: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
        let part = key.get(4..4 + len)?;
        key = &key[4 + len..];
        Some(part)
    })
}

impl SledStore {
    /// New records compressed at `level` (`0`: not compressed); see [`DEFAULT_ZSTD_LEVEL`].
    pub fn with_zstd_level(mut self, level: i32) -> SledStore {
        self.zstd_level = level;
        self
    }

    /// Opens (or creates) the store in `dir`. Fails clearly when another process holds
    /// the directory or when it is not a readable sled database.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let config = sled::Config::new().path(dir).cache_capacity(cache_bytes);
        // A database closed a moment ago (a restart, a previous owner still exiting) holds
        // its file lock until sled's flusher thread ends: wait a little for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) => {
                    let text = e.to_string();
                    let locked = text.contains("lock")
                        || text.contains("WouldBlock")
                        || text.contains("temporarily unavailable");
                    if locked && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    return Err(if locked {
                        backend(format!(
                            "the data directory {} is in use by another process (only one Levy may open it): {text}",
                            dir.display()
                        ))
                    } else {
                        backend(format!(
                            "cannot open the data directory {} (damaged or not a Levy store?): {text}",
                            dir.display()
                        ))
                    });
                }
            }
        };
        let accounts = db.open_tree("accounts").map_err(backend)?;
        let quotes = db.open_tree("quote_log").map_err(backend)?;
        let log = File::open(dir.join("db"))
            .map_err(|e| backend(format!("cannot open the log file: {e}")))?;
        let (commits, replay) = CommitLog::open(dir)
            .map_err(|e| backend(format!("cannot open the commit log: {e}")))?;
        let store = SledStore {
            db,
            accounts,
            quotes,
            locks: Default::default(),
            dir: dir.to_path_buf(),
            log,
            synced_blobs: Mutex::new(HashSet::new()),
            zstd_level: DEFAULT_ZSTD_LEVEL,
            commits,
            unlogged: AtomicBool::new(false),
            syncing: Mutex::new(()),
        };
        store.check_identity()?;
        store.split_whole_records()?;
        store.rekey_by_store()?;
        store.replay(replay)?;
        // Every record must decode: a damaged store fails here, at start, not mid-request.
        // One at a time: 50,000 accounts are not held here.
        for kv in store.accounts.iter() {
            let (_, v) = kv.map_err(backend)?;
            decode::<Account>(&v)?;
        }
        let damaged = |k: &[u8], e: StoreError| {
            StoreError::Corrupt(format!(
                "quote record {:?} is damaged: {e}",
                String::from_utf8_lossy(k)
            ))
        };
        for kv in store.quotes.iter() {
            let (k, v) = kv.map_err(backend)?;
            match k.first() {
                Some(&HEAD) => decode::<StoredHead>(&v).map(|_| ()),
                _ => decode::<QuoteVersion>(&v).map(|_| ()),
            }
            .map_err(|e| damaged(&k, e))?;
        }
        // Customer addresses and credential hashes: owner only, also for a store created
        // by an earlier Levy (the binary's umask covers the files sled creates later).
        restrict(dir)?;
        fsync_dir(dir)?;
        Ok(store)
    }

    /// The store's identity lives twice: in `levy-store-id` beside the database and in
    /// the database itself. A database that lost its beginning (or was replaced) no
    /// longer matches, and Levy refuses to start rather than serve an empty store.
    fn check_identity(&self) -> Result<(), StoreError> {
        let file = self.dir.join("levy-store-id");
        let meta = self.db.open_tree("meta").map_err(backend)?;
        let inside = meta
            .get("store_id")
            .map_err(backend)?
            .map(|v| String::from_utf8_lossy(&v).to_string());
        let outside = std::fs::read_to_string(&file)
            .ok()
            .map(|s| s.trim().to_string());
        let damaged = |why: &str| {
            StoreError::Corrupt(format!(
                "the data directory {} is damaged: {why}. Restore it from a backup (levy restore) into a new directory",
                self.dir.display()
            ))
        };
        match (outside, inside) {
            (Some(a), Some(b)) if a == b => Ok(()),
            (Some(_), Some(_)) => Err(damaged("its database belongs to another store")),
            (Some(_), None) => Err(damaged("its database lost its records")),
            (None, inside) => {
                let has_data = !self.accounts.is_empty()
                    || !self.quotes.is_empty()
                    || !self.db.open_tree("quotes").map_err(backend)?.is_empty();
                if inside.is_some() || has_data || self.dir.join("levy-store-id.tmp").exists() {
                    // A store from before identities, or the file was lost: adopt it.
                    tracing::warn!(
                        "no levy-store-id file in {}; recording this store's identity",
                        self.dir.display()
                    );
                }
                let id = inside.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                meta.insert("store_id", id.as_bytes()).map_err(backend)?;
                self.sync()?;
                let tmp = self.dir.join("levy-store-id.tmp");
                std::fs::write(&tmp, &id)
                    .and_then(|_| File::open(&tmp)?.sync_all())
                    .map_err(backend)?;
                std::fs::rename(&tmp, &file).map_err(backend)?;
                fsync_dir(&self.dir)
            }
        }
    }

    /// Splits the whole-quote records of a store written before one record per version
    /// (tree `quotes`) into heads and versions. Each quote is written (versions, then its
    /// head), then its old record removed; writing the same quote twice gives the same
    /// records, so an interrupted split simply resumes at the next start.
    fn split_whole_records(&self) -> Result<(), StoreError> {
        let old = self.db.open_tree("quotes").map_err(backend)?;
        if old.is_empty() {
            return Ok(());
        }
        let mut count = 0usize;
        for kv in old.iter() {
            let (k, v) = kv.map_err(backend)?;
            let record: QuoteRecord = decode(&v).map_err(|e| {
                StoreError::Corrupt(format!(
                    "quote record {:?} is damaged: {e}",
                    String::from_utf8_lossy(&k)
                ))
            })?;
            self.write(&quote_key(&record.key()), &record.head(), &record.versions)?;
            old.remove(&k).map_err(backend)?;
            count += 1;
        }
        self.sync()?;
        tracing::info!(
            quotes = count,
            "split stored quotes into one record per version"
        );
        Ok(())
    }

    /// Re-keys heads and versions written before the store hash was part of a quote's
    /// key. Each quote is written under its new key (versions, then head) before its old
    /// records go, so an interrupted conversion resumes at the next start.
    fn rekey_by_store(&self) -> Result<(), StoreError> {
        let mut count = 0usize;
        for kv in self.quotes.scan_prefix([OLD_HEAD]) {
            let (k, h) = kv.map_err(backend)?;
            let head: QuoteHead = decode(&h)?;
            let old_versions: Vec<(sled::IVec, sled::IVec)> = {
                let mut prefix = k.to_vec();
                prefix[0] = OLD_VERSION;
                prefix.push(0);
                let exact = prefix.len() + 4;
                self.quotes
                    .scan_prefix(prefix)
                    .filter(|kv| kv.as_ref().map_or(true, |(k, _)| k.len() == exact))
                    .collect::<Result<_, _>>()
                    .map_err(backend)?
            };
            let mut versions = Vec::new();
            for (_, v) in &old_versions {
                let version: QuoteVersion = decode(v)?;
                if version.version <= head.version {
                    versions.push(version);
                }
            }
            self.write(&quote_key(&head.key()), &head, &versions)?;
            self.quotes.remove(&k).map_err(backend)?;
            for (old, _) in old_versions {
                self.quotes.remove(old).map_err(backend)?;
            }
            count += 1;
        }
        // Versions beyond their head (never acknowledged) of quotes re-keyed earlier.
        for k in self.quotes.scan_prefix([OLD_VERSION]).keys() {
            self.quotes.remove(k.map_err(backend)?).map_err(backend)?;
        }
        if count > 0 {
            self.sync()?;
            tracing::info!(quotes = count, "re-keyed stored quotes by store hash");
        }
        Ok(())
    }

    /// The head and latest priced version of a quote, and whether its first version is
    /// still inside the head's record (see [`super::sled_head`]).
    fn read(&self, key: &[u8]) -> Result<Option<(QuoteState, bool)>, StoreError> {
        let Some(h) = self.quotes.get(head_key(key)).map_err(backend)? else {
            return Ok(None);
        };
        let StoredHead { head, first } = decode(&h)?;
        if let Some(first) = first {
            // Version 1 is then the quote's only and latest priced one.
            let state = QuoteState {
                head,
                latest: Some(first),
            };
            return Ok(Some((state, true)));
        }
        let latest = match head.priced {
            0 => None,
            n => match self.quotes.get(version_key(key, n)).map_err(backend)? {
                Some(v) => Some(decode(&v)?),
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "quote {:?} lost its version {n}",
                        String::from_utf8_lossy(key)
                    )))
                }
            },
        };
        Ok(Some((QuoteState { head, latest }, false)))
    }

    /// The head and latest priced version of a quote.
    fn state(&self, key: &[u8]) -> Result<Option<QuoteState>, StoreError> {
        Ok(self.read(key)?.map(|(state, _)| state))
    }

    /// A whole quote from its key and stored head: its versions up to the head's, oldest
    /// first.
    fn record(&self, key: &[u8], head: &[u8]) -> Result<QuoteRecord, StoreError> {
        let StoredHead { head, first } = decode(head)?;
        let versions = match first {
            Some(first) => vec![first],
            None => self
                .quotes
                .range(version_key(key, 1)..=version_key(key, head.version))
                .values()
                .map(|v| decode(&v.map_err(backend)?))
                .collect::<Result<_, _>>()?,
        };
        Ok(QuoteRecord::from_parts(head, versions))
    }

    /// Writes one version and the head, and appends them to the commit log, under the
    /// quote's lock: the log holds one quote's updates in the order sled applied them.
    /// A new quote's first version goes inside its head's record: one insert. Otherwise
    /// the version is inserted, then the head, which is the commit point; `moved`, a first
    /// version that was inside the head, gets a key of its own before them.
    fn write_logged(
        &self,
        key: &[u8],
        head: &QuoteHead,
        version: &QuoteVersion,
        moved: Option<&QuoteVersion>,
    ) -> Result<(), StoreError> {
        let hk = head_key(key);
        if moved.is_none() && StoredHead::may_hold(head, version) {
            return with_encoded(&(head, version), self.zstd_level, |hv| {
                self.quotes.insert(hk.as_slice(), hv).map_err(backend)?;
                self.commits.append(&[(&hk, hv)]);
                Ok(())
            });
        }
        let vk = version_key(key, version.version);
        let hv = serde_json::to_vec(head).map_err(backend)?;
        let moved = match moved {
            Some(first) => {
                let (k, v) = (
                    version_key(key, first.version),
                    encode(first, self.zstd_level)?,
                );
                self.quotes
                    .insert(k.as_slice(), v.as_slice())
                    .map_err(backend)?;
                Some((k, v))
            }
            None => None,
        };
        // Straight from the encoder's buffer into sled and the log: no copy of its own.
        with_encoded(version, self.zstd_level, |vv| {
            self.quotes.insert(vk.as_slice(), vv).map_err(backend)?;
            self.quotes
                .insert(hk.as_slice(), hv.as_slice())
                .map_err(backend)?;
            match &moved {
                Some((k, v)) => self.commits.append(&[(k, v), (&vk, vv), (&hk, &hv)]),
                None => self.commits.append(&[(&vk, vv), (&hk, &hv)]),
            }
            Ok(())
        })
    }

    /// Writes versions, then the head (plain JSON: it is small), which makes them count.
    fn write(
        &self,
        key: &[u8],
        head: &QuoteHead,
        versions: &[QuoteVersion],
    ) -> Result<(), StoreError> {
        for v in versions {
            self.quotes
                .insert(version_key(key, v.version), encode(v, self.zstd_level)?)
                .map_err(backend)?;
        }
        self.quotes
            .insert(head_key(key), serde_json::to_vec(head).map_err(backend)?)
            .map_err(backend)?;
        Ok(())
    }

    /// Applies the commit log's records in order, then checkpoints so that they are
    /// applied once. A record of an account that no longer exists is skipped: its
    /// deletion reached sled after the record was logged.
    fn replay(&self, entries: Vec<super::commit_log::Entry>) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut applied = 0usize;
        for pairs in &entries {
            let Some(account) = pairs.first().and_then(|(k, _)| account_of(k)) else {
                return Err(StoreError::Corrupt(
                    "a commit log record without a quote key".into(),
                ));
            };
            if !self.accounts.contains_key(account).map_err(backend)? {
                continue;
            }
            for (k, v) in pairs {
                self.quotes
                    .insert(k.as_slice(), v.as_slice())
                    .map_err(backend)?;
            }
            applied += 1;
        }
        tracing::info!(records = entries.len(), applied, "replayed the commit log");
        self.checkpoint()
    }

    /// Makes everything written to sled durable, then empties the commit log: every
    /// record in it was applied to sled before it was appended.
    fn checkpoint(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        self.log.sync_data().map_err(backend)?;
        self.sync_blobs()?;
        self.commits.reset().map_err(backend)
    }

    /// Notes a write that is not in the commit log: the next sync flushes sled.
    fn unlogged(&self) {
        self.unlogged.store(true, Ordering::SeqCst);
    }

    fn lock_for(&self, key: &[u8]) -> super::key_locks::KeyGuard<'_> {
        self.locks.lock(key)
    }

    fn sync_blobs(&self) -> Result<(), StoreError> {
        let blobs = self.dir.join("blobs");
        let Ok(entries) = std::fs::read_dir(&blobs) else {
            return Ok(());
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut any = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if synced.contains(&name) {
                continue;
            }
            if let Ok(f) = File::open(entry.path()) {
                f.sync_data().map_err(backend)?;
                synced.insert(name);
                any = true;
            }
        }
        if any {
            fsync_dir(&blobs)?;
        }
        Ok(())
    }
}

/// Makes `dir` and everything under it private to the owner: 0700 directories, 0600 files.
fn restrict(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                backend(format!(
                    "cannot restrict permissions of {}: {e}",
                    p.display()
                ))
            })
        };
        set(dir, 0o700)?;
        for entry in std::fs::read_dir(dir).map_err(backend)? {
            let entry = entry.map_err(backend)?;
            let kind = entry.file_type().map_err(backend)?;
            if kind.is_dir() {
                restrict(&entry.path())?;
            } else if kind.is_file() {
                set(&entry.path(), 0o600)?;
            }
        }
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(backend)
}

impl Store for SledStore {
    fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.accounts
            .iter()
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                decode(&v)
            })
            .collect()
    }

    fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        self.accounts
            .insert(account.id.as_bytes(), encode(account, self.zstd_level)?)
            .map_err(backend)?;
        self.unlogged();
        Ok(())
    }

    fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let prefix = quote_prefix(id, None);
        let mut keys: Vec<sled::IVec> = Vec::new();
        for p in [tagged(HEAD, &prefix), tagged(VERSION, &prefix)] {
            for k in self.quotes.scan_prefix(p).keys() {
                keys.push(k.map_err(backend)?);
            }
        }
        let existed = (&self.accounts, &self.quotes)
            .transaction(|(a, log)| {
                for k in &keys {
                    log.remove(k)?;
                }
                Ok(a.remove(id.as_bytes())?.is_some())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| backend(format!("{e:?}")))?;
        self.unlogged();
        Ok(existed)
    }

    /// One process per data directory, and the service serializes its account changes:
    /// read, decide, write.
    fn modify_account(
        &self,
        id: &str,
        change: &mut dyn FnMut(Option<Account>) -> Result<Option<Account>, LevyError>,
    ) -> Result<Option<Account>, StoreError> {
        let current = match self.accounts.get(id.as_bytes()).map_err(backend)? {
            Some(v) => Some(decode::<Account>(&v)?),
            None => None,
        };
        let next = change(current)?;
        match &next {
            Some(account) => self.put_account(account)?,
            None => {
                self.delete_account(id)?;
            }
        }
        Ok(next)
    }

    fn quote(&self, key: &QuoteKey) -> Result<Option<QuoteRecord>, StoreError> {
        let key = quote_key(key);
        match self.quotes.get(head_key(&key)).map_err(backend)? {
            Some(h) => Ok(Some(self.record(&key, &h)?)),
            None => Ok(None),
        }
    }

    fn quote_stores(&self, account: &str, id: &str) -> Result<Vec<String>, StoreError> {
        self.quotes
            .scan_prefix(tagged(HEAD, &quote_prefix(account, Some(id))))
            .keys()
            .map(|k| {
                let k = k.map_err(backend)?;
                store_of(&k).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "a quote key {:?} without its store",
                        String::from_utf8_lossy(&k)
                    ))
                })
            })
            .collect()
    }

    fn update_quote(
        &self,
        key: &QuoteKey,
        change: &mut dyn FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError>,
    ) -> Result<QuoteState, StoreError> {
        let key = quote_key(key);
        let _guard = self.lock_for(&key);
        let (current, inline) = match self.read(&key)? {
            Some((state, inline)) => (Some(state), inline),
            None => (None, false),
        };
        match change(current.as_ref())? {
            QuoteChange::Append(head, version) => {
                let expected = current.as_ref().map_or(1, |c| c.head.next_version());
                if version.version != expected || head.version != version.version {
                    return Err(StoreError::Backend(format!(
                        "version {} appended where {expected} was next",
                        version.version
                    )));
                }
                // A first version inside the head moves out when a second one comes.
                let moved = current.as_ref().and_then(|c| c.latest.as_ref());
                self.write_logged(&key, &head, &version, moved.filter(|_| inline))?;
                let latest = if version.response.is_some() {
                    Some(*version)
                } else {
                    current.and_then(|c| c.latest)
                };
                Ok(QuoteState { head, latest })
            }
            QuoteChange::Keep => {
                current.ok_or_else(|| StoreError::Backend("Keep on a missing quote".into()))
            }
        }
    }

    fn quotes(&self, account: &str) -> Result<Vec<QuoteRecord>, StoreError> {
        self.quotes
            .scan_prefix(tagged(HEAD, &quote_prefix(account, None)))
            .map(|kv| {
                let (k, h) = kv.map_err(backend)?;
                self.record(&k[1..], &h)
            })
            .collect()
    }

    fn scan_quotes(
        &self,
        account: &str,
        visit: &mut dyn FnMut(QuoteState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for k in self
            .quotes
            .scan_prefix(tagged(HEAD, &quote_prefix(account, None)))
            .keys()
        {
            let k = k.map_err(backend)?;
            // Deleted since the scan began: nothing to report.
            if let Some(state) = self.state(&k[1..])? {
                visit(state)?;
            }
        }
        Ok(())
    }

    fn put_quote(&self, record: &QuoteRecord) -> Result<(), StoreError> {
        let key = quote_key(&record.key());
        let _guard = self.lock_for(&key);
        self.write(&key, &record.head(), &record.versions)?;
        self.unlogged();
        Ok(())
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<super::backup::Counts, StoreError> {
        let mut writer = super::backup::Writer::new(out)?;
        for account in self.accounts()? {
            writer.account(&account)?;
        }
        for kv in self.quotes.scan_prefix([HEAD]) {
            let (k, h) = kv.map_err(backend)?;
            writer.quote(&self.record(&k[1..], &h)?)?;
        }
        writer.finish()
    }

    fn marker(&self, name: &str) -> Result<bool, StoreError> {
        let meta = self.db.open_tree("meta").map_err(backend)?;
        let key = format!("marker:{name}");
        meta.contains_key(key.as_bytes()).map_err(backend)
    }

    fn set_marker(&self, name: &str) -> Result<(), StoreError> {
        let meta = self.db.open_tree("meta").map_err(backend)?;
        let key = format!("marker:{name}");
        meta.insert(key.as_bytes(), &b"1"[..]).map_err(backend)?;
        self.unlogged();
        Ok(())
    }

    /// Writes and syncs the commit log; a checkpoint instead when sled itself holds
    /// writes the log does not, or the log has grown past [`CHECKPOINT_BYTES`]. The
    /// records appended before this call are written by it: either way they are durable.
    fn sync(&self) -> Result<(), StoreError> {
        // One sync at a time (the flusher, and a last one at shutdown): a checkpoint's
        // reset must not empty a log another sync has just written.
        let _one = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let unlogged = self.unlogged.swap(false, Ordering::SeqCst);
        let written = match self.commits.write() {
            Ok(w) => w,
            Err(e) => {
                // The records are lost from the log but are in sled: only a checkpoint
                // makes them durable now.
                tracing::error!(error = %e, "writing the commit log failed; checkpointing");
                return self.checkpoint().inspect_err(|_| self.unlogged());
            }
        };
        if unlogged || written.is_some_and(|len| len > CHECKPOINT_BYTES) {
            return self.checkpoint().inspect_err(|_| self.unlogged());
        }
        if written.is_some() {
            // After a failed sync the written records may be gone from the page cache:
            // sled holds them, and the next sync checkpoints.
            self.commits.sync().map_err(|e| {
                self.unlogged();
                backend(e)
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::record_codec::{decompress, ZSTD_MAGIC};
    use super::*;
    use crate::store::{QuoteKind, QuoteStatus};

    fn version(n: u32, kind: QuoteKind) -> QuoteVersion {
        QuoteVersion {
            version: n,
            kind,
            request: None,
            response: (kind != QuoteKind::Void).then(|| {
                serde_json::value::RawValue::from_string(format!("{{\"v\":{n}}}")).unwrap()
            }),
            audit: None,
            adjust_description: None,
            at: chrono::Utc::now(),
        }
    }

    fn record() -> QuoteRecord {
        QuoteRecord {
            id: "113".into(),
            account: "acme".into(),
            store_hash: "s1".into(),
            status: QuoteStatus::Voided,
            external_key: "k".into(),
            versions: vec![
                version(1, QuoteKind::Commit),
                version(2, QuoteKind::Adjust),
                version(3, QuoteKind::Void),
            ],
        }
    }

    fn acme() -> QuoteKey {
        QuoteKey::new("acme", "s1", "113")
    }

    fn same(a: &QuoteRecord, b: &QuoteRecord) {
        assert_eq!(
            serde_json::to_string(a).unwrap(),
            serde_json::to_string(b).unwrap()
        );
    }

    fn put_acme(store: &SledStore) {
        let acme: Account =
            serde_json::from_str(r#"{"id":"acme","created_at":"2026-01-01T00:00:00Z"}"#).unwrap();
        store.put_account(&acme).unwrap();
    }

    #[test]
    fn updates_are_made_durable_by_the_log_and_other_writes_by_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        put_acme(&store);
        store.sync().unwrap();
        assert_eq!(
            store.commits.written(),
            0,
            "an account is made durable in sled"
        );
        let first = record().versions.remove(0);
        store
            .update_quote(&acme(), &mut |_| {
                let mut r = record();
                r.versions.truncate(1);
                r.status = QuoteStatus::Committed;
                Ok(QuoteChange::Append(r.head(), Box::new(first.clone())))
            })
            .unwrap();
        store.sync().unwrap();
        let logged = store.commits.written();
        assert!(logged > 0, "the update is in the log");
        // Nothing new: nothing written.
        store.sync().unwrap();
        assert_eq!(store.commits.written(), logged);
        // A write outside the log makes the next sync a checkpoint, which empties the log.
        store.set_marker("m").unwrap();
        store.sync().unwrap();
        assert_eq!(store.commits.written(), 0);
        assert_eq!(store.quote(&acme()).unwrap().unwrap().versions.len(), 1);
    }

    #[test]
    fn the_log_is_replayed_at_open_and_then_emptied() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path(), 1 << 20).unwrap();
            put_acme(&store);
            store.sync().unwrap();
        }
        // Updates that reached the log but not sled (a crash before a checkpoint): two of
        // acme's quote, in order, and one of an account deleted since.
        let mut r = record();
        r.versions.truncate(2);
        r.status = QuoteStatus::Committed;
        {
            let (log, _) = super::super::commit_log::CommitLog::open(dir.path()).unwrap();
            let key = quote_key(&acme());
            for n in 1..=2 {
                let mut upto = r.clone();
                upto.versions.truncate(n);
                let (vk, vv) = (
                    version_key(&key, n as u32),
                    encode(&r.versions[n - 1], 1).unwrap(),
                );
                let (hk, hv) = (head_key(&key), serde_json::to_vec(&upto.head()).unwrap());
                log.append(&[(&vk, &vv), (&hk, &hv)]);
            }
            let gone = quote_key(&QuoteKey::new("gone", "s1", "1"));
            let hv = serde_json::to_vec(&r.head()).unwrap();
            log.append(&[(&head_key(&gone), &hv)]);
            log.write().unwrap();
        }
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &r);
        assert!(store.quotes("gone").unwrap().is_empty());
        assert_eq!(
            store.commits.written(),
            0,
            "replayed once, then checkpointed"
        );
        drop(store);
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &r);
    }

    #[test]
    fn a_store_with_whole_quote_records_is_split_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let written = record();
        {
            // The layout before one record per version: tree `quotes`, every version inside.
            let db = sled::open(dir.path()).unwrap();
            let old = db.open_tree("quotes").unwrap();
            old.insert(&b"acme\x00113"[..], encode(&written, 1).unwrap())
                .unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &written);
        assert!(store.db.open_tree("quotes").unwrap().is_empty());
        assert_eq!(store.quotes.scan_prefix([VERSION]).count(), 3);
        let state = store.state(&quote_key(&acme())).unwrap().unwrap();
        assert_eq!((state.head.version, state.head.priced), (3, 2));
        assert_eq!(state.latest.unwrap().version, 2);
        drop(store);
        // Idempotent: a second start finds nothing left to split.
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &written);
    }

    #[test]
    fn quotes_keyed_without_their_store_are_re_keyed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let written = record();
        {
            // The layout before store hashes were part of the key, as it wrote it: a plain
            // JSON head at `h account \0 id`, zstd versions at `v account \0 id \0 n`, and
            // an orphan version beyond the head (a crash before the head was written).
            let db = sled::open(dir.path()).unwrap();
            let log = db.open_tree("quote_log").unwrap();
            log.insert(
                &b"hacme\x00113"[..],
                serde_json::to_vec(&written.head()).unwrap(),
            )
            .unwrap();
            for v in written
                .versions
                .iter()
                .chain([&version(4, QuoteKind::Adjust)])
            {
                let mut k = b"vacme\x00113\x00".to_vec();
                k.extend_from_slice(&v.version.to_be_bytes());
                log.insert(k, encode(v, 1).unwrap()).unwrap();
            }
            db.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &written);
        assert_eq!(store.quote_stores("acme", "113").unwrap(), vec!["s1"]);
        assert!(store
            .quote(&QuoteKey::new("acme", "s2", "113"))
            .unwrap()
            .is_none());
        assert_eq!(store.quotes.scan_prefix([OLD_HEAD]).count(), 0);
        assert_eq!(store.quotes.scan_prefix([OLD_VERSION]).count(), 0);
        assert_eq!(store.quotes.scan_prefix([VERSION]).count(), 3);
        drop(store);
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quotes("acme").unwrap()[0], &written);
    }

    #[test]
    fn frames_decode_with_or_without_their_size() {
        let json = serde_json::to_vec(&record()).unwrap();
        // Written by Levy: the frame says its size, and the buffer is exactly that.
        let sized = encode(&record(), DEFAULT_ZSTD_LEVEL).unwrap();
        assert!(zstd::zstd_safe::get_frame_content_size(&sized)
            .unwrap()
            .is_some());
        let out = decompress(&sized).unwrap();
        assert_eq!((out.len(), out.capacity()), (json.len(), json.len()));
        // A streamed frame (no size in its header) still decodes.
        let mut streamed = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut streamed, &json).unwrap();
        let streamed = streamed.finish().unwrap();
        assert_eq!(decompress(&streamed).unwrap(), json);
        let back = decode::<QuoteRecord>(&streamed).unwrap();
        assert_eq!(serde_json::to_vec(&back).unwrap(), json);
    }

    #[test]
    fn records_of_any_compression_level_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = record();
        let mut b = record();
        b.store_hash = "s2".into();
        // Written plain (level 0), then with zstd's fast level, then read by a store
        // opened at level 1.
        let store = SledStore::open(dir.path(), 1 << 20)
            .unwrap()
            .with_zstd_level(0);
        store.put_quote(&a).unwrap();
        let k = version_key(&quote_key(&acme()), 1);
        assert!(!store
            .quotes
            .get(&k)
            .unwrap()
            .unwrap()
            .starts_with(&ZSTD_MAGIC));
        drop(store);
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        store.put_quote(&b).unwrap();
        let k = version_key(&quote_key(&QuoteKey::new("acme", "s2", "113")), 1);
        assert!(store
            .quotes
            .get(&k)
            .unwrap()
            .unwrap()
            .starts_with(&ZSTD_MAGIC));
        drop(store);
        let store = SledStore::open(dir.path(), 1 << 20)
            .unwrap()
            .with_zstd_level(1);
        same(&store.quote(&acme()).unwrap().unwrap(), &a);
        same(
            &store
                .quote(&QuoteKey::new("acme", "s2", "113"))
                .unwrap()
                .unwrap(),
            &b,
        );
    }

    #[test]
    fn one_id_in_two_stores_is_two_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        let a = record();
        let mut b = record();
        b.store_hash = "s2".into();
        b.versions.truncate(1);
        b.status = QuoteStatus::Committed;
        store.put_quote(&a).unwrap();
        store.put_quote(&b).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &a);
        same(
            &store
                .quote(&QuoteKey::new("acme", "s2", "113"))
                .unwrap()
                .unwrap(),
            &b,
        );
        assert_eq!(store.quote_stores("acme", "113").unwrap(), vec!["s1", "s2"]);
        assert_eq!(store.quotes("acme").unwrap().len(), 2);
        // An id that is a prefix of another, or holds the separator bytes, stays apart.
        assert!(store.quote_stores("acme", "11").unwrap().is_empty());
        assert!(store.quotes("acm").unwrap().is_empty());
        store.delete_account("acme").unwrap();
        assert!(store.quotes("acme").unwrap().is_empty());
    }

    #[test]
    fn an_update_appends_one_version_and_leaves_the_others_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        store.put_quote(&record()).unwrap();
        let key = quote_key(&acme());
        let before: Vec<(sled::IVec, sled::IVec)> = store
            .quotes
            .scan_prefix([VERSION])
            .collect::<Result<_, _>>()
            .unwrap();
        let after = store
            .update_quote(&acme(), &mut |current| {
                let current = current.unwrap();
                let v = version(current.head.next_version(), QuoteKind::Commit);
                let mut head = current.head.clone().with(&v);
                head.status = QuoteStatus::Committed;
                Ok(QuoteChange::Append(head, Box::new(v)))
            })
            .unwrap();
        assert_eq!((after.head.version, after.head.priced), (4, 4));
        let now: Vec<(sled::IVec, sled::IVec)> = store
            .quotes
            .scan_prefix([VERSION])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(now.len(), 4);
        assert_eq!(&now[..3], &before[..], "earlier versions are not rewritten");
        assert_eq!(now[3].0, version_key(&key, 4));
        // A version that would leave a gap is refused.
        let err = store.update_quote(&acme(), &mut |current| {
            let current = current.unwrap();
            let v = version(current.head.version + 2, QuoteKind::Void);
            Ok(QuoteChange::Append(
                current.head.clone().with(&v),
                Box::new(v),
            ))
        });
        assert!(err.is_err());
        assert_eq!(store.quote(&acme()).unwrap().unwrap().versions.len(), 4);
    }

    /// Appends the next version of acme's quote 113 (a commit when it is new).
    fn append_next(store: &SledStore, kind: QuoteKind) -> QuoteState {
        store
            .update_quote(&acme(), &mut |current| {
                let head = current.map_or_else(
                    || {
                        let mut r = record();
                        r.versions.clear();
                        r.head()
                    },
                    |c| c.head.clone(),
                );
                let v = version(head.next_version(), kind);
                let mut head = head.with(&v);
                head.status = QuoteStatus::Committed;
                Ok(QuoteChange::Append(head, Box::new(v)))
            })
            .unwrap()
    }

    fn keys(store: &SledStore) -> Vec<u8> {
        store.quotes.iter().keys().map(|k| k.unwrap()[0]).collect()
    }

    #[test]
    fn a_new_quote_is_one_record_until_its_second_version() {
        let dir = tempfile::tempdir().unwrap();
        let key = quote_key(&acme());
        {
            let store = SledStore::open(dir.path(), 1 << 20).unwrap();
            put_acme(&store);
            store.sync().unwrap();
            let state = append_next(&store, QuoteKind::Commit);
            assert_eq!(state.latest.as_ref().unwrap().version, 1);
            assert_eq!(
                keys(&store),
                vec![HEAD],
                "the first version is inside its head"
            );
            assert_eq!(
                store.state(&key).unwrap().unwrap().latest.unwrap().version,
                1
            );
            assert_eq!(store.quote(&acme()).unwrap().unwrap().versions.len(), 1);
            assert_eq!(store.quote_stores("acme", "113").unwrap(), vec!["s1"]);
            store.sync().unwrap();
            assert!(store.commits.written() > 0, "made durable by the log");
        }
        // Replayed from the log at open, like any update.
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        let one = store.quote(&acme()).unwrap().unwrap();
        assert_eq!(
            one.versions[0].response.as_ref().unwrap().get(),
            "{\"v\":1}"
        );
        // A second version moves the first to a key of its own.
        let state = append_next(&store, QuoteKind::Adjust);
        assert_eq!((state.head.version, state.latest.unwrap().version), (2, 2));
        assert_eq!(keys(&store), vec![HEAD, VERSION, VERSION]);
        let head: QuoteHead =
            serde_json::from_slice(&store.quotes.get(head_key(&key)).unwrap().unwrap()).unwrap();
        assert_eq!(head.version, 2, "the head is a plain head again");
        let two = store.quote(&acme()).unwrap().unwrap();
        assert_eq!(two.versions.len(), 2);
        same(
            &QuoteRecord::from_parts(two.head(), two.versions[..1].to_vec()),
            &QuoteRecord::from_parts(two.head(), one.versions.clone()),
        );
        drop(store);
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &two);
    }

    #[test]
    fn a_first_version_moved_out_without_its_head_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        append_next(&store, QuoteKind::Commit);
        let key = quote_key(&acme());
        // A crash after the first version's own insert, before the head's: still one
        // record, read from the head.
        let stale = version(1, QuoteKind::Adjust);
        store
            .quotes
            .insert(version_key(&key, 1), encode(&stale, 1).unwrap())
            .unwrap();
        let one = store.quote(&acme()).unwrap().unwrap();
        assert_eq!(one.versions[0].kind, QuoteKind::Commit);
        assert_eq!(
            store.state(&key).unwrap().unwrap().latest.unwrap().kind,
            QuoteKind::Commit
        );
        append_next(&store, QuoteKind::Adjust);
        let two = store.quote(&acme()).unwrap().unwrap();
        let kinds: Vec<_> = two.versions.iter().map(|v| v.kind).collect();
        assert_eq!(kinds, vec![QuoteKind::Commit, QuoteKind::Adjust]);
    }

    #[test]
    fn a_version_written_without_its_head_is_ignored_and_then_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        let written = record();
        store.put_quote(&written).unwrap();
        let key = quote_key(&acme());
        // A crash between the two inserts of an update: version 4 is there, the head is not.
        let orphan = version(4, QuoteKind::Commit);
        store
            .quotes
            .insert(version_key(&key, 4), encode(&orphan, 1).unwrap())
            .unwrap();
        same(&store.quote(&acme()).unwrap().unwrap(), &written);
        same(&store.quotes("acme").unwrap()[0], &written);
        let state = store.state(&key).unwrap().unwrap();
        assert_eq!(state.head.version, 3);
        // The next update takes number 4 with its own content.
        let after = store
            .update_quote(&acme(), &mut |current| {
                let current = current.unwrap();
                let mut v = version(current.head.next_version(), QuoteKind::Adjust);
                v.adjust_description = Some("the real one".into());
                Ok(QuoteChange::Append(
                    current.head.clone().with(&v),
                    Box::new(v),
                ))
            })
            .unwrap();
        assert_eq!(after.head.version, 4);
        let record = store.quote(&acme()).unwrap().unwrap();
        assert_eq!(
            record.versions[3].adjust_description.as_deref(),
            Some("the real one")
        );
    }
}

//! The embedded store: sled 0.34.
//!
//! Two trees: `accounts` (id -> account JSON) and `quotes` (`account \0 quote id` ->
//! record JSON, every version inside). Updates of one quote are serialized by a
//! striped lock; each write is one atomic key insert.
//!
//! Durability: sled's `flush` ends in `sync_file_range` on Linux, which does not flush
//! the drive's cache, and sled writes large values to blob files it never fsyncs. So
//! [`SledStore::sync`] follows the flush with `fdatasync` of the log file and of every
//! blob file written since, and an fsync of the blob directory.

use super::{QuoteChange, QuoteRecord, Store, StoreError};
use crate::accounts::Account;
use crate::error::LevyError;
use std::collections::HashSet;
use std::fs::File;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const STRIPES: usize = 256;

pub struct SledStore {
    db: sled::Db,
    accounts: sled::Tree,
    quotes: sled::Tree,
    locks: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
    dir: PathBuf,
    /// The log file, kept open for fdatasync.
    log: File,
    /// Blob files already fsynced.
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn quote_key(account: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + id.len() + 1);
    k.extend_from_slice(account.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// zstd frames start with this magic; anything else is a plain JSON record.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    if bytes.starts_with(&ZSTD_MAGIC) {
        let json = zstd::bulk::decompress(bytes, MAX_RECORD).map_err(|e| corrupt(&e))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(&e))
    } else {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
    }
}

/// A record as stored: its JSON, zstd-compressed (level 1: fast, and about 5x smaller).
fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(value).map_err(backend)?;
    if json.len() > MAX_RECORD {
        return Err(StoreError::Backend(format!(
            "a record of {} bytes is over the limit",
            json.len()
        )));
    }
    thread_local! {
        // One compression context per thread, reused: a fresh one costs about a megabyte.
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(1).map_err(backend)?);
        }
        c.as_mut()
            .expect("just set")
            .compress(&json)
            .map_err(backend)
    })
}

/// The largest record accepted (uncompressed): well above any quote within the body limits.
const MAX_RECORD: usize = 1 << 30;

impl SledStore {
    /// Opens (or creates) the store in `dir`. Fails clearly when another process holds
    /// the directory or when it is not a readable sled database.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| {
                let text = e.to_string();
                if text.contains("lock") || text.contains("WouldBlock") || text.contains("temporarily unavailable") {
                    backend(format!(
                        "the data directory {} is in use by another process (only one Levy may open it): {text}",
                        dir.display()
                    ))
                } else {
                    backend(format!("cannot open the data directory {} (damaged or not a Levy store?): {text}", dir.display()))
                }
            })?;
        let accounts = db.open_tree("accounts").map_err(backend)?;
        let quotes = db.open_tree("quotes").map_err(backend)?;
        let log = File::open(dir.join("db"))
            .map_err(|e| backend(format!("cannot open the log file: {e}")))?;
        let store = SledStore {
            db,
            accounts,
            quotes,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
            dir: dir.to_path_buf(),
            log,
            synced_blobs: Mutex::new(HashSet::new()),
        };
        store.check_identity()?;
        // Every record must decode: a damaged store fails here, at start, not mid-request.
        store.accounts()?;
        for kv in store.quotes.iter() {
            let (k, v) = kv.map_err(backend)?;
            decode::<QuoteRecord>(&v).map_err(|e| {
                StoreError::Corrupt(format!(
                    "quote record {:?} is damaged: {e}",
                    String::from_utf8_lossy(&k)
                ))
            })?;
        }
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
                let has_data = !self.accounts.is_empty() || !self.quotes.is_empty();
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

    fn lock_for(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        let stripe = (self.hasher.hash_one(key) as usize) % STRIPES;
        self.locks[stripe].lock().unwrap_or_else(|p| p.into_inner())
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
            .insert(account.id.as_bytes(), encode(account)?)
            .map_err(backend)?;
        Ok(())
    }

    fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        use sled::Transactional;
        let prefix = quote_key(id, "");
        let keys: Vec<sled::IVec> = self
            .quotes
            .scan_prefix(&prefix)
            .keys()
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let existed = (&self.accounts, &self.quotes)
            .transaction(|(a, q)| {
                for k in &keys {
                    q.remove(k)?;
                }
                Ok(a.remove(id.as_bytes())?.is_some())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| backend(format!("{e:?}")))?;
        Ok(existed)
    }

    fn quote(&self, account: &str, id: &str) -> Result<Option<QuoteRecord>, StoreError> {
        match self.quotes.get(quote_key(account, id)).map_err(backend)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    fn update_quote(
        &self,
        account: &str,
        id: &str,
        change: &mut dyn FnMut(Option<&QuoteRecord>) -> Result<QuoteChange, LevyError>,
    ) -> Result<QuoteRecord, StoreError> {
        let key = quote_key(account, id);
        let _guard = self.lock_for(&key);
        let current: Option<QuoteRecord> = match self.quotes.get(&key).map_err(backend)? {
            Some(v) => Some(decode(&v)?),
            None => None,
        };
        match change(current.as_ref())? {
            QuoteChange::Write(record) => {
                self.quotes.insert(key, encode(&record)?).map_err(backend)?;
                Ok(record)
            }
            QuoteChange::Keep => {
                current.ok_or_else(|| StoreError::Backend("Keep on a missing quote".into()))
            }
        }
    }

    fn quotes(&self, account: &str) -> Result<Vec<QuoteRecord>, StoreError> {
        self.quotes
            .scan_prefix(quote_key(account, ""))
            .values()
            .map(|v| decode(&v.map_err(backend)?))
            .collect()
    }

    fn put_quote(&self, record: &QuoteRecord) -> Result<(), StoreError> {
        let key = quote_key(&record.account, &record.id);
        let _guard = self.lock_for(&key);
        self.quotes.insert(key, encode(record)?).map_err(backend)?;
        Ok(())
    }

    fn backup(&self, out: &mut dyn std::io::Write) -> Result<super::backup::Counts, StoreError> {
        // Every stripe, in order: no quote changes while the copy is taken.
        let _all: Vec<_> = self
            .locks
            .iter()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut writer = super::backup::Writer::new(out)?;
        for account in self.accounts()? {
            writer.account(&account)?;
        }
        for kv in self.quotes.iter() {
            let (_, v) = kv.map_err(backend)?;
            writer.quote(&decode::<QuoteRecord>(&v)?)?;
        }
        writer.finish()
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        self.log.sync_data().map_err(backend)?;
        self.sync_blobs()
    }
}

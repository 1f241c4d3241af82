//! Persistence: accounts and committed quotes with every version.
//!
//! [`Store`] is the one storage interface; [`sled_store::SledStore`] is the embedded
//! default. Calls are blocking and must run off the async executor (`web::block`).
//! Writes become durable only through [`group_commit::GroupCommit`], which batches
//! many writers into one flush and fsync.

pub mod backup;
pub mod commit_log;
pub mod durable;
pub mod group_commit;
mod key_locks;
pub mod postgres;
mod record_codec;
pub mod records;
mod sled_head;
pub mod sled_store;

pub use durable::Storage;
pub use records::{
    QuoteHead, QuoteKey, QuoteKind, QuoteRecord, QuoteState, QuoteStatus, QuoteVersion,
};

use crate::accounts::Account;
use crate::error::LevyError;

/// What decides a quote update (see [`Store::update_quote`]), owned.
pub type Decide =
    Box<dyn FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError> + Send + 'static>;
/// The answer of a spawned quote update.
pub type Updated = tokio::sync::oneshot::Receiver<Result<QuoteState, StoreError>>;

/// Opens the store the configuration names; `serve`, `backup` and `restore` all come
/// through here, so the backend is chosen in one place.
pub fn open(config: &crate::config::Config) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    match config.store.kind {
        crate::config::StoreKind::Sled => Ok(std::sync::Arc::new(
            sled_store::SledStore::open(config.store_path(), config.store.cache_mb * 1024 * 1024)?
                .with_zstd_level(config.store.zstd_level),
        )),
        crate::config::StoreKind::Postgres => {
            let url = config.store.url.as_deref().ok_or_else(|| {
                StoreError::Backend(
                    "[store] kind = \"postgres\" needs a url (LEVY_DATABASE_URL)".into(),
                )
            })?;
            Ok(std::sync::Arc::new(postgres::PgStore::open(
                url,
                config.store.pool_size,
            )?))
        }
    }
}

/// A storage failure. Its detail is for the log; clients see an internal error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("a stored record could not be decoded: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Rejected(LevyError),
}

impl From<LevyError> for StoreError {
    fn from(e: LevyError) -> Self {
        StoreError::Rejected(e)
    }
}

impl StoreError {
    /// What the client sees: the rejection itself, or an internal error.
    pub fn into_client_error(self) -> LevyError {
        match self {
            StoreError::Rejected(e) => e,
            other => {
                tracing::error!(error = %other, "store failure");
                LevyError::internal()
            }
        }
    }
}

/// What a quote update decided.
pub enum QuoteChange {
    /// Append this version and write this head (its status and version numbers).
    Append(QuoteHead, Box<QuoteVersion>),
    /// Leave the stored quote as it is (an idempotent retry).
    Keep,
}

/// Account changes since a revision (see [`Store::directory_since`]).
#[derive(Debug)]
pub enum DirectoryDelta {
    /// These accounts changed (`None`: deleted); applying them brings a node to `revision`.
    Changed {
        revision: i64,
        accounts: Vec<(String, Option<Account>)>,
    },
    /// The change log no longer reaches back that far: the whole directory, as of `revision`.
    Reload {
        revision: i64,
        accounts: Vec<Account>,
    },
}

/// Storage of accounts and quotes. Implementations must make each call atomic and
/// [`Store::update_quote`] serialized per quote.
pub trait Store: Send + Sync + 'static {
    fn accounts(&self) -> Result<Vec<Account>, StoreError>;
    fn put_account(&self, account: &Account) -> Result<(), StoreError>;
    /// Removes the account and its quotes; false when there was none.
    fn delete_account(&self, id: &str) -> Result<bool, StoreError>;
    /// Reads account `id` as stored and writes what `change` makes of it (None: delete),
    /// serialized with every other account change of every node sharing the store.
    /// Returns what was written.
    fn modify_account(
        &self,
        id: &str,
        change: &mut dyn FnMut(Option<Account>) -> Result<Option<Account>, LevyError>,
    ) -> Result<Option<Account>, StoreError>;
    /// Wakes when another node may have changed accounts (a shared store); None when
    /// this process is the only writer.
    fn directory_changes(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        None
    }
    /// Every account and the directory revision they stand at, read at one moment.
    fn directory(&self) -> Result<(i64, Vec<Account>), StoreError> {
        Ok((0, self.accounts()?))
    }
    /// What changed after `revision`: the accounts changed since, each as it stands now,
    /// so that a node applies work proportional to the change, not to the directory.
    fn directory_since(&self, revision: i64) -> Result<DirectoryDelta, StoreError> {
        let _ = revision;
        let (revision, accounts) = self.directory()?;
        Ok(DirectoryDelta::Reload { revision, accounts })
    }

    /// A quote with its whole history.
    fn quote(&self, key: &QuoteKey) -> Result<Option<QuoteRecord>, StoreError>;
    /// The store hashes under which an account holds a quote with this id.
    fn quote_stores(&self, account: &str, id: &str) -> Result<Vec<String>, StoreError>;
    /// Reads the quote's head and latest priced version, lets `change` decide, appends
    /// what it decided (one version, one head) atomically; no other update of the same
    /// quote runs in between. Returns the quote's state afterwards. Its cost does not
    /// depend on how many versions the quote has.
    fn update_quote(
        &self,
        key: &QuoteKey,
        change: &mut dyn FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError>,
    ) -> Result<QuoteState, StoreError>;
    /// [`Store::update_quote`] as a task of the backend's own runtime, for a backend that
    /// waits on a network (PostgreSQL): its transactions then do not hold the service's
    /// few blocking threads, so as many run at once as it has connections. `Err` gives the
    /// call back for a backend that has no such runtime (sled).
    fn spawn_update_quote(
        &self,
        key: QuoteKey,
        decide: Decide,
    ) -> Result<Updated, (QuoteKey, Decide)> {
        Err((key, decide))
    }
    /// Every quote of an account with its whole history, in id order.
    fn quotes(&self, account: &str) -> Result<Vec<QuoteRecord>, StoreError>;
    /// Each quote of an account as its head and latest priced version, one at a time
    /// (reports): memory does not grow with the number of quotes or their histories.
    fn scan_quotes(
        &self,
        account: &str,
        visit: &mut dyn FnMut(QuoteState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Writes a quote record as it is (restore).
    fn put_quote(&self, record: &QuoteRecord) -> Result<(), StoreError>;

    /// Whether a one-time event of this store happened (e.g. `demo_created`).
    fn marker(&self, name: &str) -> Result<bool, StoreError>;
    /// Records that a one-time event happened.
    fn set_marker(&self, name: &str) -> Result<(), StoreError>;

    /// Makes every write that has returned so far durable on disk. Blocking.
    fn sync(&self) -> Result<(), StoreError>;

    /// Whether each write is durable when its call returns (a database's COMMIT), so no
    /// group commit is needed; sled's writes are durable only after [`Store::sync`].
    fn durable_on_return(&self) -> bool {
        false
    }

    /// Writes every account and quote to `out` without stopping writers: each quote is
    /// copied whole as of the moment its head is read (versions up to a head's number never
    /// change), and every write acknowledged before the backup began is in it. The caller
    /// holds off account changes.
    fn backup(&self, out: &mut dyn std::io::Write) -> Result<backup::Counts, StoreError>;
}

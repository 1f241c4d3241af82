//! The storage interface the service uses. Every call runs the backend off the async
//! executor, and every call that writes returns only once the write is durable (group
//! commit: many writers share one flush and fsync). The service never waits on
//! durability itself, and nothing above this file knows how the backend makes it so.

use super::group_commit::GroupCommit;
use super::{QuoteChange, QuoteKey, QuoteRecord, QuoteState, Store, StoreError};
use crate::accounts::Account;
use crate::error::LevyError;
use std::sync::Arc;

#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Store>,
    /// Group commit of a backend whose writes are durable only after a sync (sled);
    /// None when each write is durable on return (PostgreSQL's COMMIT).
    commits: Option<GroupCommit>,
    /// Where writes of large quotes run (see [`crate::lanes`]).
    heavy: crate::lanes::Lane,
}

impl Storage {
    pub fn new(
        backend: Arc<dyn Store>,
        commits: Option<GroupCommit>,
        heavy: crate::lanes::Lane,
    ) -> Storage {
        Storage {
            backend,
            commits,
            heavy,
        }
    }

    /// Waits until every write that returned is durable (nothing to wait for when each
    /// write is durable on return).
    async fn durable(&self) -> Result<(), StoreError> {
        match &self.commits {
            Some(c) => c.durable().await,
            None => Ok(()),
        }
    }

    /// The backend itself, for blocking callers (start-up, tests, restore).
    pub fn backend(&self) -> &Arc<dyn Store> {
        &self.backend
    }

    /// Stops group commit after a last flush (shutdown).
    pub async fn close(&self) -> Result<(), StoreError> {
        if let Some(c) = &self.commits {
            c.stop();
        }
        self.blocking(|store| store.sync()).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.backend.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| StoreError::Backend(format!("blocking store task failed: {e}")))?
    }

    /// Runs a write, then waits until it is durable.
    async fn durably<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let out = self.blocking(call).await?;
        self.durable().await?;
        Ok(out)
    }

    /// Reads, changes and writes one account, serialized with every account change of
    /// every node (see [`Store::modify_account`]); returns once durable. It runs on the
    /// calling thread: account changes come from the admin listener and start-up, and
    /// `change` may borrow from the caller.
    pub async fn modify_account(
        &self,
        id: &str,
        change: &mut dyn FnMut(Option<Account>) -> Result<Option<Account>, LevyError>,
    ) -> Result<Option<Account>, StoreError> {
        let out = self.backend.modify_account(id, change)?;
        self.durable().await?;
        Ok(out)
    }

    pub async fn put_account(&self, account: Account) -> Result<(), StoreError> {
        self.durably(move |store| store.put_account(&account)).await
    }

    pub async fn delete_account(&self, id: String) -> Result<bool, StoreError> {
        self.durably(move |store| store.delete_account(&id)).await
    }

    /// Lets `decide` choose what happens to one quote (see [`Store::update_quote`]) and
    /// returns the quote's state once that is durable.
    /// A `heavy` update (a large quote) runs on the heavy lane, not the blocking pool.
    pub async fn update_quote(
        &self,
        key: QuoteKey,
        heavy: bool,
        mut decide: impl FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError> + Send + 'static,
    ) -> Result<QuoteState, StoreError> {
        if !heavy {
            let decide: super::Decide = Box::new(decide);
            let answer = match &self.commits {
                Some(c) => c.update_quote(key, decide)?,
                None => match self.backend.spawn_update_quote(key, decide) {
                    Ok(answer) => answer,
                    Err((key, mut decide)) => {
                        return self
                            .durably(move |store| store.update_quote(&key, &mut decide))
                            .await
                    }
                },
            };
            return answer.await.map_err(|_| {
                StoreError::Backend("a quote update ended without an answer".into())
            })?;
        }
        let store = self.backend.clone();
        let out = self
            .heavy
            .run(move || store.update_quote(&key, &mut decide))
            .await
            .ok_or_else(|| StoreError::Backend("a heavy quote update failed".into()))??;
        self.durable().await?;
        Ok(out)
    }

    pub async fn quote(&self, key: QuoteKey) -> Result<Option<QuoteRecord>, StoreError> {
        self.blocking(move |store| store.quote(&key)).await
    }

    pub async fn quote_stores(
        &self,
        account: String,
        id: String,
    ) -> Result<Vec<String>, StoreError> {
        self.blocking(move |store| store.quote_stores(&account, &id))
            .await
    }

    pub async fn quotes(&self, account: String) -> Result<Vec<QuoteRecord>, StoreError> {
        self.blocking(move |store| store.quotes(&account)).await
    }

    pub async fn marker(&self, name: &'static str) -> Result<bool, StoreError> {
        self.blocking(move |store| store.marker(name)).await
    }

    pub async fn set_marker(&self, name: &'static str) -> Result<(), StoreError> {
        self.durably(move |store| store.set_marker(name)).await
    }

    /// Folds `visit` over each quote of an account (head and latest priced version),
    /// on the blocking pool, one quote in memory at a time.
    pub async fn fold_quotes<A: Send + 'static>(
        &self,
        account: String,
        init: A,
        mut visit: impl FnMut(&mut A, QuoteState) + Send + 'static,
    ) -> Result<A, StoreError> {
        self.blocking(move |store| {
            let mut acc = init;
            store.scan_quotes(&account, &mut |q| {
                visit(&mut acc, q);
                Ok(())
            })?;
            Ok(acc)
        })
        .await
    }

    /// A whole-store backup as a stream of chunks, written on the blocking pool while it is
    /// read: memory holds a few chunks, not the backup. A failure ends the stream with an
    /// error, so the reader sees a truncated copy (which restore refuses), never a short one
    /// that looks whole.
    pub fn backup_stream(
        &self,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + 'static {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let store = self.backend.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = ChunkWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let result = store
                .backup(&mut out)
                .and_then(|_| out.send().map_err(|e| StoreError::Backend(e.to_string())));
            if let Err(e) = result {
                tracing::error!(error = %e, "backup failed");
                let _ = tx.blocking_send(Err(std::io::Error::other("the backup failed")));
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        })
    }
}

const CHUNK: usize = 64 * 1024;

/// Hands a backup to its stream in chunks; blocks while the reader is behind.
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! The storage interface the service uses. Every call runs the backend off the async
//! executor, and every call that writes returns only once the write is durable (group
//! commit: many writers share one flush and fsync). The service never waits on
//! durability itself, and nothing above this file knows how the backend makes it so.

use super::backup::Counts;
use super::group_commit::GroupCommit;
use super::{QuoteChange, QuoteKey, QuoteRecord, QuoteState, Store, StoreError};
use crate::accounts::Account;
use crate::error::LevyError;
use std::sync::Arc;

#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Store>,
    commits: GroupCommit,
}

impl Storage {
    pub fn new(backend: Arc<dyn Store>, commits: GroupCommit) -> Storage {
        Storage { backend, commits }
    }

    /// The backend itself, for blocking callers (start-up, tests, restore).
    pub fn backend(&self) -> &Arc<dyn Store> {
        &self.backend
    }

    /// Stops group commit after a last flush (shutdown).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.commits.stop();
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
        self.commits.durable().await?;
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
    pub async fn update_quote(
        &self,
        key: QuoteKey,
        mut decide: impl FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError> + Send + 'static,
    ) -> Result<QuoteState, StoreError> {
        self.durably(move |store| store.update_quote(&key, &mut decide))
            .await
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

    /// A whole-store backup in memory, with what it holds.
    pub async fn backup(&self) -> Result<(Vec<u8>, Counts), StoreError> {
        self.blocking(|store| {
            let mut buf = Vec::new();
            let counts = store.backup(&mut buf)?;
            Ok((buf, counts))
        })
        .await
    }
}

//! The quote lifecycle as the service runs it: the decisions of [`crate::lifecycle`]
//! applied to the store off the async executor, and the answer only once the write is
//! durable (group commit), so no caller ever waits on durability itself.

use crate::error::{ErrorCode, LevyError};
use crate::lifecycle::{self, Caller};
use crate::quote::{QuoteRequest, QuoteResponse};
use crate::state::AppState;
use crate::store::{QuoteRecord, QuoteState, Store, StoreError};
use std::sync::Arc;

/// Who is asking, owned (it crosses to the blocking pool).
#[derive(Debug, Clone)]
pub struct Client {
    pub account: String,
    pub store_hash: String,
}

/// Runs a store call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, LevyError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "blocking store task failed");
            LevyError::internal()
        })?
        .map_err(StoreError::into_client_error)
}

/// Waits until every write made so far is durable, then counts the operation.
async fn durable(state: &AppState, operation: &str) -> Result<(), LevyError> {
    state
        .durability
        .durable()
        .await
        .map_err(StoreError::into_client_error)?;
    state
        .metrics
        .quote_operations
        .with_label_values(&[operation])
        .inc();
    Ok(())
}

/// `POST /commit`: the record as it stands once durable.
pub async fn commit(
    state: &AppState,
    client: Client,
    request: QuoteRequest,
    response: QuoteResponse,
) -> Result<QuoteState, LevyError> {
    let record = blocking(&state.store, move |store| {
        let caller = Caller {
            account: &client.account,
            store_hash: &client.store_hash,
        };
        lifecycle::commit(store, &caller, &request, &response)
    })
    .await?;
    durable(state, "commit").await?;
    Ok(record)
}

/// `POST /adjust?id=`.
pub async fn adjust(
    state: &AppState,
    client: Client,
    id: String,
    request: QuoteRequest,
    response: QuoteResponse,
) -> Result<QuoteState, LevyError> {
    let record = blocking(&state.store, move |store| {
        let caller = Caller {
            account: &client.account,
            store_hash: &client.store_hash,
        };
        lifecycle::adjust(store, &caller, &id, &request, &response)
    })
    .await?;
    durable(state, "adjust").await?;
    Ok(record)
}

/// `POST /void?id=`.
pub async fn void(state: &AppState, client: Client, id: String) -> Result<QuoteState, LevyError> {
    let record = blocking(&state.store, move |store| {
        let caller = Caller {
            account: &client.account,
            store_hash: &client.store_hash,
        };
        lifecycle::void(store, &caller, &id)
    })
    .await?;
    durable(state, "void").await?;
    Ok(record)
}

/// A committed quote of an account with its whole history.
pub async fn get(state: &AppState, account: &str, id: &str) -> Result<QuoteRecord, LevyError> {
    super::accounts::get(state, account)?;
    let (account, id) = (account.to_string(), id.to_string());
    blocking(&state.store, move |store| store.quote(&account, &id))
        .await?
        .ok_or_else(|| LevyError::new(ErrorCode::NotFound, "no committed quote has this id"))
}

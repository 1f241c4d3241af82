//! The quote lifecycle as the service runs it: the pure decisions of
//! [`crate::lifecycle`] applied by the storage, which answers once the write is durable.

use crate::engine::Computed;
use crate::error::{ErrorCode, LevyError};
use crate::lifecycle::{self, Caller};
use crate::quote::QuoteRequest;
use crate::state::AppState;
use crate::store::{QuoteKey, QuoteRecord, QuoteState, StoreError};

/// Who is asking, owned (it crosses to the blocking pool).
#[derive(Debug, Clone)]
pub struct Client {
    pub account: String,
    pub store_hash: String,
}

impl Client {
    /// This client's quote with `id`: quotes are per store.
    fn quote(&self, id: &str) -> QuoteKey {
        QuoteKey::new(&self.account, &self.store_hash, id)
    }
}

fn limits(state: &AppState) -> lifecycle::QuoteLimits {
    lifecycle::QuoteLimits {
        versions: state.limits.versions_per_quote,
        response_bytes: state.limits.version_bytes,
    }
}

/// Counts a durable quote operation.
fn count(state: &AppState, operation: &str) {
    state
        .metrics
        .quote_operations
        .with_label_values(&[operation])
        .inc();
}

/// `POST /commit`: the quote as it stands once durable.
/// `heavy`: a large quote, stored on the heavy lane (see [`crate::lanes`]).
pub async fn commit(
    state: &AppState,
    client: Client,
    request: QuoteRequest,
    computed: Computed,
    heavy: bool,
) -> Result<QuoteState, LevyError> {
    lifecycle::check_id(&request.id)?;
    let key = client.quote(&request.id);
    let limits = limits(state);
    let request = std::sync::Arc::new(request);
    let quote = state
        .store
        .update_quote(key, heavy, move |current| {
            let caller = Caller {
                account: &client.account,
                store_hash: &client.store_hash,
            };
            lifecycle::commit(current, &caller, &request, &computed, &limits)
        })
        .await
        .map_err(StoreError::into_client_error)?;
    count(state, "commit");
    Ok(quote)
}

/// `POST /adjust?id=`.
pub async fn adjust(
    state: &AppState,
    client: Client,
    id: String,
    request: QuoteRequest,
    computed: Computed,
    heavy: bool,
) -> Result<QuoteState, LevyError> {
    lifecycle::check_id(&id)?;
    let limits = limits(state);
    let request = std::sync::Arc::new(request);
    let quote = state
        .store
        .update_quote(client.quote(&id), heavy, move |current| {
            lifecycle::adjust(current, &id, &request, &computed, &limits)
        })
        .await
        .map_err(StoreError::into_client_error)?;
    count(state, "adjust");
    Ok(quote)
}

/// `POST /void?id=`.
pub async fn void(state: &AppState, client: Client, id: String) -> Result<QuoteState, LevyError> {
    lifecycle::check_id(&id)?;
    let quote = state
        .store
        .update_quote(client.quote(&id), false, move |current| {
            lifecycle::void(current, &id)
        })
        .await
        .map_err(StoreError::into_client_error)?;
    count(state, "void");
    Ok(quote)
}

/// A committed quote of an account with its whole history. Without a store hash, the
/// id must name one store's quote; when several of the account's stores have a quote
/// with this id, the answer says which and asks for one.
pub async fn get(
    state: &AppState,
    account: &str,
    id: &str,
    store_hash: Option<&str>,
) -> Result<QuoteRecord, LevyError> {
    super::accounts::get(state, account)?;
    let missing = || LevyError::new(ErrorCode::NotFound, "no committed quote has this id");
    let store_hash = match store_hash {
        Some(h) => h.to_string(),
        None => {
            let mut stores = state
                .store
                .quote_stores(account.to_string(), id.to_string())
                .await
                .map_err(StoreError::into_client_error)?;
            match stores.len() {
                0 => return Err(missing()),
                1 => stores.remove(0),
                _ => {
                    return Err(LevyError::at(
                        ErrorCode::Conflict,
                        "store_hash",
                        format!(
                            "stores {} each have a quote with this id; name one with store_hash",
                            stores.join(", ")
                        ),
                    ))
                }
            }
        }
    };
    state
        .store
        .quote(QuoteKey::new(account, &store_hash, id))
        .await
        .map_err(StoreError::into_client_error)?
        .ok_or_else(missing)
}

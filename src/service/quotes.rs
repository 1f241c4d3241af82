//! The quote lifecycle as the service runs it: the pure decisions of
//! [`crate::lifecycle`] applied by the storage, which answers once the write is durable.

use crate::error::{ErrorCode, LevyError};
use crate::lifecycle::{self, Caller};
use crate::quote::{QuoteRequest, QuoteResponse};
use crate::state::AppState;
use crate::store::{QuoteRecord, QuoteState, StoreError};

/// Who is asking, owned (it crosses to the blocking pool).
#[derive(Debug, Clone)]
pub struct Client {
    pub account: String,
    pub store_hash: String,
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
pub async fn commit(
    state: &AppState,
    client: Client,
    request: QuoteRequest,
    response: QuoteResponse,
) -> Result<QuoteState, LevyError> {
    lifecycle::check_id(&request.id)?;
    let (account, id) = (client.account.clone(), request.id.clone());
    let quote = state
        .store
        .update_quote(account, id, move |current| {
            let caller = Caller {
                account: &client.account,
                store_hash: &client.store_hash,
            };
            lifecycle::commit(current, &caller, &request, &response)
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
    response: QuoteResponse,
) -> Result<QuoteState, LevyError> {
    lifecycle::check_id(&id)?;
    let quote = state
        .store
        .update_quote(client.account, id.clone(), move |current| {
            lifecycle::adjust(current, &id, &request, &response)
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
        .update_quote(client.account, id.clone(), move |current| {
            lifecycle::void(current, &id)
        })
        .await
        .map_err(StoreError::into_client_error)?;
    count(state, "void");
    Ok(quote)
}

/// A committed quote of an account with its whole history.
pub async fn get(state: &AppState, account: &str, id: &str) -> Result<QuoteRecord, LevyError> {
    super::accounts::get(state, account)?;
    state
        .store
        .quote(account.to_string(), id.to_string())
        .await
        .map_err(StoreError::into_client_error)?
        .ok_or_else(|| LevyError::new(ErrorCode::NotFound, "no committed quote has this id"))
}

//! A consistent copy of the whole store (see [`crate::store::backup`]): account changes
//! and quote updates wait while it is taken; estimates go on.

use crate::error::LevyError;
use crate::state::AppState;
use crate::store::backup::Counts;

/// The backup's bytes and what it holds.
pub async fn take(state: &AppState) -> Result<(Vec<u8>, Counts), LevyError> {
    let _no_account_changes = state.account_writes.lock().await;
    state
        .store
        .backup()
        .await
        .map_err(crate::store::StoreError::into_client_error)
}

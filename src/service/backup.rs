//! A copy of the whole store (see [`crate::store::backup`]), streamed as it is written:
//! commits, adjusts and voids go on meanwhile; account changes wait until it is sent.

use crate::state::AppState;
use futures_util::{Stream, StreamExt};

/// The backup's bytes, chunk by chunk.
pub async fn stream(
    state: &AppState,
) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + 'static {
    let no_account_changes = state.account_writes.clone().lock_owned().await;
    state.store.backup_stream().map(move |chunk| {
        let _held_until_the_stream_ends = &no_account_changes;
        chunk
    })
}

//! A lane for heavy work: requests with large bodies are parsed, priced, rendered and
//! stored on threads of their own, a few at a time, so that one merchant's 4 MB quote
//! never holds an executor thread or a slot of the store's small blocking pool that other
//! merchants' commits are waiting for. The operating system then shares the cores
//! between them instead of queueing the small behind the large.

use std::sync::Arc;
use tokio::sync::Semaphore;

/// Bodies above this many bytes take the heavy lane (a typical cart is a few KB).
pub const HEAVY_BODY_BYTES: usize = 128 * 1024;

#[derive(Clone)]
pub struct Lane {
    permits: Arc<Semaphore>,
}

impl Lane {
    /// A lane running at most `concurrent` jobs at once; more wait their turn.
    pub fn new(concurrent: usize) -> Lane {
        Lane {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// Runs `job` on a thread of its own and returns its result; None if the job
    /// panicked or no thread could be started (the caller answers with an internal error).
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _turn = self.permits.acquire().await.ok()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("levy-heavy".into())
            .spawn(move || {
                if let Ok(out) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                    let _ = tx.send(out);
                }
            })
            .ok()?;
        rx.await.ok()
    }
}

//! Group commit: many writers share one flush.
//!
//! A writer makes its write, then awaits [`GroupCommit::durable`]. That takes a ticket;
//! one flusher thread runs [`Store::sync`] over and over, each time covering every
//! ticket taken before it started, and wakes the writers it covered. Under load one
//! fsync acknowledges dozens of commits; an idle server flushes at once. The flush is
//! synchronous on its own thread (sled's `flush_async` can deadlock when called
//! concurrently, sled issue #1308) and never blocks the async executor.

use super::{Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, Default)]
struct Flushed {
    /// The highest ticket a finished flush attempt covered.
    attempted: u64,
    /// The highest ticket a successful flush covered.
    succeeded: u64,
}

struct Inner {
    store: Arc<dyn Store>,
    requested: Mutex<u64>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
    stopping: AtomicBool,
    on_flush: Box<dyn Fn(Duration, usize) + Send + Sync>,
}

/// Handle to the flusher; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
}

impl GroupCommit {
    /// Starts the flusher thread. `on_flush(latency, writers)` observes each flush.
    pub fn start(
        store: Arc<dyn Store>,
        on_flush: impl Fn(Duration, usize) + Send + Sync + 'static,
    ) -> GroupCommit {
        let (flushed, _) = watch::channel(Flushed::default());
        let inner = Arc::new(Inner {
            store,
            requested: Mutex::new(0),
            wake: Condvar::new(),
            flushed,
            stopping: AtomicBool::new(false),
            on_flush: Box::new(on_flush),
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("levy-flusher".into())
            .spawn(move || flusher(worker))
            .expect("spawn the flusher thread");
        GroupCommit { inner }
    }

    /// Resolves once every write made before the call is durable on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let mut rx = self.inner.flushed.subscribe();
        let ticket = {
            let mut requested = self
                .inner
                .requested
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *requested += 1;
            *requested
        };
        self.inner.wake.notify_one();
        let state = *rx
            .wait_for(|f| f.attempted >= ticket)
            .await
            .map_err(|_| StoreError::Backend("the flusher stopped".into()))?;
        if state.succeeded >= ticket {
            Ok(())
        } else {
            Err(StoreError::Backend("flushing to disk failed".into()))
        }
    }

    /// Stops the flusher after a last flush (used at shutdown).
    pub fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }
}

fn flusher(inner: Arc<Inner>) {
    let mut done = 0u64;
    loop {
        let target = {
            let mut requested = inner.requested.lock().unwrap_or_else(|p| p.into_inner());
            while *requested == done && !inner.stopping.load(Ordering::SeqCst) {
                requested = inner
                    .wake
                    .wait(requested)
                    .unwrap_or_else(|p| p.into_inner());
            }
            *requested
        };
        if target == done {
            // Stopping with nothing pending: one last flush for writes made without a ticket.
            if let Err(e) = inner.store.sync() {
                tracing::error!(error = %e, "final flush failed");
            }
            return;
        }
        let started = Instant::now();
        let result = inner.store.sync();
        (inner.on_flush)(started.elapsed(), (target - done) as usize);
        if let Err(e) = &result {
            tracing::error!(error = %e, "flush failed; writers get an error");
        }
        done = target;
        inner.flushed.send_modify(|f| {
            f.attempted = target;
            if result.is_ok() {
                f.succeeded = target;
            }
        });
    }
}

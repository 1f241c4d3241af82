//! Group commit: many writers share one flush.
//!
//! A writer makes its write, then awaits [`GroupCommit::durable`]. That takes a ticket;
//! one flusher thread runs [`Store::sync`] over and over, each time covering every
//! ticket taken before it started, and wakes the writers it covered. Under load one
//! fsync acknowledges dozens of commits; an idle server flushes at once. The flush is
//! synchronous on its own thread (sled's `flush_async` can deadlock when called
//! concurrently, sled issue #1308) and never blocks the async executor.
//!
//! Quote updates, the hot path, take a shorter way ([`GroupCommit::update_quote`]): they are
//! queued to one committer thread, which applies every update waiting, hands the whole
//! batch to the flusher with one ticket per update, and goes on with the next batch while
//! the disk syncs; the flusher answers the batch once its sync covers it. A commit then
//! costs no thread hand-off of its own (a blocking-pool thread per update, a flusher to
//! wake and a waiter to wake back: 127 against 90 µs of CPU per commit, BENCHMARKS.md):
//! the committer is woken at most once per batch, and the flusher once per sync.

use super::{Decide, QuoteKey, QuoteState, Store, StoreError, Updated};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
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

/// The answer to one quote update, sent once its sync is done.
type Answer = (
    tokio::sync::oneshot::Sender<Result<QuoteState, StoreError>>,
    Result<QuoteState, StoreError>,
);

#[derive(Default)]
struct Requested {
    /// The last ticket taken.
    ticket: u64,
    /// The committer's batches waiting for a sync, each with its last ticket, in order.
    batches: Vec<(u64, Vec<Answer>)>,
}

struct Inner {
    store: Arc<dyn Store>,
    requested: Mutex<Requested>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
    stopping: AtomicBool,
    /// Until the committer has handed over its last batch, the flusher keeps going.
    committing: AtomicBool,
    on_flush: Box<dyn Fn(Duration, usize) + Send + Sync>,
}

impl Inner {
    fn requested(&self) -> std::sync::MutexGuard<'_, Requested> {
        self.requested.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A quote update waiting for the committer.
struct Job {
    key: QuoteKey,
    decide: Decide,
    answer: tokio::sync::oneshot::Sender<Result<QuoteState, StoreError>>,
}

/// The most updates applied before they are handed to a sync: bounds the first one's wait
/// (128 measured the same throughput).
const MAX_BATCH: usize = 32;

/// Handle to the flusher and the committer; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
    /// The committer's queue; taken at [`GroupCommit::stop`], which ends the committer.
    updates: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl GroupCommit {
    /// Starts the flusher and committer threads. `on_flush(latency, writers)` observes
    /// each flush.
    pub fn start(
        store: Arc<dyn Store>,
        on_flush: impl Fn(Duration, usize) + Send + Sync + 'static,
    ) -> GroupCommit {
        let (flushed, _) = watch::channel(Flushed::default());
        let inner = Arc::new(Inner {
            store,
            requested: Mutex::new(Requested::default()),
            wake: Condvar::new(),
            flushed,
            stopping: AtomicBool::new(false),
            committing: AtomicBool::new(true),
            on_flush: Box::new(on_flush),
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("levy-flusher".into())
            .spawn(move || flusher(worker))
            .expect("spawn the flusher thread");
        // One committer: a second (updates sharded by quote) cost more CPU per commit in
        // wake-ups than it gained (BENCHMARKS.md, commits).
        let (updates, queue) = mpsc::channel();
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("levy-committer".into())
            .spawn(move || committer(worker, queue))
            .expect("spawn the committer thread");
        GroupCommit {
            inner,
            updates: Arc::new(Mutex::new(Some(updates))),
        }
    }

    /// Resolves once every write made before the call is durable on disk.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let mut rx = self.inner.flushed.subscribe();
        let ticket = {
            let mut requested = self.inner.requested();
            requested.ticket += 1;
            requested.ticket
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

    /// Applies a quote update (see [`Store::update_quote`]) on the committer thread; the
    /// answer comes once the update is durable.
    pub fn update_quote(&self, key: QuoteKey, decide: Decide) -> Result<Updated, StoreError> {
        let (answer, rx) = tokio::sync::oneshot::channel();
        let queue = self.updates.lock().unwrap_or_else(|p| p.into_inner());
        queue
            .as_ref()
            .and_then(|q| {
                q.send(Job {
                    key,
                    decide,
                    answer,
                })
                .ok()
            })
            .ok_or_else(|| StoreError::Backend("the committer stopped".into()))?;
        Ok(rx)
    }

    /// Stops the committer and then the flusher, after a last flush (used at shutdown).
    pub fn stop(&self) {
        self.updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }
}

/// The committer: applies every update waiting (up to [`MAX_BATCH`]) and hands the batch
/// to the flusher, then goes on with the next while the disk syncs.
fn committer(inner: Arc<Inner>, queue: mpsc::Receiver<Job>) {
    let hand_over = |batch: Vec<Answer>| {
        {
            let mut requested = inner.requested();
            requested.ticket += batch.len() as u64;
            let last = requested.ticket;
            requested.batches.push((last, batch));
        }
        inner.wake.notify_one();
    };
    while let Ok(first) = queue.recv() {
        let mut batch = Vec::with_capacity(16);
        let mut next = Some(first);
        while let Some(mut job) = next.take() {
            // A panic in a decision (a bug) fails that update, not the committer.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                inner.store.update_quote(&job.key, &mut *job.decide)
            }))
            .unwrap_or_else(|_| Err(StoreError::Backend("a quote update panicked".into())));
            batch.push((job.answer, result));
            if batch.len() >= MAX_BATCH {
                hand_over(std::mem::take(&mut batch));
            }
            next = queue.try_recv().ok();
        }
        if !batch.is_empty() {
            hand_over(batch);
        }
    }
    let _last = inner.requested();
    inner.committing.store(false, Ordering::SeqCst);
    inner.wake.notify_all();
}

fn flusher(inner: Arc<Inner>) {
    let mut done = 0u64;
    loop {
        let target = {
            let mut requested = inner.requested();
            let stopped = || {
                inner.stopping.load(Ordering::SeqCst) && !inner.committing.load(Ordering::SeqCst)
            };
            while requested.ticket == done && !stopped() {
                requested = inner
                    .wake
                    .wait(requested)
                    .unwrap_or_else(|p| p.into_inner());
            }
            requested.ticket
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
        // The committer's batches this sync covered (all taken before it began).
        let covered: Vec<_> = {
            let mut requested = inner.requested();
            let n = requested
                .batches
                .iter()
                .take_while(|(last, _)| *last <= target)
                .count();
            requested.batches.drain(..n).collect()
        };
        for (_, batch) in covered {
            for (answer, outcome) in batch {
                let outcome = match (&result, outcome) {
                    (Err(_), Ok(_)) => Err(StoreError::Backend("flushing to disk failed".into())),
                    (_, outcome) => outcome,
                };
                let _ = answer.send(outcome);
            }
        }
    }
}

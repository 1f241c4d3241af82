//! Group commit: concurrent writers share flushes, and each is durable when it returns.

use levy::store::group_commit::GroupCommit;
use levy::store::sled_store::SledStore;
use levy::store::{QuoteChange, QuoteHead, QuoteKind, QuoteStatus, QuoteVersion, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn first_version(id: &str) -> QuoteChange {
    let head = QuoteHead {
        id: id.into(),
        account: "a".into(),
        store_hash: "s".into(),
        status: QuoteStatus::Voided,
        external_key: "k".into(),
        version: 1,
        priced: 0,
    };
    let version = QuoteVersion {
        version: 1,
        kind: QuoteKind::Void,
        request: None,
        response: None,
        audit: None,
        adjust_description: None,
        at: chrono::Utc::now(),
    };
    QuoteChange::Append(head, Box::new(version))
}

/// A sled store in `dir` with group commit, and the number of flushes finished so far (the
/// flusher counts one after each sync returns, before it answers what that sync covered).
fn counted(dir: &std::path::Path) -> (Arc<dyn Store>, GroupCommit, Arc<AtomicUsize>) {
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir, 8 << 20).unwrap());
    let flushes = Arc::new(AtomicUsize::new(0));
    let counted = flushes.clone();
    let gc = GroupCommit::start(store.clone(), move |_, _| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    (store, gc, flushes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_share_few_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, gc, flushes) = counted(dir.path());
    let writers = 64;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let (store, gc) = (store.clone(), gc.clone());
        tasks.push(tokio::spawn(async move {
            let id = format!("q{i}");
            let s = store.clone();
            tokio::task::spawn_blocking(move || {
                s.update_quote(&levy::store::QuoteKey::new("a", "s", &id), &mut |_| {
                    Ok(first_version(&id))
                })
            })
            .await
            .unwrap()
            .unwrap();
            gc.durable().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = flushes.load(Ordering::SeqCst);
    // Each writer alone would cost a flush; shared flushes cost fewer (typically a handful).
    assert!(n >= 1 && n < writers, "{writers} writers took {n} flushes");
    eprintln!("{writers} concurrent writers were made durable by {n} flushes");
    assert_eq!(store.quotes("a").unwrap().len(), writers);
    gc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_updates_are_answered_after_a_sync_that_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let (store, gc, flushes) = counted(dir.path());
    let writers = 64;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let (gc, flushes) = (gc.clone(), flushes.clone());
        tasks.push(tokio::spawn(async move {
            let id = format!("q{i}");
            let seen = Arc::new(AtomicUsize::new(usize::MAX));
            let at_apply = seen.clone();
            let counter = flushes.clone();
            let key = levy::store::QuoteKey::new("a", "s", &id);
            let answer = gc
                .update_quote(
                    key,
                    Box::new(move |current| {
                        assert!(current.is_none());
                        at_apply.store(counter.load(Ordering::SeqCst), Ordering::SeqCst);
                        Ok(first_version(&id))
                    }),
                )
                .unwrap();
            let state = answer.await.unwrap().unwrap();
            assert_eq!(state.head.version, 1);
            let applied_after = seen.load(Ordering::SeqCst);
            assert!(
                flushes.load(Ordering::SeqCst) > applied_after,
                "answered before a sync that began after the update"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = flushes.load(Ordering::SeqCst);
    assert!(n >= 1 && n < writers, "{writers} updates took {n} flushes");
    assert_eq!(store.quotes("a").unwrap().len(), writers);
    // A failed decision is answered with its error, and the committer goes on.
    let refused = gc
        .update_quote(
            levy::store::QuoteKey::new("a", "s", "q0"),
            Box::new(|_| Err(levy::error::LevyError::internal())),
        )
        .unwrap()
        .await
        .unwrap();
    assert!(refused.is_err());
    gc.stop();
    assert!(
        gc.update_quote(
            levy::store::QuoteKey::new("a", "s", "late"),
            Box::new(|_| Ok(first_version("late")))
        )
        .is_err(),
        "a stopped committer takes no more updates"
    );
}

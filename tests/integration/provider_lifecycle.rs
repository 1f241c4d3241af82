//! The quote lifecycle over HTTP (SPEC section 5), each case.

use crate::common;
use common::*;
use levy::store::{QuoteKey, QuoteKind, QuoteStatus};
use serde_json::json;

async fn app_with_demo() -> (TestApp, Login) {
    let app = spawn_app().await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    (app, login)
}

#[tokio::test]
async fn commit_persists_and_an_identical_retry_returns_the_same_bytes() {
    let (app, login) = app_with_demo().await;
    let q = quote("order-1", &["100", "20.50"]);
    let first = app.post("/commit", &login, &q).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let external = v["documents"][0]["external_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!external.is_empty());
    assert_eq!(
        v["documents"][0]["items"][1]["price"]["total_tax"],
        json!(2.05)
    );

    let retry = app.post("/commit", &login, &q).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(
        retry.bytes().await.unwrap(),
        first,
        "idempotent: byte-identical"
    );

    let record = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "order-1"))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, QuoteStatus::Committed);
    assert_eq!(record.versions.len(), 1);
    assert_eq!(
        record.versions[0]
            .response
            .as_ref()
            .unwrap()
            .get()
            .as_bytes(),
        &first[..]
    );
}

#[tokio::test]
async fn a_different_recommit_is_409_naming_adjust() {
    let (app, login) = app_with_demo().await;
    assert_eq!(
        app.post("/commit", &login, &quote("order-2", &["100"]))
            .await
            .status(),
        200
    );
    let res = app
        .post("/commit", &login, &quote("order-2", &["101"]))
        .await;
    assert_eq!(res.status(), 409);
    let v = json(res).await;
    assert_eq!(v["error"]["code"], "conflict");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("/adjust"),
        "{v}"
    );
}

#[tokio::test]
async fn adjust_adds_a_version_and_keeps_its_description() {
    let (app, login) = app_with_demo().await;
    let committed = json(
        app.post("/commit", &login, &quote("order-3", &["100"]))
            .await,
    )
    .await;
    let mut adj = quote("order-3", &["50"]);
    adj["adjust_description"] = json!("returned half");
    let res = app.post("/adjust?id=order-3", &login, &adj).await;
    assert_eq!(res.status(), 200);
    let adjusted = json(res).await;
    assert_eq!(
        adjusted["documents"][0]["items"][0]["price"]["total_tax"],
        json!(5)
    );
    assert_eq!(
        adjusted["documents"][0]["external_id"], committed["documents"][0]["external_id"],
        "external ids stay"
    );

    let record = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "order-3"))
        .unwrap()
        .unwrap();
    assert_eq!(record.versions.len(), 2);
    assert_eq!(record.versions[1].kind, QuoteKind::Adjust);
    assert_eq!(
        record.versions[1].adjust_description.as_deref(),
        Some("returned half")
    );
    // The first version is still there, unchanged.
    let v1: serde_json::Value =
        serde_json::from_str(record.versions[0].response.as_ref().unwrap().get()).unwrap();
    assert_eq!(v1, committed);
}

#[tokio::test]
async fn adjust_of_unknown_is_404_and_of_voided_is_409() {
    let (app, login) = app_with_demo().await;
    let res = app
        .post("/adjust?id=nope", &login, &quote("nope", &["1"]))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(json(res).await["error"]["code"], "not_found");

    assert_eq!(
        app.post("/commit", &login, &quote("order-4", &["10"]))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/void?id=order-4", &login, &json!({}))
            .await
            .status(),
        200
    );
    let res = app
        .post("/adjust?id=order-4", &login, &quote("order-4", &["5"]))
        .await;
    assert_eq!(res.status(), 409);

    let res = app.post("/adjust", &login, &quote("order-4", &["5"])).await;
    assert_eq!(res.status(), 400, "id is required");
    assert_eq!(json(res).await["error"]["path"], "id");
}

#[tokio::test]
async fn void_is_idempotent_and_404_for_unknown() {
    let (app, login) = app_with_demo().await;
    assert_eq!(
        app.post("/void?id=ghost", &login, &json!({}))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.post("/commit", &login, &quote("order-5", &["10"]))
            .await
            .status(),
        200
    );
    for _ in 0..2 {
        let res = app.post("/void?id=order-5", &login, &json!({})).await;
        assert_eq!(res.status(), 200);
    }
    let record = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "order-5"))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, QuoteStatus::Voided);
    assert_eq!(record.versions.len(), 2, "a second void adds nothing");
}

#[tokio::test]
async fn commit_after_void_commits_again_as_a_new_version() {
    let (app, login) = app_with_demo().await;
    let q = quote("order-6", &["10"]);
    let first = json(app.post("/commit", &login, &q).await).await;
    assert_eq!(
        app.post("/void?id=order-6", &login, &json!({}))
            .await
            .status(),
        200
    );
    let again = app.post("/commit", &login, &q).await;
    assert_eq!(again.status(), 200);
    let again = json(again).await;
    assert_eq!(
        again["documents"][0]["external_id"],
        first["documents"][0]["external_id"]
    );
    let record = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "order-6"))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, QuoteStatus::Committed);
    let kinds: Vec<_> = record
        .versions
        .iter()
        .map(|v| (v.version, v.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, QuoteKind::Commit),
            (2, QuoteKind::Void),
            (3, QuoteKind::Commit)
        ]
    );
}

#[tokio::test]
async fn estimate_persists_nothing() {
    let (app, login) = app_with_demo().await;
    assert_eq!(
        app.post("/estimate", &login, &quote("cart-1", &["10"]))
            .await
            .status(),
        200
    );
    assert!(app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "cart-1"))
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn concurrent_adjusts_and_voids_never_lose_an_update() {
    let (app, login) = app_with_demo().await;
    assert_eq!(
        app.post("/commit", &login, &quote("hot", &["100"]))
            .await
            .status(),
        200
    );
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let app = app.clone();
        let login = login.clone();
        tasks.push(tokio::spawn(async move {
            if i % 15 == 14 {
                let s = app
                    .post("/void?id=hot", &login, &json!({}))
                    .await
                    .status()
                    .as_u16();
                (format!("void-{i}"), s)
            } else {
                let mut q = quote("hot", &[&format!("{}", 100 + i)]);
                q["adjust_description"] = json!(format!("adjust-{i}"));
                let s = app
                    .post("/adjust?id=hot", &login, &q)
                    .await
                    .status()
                    .as_u16();
                (format!("adjust-{i}"), s)
            }
        }));
    }
    let mut ok_adjusts = Vec::new();
    for t in tasks {
        let (name, status) = t.await.unwrap();
        assert!(
            status == 200 || (status == 409 && name.starts_with("adjust")),
            "{name}: {status}"
        );
        if status == 200 && name.starts_with("adjust") {
            ok_adjusts.push(name);
        }
    }
    let record = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "hot"))
        .unwrap()
        .unwrap();
    let numbers: Vec<u32> = record.versions.iter().map(|v| v.version).collect();
    assert_eq!(
        numbers,
        (1..=record.versions.len() as u32).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    for name in &ok_adjusts {
        let n = record
            .versions
            .iter()
            .filter(|v| v.adjust_description.as_deref() == Some(name))
            .count();
        assert_eq!(n, 1, "acknowledged {name} is stored exactly once");
    }
    let adjust_versions = record
        .versions
        .iter()
        .filter(|v| v.kind == QuoteKind::Adjust)
        .count();
    assert_eq!(
        adjust_versions,
        ok_adjusts.len(),
        "no unacknowledged adjust was stored"
    );
    assert!(record.versions.iter().any(|v| v.kind == QuoteKind::Void));
}

#[tokio::test]
async fn quote_ids_are_kept_as_sent_non_empty_and_at_most_255_bytes() {
    let (app, login) = app_with_demo().await;
    // Spaces belong to the id: committed as sent, adjusted and voided by that same id.
    let res = app.post("/commit", &login, &quote(" ws-1 ", &["10"])).await;
    assert_eq!(res.status(), 200);
    let res = app
        .post("/adjust?id=%20ws-1%20", &login, &quote(" ws-1 ", &["20"]))
        .await;
    assert_eq!(
        res.status(),
        200,
        "adjust finds the id it was committed with"
    );
    let res = app.post("/void?id=ws-1", &login, &json!({})).await;
    assert_eq!(res.status(), 404, "a trimmed id names another quote");
    let res = app.post("/void?id=%20ws-1%20", &login, &json!({})).await;
    assert_eq!(res.status(), 200);

    for id in [String::new(), "x".repeat(256)] {
        let res = app.post("/commit", &login, &quote(&id, &["10"])).await;
        assert_eq!(res.status(), 400, "{id:?}");
        assert_eq!(json(res).await["error"]["path"], "id");
    }
    let res = app.post("/adjust?id=", &login, &quote("a", &["10"])).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json(res).await["error"]["path"], "id");
    let long = "y".repeat(255);
    let res = app.post("/commit", &login, &quote(&long, &["10"])).await;
    assert_eq!(res.status(), 200, "255 bytes is the limit, not over it");
}

/// Order 113 of store A and order 113 of store B are two quotes (issue 13, item 4).
#[tokio::test]
async fn each_store_of_an_account_has_its_own_quotes() {
    let app = spawn_app().await;
    let login = app
        .account("acme", &["storeA", "storeB"], &[], ten_percent())
        .await;
    let send = |path: &'static str, store: &'static str, body: serde_json::Value| {
        let (app, login) = (&app, &login);
        async move {
            app.call(
                path,
                Some(login),
                None,
                Some(store),
                serde_json::to_vec(&body).unwrap(),
            )
            .await
        }
    };
    assert_eq!(
        send("/commit", "storeA", quote("113", &["100"]))
            .await
            .status(),
        200
    );
    assert_eq!(
        send("/commit", "storeB", quote("113", &["50"]))
            .await
            .status(),
        200
    );
    // Store B adjusts and voids its own 113; store A's is untouched.
    assert_eq!(
        send("/adjust?id=113", "storeB", quote("113", &["60"]))
            .await
            .status(),
        200
    );
    assert_eq!(
        send("/void?id=113", "storeB", json!({})).await.status(),
        200
    );
    let backend = app.state.store.backend();
    let a = backend
        .quote(&QuoteKey::new("acme", "storeA", "113"))
        .unwrap()
        .unwrap();
    let b = backend
        .quote(&QuoteKey::new("acme", "storeB", "113"))
        .unwrap()
        .unwrap();
    assert_eq!((a.status, a.versions.len()), (QuoteStatus::Committed, 1));
    assert_eq!((b.status, b.versions.len()), (QuoteStatus::Voided, 3));
    assert_ne!(a.external_key, b.external_key);
    // A store that never committed 113 cannot adjust it.
    let login_c = app.account("solo", &[], &[], ten_percent()).await;
    let res = app
        .call(
            "/adjust?id=113",
            Some(&login_c),
            None,
            Some("storeC"),
            serde_json::to_vec(&quote("113", &["1"])).unwrap(),
        )
        .await;
    assert_eq!(res.status(), 404);

    // The admin view asks which store when the id is ambiguous.
    let res = app
        .admin(
            reqwest::Method::GET,
            "/admin/accounts/acme/quotes/113",
            None,
        )
        .await;
    assert_eq!(res.status(), 409);
    let v = json_of(res).await;
    assert_eq!(v["error"]["path"], "store_hash");
    let res = app
        .admin(
            reqwest::Method::GET,
            "/admin/accounts/acme/quotes/113?store_hash=storeA",
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["data"]["status"], "committed");
}

/// A credential pushed to one store works only with that store's hash.
#[tokio::test]
async fn a_credential_given_to_one_store_is_refused_for_another() {
    let app = spawn_app().await;
    app.account("acme", &[], &[], ten_percent()).await;
    let (user, password) =
        levy::service::accounts::add_store_credential(&app.state, "acme", Some("storeA".into()))
            .await
            .unwrap();
    let login = Login { user, password };
    let body = serde_json::to_vec(&quote("e1", &["10"])).unwrap();
    let ok = app
        .call(
            "/estimate",
            Some(&login),
            None,
            Some("storeA"),
            body.clone(),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let other = app
        .call("/estimate", Some(&login), None, Some("storeB"), body)
        .await;
    assert_eq!(other.status(), 401);
    assert_eq!(json_of(other).await["error"]["code"], "unauthorized");
}

async fn json_of(res: reqwest::Response) -> serde_json::Value {
    res.json().await.unwrap()
}

/// A quote of about 3 MB: eight documents of 1,900 lines.
fn large_quote(id: &str) -> serde_json::Value {
    let mut q = quote(id, &["1"]);
    let item = q["documents"][0]["items"][0].clone();
    let items: Vec<serde_json::Value> = (0..1900)
        .map(|i| {
            let mut it = item.clone();
            it["id"] = json!(format!("line-{i:05}-{}", "x".repeat(40)));
            it["price"]["amount"] = json!(i % 97 + 1);
            it
        })
        .collect();
    let doc = q["documents"][0].clone();
    q["documents"] = json!((0..8)
        .map(|d| {
            let mut doc = doc.clone();
            doc["id"] = json!(format!("doc-{d}"));
            doc["items"] = json!(items.clone());
            doc
        })
        .collect::<Vec<_>>());
    q
}

async fn small_commits(
    app: &TestApp,
    login: &Login,
    prefix: &str,
    n: usize,
) -> Vec<std::time::Duration> {
    let mut took = Vec::new();
    for i in 0..n {
        let started = std::time::Instant::now();
        let res = app
            .post("/commit", login, &quote(&format!("{prefix}-{i}"), &["10"]))
            .await;
        assert_eq!(res.status(), 200);
        took.push(started.elapsed());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    took.sort();
    took
}

/// One merchant's large quotes do not stall another's small commits (issue 13, item 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_quote_does_not_stall_another_merchants_commits() {
    let app = std::sync::Arc::new(spawn_app().await);
    let big = app.account("big", &[], &[], ten_percent()).await;
    let small = app.account("small", &[], &[], ten_percent()).await;
    let body = serde_json::to_vec(&large_quote("big-1")).unwrap();
    assert!(
        body.len() > 2_000_000 && body.len() < 4 << 20,
        "{}",
        body.len()
    );
    let alone = small_commits(&app, &small, "alone", 15).await;

    // Four clients of the large merchant commit and adjust large quotes meanwhile (more
    // than the store's blocking threads per worker).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for c in 0..4 {
        let (address, big, stop) = (app.address.clone(), big.clone(), stop.clone());
        // Bodies made before the clock starts: the test's own JSON work stays out of it.
        let id = format!("big-{c}");
        let bodies: Vec<Vec<u8>> = (0..2)
            .map(|n| {
                let mut q = large_quote(&id);
                q["documents"][0]["items"][0]["price"]["amount"] = json!(n + 1);
                serde_json::to_vec(&q).unwrap()
            })
            .collect();
        // A thread, a runtime and an HTTP client of its own: the measured client shares
        // no threads and no connections with the load.
        load.push(std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let path = if n == 0 {
                    "/commit".to_string()
                } else {
                    format!("/adjust?id={id}")
                };
                let res = client
                    .post(format!("{address}{path}"))
                    .basic_auth(&big.user, Some(&big.password))
                    .header("X-Bc-Store-Hash", "store1")
                    .header("Content-Type", "application/json")
                    .body(bodies[n % 2].clone())
                    .send()
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                assert_eq!(res.status(), 200, "{path}");
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let loaded = small_commits(&app, &small, "loaded", 30).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut large = 0;
    for l in load {
        large += l.join().unwrap();
    }
    eprintln!("small commits alone {alone:?}\nwith {large} large quotes {loaded:?}");
    assert!(large >= 2, "the large merchant kept writing ({large})");
    // Beside the large quotes, small commits share the cores (this is a debug build on
    // two cores) but never wait for a large one: no commit is held a tenth of a second.
    let worst = *loaded.last().unwrap();
    assert!(
        worst < std::time::Duration::from_millis(100),
        "alone {alone:?}; beside large quotes {loaded:?}"
    );
}

/// One quote's history has documented limits, each a clear 4xx (issue 13, item 2).
#[tokio::test]
async fn a_quote_has_at_most_so_many_versions_of_at_most_so_many_bytes() {
    let app = spawn_with(|c| {
        c.limits.versions_per_quote = 3;
        c.limits.version_bytes = 4000;
    })
    .await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    assert_eq!(
        app.post("/commit", &login, &quote("v", &["1"]))
            .await
            .status(),
        200
    );
    for n in 2..=3 {
        let res = app
            .post("/adjust?id=v", &login, &quote("v", &[&n.to_string()]))
            .await;
        assert_eq!(res.status(), 200, "adjust {n}");
    }
    let res = app.post("/adjust?id=v", &login, &quote("v", &["4"])).await;
    assert_eq!(res.status(), 409);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_many_versions");
    // A void is always accepted: an order can be cancelled whatever its history.
    assert_eq!(
        app.post("/void?id=v", &login, &json!({})).await.status(),
        200
    );

    // A version whose response is over the limit is refused, and nothing is stored.
    let amounts: Vec<String> = (1..40).map(|i| i.to_string()).collect();
    let amounts: Vec<&str> = amounts.iter().map(String::as_str).collect();
    let res = app.post("/commit", &login, &quote("big", &amounts)).await;
    assert_eq!(res.status(), 413);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "version_too_large");
    let stored = app
        .state
        .store
        .backend()
        .quote(&QuoteKey::new("acme", "store1", "big"))
        .unwrap();
    assert!(stored.is_none());
}

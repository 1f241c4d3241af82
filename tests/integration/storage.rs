//! One suite of storage tests run against both backends: every call of the `Store`
//! interface behaves the same on sled and on PostgreSQL (issue 14). Each test is written
//! once as a function of a store and instantiated for each backend by `both!`.

use crate::common::postgres;
use levy::accounts::Account;
use levy::error::{ErrorCode, LevyError};
use levy::store::{
    QuoteChange, QuoteKey, QuoteKind, QuoteRecord, QuoteState, QuoteStatus, QuoteVersion, Store,
};
use std::sync::Arc;

fn sled() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = levy::store::sled_store::SledStore::open(dir.path(), 1 << 20).unwrap();
    (Arc::new(store), dir)
}

/// A `levy serve` process, one worker, its own data directory under `dir`, on `url`.
fn node(dir: &std::path::Path, data: &str, url: &str) -> crate::common::process::Server {
    use crate::common::process;
    let config = process::write_config(dir, &dir.join(data));
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_levy"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("LEVY_WORKERS", "1")
        .env("LEVY_ADMIN_TOKEN", process::ADMIN_TOKEN)
        .env("LEVY_DATABASE_URL", url);
    process::spawn(command)
}

fn pg() -> (Arc<dyn Store>, tempfile::TempDir) {
    let store = levy::store::postgres::PgStore::open(&postgres::database(), 8).unwrap();
    (Arc::new(store), tempfile::tempdir().unwrap())
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sled {
            $(#[test]
            fn $name() {
                let (store, _dir) = super::sled();
                super::$name(store);
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                let (store, _dir) = super::pg();
                super::$name(store);
            })*
        }
    };
}

both!(
    accounts_are_written_read_and_deleted_with_their_quotes,
    a_quote_grows_one_version_at_a_time,
    one_id_in_two_stores_is_two_quotes,
    concurrent_updates_of_one_quote_leave_no_gap,
    records_round_trip_and_scans_see_the_latest_priced_version,
    markers_are_remembered,
    a_backup_restores_into_either_backend,
    an_account_is_changed_from_what_is_stored,
);

fn account(id: &str) -> Account {
    let mut a: Account = serde_json::from_value(serde_json::json!({
        "id": id, "store_hashes": ["s1"], "profiles": [format!("{id}.example")],
        "created_at": "2026-01-01T00:00:00Z",
        "rules": {"rates": [{"id": 1, "tax_zone_id": 1, "name": "T", "class_rates": [{"tax_class_id": 0, "rate": 10}]}]},
        "app": {"store_hash": "s1", "access_token": "v1:c2VhbGVk", "scope": "store_v2_information",
                "owner": {"id": 1, "email": "o@x.y"}, "users": [{"id": 1, "email": "o@x.y"}],
                "installed_at": "2026-01-01T00:00:00Z"}
    }))
    .unwrap();
    a.credentials = vec![serde_json::from_value(serde_json::json!({
        "username": format!("{id}-u"), "salt": "00", "hash": "ab".repeat(32),
        "created_at": "2026-01-01T00:00:00Z", "store_hash": "s1"
    }))
    .unwrap()];
    a
}

fn version(n: u32, kind: QuoteKind) -> QuoteVersion {
    QuoteVersion {
        version: n,
        kind,
        request: None,
        // Bytes as sent, key order and spacing included.
        response: (kind != QuoteKind::Void).then(|| {
            serde_json::value::RawValue::from_string(format!("{{\"z\":1, \"a\":{n}}}")).unwrap()
        }),
        // Kept as written, like the response.
        audit: (kind != QuoteKind::Void).then(|| {
            serde_json::value::RawValue::from_string(format!("{{\"documents\": [], \"n\":{n}}}"))
                .unwrap()
        }),
        adjust_description: (kind == QuoteKind::Adjust).then(|| format!("change {n}")),
        at: chrono::DateTime::from_timestamp(1_700_000_000 + n as i64, 0).unwrap(),
    }
}

/// The decision of a commit, adjust or void, as the lifecycle would make it.
fn step(
    kind: QuoteKind,
    key: &QuoteKey,
) -> impl FnMut(Option<&QuoteState>) -> Result<QuoteChange, LevyError> + '_ {
    move |current| {
        let head = match current {
            Some(c) => c.head.clone(),
            None => levy::store::QuoteHead {
                id: key.id.clone(),
                account: key.account.clone(),
                store_hash: key.store_hash.clone(),
                status: QuoteStatus::Committed,
                external_key: format!("k-{}", key.store_hash),
                version: 0,
                priced: 0,
            },
        };
        let v = version(head.next_version(), kind);
        let mut head = head.with(&v);
        head.status = if kind == QuoteKind::Void {
            QuoteStatus::Voided
        } else {
            QuoteStatus::Committed
        };
        Ok(QuoteChange::Append(head, Box::new(v)))
    }
}

fn json(r: &QuoteRecord) -> String {
    serde_json::to_string(r).unwrap()
}

fn accounts_are_written_read_and_deleted_with_their_quotes(store: Arc<dyn Store>) {
    store.put_account(&account("b")).unwrap();
    store.put_account(&account("a")).unwrap();
    let mut changed = account("a");
    changed.profiles = vec!["other.example".into()];
    changed.credentials.clear();
    store.put_account(&changed).unwrap();
    let all = store.accounts().unwrap();
    assert_eq!(all.len(), 2);
    let a = all.iter().find(|x| x.id == "a").unwrap();
    assert_eq!(a, &changed);
    assert_eq!(all.iter().find(|x| x.id == "b").unwrap(), &account("b"));
    let key = QuoteKey::new("a", "s1", "113");
    store
        .update_quote(&key, &mut step(QuoteKind::Commit, &key))
        .unwrap();
    assert!(store.delete_account("a").unwrap());
    assert!(!store.delete_account("a").unwrap());
    assert!(store.quote(&key).unwrap().is_none());
    assert_eq!(store.accounts().unwrap().len(), 1);
}

fn a_quote_grows_one_version_at_a_time(store: Arc<dyn Store>) {
    store.put_account(&account("a")).unwrap();
    let key = QuoteKey::new("a", "s1", "113");
    for kind in [QuoteKind::Commit, QuoteKind::Adjust, QuoteKind::Void] {
        store.update_quote(&key, &mut step(kind, &key)).unwrap();
    }
    let record = store.quote(&key).unwrap().unwrap();
    assert_eq!(record.status, QuoteStatus::Voided);
    let numbers: Vec<u32> = record.versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(
        record.versions[1].response.as_ref().unwrap().get(),
        "{\"z\":1, \"a\":2}"
    );
    // The audit of each priced version is kept (SPEC 10.8); a void has none.
    assert_eq!(
        record.versions[1].audit.as_ref().unwrap().get(),
        "{\"documents\": [], \"n\":2}"
    );
    assert!(record.versions[2].audit.is_none());
    assert_eq!(
        record.versions[1].adjust_description.as_deref(),
        Some("change 2")
    );
    // Keep leaves it as it is; a gap is refused; a rejection reaches the caller.
    let state = store
        .update_quote(&key, &mut |_| Ok(QuoteChange::Keep))
        .unwrap();
    assert_eq!((state.head.version, state.head.priced), (3, 2));
    let gap = store.update_quote(&key, &mut |c| {
        let c = c.unwrap();
        let v = version(c.head.version + 2, QuoteKind::Adjust);
        Ok(QuoteChange::Append(c.head.clone().with(&v), Box::new(v)))
    });
    assert!(gap.is_err());
    let refused = store.update_quote(&key, &mut |_| {
        Err(LevyError::new(ErrorCode::Conflict, "no"))
    });
    assert!(refused.is_err());
    assert_eq!(store.quote(&key).unwrap().unwrap().versions.len(), 3);
}

fn one_id_in_two_stores_is_two_quotes(store: Arc<dyn Store>) {
    store.put_account(&account("a")).unwrap();
    let (k1, k2) = (
        QuoteKey::new("a", "s1", "113"),
        QuoteKey::new("a", "s2", "113"),
    );
    store
        .update_quote(&k1, &mut step(QuoteKind::Commit, &k1))
        .unwrap();
    store
        .update_quote(&k2, &mut step(QuoteKind::Commit, &k2))
        .unwrap();
    store
        .update_quote(&k2, &mut step(QuoteKind::Void, &k2))
        .unwrap();
    assert_eq!(
        store.quote(&k1).unwrap().unwrap().status,
        QuoteStatus::Committed
    );
    assert_eq!(
        store.quote(&k2).unwrap().unwrap().status,
        QuoteStatus::Voided
    );
    assert_eq!(store.quote_stores("a", "113").unwrap(), ["s1", "s2"]);
    assert!(store.quote_stores("a", "11").unwrap().is_empty());
}

fn concurrent_updates_of_one_quote_leave_no_gap(store: Arc<dyn Store>) {
    store.put_account(&account("a")).unwrap();
    let key = QuoteKey::new("a", "s1", "hot");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    store
                        .update_quote(&key, &mut |c| {
                            let kind = if c.is_none() {
                                QuoteKind::Commit
                            } else {
                                QuoteKind::Adjust
                            };
                            step(kind, &key)(c)
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let record = store.quote(&key).unwrap().unwrap();
    let numbers: Vec<u32> = record.versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=80).collect::<Vec<u32>>());
}

fn records_round_trip_and_scans_see_the_latest_priced_version(store: Arc<dyn Store>) {
    store.put_account(&account("a")).unwrap();
    let record = QuoteRecord {
        id: "r1".into(),
        account: "a".into(),
        store_hash: "s1".into(),
        status: QuoteStatus::Voided,
        external_key: "k".into(),
        versions: vec![
            version(1, QuoteKind::Commit),
            version(2, QuoteKind::Adjust),
            version(3, QuoteKind::Void),
        ],
    };
    store.put_quote(&record).unwrap();
    let key = QuoteKey::new("a", "s1", "r1");
    assert_eq!(json(&store.quote(&key).unwrap().unwrap()), json(&record));
    assert_eq!(store.quotes("a").unwrap().len(), 1);
    let mut seen = Vec::new();
    store
        .scan_quotes("a", &mut |q| {
            seen.push((
                q.head.id.clone(),
                q.head.priced,
                q.latest.map(|v| v.version),
            ));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, [("r1".to_string(), 2, Some(2))]);
}

fn markers_are_remembered(store: Arc<dyn Store>) {
    assert!(!store.marker("demo_created").unwrap());
    store.set_marker("demo_created").unwrap();
    store.set_marker("demo_created").unwrap();
    assert!(store.marker("demo_created").unwrap());
    store.sync().unwrap();
}

fn a_backup_restores_into_either_backend(store: Arc<dyn Store>) {
    store.put_account(&account("a")).unwrap();
    let key = QuoteKey::new("a", "s1", "113");
    store
        .update_quote(&key, &mut step(QuoteKind::Commit, &key))
        .unwrap();
    store
        .update_quote(&key, &mut step(QuoteKind::Adjust, &key))
        .unwrap();
    let mut bytes = Vec::new();
    let counts = store.backup(&mut bytes).unwrap();
    assert_eq!((counts.accounts, counts.quotes), (1, 1));
    let original = json(&store.quote(&key).unwrap().unwrap());
    for (target, _dir) in [sled(), pg()] {
        levy::store::backup::restore(&bytes[..], target.as_ref()).unwrap();
        assert_eq!(json(&target.quote(&key).unwrap().unwrap()), original);
        assert_eq!(target.accounts().unwrap(), store.accounts().unwrap());
    }
}

/// The provider and admin APIs on PostgreSQL: the lifecycle, its exact bytes, the admin
/// views and the report, as on sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_on_postgres() {
    use crate::common::*;
    let url = postgres::database();
    let app = spawn_with(move |c| {
        c.store.kind = levy::config::StoreKind::Postgres;
        c.store.url = Some(url);
    })
    .await;
    let login = app.account("acme", &["store1"], &[], ten_percent()).await;
    let first = app.post("/commit", &login, &quote("113", &["100"])).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.unwrap();
    let retry = app.post("/commit", &login, &quote("113", &["100"])).await;
    assert_eq!(
        retry.bytes().await.unwrap(),
        first,
        "a retry gets the same bytes"
    );
    assert_eq!(
        app.post("/commit", &login, &quote("113", &["5"]))
            .await
            .status(),
        409
    );
    assert_eq!(
        app.post("/adjust?id=113", &login, &quote("113", &["50"]))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/void?id=113", &login, &serde_json::json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/commit", &login, &quote("114", &["20"]))
            .await
            .status(),
        200
    );
    let view: serde_json::Value = app
        .admin(
            reqwest::Method::GET,
            "/admin/accounts/acme/quotes/113",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["data"]["status"], "voided");
    assert_eq!(view["data"]["versions"].as_array().unwrap().len(), 3);
    let report: serde_json::Value = app
        .admin(
            reqwest::Method::GET,
            "/admin/accounts/acme/reports/liability?from=2000-01-01&to=2100-01-01",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["data"][0]["tax"], serde_json::json!(2));
    let res = app
        .admin(reqwest::Method::PUT, "/admin/accounts/acme/rules", Some(serde_json::json!({"rates": [{"id": 1, "tax_zone_id": 1, "name": "T", "class_rates": [{"tax_class_id": 0, "rate": 20}]}]})))
        .await;
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = app
        .post("/estimate", &login, &quote("e", &["10"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["total_tax"],
        serde_json::json!(2)
    );
    let backup = app.admin(reqwest::Method::GET, "/admin/backup", None).await;
    assert_eq!(backup.status(), 200);
    assert!(!backup.bytes().await.unwrap().is_empty());
}

/// `LEVY_DATABASE_URL` alone selects PostgreSQL: a second node on another data directory
/// sees what the first wrote.
#[test]
fn the_database_url_alone_selects_postgres() {
    use crate::common::process;
    let url = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let start = |data: &str| node(dir.path(), data, &url);
    let a = start("a");
    let client = reqwest::blocking::Client::new();
    let res = client
        .post(format!("{}/admin/accounts", a.admin))
        .bearer_auth(process::ADMIN_TOKEN)
        .json(&serde_json::json!({"id": "shared"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);
    drop(a);
    let b = start("b");
    let res = client
        .get(format!("{}/admin/accounts/shared", b.admin))
        .bearer_auth(process::ADMIN_TOKEN)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    // The demo of the config was created once, in the database, not once per node.
    let res = client
        .get(format!("{}/admin/accounts", b.admin))
        .bearer_auth(process::ADMIN_TOKEN)
        .send()
        .unwrap();
    let v: serde_json::Value = res.json().unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
}

/// Two nodes on one database (issue 14, item 3): a change made through one is served by
/// the other within a second, admin changes from both lose nothing, and adjusts of the
/// same quotes alternating between them leave contiguous versions.
#[test]
fn two_nodes_share_one_database() {
    use crate::common::process;
    use std::time::{Duration, Instant};
    let url = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let start = |data: &str| node(dir.path(), data, &url);
    let (a, b) = (start("a"), start("b"));
    let http = reqwest::blocking::Client::new();
    let admin = |node: &process::Server,
                 method: reqwest::Method,
                 path: &str,
                 body: Option<serde_json::Value>| {
        let mut req = http
            .request(method, format!("{}{path}", node.admin))
            .bearer_auth(process::ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().unwrap()
    };
    let rules = |rate: u32| serde_json::json!({"rates": [{"id": 1, "tax_zone_id": 1, "name": "T", "class_rates": [{"tax_class_id": 0, "rate": rate}]}]});
    assert_eq!(
        admin(
            &a,
            reqwest::Method::POST,
            "/admin/accounts",
            Some(serde_json::json!({"id": "shop"}))
        )
        .status(),
        201
    );
    assert_eq!(
        admin(
            &a,
            reqwest::Method::PUT,
            "/admin/accounts/shop/rules",
            Some(rules(10))
        )
        .status(),
        200
    );
    let cred: serde_json::Value = admin(
        &a,
        reqwest::Method::POST,
        "/admin/accounts/shop/credentials",
        None,
    )
    .json()
    .unwrap();
    let (user, password) = (
        cred["data"]["username"].as_str().unwrap().to_string(),
        cred["data"]["password"].as_str().unwrap().to_string(),
    );
    let call = |node: &process::Server, path: &str, body: &serde_json::Value| {
        http.post(format!("{}{path}", node.address))
            .basic_auth(&user, Some(&password))
            .header("X-Bc-Store-Hash", "s")
            .json(body)
            .send()
            .unwrap()
    };
    let tax_on_b = || {
        let res = call(&b, "/estimate", &crate::common::quote("e", &["100"]));
        (res.status() == 200).then(|| {
            res.json::<serde_json::Value>().unwrap()["documents"][0]["items"][0]["price"]
                ["total_tax"]
                .clone()
        })
    };
    // Within a second, B serves what A was told.
    let within_a_second = |want: Option<serde_json::Value>| {
        let started = Instant::now();
        loop {
            let got = tax_on_b();
            if got == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "B still answers {got:?}, not {want:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    within_a_second(Some(serde_json::json!(10)));
    assert_eq!(
        admin(
            &a,
            reqwest::Method::PUT,
            "/admin/accounts/shop/rules",
            Some(rules(20))
        )
        .status(),
        200
    );
    within_a_second(Some(serde_json::json!(20)));

    // Admin changes through both nodes at once: every one of them is kept.
    let creds: Vec<reqwest::StatusCode> = std::thread::scope(|s| {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || {
                    admin(
                        node,
                        reqwest::Method::POST,
                        "/admin/accounts/shop/credentials",
                        None,
                    )
                    .status()
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(creds.iter().all(|s| s.as_u16() == 201), "{creds:?}");
    // Each node lists all eleven (the other node's last ones within a second).
    for node in [&a, &b] {
        let started = Instant::now();
        loop {
            let listed: serde_json::Value = admin(
                node,
                reqwest::Method::GET,
                "/admin/accounts/shop/credentials",
                None,
            )
            .json()
            .unwrap();
            let n = listed["data"].as_array().unwrap().len();
            if n == 11 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{n} credentials listed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // Adjusts of the same quotes alternating between the nodes: contiguous versions, and
    // the same answer from either node for a retry.
    for q in 0..3 {
        let id = format!("q{q}");
        assert_eq!(
            call(&a, "/commit", &crate::common::quote(&id, &["10"])).status(),
            200
        );
    }
    std::thread::scope(|s| {
        for (n, node) in [&a, &b].into_iter().enumerate() {
            let call = &call;
            s.spawn(move || {
                for i in 0..10 {
                    let id = format!("q{}", i % 3);
                    let body = crate::common::quote(&id, &[&format!("{}", 11 + n * 100 + i)]);
                    assert_eq!(call(node, &format!("/adjust?id={id}"), &body).status(), 200);
                }
            });
        }
    });
    let mut versions = 0;
    for q in 0..3 {
        let v: serde_json::Value = admin(
            &a,
            reqwest::Method::GET,
            &format!("/admin/accounts/shop/quotes/q{q}"),
            None,
        )
        .json()
        .unwrap();
        let numbers: Vec<u64> = v["data"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
        versions += numbers.len();
    }
    assert_eq!(versions, 3 + 20);
    let body = crate::common::quote("q0", &["999"]);
    let first = call(&a, "/adjust?id=q0", &body).bytes().unwrap();
    let again = call(&b, "/adjust?id=q0", &body).bytes().unwrap();
    assert_eq!(
        first, again,
        "a retry through the other node gets the same bytes"
    );

    // A credential revoked through A is refused by B within a second.
    assert_eq!(
        admin(
            &a,
            reqwest::Method::DELETE,
            &format!("/admin/accounts/shop/credentials/{user}"),
            None
        )
        .status(),
        204
    );
    within_a_second(None);
}

/// A node killed with SIGKILL under load loses no acknowledged write, and the other node
/// keeps serving (issue 14, item 3).
#[test]
fn a_node_killed_under_load_loses_no_acknowledged_write() {
    use crate::common::process;
    use std::time::Duration;
    let url = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let start = |data: &str| node(dir.path(), data, &url);
    let (mut a, b) = (start("a"), start("b"));
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // The config's demo account, created once in the database, serves both nodes.
    let commit = |node: &str, id: &str| {
        http.post(format!("{node}/commit"))
            .basic_auth(process::USER, Some(process::PASSWORD))
            .header("X-Bc-Store-Hash", "s")
            .json(&crate::common::quote(id, &["10"]))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    let acknowledged: Vec<String> = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut acked = Vec::new();
            for i in 0..100_000 {
                let id = format!("k{i}");
                match commit(&a.address, &id) {
                    200 => acked.push(id),
                    _ => break, // the node is gone
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(400));
        unsafe {
            libc::kill(a.child.id() as i32, libc::SIGKILL);
        }
        load.join().unwrap()
    });
    let _ = a.child.wait();
    assert!(
        acknowledged.len() > 10,
        "{} commits before the kill",
        acknowledged.len()
    );
    // Every acknowledged commit is there, read through B; B still commits.
    for id in &acknowledged {
        let res = http
            .get(format!("{}/admin/accounts/demo/quotes/{id}", b.admin))
            .bearer_auth(process::ADMIN_TOKEN)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "acknowledged {id} is lost");
    }
    assert_eq!(commit(&b.address, "after-the-kill"), 200);
}

/// Every admin endpoint once on PostgreSQL, each answering as on sled (the rest of the
/// HTTP suite runs on sled; this covers the endpoints on the other backend).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_endpoint_on_postgres() {
    use crate::common::*;
    use reqwest::Method;
    use serde_json::json;
    let url = postgres::database();
    let app = spawn_with(move |c| {
        c.store.kind = levy::config::StoreKind::Postgres;
        c.store.url = Some(url);
    })
    .await;
    let steps: Vec<(Method, &str, Option<serde_json::Value>, u16)> = vec![
        (
            Method::POST,
            "/admin/accounts",
            Some(json!({"id": "acme", "store_hashes": ["s1"]})),
            201,
        ),
        (Method::GET, "/admin/accounts", None, 200),
        (Method::GET, "/admin/accounts/acme", None, 200),
        (
            Method::PATCH,
            "/admin/accounts/acme",
            Some(json!({"profiles": ["acme"]})),
            200,
        ),
        (Method::POST, "/admin/accounts/acme/credentials", None, 201),
        (Method::GET, "/admin/accounts/acme/credentials", None, 200),
        (
            Method::POST,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"name": "Food"}])),
            200,
        ),
        (Method::GET, "/admin/accounts/acme/tax/classes", None, 200),
        (
            Method::PUT,
            "/admin/accounts/acme/tax/classes",
            Some(json!([{"id": 1, "name": "Groceries"}])),
            200,
        ),
        (
            Method::POST,
            "/admin/accounts/acme/tax/zones",
            Some(
                json!([{"name": "US", "shopper_target_settings": {"locations": [{"country_code": "US"}]}}]),
            ),
            200,
        ),
        (
            Method::GET,
            "/admin/accounts/acme/tax/zones?limit=10&page=1",
            None,
            200,
        ),
        (
            Method::PUT,
            "/admin/accounts/acme/tax/zones",
            Some(json!([{"id": 2, "name": "United States"}])),
            200,
        ),
        (
            Method::POST,
            "/admin/accounts/acme/tax/rates",
            Some(
                json!([{"tax_zone_id": 2, "name": "Sales", "class_rates": [{"tax_class_id": 0, "rate": 5}]}]),
            ),
            200,
        ),
        (Method::GET, "/admin/accounts/acme/tax/rates", None, 200),
        (
            Method::PUT,
            "/admin/accounts/acme/tax/rates",
            Some(json!([{"id": 1, "name": "Sales Tax"}])),
            200,
        ),
        (Method::GET, "/admin/accounts/acme/tax/settings", None, 200),
        (
            Method::PUT,
            "/admin/accounts/acme/tax/settings",
            Some(json!({"rounding": "per_line"})),
            200,
        ),
        (
            Method::POST,
            "/admin/accounts/acme/tax/zonecheck",
            Some(json!([{"country_code": "US"}])),
            200,
        ),
        (Method::GET, "/admin/accounts/acme/rules", None, 200),
        (
            Method::DELETE,
            "/admin/accounts/acme/tax/rates?id:in=1",
            None,
            204,
        ),
        (
            Method::DELETE,
            "/admin/accounts/acme/tax/zones?id:in=2",
            None,
            204,
        ),
        (
            Method::DELETE,
            "/admin/accounts/acme/tax/classes?id:in=1",
            None,
            204,
        ),
        (
            Method::GET,
            "/admin/accounts/acme/reports/liability?from=2024-01-01&to=2024-12-31&format=csv",
            None,
            200,
        ),
        (Method::GET, "/admin/backup", None, 200),
        (Method::GET, "/metrics", None, 200),
    ];
    for (method, path, body, status) in steps {
        let res = app.admin(method.clone(), path, body).await;
        let got = res.status().as_u16();
        assert_eq!(
            got,
            status,
            "{method} {path}: {}",
            res.text().await.unwrap()
        );
    }
    // The credential list and revoke, then the account's deletion.
    let creds: serde_json::Value = app
        .admin(Method::GET, "/admin/accounts/acme/credentials", None)
        .await
        .json()
        .await
        .unwrap();
    let user = creds["data"][0]["username"].as_str().unwrap().to_string();
    let res = app
        .admin(
            Method::DELETE,
            &format!("/admin/accounts/acme/credentials/{user}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.admin(Method::DELETE, "/admin/accounts/acme", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.admin(Method::GET, "/admin/accounts/acme", None)
            .await
            .status(),
        404
    );
}

fn an_account_is_changed_from_what_is_stored(store: Arc<dyn Store>) {
    // Written behind this caller's back (as by another node): the change starts from it.
    store.put_account(&account("a")).unwrap();
    let written = store
        .modify_account("a", &mut |current| {
            let mut a = current.expect("the stored account");
            a.profiles.push("second.example".into());
            Ok(Some(a))
        })
        .unwrap()
        .unwrap();
    assert_eq!(written.profiles, ["a.example", "second.example"]);
    assert_eq!(store.accounts().unwrap()[0], written);
    // A refusal changes nothing; None deletes; a missing account arrives as None.
    let refused =
        store.modify_account("a", &mut |_| Err(LevyError::new(ErrorCode::Conflict, "no")));
    assert!(refused.is_err());
    assert_eq!(store.accounts().unwrap()[0], written);
    assert!(store
        .modify_account("a", &mut |_| Ok(None))
        .unwrap()
        .is_none());
    let mut seen = Some(account("x"));
    store
        .modify_account("a", &mut |current| {
            seen = current;
            Ok(None)
        })
        .unwrap();
    assert!(seen.is_none());
    assert!(store.accounts().unwrap().is_empty());
}

/// A node that saw revision r reads back only the accounts changed after r, as they stand
/// (a deleted one as None); one further behind than the change log reads everything.
#[test]
fn a_node_catches_up_with_only_the_accounts_that_changed() {
    use levy::store::DirectoryDelta;
    let url = postgres::database();
    let store = levy::store::postgres::PgStore::open(&url, 2).unwrap();
    for id in ["a", "b", "c"] {
        store.put_account(&account(id)).unwrap();
    }
    let (seen, all) = store.directory().unwrap();
    assert_eq!(all.len(), 3);
    store
        .modify_account("a", &mut |a| {
            let mut a = a.unwrap();
            a.profiles = vec!["new.example".into()];
            Ok(Some(a))
        })
        .unwrap();
    store.delete_account("b").unwrap();
    match store.directory_since(seen).unwrap() {
        DirectoryDelta::Changed { revision, accounts } => {
            assert_eq!(revision, seen + 2);
            assert_eq!(accounts.len(), 2, "{accounts:?}");
            assert_eq!(accounts[0].0, "a");
            assert_eq!(accounts[0].1.as_ref().unwrap().profiles, ["new.example"]);
            assert_eq!(accounts[1], ("b".to_string(), None));
        }
        other => panic!("expected the two changes, got {other:?}"),
    }
    match store.directory_since(seen + 2).unwrap() {
        DirectoryDelta::Changed { revision, accounts } => {
            assert_eq!((revision, accounts.len()), (seen + 2, 0));
        }
        other => panic!("nothing changed, got {other:?}"),
    }
    // The log no longer reaches back to `seen`: the whole directory, as it stands.
    postgres::sql(&url, "DELETE FROM directory_log");
    store.put_account(&account("d")).unwrap();
    match store.directory_since(seen).unwrap() {
        DirectoryDelta::Reload { revision, accounts } => {
            assert_eq!(revision, seen + 3);
            let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
            assert_eq!(ids, ["a", "c", "d"]);
        }
        other => panic!("expected a reload, got {other:?}"),
    }
}

/// Credentials find their accounts whatever order the database's collation sorts ids in
/// (they were matched by a binary search over the rows in the database's order).
#[test]
fn credentials_find_their_accounts_under_any_collation() {
    let url = postgres::database();
    let store = levy::store::postgres::PgStore::open(&url, 2).unwrap();
    // Numeric ordering (ICU): s2 before s10, where bytes put s10 first.
    postgres::sql(
        &url,
        "CREATE COLLATION numeric (provider = icu, locale = 'en-US-u-kn-true')",
    );
    postgres::sql(
        &url,
        "ALTER TABLE accounts ALTER COLUMN id TYPE text COLLATE numeric",
    );
    let ids: Vec<String> = (1..=24).map(|i| format!("s{i}")).collect();
    for id in &ids {
        let mut a = account(id);
        a.credentials[0].username = format!("{id}-user");
        store.put_account(&a).unwrap();
    }
    let read = store.accounts().unwrap();
    assert_eq!(read.len(), ids.len());
    for a in &read {
        assert_eq!(a.credentials.len(), 1, "{} lost its credential", a.id);
        assert_eq!(a.credentials[0].username, format!("{}-user", a.id));
    }
}

/// Two nodes starting at once on a new database both apply (or find) the migrations.
#[test]
fn two_nodes_migrating_at_once_both_start() {
    let url = postgres::database();
    let opened: Vec<bool> = std::thread::scope(|s| {
        let tasks: Vec<_> = (0..4)
            .map(|_| s.spawn(|| levy::store::postgres::PgStore::open(&url, 2).is_ok()))
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(opened, [true; 4]);
}

/// A database that accepts TLS connections only, with a private CA named by
/// `sslrootcert`: Levy connects with rustls (pool and LISTEN connection alike).
#[test]
fn postgres_over_tls_with_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=levy test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        d.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
    let cluster = tempfile::tempdir().unwrap();
    let dir = cluster.path().join("pg");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-cluster");
    let out = std::process::Command::new(&script)
        .arg("start")
        .arg(&dir)
        .env("PG_CLUSTER_TLS", d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(url.ends_with("?sslmode=require"), "{url}");
    let stop = || {
        let _ = std::process::Command::new(&script)
            .arg("stop")
            .arg(&dir)
            .output();
    };
    // Without TLS the server refuses; without the CA, Levy refuses the server.
    let plain = url.trim_end_matches("?sslmode=require");
    let without_tls = levy::store::postgres::PgStore::open(plain, 2).is_err();
    let unknown_ca = levy::store::postgres::PgStore::open(&url, 2).is_err();
    let with_ca = format!("{url}&sslrootcert={}", d.join("ca.crt").display());
    let store = levy::store::postgres::PgStore::open(&with_ca, 2);
    let works = store
        .map(|s| {
            s.put_account(&account("tls")).unwrap();
            s.accounts().unwrap().len()
        })
        .map_err(|e| e.to_string());
    stop();
    assert!(without_tls, "a plain connection was accepted");
    assert!(unknown_ca, "a server signed by an unknown CA was trusted");
    assert_eq!(works, Ok(1));
}

/// Levy's connections commit synchronously even where the database's default says not to,
/// so a 200 for a commit follows a COMMIT that reached the disk.
#[test]
fn connections_commit_synchronously_whatever_the_default() {
    let url = postgres::database();
    let name = url.rsplit('/').next().unwrap().to_string();
    postgres::sql(
        &url,
        &format!("ALTER DATABASE {name} SET synchronous_commit = off"),
    );
    assert_eq!(postgres::sql(&url, "SHOW synchronous_commit"), "off");
    let store = levy::store::postgres::PgStore::open(&url, 2).unwrap();
    assert_eq!(store.setting("synchronous_commit").unwrap(), "on");
}

/// `levy restore` loads a sled backup into a new PostgreSQL database, and refuses a
/// database that already holds accounts.
#[test]
fn restore_into_a_new_database_only() {
    let (source, _dir) = sled();
    source.put_account(&account("a")).unwrap();
    let key = QuoteKey::new("a", "s1", "113");
    source
        .update_quote(&key, &mut step(QuoteKind::Commit, &key))
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let backup = files.path().join("levy.backup");
    let mut out = std::fs::File::create(&backup).unwrap();
    source.backup(&mut out).unwrap();
    drop(out);
    let url = postgres::database();
    let restore = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_levy"))
            .arg("restore")
            .arg(&backup)
            .current_dir(files.path())
            .env("LEVY_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let first = restore();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "restored 1 accounts and 1 quotes into the database"
    );
    let target = levy::store::postgres::PgStore::open(&url, 2).unwrap();
    assert_eq!(
        json(&target.quote(&key).unwrap().unwrap()),
        json(&source.quote(&key).unwrap().unwrap())
    );
    let second = restore();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("restore only into a new database"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
}

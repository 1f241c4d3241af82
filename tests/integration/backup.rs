//! Backup while serving, restore into a new data directory, and clear errors for a data
//! directory that is damaged or held by another process.

use crate::common;
use common::*;
use levy::config::Config;
use levy::startup::Application;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

async fn get(app_admin: &str, client: &reqwest::Client, path: &str) -> Value {
    let res = client
        .get(format!("{app_admin}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_and_restore_into_a_new_directory() {
    let app = std::sync::Arc::new(spawn_app().await);
    let acme = app.account("acme", &["s1"], &["acme"], ten_percent()).await;
    let globex = app.account("globex", &[], &[], rules(json!({"rates": [{"id": 4, "tax_zone_id": 1, "name": "VAT", "class_rates": [{"tax_class_id": 0, "rate": 20}]}]}))).await;
    let mut before = Vec::new();
    for i in 0..40 {
        let login = if i % 2 == 0 { &acme } else { &globex };
        let id = format!("pre-{i}");
        let res = app
            .call(
                "/commit",
                Some(login),
                None,
                Some("s1"),
                serde_json::to_vec(&quote(&id, &[&format!("{}", 10 + i)])).unwrap(),
            )
            .await;
        assert_eq!(res.status(), 200);
        before.push((if i % 2 == 0 { "acme" } else { "globex" }, id));
    }
    let mut adj = quote("pre-0", &["99"]);
    adj["adjust_description"] = json!("changed");
    let res = app
        .call(
            "/adjust?id=pre-0",
            Some(&acme),
            None,
            Some("s1"),
            serde_json::to_vec(&adj).unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.call("/void?id=pre-2", Some(&acme), None, Some("s1"), vec![])
            .await
            .status(),
        200
    );

    // Load while the backup is taken: estimates and new commits keep being served.
    let load = {
        let (app, acme) = (app.clone(), acme.clone());
        tokio::spawn(async move {
            let mut n = 0;
            for i in 0..150 {
                let body = serde_json::to_vec(&quote(&format!("during-{i}"), &["5"])).unwrap();
                let path = if i % 3 == 0 { "/commit" } else { "/estimate" };
                assert_eq!(
                    app.call(path, Some(&acme), None, Some("s1"), body)
                        .await
                        .status(),
                    200
                );
                n += 1;
            }
            n
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("levy.backup");
    let out = levy_cli(
        &app.admin_address,
        vec!["backup".into(), file.display().to_string()],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(load.await.unwrap(), 150);

    let target = dir.path().join("restored");
    let out = levy_cli(
        &app.admin_address,
        vec![
            "restore".into(),
            file.display().to_string(),
            "--data-dir".into(),
            target.display().to_string(),
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("restored 2 accounts"));

    let mut config = Config::ephemeral(&target);
    config.admin_token = Some(ADMIN_TOKEN.into());
    let restored = Application::build(config).await.unwrap();
    let (public2, admin2) = (
        format!("http://{}", restored.public_addr()),
        format!("http://{}", restored.admin_addr()),
    );
    tokio::spawn(restored.run_until_stopped());
    let client = reqwest::Client::new();

    assert_eq!(
        get(&app.admin_address, &client, "/admin/accounts").await,
        get(&admin2, &client, "/admin/accounts").await
    );
    for acct in ["acme", "globex"] {
        let path = format!("/admin/accounts/{acct}/rules");
        assert_eq!(
            get(&app.admin_address, &client, &path).await,
            get(&admin2, &client, &path).await
        );
    }
    for (acct, id) in &before {
        let path = format!("/admin/accounts/{acct}/quotes/{id}");
        assert_eq!(
            get(&app.admin_address, &client, &path).await,
            get(&admin2, &client, &path).await,
            "{path}"
        );
    }
    // Commits made during the backup are in it whole, or not at all.
    for i in (0..150).step_by(3) {
        let path = format!("/admin/accounts/acme/quotes/during-{i}");
        let res = client
            .get(format!("{admin2}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            let restored: Value = res.json().await.unwrap();
            assert_eq!(restored, get(&app.admin_address, &client, &path).await);
        } else {
            assert_eq!(res.status(), 404);
        }
    }
    // Credentials were restored as hashes: they still work.
    let res = client
        .post(format!("{public2}/estimate"))
        .basic_auth(&acme.user, Some(&acme.password))
        .header("X-Bc-Store-Hash", "s1")
        .body(serde_json::to_vec(&quote("x", &["10"])).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Restoring over existing data, or from a damaged file, is refused.
    let out = levy_cli(
        &app.admin_address,
        vec![
            "restore".into(),
            file.display().to_string(),
            "--data-dir".into(),
            target.display().to_string(),
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = levy_cli(
        &app.admin_address,
        vec![
            "restore".into(),
            cut.display().to_string(),
            "--data-dir".into(),
            dir.path().join("r2").display().to_string(),
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated") || err.contains("damaged"),
        "{err}"
    );
    let _ = app.admin(Method::GET, "/admin/accounts", None).await;
}

#[test]
fn a_held_or_damaged_data_directory_is_a_clear_error_at_start() {
    use common::process;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = process::write_config(dir.path(), &data);
    let serve = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_levy"))
            .args(["serve", "--config"])
            .arg(config)
            .env("LEVY_ADMIN_TOKEN", "t")
            .env("LEVY_LOG", "error")
            .output()
            .unwrap()
    };
    {
        let _running = process::start(&config);
        let second = serve(&config);
        assert!(!second.status.success());
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(err.contains("in use by another process"), "{err}");
    }
    // The first server is gone: the directory opens again.
    drop(process::start(&config));
    // Overwrite the beginning of the database: refused, never served empty.
    let db = data.join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b = 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = serve(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged"), "{err}");
}

/// The data directory and everything in it, and backups, are the owner's alone.
#[cfg(unix)]
#[tokio::test]
async fn the_store_and_backups_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = process::write_config(dir.path(), &data);
    let server = process::start(&config);
    let out = tokio::task::spawn_blocking({
        let admin = server.admin.clone();
        let path = dir.path().join("levy.backup");
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_levy"))
                .args(["backup", path.to_str().unwrap()])
                .env("LEVY_ADMIN_URL", admin)
                .env("LEVY_ADMIN_TOKEN", process::ADMIN_TOKEN)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("levy.backup")), 0o600, "backup");
    let mut seen = 0;
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "the store's files were checked ({seen})");
}

/// A backup of 50,000 quotes is streamed while commits go on (issue 13, item 3): the
/// reader here takes its time, and commits meanwhile answer in milliseconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_go_on_during_a_backup_of_fifty_thousand_quotes() {
    let app = spawn_app().await;
    let login = app.account("acme", &[], &[], ten_percent()).await;
    let res = app.post("/commit", &login, &quote("seed", &["100"])).await;
    assert_eq!(res.status(), 200);
    let backend = app.state.store.backend().clone();
    let seed = backend
        .quote(&levy::store::QuoteKey::new("acme", "store1", "seed"))
        .unwrap()
        .unwrap();
    tokio::task::spawn_blocking(move || {
        for i in 0..50_000 {
            let mut record = seed.clone();
            record.id = format!("bulk-{i}");
            backend.put_quote(&record).unwrap();
        }
        backend.sync().unwrap();
    })
    .await
    .unwrap();

    // The backup starts, and its reader takes it all.
    let (client, admin) = (app.client.clone(), app.admin_address.clone());
    let download = tokio::spawn(async move {
        let mut res = client
            .get(format!("{admin}/admin/backup"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut total = 0;
        while let Some(chunk) = res.chunk().await.unwrap() {
            total += chunk.len();
        }
        total
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let mut took = Vec::new();
    for i in 0..10 {
        let started = std::time::Instant::now();
        let res = app
            .post("/commit", &login, &quote(&format!("during-{i}"), &["10"]))
            .await;
        assert_eq!(res.status(), 200);
        took.push(started.elapsed());
    }
    assert!(
        took.iter()
            .all(|t| *t < std::time::Duration::from_millis(100)),
        "commits during the backup took {took:?}"
    );
    // The backup was still being taken meanwhile.
    assert!(
        !download.is_finished(),
        "the backup had finished before the commits"
    );
    // A reader that goes away ends the backup; the service goes on.
    download.abort();
    let res = app.post("/commit", &login, &quote("after", &["10"])).await;
    assert_eq!(res.status(), 200);
}

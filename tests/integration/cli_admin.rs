//! The `levy` admin sub-commands as clients of a running server, including the
//! migration from BigCommerce's manual tax (files built from the OpenAPI examples in
//! `demo/bigcommerce/`: the zones of GET /tax/zones and PUT /tax/zones, the rates
//! of POST and PUT /tax/rates (the PUT one renumbered to 4 and moved to zone 23), and
//! classes named as in POST /tax/classes).

use crate::common;
use common::*;
use reqwest::Method;
use serde_json::json;
use std::process::{Command, Output};

fn levy(admin: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_levy"))
        .args(args)
        .env("LEVY_ADMIN_URL", admin)
        .env("LEVY_ADMIN_TOKEN", token)
        .output()
        .expect("levy runs")
}

async fn run(app: &TestApp, args: &[&str]) -> Output {
    levy_cli(
        &app.admin_address,
        args.iter().map(|s| s.to_string()).collect(),
    )
    .await
}

fn stdout(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("stdout: {}", String::from_utf8_lossy(&o.stdout)))
}

/// The one line an import prints.
fn summary(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    text.trim_end().to_string()
}

fn data(name: &str) -> String {
    format!("{}/demo/bigcommerce/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_credentials_quotes_and_reports_from_the_cli() {
    let app = spawn_app().await;
    let v = stdout(
        &run(
            &app,
            &[
                "accounts",
                "create",
                "shop",
                "--store-hash",
                "abc",
                "--profile",
                "shop.example.org",
            ],
        )
        .await,
    );
    assert_eq!(v["data"]["id"], "shop");
    let v = stdout(&run(&app, &["accounts", "list"]).await);
    assert_eq!(v["data"][0]["store_hashes"], json!(["abc"]));
    let v = stdout(
        &run(
            &app,
            &[
                "accounts",
                "update",
                "shop",
                "--store-hash",
                "abc",
                "--store-hash",
                "def",
            ],
        )
        .await,
    );
    assert_eq!(v["data"]["store_hashes"], json!(["abc", "def"]));
    let v = stdout(&run(&app, &["credentials", "create", "shop"]).await);
    let login = Login {
        user: v["data"]["username"].as_str().unwrap().into(),
        password: v["data"]["password"].as_str().unwrap().into(),
    };
    let v = stdout(&run(&app, &["credentials", "list", "shop"]).await);
    assert_eq!(v["data"][0]["username"], login.user.as_str());

    let body = serde_json::to_vec(&quote("o1", &["10"])).unwrap();
    assert_eq!(
        app.call("/commit", Some(&login), None, Some("abc"), body)
            .await
            .status(),
        200
    );
    let v = stdout(&run(&app, &["quote", "show", "shop", "o1"]).await);
    assert_eq!(v["data"]["versions"][0]["kind"], "commit");
    let o = run(
        &app,
        &[
            "report",
            "liability",
            "shop",
            "--from",
            "2024-01-01",
            "--to",
            "2024-12-31",
            "--format",
            "csv",
        ],
    )
    .await;
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("rate_id,rate_name,currency"));

    let o = run(&app, &["credentials", "revoke", "shop", &login.user]).await;
    assert!(o.status.success());
    let o = run(&app, &["accounts", "delete", "shop"]).await;
    assert!(o.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_export_import_and_import_bigcommerce() {
    let app = spawn_app().await;
    stdout(&run(&app, &["accounts", "create", "shop"]).await);
    let o = run(
        &app,
        &[
            "rules",
            "import-bigcommerce",
            "shop",
            "--zones",
            &data("zones.json"),
            "--rates",
            &data("rates.json"),
            "--classes",
            &data("classes.json"),
        ],
    )
    .await;
    assert_eq!(
        summary(&o),
        "shop: installed 3 classes, 3 zones, 2 rates (replacing 1 class, 1 zone, 0 rates)"
    );

    // The zones and rates read back exactly as BigCommerce sent them.
    let zones: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("zones.json")).unwrap()).unwrap();
    let got = json(
        app.admin(
            Method::GET,
            "/admin/accounts/shop/tax/zones?id:in=2,23",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(got["data"], zones["data"]);
    let rates: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("rates.json")).unwrap()).unwrap();
    let got = json(
        app.admin(Method::GET, "/admin/accounts/shop/tax/rates", None)
            .await,
    )
    .await;
    assert_eq!(got["data"], rates["data"]);
    let got = json(
        app.admin(Method::GET, "/admin/accounts/shop/tax/classes", None)
            .await,
    )
    .await;
    let names: Vec<&str> = got["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Default Tax Class", "Class One", "Class Two"]);

    // Enable the example's Australia zone and tax a shopper of group 2 in 2238: 10 %.
    assert_eq!(
        app.admin(
            Method::PUT,
            "/admin/accounts/shop/tax/zones",
            Some(json!([{"id": 23, "enabled": true}]))
        )
        .await
        .status(),
        200
    );
    let (user, password) = levy::service::accounts::add_credential(&app.state, "shop")
        .await
        .unwrap();
    let mut q = quote("au", &["100"]);
    q["customer"]["customer_group_id"] = json!("2");
    q["documents"][0]["destination_address"] = json!({"country_code": "AU", "postal_code": "2238"});
    let v = json(
        app.call(
            "/estimate",
            Some(&Login { user, password }),
            None,
            Some("x"),
            serde_json::to_vec(&q).unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["total_tax"],
        json!(10)
    );

    // Export, then import the export into another account: identical rules.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.json");
    let o = run(
        &app,
        &["rules", "export", "shop", "-o", file.to_str().unwrap()],
    )
    .await;
    assert!(o.status.success());
    stdout(&run(&app, &["accounts", "create", "copy"]).await);
    summary(&run(&app, &["rules", "import", "copy", file.to_str().unwrap()]).await);
    let a = json(
        app.admin(Method::GET, "/admin/accounts/shop/rules", None)
            .await,
    )
    .await;
    let b = json(
        app.admin(Method::GET, "/admin/accounts/copy/rules", None)
            .await,
    )
    .await;
    assert_eq!(a, b);

    // A broken file is refused with its path and field.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"data": [{"id": 3, "tax_zone_id": 2, "name": "X", "class_rates": [{"rate": "5", "tax_class_id": 0}]}]}"#).unwrap();
    let o = run(
        &app,
        &[
            "rules",
            "import-bigcommerce",
            "shop",
            "--zones",
            &data("zones.json"),
            "--rates",
            bad.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.json.data[0].class_rates[0].rate"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_of_something_else_than_rules_changes_nothing() {
    let app = spawn_app().await;
    stdout(&run(&app, &["accounts", "create", "shop"]).await);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let good = file("good.json", &serde_json::to_string(&ten_percent()).unwrap());
    assert_eq!(
        summary(&run(&app, &["rules", "import", "shop", &good]).await),
        "shop: installed 1 class, 1 zone, 1 rate (replacing 1 class, 1 zone, 0 rates)"
    );
    let rules_now = || async {
        json(
            app.admin(Method::GET, "/admin/accounts/shop/rules", None)
                .await,
        )
        .await
    };
    let installed = rules_now().await;

    // A quote request and a typo are not rules documents: refused, naming the key.
    let request = file("quote.json", &quote("q1", &["10"]).to_string());
    let typo = file("typo.json", r#"{"zonez": [], "rates": []}"#);
    for (path, key) in [
        (&request, "expected one of `classes`, `zones`"),
        (&typo, "unknown field `zonez`"),
    ] {
        let o = run(&app, &["rules", "import", "shop", path]).await;
        assert!(!o.status.success(), "{path}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(key), "{err}");
    }
    // `{}` would remove every zone and rate: only with --allow-empty.
    let empty = file("empty.json", "{}");
    let o = run(&app, &["rules", "import", "shop", &empty]).await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-empty"), "{err}");
    assert_eq!(rules_now().await, installed, "nothing changed");
    // The admin API refuses it the same way.
    let res = app
        .admin(Method::PUT, "/admin/accounts/shop/rules", Some(json!({})))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(rules_now().await, installed, "nothing changed");

    assert_eq!(
        summary(&run(&app, &["rules", "import", "shop", &empty, "--allow-empty"]).await),
        "shop: installed 1 class, 1 zone, 0 rates (replacing 1 class, 1 zone, 1 rate)"
    );
    assert_eq!(rules_now().await["rates"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_down_server_bad_token_and_missing_things() {
    let app = spawn_app().await;
    let admin = app.admin_address.clone();
    let o = tokio::task::spawn_blocking(move || levy(&admin, "wrong-token", &["accounts", "list"]))
        .await
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("admin token was refused"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = run(&app, &["accounts", "show", "ghost"]).await;
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not found: no account has id ghost"));

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = tokio::task::spawn_blocking(move || {
        levy(&format!("http://{closed}"), "t", &["accounts", "list"])
    })
    .await
    .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the admin API"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

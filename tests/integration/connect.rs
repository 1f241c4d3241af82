//! `levy connect`, `connection status`, `disconnect` and `rules pull` against a local
//! stand-in for BigCommerce's API (tests/common/bigcommerce.rs), every failure path included.

use crate::common;
use common::bigcommerce::{Faults, StandIn};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Output;
use std::time::Duration;

const STORE: &str = "abc123";
const PROVIDER: &str = "levy-tax";
const BC_TOKEN: &str = "bc-token-xyz";

fn args(cmd: &[&str], bc: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    v.extend(["--store-hash", STORE, "--token", BC_TOKEN, "--api-base", bc].map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn connect_args(bc: &str, extra: &[&str]) -> Vec<String> {
    let mut more = vec!["--provider-id", PROVIDER];
    more.extend_from_slice(extra);
    args(&["connect", "acme"], bc, &more)
}

fn ok_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn failed(o: &Output, needle: &str) {
    assert!(
        !o.status.success(),
        "expected failure; stdout {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

async fn setup() -> (TestApp, StandIn) {
    let app = spawn_app().await;
    let r = app
        .admin(
            Method::POST,
            "/admin/accounts",
            Some(json!({"id": "acme", "store_hashes": ["other-store"]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    levy::service::rules::put(&app.state, "acme", ten_percent(), true)
        .await
        .unwrap();
    (app, StandIn::start(STORE, PROVIDER, BC_TOKEN))
}

async fn credentials(app: &TestApp) -> Vec<String> {
    let v = json(
        app.admin(Method::GET, "/admin/accounts/acme/credentials", None)
            .await,
    )
    .await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["username"].as_str().unwrap().to_string())
        .collect()
}

/// Does Levy accept what the store holds now? (What BigCommerce would send.)
async fn store_credential_works(app: &TestApp, bc: &StandIn) -> bool {
    let Some(c) = bc.connection() else {
        return false;
    };
    let login = Login {
        user: c.username,
        password: c.password,
    };
    let body = serde_json::to_vec(&quote("q", &["10"])).unwrap();
    app.call(
        "/estimate",
        Some(&login),
        Some(&format!("{}.{}", "acme", BASE_DOMAIN)),
        Some(STORE),
        body,
    )
    .await
    .status()
        == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_pushes_a_new_credential_and_confirms_it() {
    let (app, bc) = setup().await;
    let v = ok_json(
        &levy_cli(
            &app.admin_address,
            connect_args(&bc.base, &["--profile", "acme"]),
        )
        .await,
    );
    let username = v["username"].as_str().unwrap().to_string();
    assert_eq!(v["profile"], "acme");
    assert_eq!(credentials(&app).await, vec![username.clone()]);

    let received = bc.received();
    let put = received.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(
        put.path,
        format!("/stores/{STORE}/v3/tax/providers/{PROVIDER}/connection")
    );
    assert_eq!(put.token.as_deref(), Some(BC_TOKEN));
    assert_eq!(put.body["username"], username.as_str());
    assert_eq!(put.body["profile"], "acme");
    assert!(put.body["password"].as_str().unwrap().len() >= 32);
    let last = received.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", put.path.as_str()),
        "confirmed with GET after the PUT"
    );

    // BigCommerce's calls with what it now holds are accepted: the store hash was added to the account.
    assert!(store_credential_works(&app, &bc).await);
    let account = json(app.admin(Method::GET, "/admin/accounts/acme", None).await).await;
    assert_eq!(
        account["data"]["store_hashes"],
        json!(["other-store", STORE])
    );

    let v = ok_json(
        &levy_cli(
            &app.admin_address,
            args(
                &["connection", "status", "acme"],
                &bc.base,
                &["--provider-id", PROVIDER],
            ),
        )
        .await,
    );
    assert_eq!(v["connection"]["configured"], true);
    assert_eq!(v["connection"]["username"], username.as_str());
    assert_eq!(v["levy_accepts_username"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_never_leaves_the_store_with_a_rejected_credential() {
    let (app, bc) = setup().await;
    let first = ok_json(&levy_cli(&app.admin_address, connect_args(&bc.base, &[])).await)
        ["username"]
        .as_str()
        .unwrap()
        .to_string();
    // Slow the PUT after it is stored, and watch the store's credential the whole time.
    bc.set_faults(Faults {
        put_delay_after_store: Some(Duration::from_millis(600)),
        ..Faults::default()
    });
    let app = std::sync::Arc::new(app);
    let running = {
        let app = app.clone();
        let a = connect_args(&bc.base, &[]);
        tokio::spawn(async move { levy_cli(&app.admin_address, a).await })
    };
    let mut checks = 0;
    while !running.is_finished() {
        assert!(
            store_credential_works(&app, &bc).await,
            "the store held a credential Levy rejects"
        );
        checks += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(checks > 5);
    let v = ok_json(&running.await.unwrap());
    let second = v["username"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert_eq!(v["revoked"], json!([first]));
    assert_eq!(credentials(&app).await, vec![second]);
    assert!(store_credential_works(&app, &bc).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_revoke_the_new_credential_and_say_why() {
    let (app, bc) = setup().await;
    let first = ok_json(&levy_cli(&app.admin_address, connect_args(&bc.base, &[])).await)
        ["username"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(Faults, Vec<String>, &str)> = vec![
        (
            Faults {
                put_status: Some(404),
                ..Faults::default()
            },
            connect_args(&bc.base, &[]),
            "check --store-hash and --provider-id",
        ),
        (
            Faults {
                put_status: Some(422),
                ..Faults::default()
            },
            connect_args(&bc.base, &[]),
            "rejected the connection details",
        ),
        (
            Faults {
                put_status: Some(500),
                ..Faults::default()
            },
            connect_args(&bc.base, &[]),
            "internal error",
        ),
        (
            Faults {
                put_delay: Some(Duration::from_secs(3)),
                ..Faults::default()
            },
            connect_args(&bc.base, &["--timeout", "1"]),
            "did not answer within 1 seconds",
        ),
        (
            Faults::default(),
            args(
                &["connect", "acme"],
                &bc.base,
                &["--provider-id", "someone-else"],
            ),
            "check --store-hash and --provider-id",
        ),
        (
            Faults::default(),
            {
                let mut a = connect_args(&bc.base, &[]);
                let i = a.iter().position(|x| x == BC_TOKEN).unwrap();
                a[i] = "wrong-token".into();
                a
            },
            "refused the API token",
        ),
    ];
    for (faults, a, needle) in cases {
        bc.set_faults(faults);
        failed(&levy_cli(&app.admin_address, a).await, needle);
        assert_eq!(
            credentials(&app).await,
            vec![first.clone()],
            "after {needle:?}: only the old credential remains"
        );
        assert_eq!(bc.connection().unwrap().username, first);
        assert!(store_credential_works(&app, &bc).await);
    }
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    failed(
        &levy_cli(
            &app.admin_address,
            connect_args(&format!("http://{closed}"), &[]),
        )
        .await,
        "could not reach BigCommerce",
    );
    assert_eq!(credentials(&app).await, vec![first.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_answer_is_lost_is_checked_before_revoking() {
    let (app, bc) = setup().await;
    // Stored at BigCommerce, but the answer comes after the client's timeout.
    bc.set_faults(Faults {
        put_delay_after_store: Some(Duration::from_secs(3)),
        ..Faults::default()
    });
    let v = ok_json(
        &levy_cli(
            &app.admin_address,
            connect_args(&bc.base, &["--timeout", "1"]),
        )
        .await,
    );
    assert_eq!(
        bc.connection().unwrap().username,
        v["username"].as_str().unwrap()
    );
    assert!(store_credential_works(&app, &bc).await);
    // Stored but reported unconfigured: nothing is revoked.
    bc.set_faults(Faults {
        report_unconfigured: true,
        ..Faults::default()
    });
    failed(
        &levy_cli(&app.admin_address, connect_args(&bc.base, &[])).await,
        "does not report it as configured",
    );
    assert_eq!(credentials(&app).await.len(), 2);
    assert!(store_credential_works(&app, &bc).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_deletes_then_revokes() {
    let (app, bc) = setup().await;
    let other = levy::service::accounts::add_credential(&app.state, "acme")
        .await
        .unwrap()
        .0;
    ok_json(&levy_cli(&app.admin_address, connect_args(&bc.base, &[])).await);
    let held = bc.connection().unwrap();
    let v = ok_json(
        &levy_cli(
            &app.admin_address,
            args(
                &["disconnect", "acme"],
                &bc.base,
                &["--provider-id", PROVIDER],
            ),
        )
        .await,
    );
    assert_eq!(v["revoked"], json!([held.username.clone()]));
    assert_eq!(v["connection"]["configured"], false);
    assert!(bc.connection().is_none());
    assert_eq!(
        credentials(&app).await,
        vec![other],
        "credentials of other uses stay"
    );
    let received = bc.received();
    assert_eq!(received.last().unwrap().method, "DELETE");
    // A failing DELETE revokes nothing.
    ok_json(&levy_cli(&app.admin_address, connect_args(&bc.base, &[])).await);
    let before = credentials(&app).await;
    failed(
        &levy_cli(
            &app.admin_address,
            args(
                &["disconnect", "acme"],
                &bc.base,
                &["--provider-id", "nope"],
            ),
        )
        .await,
        "check --store-hash",
    );
    assert_eq!(credentials(&app).await, before);
}

fn store_rules(bc: &StandIn) {
    let mut s = bc.state.lock().unwrap();
    s.zones = vec![
        json!({"id": 2, "name": "Ohio", "enabled": true, "price_display_settings": {"show_inclusive": false, "show_both_on_detail_view": false, "show_both_on_list_view": false},
               "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["OH"], "postal_codes": []}], "customer_groups": []}}),
        json!({"id": 3, "name": "Van Wert", "enabled": true, "price_display_settings": {"show_inclusive": false, "show_both_on_detail_view": false, "show_both_on_list_view": false},
               "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": [], "postal_codes": ["45891"]}], "customer_groups": []}}),
    ];
    // 120 rates: the API pages them 50 at a time.
    s.rates = (1..=120)
        .map(|i| json!({"id": i, "tax_zone_id": if i % 2 == 0 { 2 } else { 3 }, "name": format!("Rate {i}"), "enabled": i <= 2,
                        "priority": 1, "class_rates": [{"rate": if i == 1 { 1.5 } else { 5.75 }, "tax_class_id": 0}, {"rate": 2, "tax_class_id": 4}]}))
        .collect();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pull_installs_the_stores_manual_tax_setup() {
    let (app, bc) = setup().await;
    store_rules(&bc);
    let o = levy_cli(
        &app.admin_address,
        args(&["rules", "pull", "acme"], &bc.base, &[]),
    )
    .await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(line.contains(", 3 zones, 120 rates from store"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let pages: Vec<String> = bc
        .received()
        .iter()
        .filter(|r| r.path.ends_with("/tax/rates"))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(pages.len(), 3, "followed pagination: {pages:?}");
    assert!(pages[2].contains("page=3"));
    assert!(bc
        .received()
        .iter()
        .all(|r| r.token.as_deref() == Some(BC_TOKEN)));

    // Levy now holds exactly the store's zones and rates.
    let zones = json(
        app.admin(
            Method::GET,
            "/admin/accounts/acme/tax/zones?id:in=2,3",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(zones["data"], json!(bc.state.lock().unwrap().zones));
    let mut rates = Vec::new();
    for page in 1..=3 {
        let v = json(
            app.admin(
                Method::GET,
                &format!("/admin/accounts/acme/tax/rates?limit=50&page={page}"),
                None,
            )
            .await,
        )
        .await;
        rates.extend(v["data"].as_array().unwrap().clone());
    }
    assert_eq!(json!(rates), json!(bc.state.lock().unwrap().rates));

    // And computes with them: Van Wert 45891 -> zone 3, enabled rate 1 (1.5 %); class 4 -> 2 %.
    let (user, password) = levy::service::accounts::add_credential(&app.state, "acme")
        .await
        .unwrap();
    let body = serde_json::to_vec(&quote("q", &["100"])).unwrap();
    let v = json(
        app.call(
            "/estimate",
            Some(&Login { user, password }),
            None,
            Some("other-store"),
            body,
        )
        .await,
    )
    .await;
    assert_eq!(
        v["documents"][0]["items"][0]["price"]["total_tax"],
        json!(1.5)
    );

    // Failures leave the rules alone.
    let before = json(
        app.admin(Method::GET, "/admin/accounts/acme/rules", None)
            .await,
    )
    .await;
    let mut bad = args(&["rules", "pull", "acme"], &bc.base, &[]);
    let i = bad.iter().position(|x| x == BC_TOKEN).unwrap();
    bad[i] = "nope".into();
    failed(
        &levy_cli(&app.admin_address, bad).await,
        "refused the API token",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    failed(
        &levy_cli(
            &app.admin_address,
            args(&["rules", "pull", "acme"], &format!("http://{closed}"), &[]),
        )
        .await,
        "could not reach BigCommerce",
    );
    assert_eq!(
        json(
            app.admin(Method::GET, "/admin/accounts/acme/rules", None)
                .await
        )
        .await,
        before
    );
}

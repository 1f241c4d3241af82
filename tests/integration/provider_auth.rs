//! Authentication and profile routing over HTTP (SPEC section 2), each case.

use crate::common;
use common::*;

async fn two_accounts() -> (TestApp, Login, Login) {
    let app = spawn_app().await;
    let acme = app
        .account(
            "acme",
            &["store-acme"],
            &["acme-prod", "tax.acme.com"],
            ten_percent(),
        )
        .await;
    let globex = app.account("globex", &[], &[], ten_percent()).await;
    (app, acme, globex)
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&quote("q1", &["100"])).unwrap()
}

async fn assert_error(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status().as_u16(), status);
    let v = json(res).await;
    assert_eq!(v["error"]["code"], code, "{v}");
}

#[tokio::test]
async fn valid_credentials_from_any_host_that_selects_nothing() {
    let (app, acme, _) = two_accounts().await;
    for host in [None, Some("localhost:8080"), Some(BASE_DOMAIN)] {
        let res = app
            .call("/estimate", Some(&acme), host, Some("store-acme"), body())
            .await;
        assert_eq!(res.status(), 200, "host {host:?}");
        let v = json(res).await;
        assert_eq!(
            v["documents"][0]["items"][0]["price"]["total_tax"],
            serde_json::json!(10)
        );
    }
}

#[tokio::test]
async fn missing_or_invalid_credentials_get_401_with_basic_challenge() {
    let (app, acme, _) = two_accounts().await;
    let res = app
        .call("/estimate", None, None, Some("store-acme"), body())
        .await;
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_error(res, 401, "unauthorized").await;
    let wrong = Login {
        user: acme.user.clone(),
        password: "not-the-password".into(),
    };
    let res = app
        .call("/estimate", Some(&wrong), None, Some("store-acme"), body())
        .await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, 401, "unauthorized").await;
    let unknown = Login {
        user: "nobody".into(),
        password: acme.password.clone(),
    };
    assert_error(
        app.call(
            "/estimate",
            Some(&unknown),
            None,
            Some("store-acme"),
            body(),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    // Invalid credentials come first, even before an unknown host label.
    let host = format!("initech.{BASE_DOMAIN}");
    assert_error(
        app.call("/estimate", None, Some(&host), None, body()).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn profile_hosts_select_their_account() {
    let (app, acme, _) = two_accounts().await;
    for host in [
        "tax.acme.com",
        "acme.tax.example.com",
        "ACME-PROD.tax.example.com:443",
    ] {
        let res = app
            .call(
                "/estimate",
                Some(&acme),
                Some(host),
                Some("store-acme"),
                body(),
            )
            .await;
        assert_eq!(res.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn unknown_label_under_a_base_domain_is_404() {
    let (app, acme, _) = two_accounts().await;
    let host = format!("initech.{BASE_DOMAIN}");
    assert_error(
        app.call(
            "/estimate",
            Some(&acme),
            Some(&host),
            Some("store-acme"),
            body(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn credentials_of_another_account_than_the_host_selects_are_401() {
    let (app, _, globex) = two_accounts().await;
    let res = app
        .call(
            "/estimate",
            Some(&globex),
            Some("acme.tax.example.com"),
            Some("x"),
            body(),
        )
        .await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, 401, "unauthorized").await;
    assert_error(
        app.call(
            "/estimate",
            Some(&globex),
            Some("tax.acme.com"),
            Some("x"),
            body(),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn store_hash_must_be_allowed_and_present() {
    let (app, acme, globex) = two_accounts().await;
    assert_error(
        app.call("/estimate", Some(&acme), None, Some("store-other"), body())
            .await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        app.call("/estimate", Some(&acme), None, None, body()).await,
        400,
        "missing_store_hash",
    )
    .await;
    // An account without store_hashes accepts any store, but the header is still required.
    assert_eq!(
        app.call("/estimate", Some(&globex), None, Some("anything"), body())
            .await
            .status(),
        200
    );
    assert_error(
        app.call("/estimate", Some(&globex), None, None, body())
            .await,
        400,
        "missing_store_hash",
    )
    .await;
}

#[tokio::test]
async fn several_credentials_rotate_without_downtime() {
    let (app, acme, _) = two_accounts().await;
    let (user, password) = levy::service::accounts::add_credential(&app.state, "acme")
        .await
        .unwrap();
    let second = Login { user, password };
    for login in [&acme, &second] {
        assert_eq!(
            app.call("/estimate", Some(login), None, Some("store-acme"), body())
                .await
                .status(),
            200
        );
    }
    levy::service::accounts::revoke_credential(&app.state, "acme", &acme.user)
        .await
        .unwrap();
    assert_eq!(
        app.call("/estimate", Some(&acme), None, Some("store-acme"), body())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.call("/estimate", Some(&second), None, Some("store-acme"), body())
            .await
            .status(),
        200
    );
    // Only a salted hash is stored.
    let stored = app.state.store.backend().accounts().unwrap();
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains(&second.password));
}

#[tokio::test]
async fn healthz_needs_no_auth() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The demo is created once: a revoked demo credential or a deleted demo account stays
/// gone across restarts.
#[tokio::test]
async fn a_revoked_or_deleted_demo_stays_gone() {
    use levy::config::{Config, Demo};
    use levy::startup::Application;
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        let mut c = Config::ephemeral(dir.path());
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.demo = Some(Demo {
            account: "demo".into(),
            username: "demo".into(),
            password: "demo-password".into(),
            store_hashes: vec![],
            profiles: vec![],
            rules: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/rules.json"),
        });
        c
    };
    async fn start(config: Config) -> Application {
        Application::build(config).await.unwrap()
    }
    async fn stop(app: Application) {
        app.state().store.close().await.unwrap();
        drop(app);
    }
    let credentials = |app: &Application| {
        app.state()
            .directory
            .load()
            .get("demo")
            .map(|l| l.account.credentials.len())
    };

    let app = start(config()).await;
    assert_eq!(credentials(&app), Some(1), "created at the first start");
    levy::service::accounts::revoke_credential(&app.state(), "demo", "demo")
        .await
        .unwrap();
    stop(app).await;

    let app = start(config()).await;
    assert_eq!(
        credentials(&app),
        Some(0),
        "the revoked credential does not come back"
    );
    levy::service::accounts::delete_account(&app.state(), "demo")
        .await
        .unwrap();
    stop(app).await;

    let app = start(config()).await;
    assert_eq!(
        credentials(&app),
        None,
        "the deleted account does not come back"
    );
    stop(app).await;
}

/// Sends one raw request head (with a small estimate body) and returns the status code.
async fn raw_status(address: &str, target: &str, host: &[u8], login: &Login) -> u16 {
    use base64::Engine as _;
    let body = serde_json::to_vec(&quote("raw", &["10"])).unwrap();
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", login.user, login.password));
    let mut head = format!("POST {target} HTTP/1.1\r\nHost: ").into_bytes();
    head.extend_from_slice(host);
    head.extend_from_slice(
        format!(
            "\r\nAuthorization: Basic {auth}\r\nX-Bc-Store-Hash: store1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    head.extend_from_slice(&body);
    let addr = address.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s.write_all(&head).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_unparseable_host_is_400_and_an_absolute_target_wins_over_host() {
    let app = spawn_app().await;
    let acme = app.account("acme", &[], &[], ten_percent()).await;
    let known = format!("acme.{BASE_DOMAIN}");
    assert_eq!(
        raw_status(&app.address, "/estimate", known.as_bytes(), &acme).await,
        200
    );
    let mut broken = format!("unknown.{BASE_DOMAIN}").into_bytes();
    broken.push(0xff);
    assert_eq!(
        raw_status(&app.address, "/estimate", &broken, &acme).await,
        400,
        "an unreadable Host is refused, not ignored"
    );
    assert_eq!(
        raw_status(&app.address, "/estimate", b"acme.tax example.com", &acme).await,
        400
    );
    // RFC 9110: the absolute-form target's authority is the host, whatever Host says.
    let absolute = format!("http://{known}/estimate");
    let other = format!("unknown.{BASE_DOMAIN}");
    assert_eq!(
        raw_status(&app.address, &absolute, other.as_bytes(), &acme).await,
        200
    );
    let absolute_unknown = format!("http://{other}/estimate");
    assert_eq!(
        raw_status(&app.address, &absolute_unknown, known.as_bytes(), &acme).await,
        404
    );
}

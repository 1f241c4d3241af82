//! The BigCommerce app: install, load, uninstall and remove-user callbacks, sessions and
//! CSRF, against the stand-in for BigCommerce's login service and APIs.

use crate::common;
use common::app::*;
use reqwest::Method;
use serde_json::Value;

const STORE: &str = "abc123";
const OTHER: &str = "def456";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_registers_levy_pulls_the_stores_tax_and_keeps_the_token_sealed() {
    let t = AppUnderTest::start(STORE, &[], false).await;
    let res = t.app.client.get(t.auth_url(STORE)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = set_cookie(&res).expect("a session cookie");
    for part in [
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Path=/app",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let html = res.text().await.unwrap();
    assert!(html.contains("Levy is now this store"), "{html}");
    assert!(html.contains("1 zones and 1 rates"), "{html}");

    // The OAuth exchange carried the app's id, secret, code and the store's context.
    let exchange =
        t.bc.received()
            .into_iter()
            .find(|r| r.path == "/oauth2/token");
    assert!(exchange.is_some());

    // BigCommerce holds a credential Levy accepts, with the store's own rate (5.75 %).
    let login = t.credential();
    let res = t
        .provider("/estimate", &login, STORE, &ohio_quote("q1"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["documents"][0]["items"][0]["price"]["amount_exclusive"].to_string(),
        "100"
    );
    let tax = &body["documents"][0]["items"][0]["price"]["sales_tax_summary"][0];
    assert_eq!(tax["amount"].to_string(), "5.75");

    // The token is kept sealed and never shown by the admin API.
    let account = levy::service::accounts::get(&t.app.state, "bc-abc123").unwrap();
    let sealed = account.app.as_ref().unwrap().access_token.clone().unwrap();
    assert!(sealed.starts_with("v1:") && !sealed.contains(BC_TOKEN));
    let shown = t
        .app
        .admin(Method::GET, "/admin/accounts/bc-abc123", None)
        .await;
    let text = shown.text().await.unwrap();
    assert!(
        !text.contains(BC_TOKEN) && !text.contains(&sealed),
        "{text}"
    );

    // A second install reuses the account and rotates the credential.
    let (_, _) = t.install(STORE).await;
    let again = t.credential();
    assert_ne!(again.user, login.user);
    let dir = t.app.state.directory.load();
    assert_eq!(
        dir.accounts()
            .filter(|a| a.account.id.starts_with("bc-"))
            .count(),
        1
    );
    assert!(dir.authenticate(&login.user, &login.password).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_opens_the_console_only_for_a_good_jwt() {
    let t = AppUnderTest::start(STORE, &[], false).await;
    t.install(STORE).await;
    let res = t.callback("load", &t.jwt(STORE, OWNER)).await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).unwrap();
    assert!(res.text().await.unwrap().contains("Tax zones"));
    assert_eq!(t.page(&cookie, "/app/zones").await.0, 200);

    let sign = |p: &levy::app::jwt::SignedPayload, secret: &str| levy::app::jwt::sign(p, secret);
    let mut foreign = payload(STORE, OWNER, 900, -5);
    foreign.aud = "another-app".into();
    let mut issuer = payload(STORE, OWNER, 900, -5);
    issuer.iss = "not-bc".into();
    let bad = [
        (
            "another secret",
            sign(&payload(STORE, OWNER, 900, -5), "not-the-secret"),
        ),
        (
            "expired",
            sign(&payload(STORE, OWNER, -600, -1200), CLIENT_SECRET),
        ),
        (
            "not yet valid",
            sign(&payload(STORE, OWNER, 1800, 600), CLIENT_SECRET),
        ),
        ("foreign audience", sign(&foreign, CLIENT_SECRET)),
        ("foreign issuer", sign(&issuer, CLIENT_SECRET)),
        (
            "store not installed",
            sign(&payload(OTHER, OWNER, 900, -5), CLIENT_SECRET),
        ),
        ("garbage", "a.b.c".into()),
        ("absent", String::new()),
    ];
    for (what, token) in bad {
        let res = t.callback("load", &token).await;
        assert_eq!(res.status(), 401, "{what}");
        assert!(set_cookie(&res).is_none(), "{what}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Not signed in") && !html.contains("Tax zones"),
            "{what}: {html}"
        );
    }
    // No cookie, or a cookie that is not Levy's signature: the 401 page.
    assert_eq!(t.page("", "/app/zones").await.0, 401);
    assert_eq!(t.page("bm90LWEtc2Vzc2lvbg.AAAA", "/app/").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_for_one_store_never_reads_or_changes_another() {
    let t = AppUnderTest::start(STORE, &[OTHER], false).await;
    let (_, a) = t.install(STORE).await;
    let login_a = t.credential();
    let (_, b) = t.install(OTHER).await;
    let login_b = t.credential();
    // A committed order in each store.
    for (login, store, id) in [(&login_a, STORE, "order-a"), (&login_b, OTHER, "order-b")] {
        let res = t.provider("/commit", login, store, &ohio_quote(id)).await;
        assert_eq!(res.status(), 200, "{store}");
    }
    let (status, list) = t.page(&a, "/app/quotes").await;
    assert_eq!(status, 200);
    assert!(
        list.contains("order-a") && !list.contains("order-b"),
        "{list}"
    );
    assert_eq!(t.page(&a, "/app/quotes/order-a").await.0, 200);
    assert_eq!(t.page(&a, "/app/quotes/order-b").await.0, 404);
    assert_eq!(t.page(&b, "/app/quotes/order-b").await.0, 200);

    // A change made in store A's console stays in store A.
    let (_, form) = t.page(&a, "/app/rates/1").await;
    let token = csrf(&form);
    let (status, _) = t
        .submit(
            &a,
            "/app/rates/1",
            &[
                ("csrf", &token),
                ("name", "Ohio State Tax"),
                ("priority", "1"),
                ("class_0", "7"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let rate = |account: &str| {
        let rules = levy::service::rules::get(&t.app.state, account)
            .unwrap()
            .into_document();
        rules.rates[0].class_rates[0].rate.to_string()
    };
    assert_eq!(rate("bc-abc123"), "7");
    assert_eq!(rate("bc-def456"), "5.75");
    // B's CSRF token is no key to A's session, and the other way round.
    let (_, b_form) = t.page(&b, "/app/rates/1").await;
    let (status, _) = t
        .submit(
            &a,
            "/app/rates/1",
            &[
                ("csrf", &csrf(&b_form)),
                ("name", "X"),
                ("priority", "1"),
                ("class_0", "1"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(rate("bc-abc123"), "7");
    // A session edited to name store B no longer carries Levy's signature.
    let (body, tag) = a.split_once('.').unwrap();
    let mut s: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, body).unwrap(),
    )
    .unwrap();
    s["account"] = "bc-def456".into();
    s["store_hash"] = OTHER.into();
    let forged = format!(
        "{}.{tag}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&s).unwrap()
        )
    );
    assert_eq!(t.page(&forged, "/app/quotes/order-b").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_needs_the_sessions_csrf_token_and_bad_values_are_named() {
    let t = AppUnderTest::start(STORE, &[], false).await;
    let (_, cookie) = t.install(STORE).await;
    let (_, form) = t.page(&cookie, "/app/rates/1").await;
    let token = csrf(&form);
    let rate = || {
        levy::service::rules::get(&t.app.state, "bc-abc123")
            .unwrap()
            .into_document()
            .rates[0]
            .class_rates[0]
            .rate
            .to_string()
    };
    let change = [
        ("name", "State"),
        ("priority", "1"),
        ("class_0", "9"),
        ("enabled", "on"),
    ];
    for fields in [change.to_vec(), [&[("csrf", "0000")][..], &change].concat()] {
        let (status, html) = t.submit(&cookie, "/app/rates/1", &fields).await;
        assert_eq!(status, 403, "{html}");
    }
    for (path, fields) in [
        ("/app/zones/2", vec![("name", "Z")]),
        (
            "/app/rates/new?zone=2",
            vec![("name", "N"), ("class_0", "1")],
        ),
        (
            "/app/import",
            vec![("csv", "State,ZipCode\n"), ("step", "apply")],
        ),
    ] {
        assert_eq!(t.submit(&cookie, path, &fields).await.0, 403, "{path}");
    }
    assert_eq!(rate(), "5.75");
    let set_rate = async |value: &str| {
        let fields = [
            ("csrf", token.as_str()),
            ("name", "State"),
            ("priority", "1"),
            ("class_0", value),
            ("enabled", "on"),
        ];
        t.submit(&cookie, "/app/rates/1", &fields).await
    };
    // The admin API's validation, said on the form with the field.
    let (status, html) = set_rate("-3").await;
    assert_eq!(status, 400);
    assert!(
        html.contains("Not saved") && html.contains("class_rates"),
        "{html}"
    );
    assert_eq!(rate(), "5.75");
    let (status, _) = set_rate("6.25").await;
    assert_eq!(status, 303);
    assert_eq!(rate(), "6.25");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_user_ends_that_users_access_and_uninstall_revokes_but_keeps_quotes() {
    let t = AppUnderTest::start(STORE, &[], false).await;
    let (_, owner) = t.install(STORE).await;
    let login = t.credential();
    // A second user loads the app (multi-user apps), then is removed.
    let res = t.callback("load", &t.jwt(STORE, 202)).await;
    let clerk = session_cookie(&res).unwrap();
    assert_eq!(t.page(&clerk, "/app/").await.0, 200);
    let res = t.callback("remove_user", &t.jwt(STORE, 202)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(t.page(&clerk, "/app/").await.0, 401);
    assert_eq!(t.page(&owner, "/app/").await.0, 200);
    // A forged remove_user changes nothing.
    let forged = levy::app::jwt::sign(&payload(STORE, OWNER, 900, -5), "wrong");
    assert_eq!(t.callback("remove_user", &forged).await.status(), 401);
    assert_eq!(t.page(&owner, "/app/").await.0, 200);

    let commit = t
        .provider("/commit", &login, STORE, &ohio_quote("kept"))
        .await;
    assert_eq!(commit.status(), 200);
    assert_eq!(t.callback("uninstall", &forged).await.status(), 401);
    let res = t.callback("uninstall", &t.jwt(STORE, OWNER)).await;
    assert_eq!(res.status(), 200);
    // BigCommerce's credential is refused, the connection is gone, the console is closed.
    let again = t
        .provider("/estimate", &login, STORE, &ohio_quote("q"))
        .await;
    assert_eq!(again.status(), 401);
    assert!(t.bc.connection().is_none());
    assert_eq!(t.page(&owner, "/app/").await.0, 401);
    assert_eq!(t.callback("load", &t.jwt(STORE, OWNER)).await.status(), 401);
    // The committed quote is kept for audit.
    let kept = t
        .app
        .admin(Method::GET, "/admin/accounts/bc-abc123/quotes/kept", None)
        .await;
    assert_eq!(kept.status(), 200);
    let account = levy::service::accounts::get(&t.app.state, "bc-abc123").unwrap();
    assert!(account.app.unwrap().access_token.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_apps_settings_app_pages_say_so() {
    let app = common::spawn_app().await;
    let res = app
        .client
        .get(format!("{}/app/load?signed_payload_jwt=x", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("not configured"));
}

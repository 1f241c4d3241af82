//! The console end to end in a real browser: Debian's headless Chromium driven through
//! chromedriver (W3C WebDriver) by fantoccini, against Levy and the stand-in for
//! BigCommerce. Install -> console -> change a rate -> an estimate reflects it -> commit
//! -> the report and its chart show it -> uninstall -> the credential is refused. Each
//! page is saved under `target/screenshots/`. `scripts/chromium-deps` installs the
//! `chromium` and `chromium-driver` packages when missing (as `.ci/run` does); there is
//! no skip: a machine that cannot have them fails this test.

use crate::common;
use common::app::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STORE: &str = "e2e001";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn driver() -> Driver {
    let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/chromium-deps"))
        .output()
        .expect("scripts/chromium-deps runs");
    assert!(
        out.status.success(),
        "Chromium and chromedriver could not be installed (scripts/chromium-deps): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(Path::new(&exe).exists(), "no chromedriver at {exe}");
    let port = free_port();
    let child = Command::new(exe)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/status")).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url,
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            // This machine's network is closed: no background calls to Google's hosts.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-quic", "--no-first-run", "--window-size=1280,1000",
                     format!("--user-data-dir={}", driver._profile.path().display())]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// The page's text once `ready` holds for it: a click that navigates returns before the
/// next page is there, so a page is read again (a stale one included) until it is.
async fn page_where(c: &Client, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = match c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed what was expected: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page once it shows `needle`.
async fn showing(c: &Client, needle: &str) -> String {
    page_where(c, |t| t.contains(needle)).await
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Today's order to Ohio, so this year's report holds it.
fn order(id: &str) -> Value {
    let mut q = ohio_quote(id);
    q["transaction_date"] = json!(chrono::Utc::now().to_rfc3339());
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_change_a_rate_estimate_commit_report_uninstall_in_chromium() {
    let t = AppUnderTest::start(STORE, &[], true).await;
    let driver = driver().await;
    let c = browser(&driver).await;
    let levy = t.app.address.clone();

    // Install: BigCommerce sends the merchant's browser to the auth callback.
    c.goto(&t.auth_url(STORE)).await.unwrap();
    let page = showing(&c, "Levy is now").await;
    assert!(
        page.contains("Levy is now this store's tax provider"),
        "{page}"
    );
    assert!(page.contains("1 zones and 1 rates"), "{page}");
    shot(&c, "01-installed").await;
    let login = t.credential();

    // Tax zones and rates, in BigCommerce's words; change the Ohio rate to 8 %.
    click(&c, "nav a[href='/app/zones']").await;
    let page = showing(&c, "Add a tax rate").await;
    assert!(
        page.contains("Ohio State Tax") && page.contains("5.75%"),
        "{page}"
    );
    shot(&c, "02-zones").await;
    click(&c, "a[href='/app/rates/1']").await;
    showing(&c, "Edit tax rate").await;
    fill(&c, "#class_0", "8").await;
    fill(&c, "#jurisdiction_name", "Ohio").await;
    fill(&c, "#jurisdiction_code", "OH").await;
    shot(&c, "03-edit-rate").await;
    click(&c, "button[type=submit]").await;
    let page = showing(&c, "Add a tax rate").await;
    assert!(page.contains("8%") && !page.contains("5.75%"), "{page}");

    // A bad value is refused on the form, naming the field.
    click(&c, "a[href='/app/rates/1']").await;
    showing(&c, "Edit tax rate").await;
    fill(&c, "#class_0", "eight").await;
    click(&c, "button[type=submit]").await;
    let page = showing(&c, "Not saved").await;
    assert!(page.contains("class_rates"), "{page}");

    // The provider API prices with the new rate; the order is committed.
    let est = t
        .provider("/estimate", &login, STORE, &order("e2e-order"))
        .await;
    assert_eq!(est.status(), 200);
    let est: Value = est.json().await.unwrap();
    assert_eq!(
        est["documents"][0]["items"][0]["price"]["sales_tax_summary"][0]["amount"].to_string(),
        "8"
    );
    let commit = t
        .provider("/commit", &login, STORE, &order("e2e-order"))
        .await;
    assert_eq!(commit.status(), 200);

    // Which rate applies to an address, explained.
    click(&c, "nav a[href='/app/check']").await;
    showing(&c, "Item price").await;
    fill(&c, "#country_code", "US").await;
    fill(&c, "#region_code", "OH").await;
    fill(&c, "#postal_code", "45891").await;
    click(&c, "button[type=submit]").await;
    let page = showing(&c, "Tax zone: ").await;
    assert!(
        page.contains("Tax zone: Ohio") && page.contains("Ohio State Tax"),
        "{page}"
    );
    shot(&c, "04-check").await;

    // The quote, its version and audit.
    click(&c, "nav a[href='/app/quotes']").await;
    showing(&c, "e2e-order").await;
    click(&c, "a[href='/app/quotes/e2e%2Dorder']").await;
    let page = showing(&c, "Version 1").await;
    assert!(
        page.contains("Version 1") && page.contains("Ohio State Tax"),
        "{page}"
    );
    shot(&c, "05-quote").await;

    // The liability report: this month's bar and the Ohio jurisdiction carry the 8.00.
    click(&c, "nav a[href='/app/reports']").await;
    showing(&c, "Tax by month").await;
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let bar = c
        .find(Locator::Css(&format!("rect.bar[data-month='{month}']")))
        .await
        .expect("a bar for this month");
    let height: f64 = bar.attr("height").await.unwrap().unwrap().parse().unwrap();
    assert!(height > 100.0, "the month's bar is drawn ({height})");
    let page = showing(&c, "Tax by jurisdiction").await;
    assert!(
        page.contains("Ohio") && page.contains("state") && page.contains("8"),
        "{page}"
    );
    shot(&c, "06-report").await;
    let csv_link = c
        .find(Locator::Css("a[href*='group_by=jurisdiction']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    // The download (an attachment, which the browser saves rather than shows), fetched
    // with the browser's own session cookie.
    let cookie = c.get_named_cookie("levy_console").await.unwrap();
    let csv = t
        .app
        .client
        .get(format!("{levy}{csv_link}"))
        .header("Cookie", format!("levy_console={}", cookie.value()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("state,Ohio,OH,USD"), "{csv}");

    // The rate-table import: a file chosen, checked (nothing changes), then applied.
    c.goto(&format!("{levy}/app/import")).await.unwrap();
    showing(&c, "Rate table file").await;
    let table = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/zip-rates/TAXRATES_ZIP5_SAMPLE202401.csv");
    c.find(Locator::Css("#csv-file"))
        .await
        .unwrap()
        .send_keys(table.to_str().unwrap())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v = c
            .find(Locator::Css("#csv"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if v.contains("NY,10001") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the file was not read into the form"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fill(&c, "#effective_from", "01/01/2024").await;
    let before = levy::service::rules::get(&t.app.state, "bc-e2e001").unwrap();
    click(&c, "button[type=submit]").await;
    let page = showing(&c, "Nothing has changed yet").await;
    assert!(page.contains("NY"), "{page}");
    assert_eq!(
        levy::service::rules::get(&t.app.state, "bc-e2e001").unwrap(),
        before
    );
    shot(&c, "07-import-preview").await;
    click(&c, "#apply").await;
    showing(&c, "Imported").await;
    assert_ne!(
        levy::service::rules::get(&t.app.state, "bc-e2e001").unwrap(),
        before
    );

    // Uninstall: BigCommerce calls the callback; the credential and the console are refused.
    let res = t.callback("uninstall", &t.jwt(STORE, OWNER)).await;
    assert_eq!(res.status(), 200);
    let refused = t
        .provider("/estimate", &login, STORE, &order("after"))
        .await;
    assert_eq!(refused.status(), 401);
    c.goto(&format!("{levy}/app/zones")).await.unwrap();
    showing(&c, "Not signed in").await;
    shot(&c, "08-after-uninstall").await;
    c.close().await.unwrap();
}

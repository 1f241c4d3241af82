//! `spawn_app`: the real server on port 0 with a temporary data directory.
#![allow(dead_code)]

use levy::config::Config;
use levy::rules::RulesDocument;
use levy::service;
use levy::startup::Application;
use reqwest::header::HOST;
use serde_json::Value;

pub const BASE_DOMAIN: &str = "tax.example.com";

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub admin_address: String,
    pub state: actix_web::web::Data<levy::api::AppState>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A credential as the merchant would configure it in BigCommerce.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::ephemeral(dir.path());
    config.base_domains = vec![BASE_DOMAIN.into()];
    config.admin_token = Some(ADMIN_TOKEN.into());
    tune(&mut config);
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://{}", app.public_addr());
    let admin_address = format!("http://{}", app.admin_addr());
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        admin_address,
        state,
        client: reqwest::Client::new(),
        dir,
    }
}

pub fn rules(json: Value) -> RulesDocument {
    serde_json::from_value(json).unwrap()
}

/// One 10 % rate for every shopper.
pub fn ten_percent() -> RulesDocument {
    rules(
        serde_json::json!({"rates": [{"id": 1, "tax_zone_id": 1, "name": "Sales Tax", "class_rates": [{"tax_class_id": 0, "rate": 10}]}]}),
    )
}

impl TestApp {
    /// Creates an account with rules and one credential.
    pub async fn account(
        &self,
        id: &str,
        store_hashes: &[&str],
        profiles: &[&str],
        rules: RulesDocument,
    ) -> Login {
        service::accounts::create_account(
            &self.state,
            service::accounts::NewAccount {
                id: id.into(),
                store_hashes: store_hashes.iter().map(|s| s.to_string()).collect(),
                profiles: profiles.iter().map(|s| s.to_string()).collect(),
            },
        )
        .await
        .unwrap();
        service::rules::put(&self.state, id, rules, true)
            .await
            .unwrap();
        let (user, password) = service::accounts::add_credential(&self.state, id)
            .await
            .unwrap();
        Login { user, password }
    }

    /// POSTs `body` to the provider API as BigCommerce would.
    pub async fn call(
        &self,
        path: &str,
        login: Option<&Login>,
        host: Option<&str>,
        store_hash: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{}", self.address, path))
            .body(body);
        if let Some(l) = login {
            req = req.basic_auth(&l.user, Some(&l.password));
        }
        if let Some(h) = host {
            req = req.header(HOST, h);
        }
        if let Some(s) = store_hash {
            req = req.header("X-Bc-Store-Hash", s);
        }
        req.header("Content-Type", "application/json")
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, login: &Login, body: &Value) -> reqwest::Response {
        self.call(
            path,
            Some(login),
            None,
            Some("store1"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }
}

/// A QuoteRequest with one document and the given item amounts.
pub fn quote(id: &str, amounts: &[&str]) -> Value {
    let items: Vec<Value> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::from_str(&format!(
                r#"{{"id":"item-{i}","price":{{"amount":{a},"tax_inclusive":false}},"quantity":1,"type":"item",
                   "tax_class":{{"code":"","class_id":"0","name":"Default Tax Class"}}}}"#
            ))
            .unwrap()
        })
        .collect();
    serde_json::json!({
        "id": id, "currency_code": "USD",
        "customer": {"customer_id": "1", "customer_group_id": "0"},
        "transaction_date": "2024-05-01T10:00:00Z",
        "documents": [{
            "id": "doc-1",
            "destination_address": {"country_code": "US", "region_code": "OH", "postal_code": "45891"},
            "origin_address": {"country_code": "US"},
            "shipping": {"id": "ship", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "shipping"},
            "handling": {"id": "hand", "price": {"amount": 0, "tax_inclusive": false}, "quantity": 1, "type": "handling"},
            "items": items
        }]
    })
}

impl TestApp {
    /// Calls the admin API with the admin token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.admin_address, path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("admin request sent")
    }
}

/// Runs the `levy` binary as an admin client of the server at `admin` (URL and token
/// from the environment), off the async executor.
pub async fn levy_cli(admin: &str, args: Vec<String>) -> std::process::Output {
    let admin = admin.to_string();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_levy"))
            .args(&args)
            .env("LEVY_ADMIN_URL", admin)
            .env("LEVY_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .expect("levy runs")
    })
    .await
    .unwrap()
}

/// Runs the `levy` CLI against `app`'s admin API: whether it succeeded, and its standard
/// output followed by its standard error.
pub async fn cli_text(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = levy_cli(
        &app.admin_address,
        args.iter().map(|s| s.to_string()).collect(),
    )
    .await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub async fn json(res: reqwest::Response) -> Value {
    let bytes = res.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}
pub mod app;
pub mod bigcommerce;
pub mod postgres;
pub mod process;

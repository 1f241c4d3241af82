//! The BigCommerce app under test: Levy configured as a registered app, a stand-in for
//! BigCommerce's login service and APIs, and what BigCommerce's control panel does on
//! install (the auth redirect) and load (a signed JWT), over real HTTP.
#![allow(dead_code)]

use super::bigcommerce::{OAuthApp, StandIn};
use super::{spawn_with, Login, TestApp};
use levy::app::jwt::{self, SignedPayload};
use levy::app::BcUser;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "levy-client-1";
pub const CLIENT_SECRET: &str = "levy-client-secret-0123456789";
pub const PROVIDER: &str = "levy";
pub const BC_TOKEN: &str = "bc-oauth-token-7f3a9c";
pub const CODE: &str = "one-time-code-42";
pub const OWNER: u64 = 101;

pub struct AppUnderTest {
    pub app: TestApp,
    pub bc: StandIn,
}

/// The store's manual tax as BigCommerce holds it: Ohio at 5.75 %.
pub fn ohio(bc: &StandIn) {
    let mut s = bc.state.lock().unwrap();
    s.zones = vec![json!({"id": 2, "name": "Ohio", "enabled": true,
        "price_display_settings": {"show_inclusive": false, "show_both_on_detail_view": false, "show_both_on_list_view": false},
        "shopper_target_settings": {"locations": [{"country_code": "US", "subdivision_codes": ["OH"], "postal_codes": []}], "customer_groups": []}})];
    s.rates = vec![
        json!({"id": 1, "tax_zone_id": 2, "name": "Ohio State Tax", "enabled": true, "priority": 1,
        "class_rates": [{"rate": 5.75, "tax_class_id": 0}]}),
    ];
}

impl AppUnderTest {
    /// Levy with the app configured (local-development cookies when `insecure`), and
    /// the stand-in for `store` (and `others`).
    pub async fn start(store: &str, others: &[&str], insecure: bool) -> AppUnderTest {
        let bc = StandIn::start(store, PROVIDER, BC_TOKEN).with_oauth(OAuthApp {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            code: CODE.into(),
            user_id: OWNER,
            email: "owner@example.com".into(),
        });
        bc.state.lock().unwrap().extra_stores = others.iter().map(|s| s.to_string()).collect();
        ohio(&bc);
        let base = bc.base.clone();
        let app = spawn_with(|c| {
            c.bc_client_id = Some(CLIENT_ID.into());
            c.bc_client_secret = Some(CLIENT_SECRET.into());
            c.bc_provider_id = Some(PROVIDER.into());
            c.bc_login_url = base.clone();
            c.bc_api_base = base;
            c.bc_insecure_cookies = insecure;
        })
        .await;
        AppUnderTest { app, bc }
    }

    /// The install redirect BigCommerce sends the merchant's browser to.
    pub fn auth_url(&self, store: &str) -> String {
        format!(
            "{}/app/auth?code={CODE}&scope=store_v2_information&context=stores/{store}",
            self.app.address
        )
    }

    /// A JWT as BigCommerce signs it for `store` and `user`.
    pub fn jwt(&self, store: &str, user: u64) -> String {
        jwt::sign(&payload(store, user, 900, -5), CLIENT_SECRET)
    }

    /// Installs in `store`: the console's HTML, and the session cookie.
    pub async fn install(&self, store: &str) -> (String, String) {
        let res = self
            .app
            .client
            .get(self.auth_url(store))
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(&res);
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, 200, "{html}");
        (html, cookie.expect("install opens a session"))
    }

    /// The credential BigCommerce now holds for the store.
    pub fn credential(&self) -> Login {
        let c = self.bc.connection().expect("a connection was registered");
        Login {
            user: c.username,
            password: c.password,
        }
    }

    /// A provider API call (`/estimate`, `/commit`...) as BigCommerce makes it for `store`.
    pub async fn provider(
        &self,
        path: &str,
        login: &Login,
        store: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.app
            .call(
                path,
                Some(login),
                None,
                Some(store),
                serde_json::to_vec(body).unwrap(),
            )
            .await
    }

    pub async fn callback(&self, name: &str, jwt: &str) -> reqwest::Response {
        self.app
            .client
            .get(format!(
                "{}/app/{name}?signed_payload_jwt={jwt}",
                self.app.address
            ))
            .send()
            .await
            .unwrap()
    }

    pub async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let res = self
            .app
            .client
            .get(format!("{}{path}", self.app.address))
            .header("Cookie", format!("levy_console={cookie}"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    pub async fn submit(&self, cookie: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = client
            .post(format!("{}{path}", self.app.address))
            .header("Cookie", format!("levy_console={cookie}"))
            .form(fields)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

pub fn payload(store: &str, user: u64, exp_in: i64, nbf_in: i64) -> SignedPayload {
    let now = chrono::Utc::now().timestamp();
    SignedPayload {
        aud: CLIENT_ID.into(),
        iss: "bc".into(),
        sub: format!("stores/{store}"),
        exp: now + exp_in,
        nbf: now + nbf_in,
        iat: now,
        user: BcUser {
            id: user,
            email: format!("user{user}@example.com"),
        },
        owner: BcUser {
            id: OWNER,
            email: "owner@example.com".into(),
        },
        url: Some("/".into()),
    }
}

/// The value of the `levy_console` cookie a response sets.
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookie(res).and_then(|c| {
        c.split(';')
            .next()
            .and_then(|kv| kv.trim().strip_prefix("levy_console="))
            .map(String::from)
    })
}

pub fn set_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("levy_console="))
        .map(String::from)
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("the page has a form")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// An estimate of one 100.00 item shipped to Ohio.
pub fn ohio_quote(id: &str) -> Value {
    super::quote(id, &["100.00"])
}

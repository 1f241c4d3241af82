//! The BigCommerce side of onboarding: the Tax Provider Connection API (`tax.v3.yml`) to
//! register, rotate and remove a merchant's credentials, and the v3 tax APIs to pull a
//! store's manual-tax setup. Used by the `levy connect`, `connection status`,
//! `disconnect` and `rules pull` commands.
//!
//! Rotation keeps one invariant: the store never holds a credential Levy would reject.
//! A new credential is created (durably) before it is pushed, and the old one is revoked
//! only after BigCommerce confirms the new one.

use crate::client::{AdminClient, Body};
use crate::rules::{Rate, RulesDocument, Settings, TaxClass, Zone};
use reqwest::blocking::{Client, Response};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// BigCommerce's public API.
pub const DEFAULT_API_BASE: &str = "https://api.bigcommerce.com";

/// Why a call to BigCommerce failed, said for a merchant.
#[derive(Debug)]
pub enum BcError {
    /// The network failed before an answer (DNS, refused connection, TLS...).
    Unreachable(String),
    /// No answer within the timeout.
    Timeout(u64),
    /// BigCommerce answered with an error status.
    Refused { status: u16, detail: String },
    /// BigCommerce answered something that is not its documented shape.
    Unexpected(String),
}

impl fmt::Display for BcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BcError::Unreachable(d) => write!(f, "could not reach BigCommerce ({d}); check the network and --api-base"),
            BcError::Timeout(s) => write!(f, "BigCommerce did not answer within {s} seconds"),
            BcError::Refused { status: 401 | 403, .. } => write!(
                f,
                "BigCommerce refused the API token: check --token, and that its API account has the Information & Settings scope"
            ),
            BcError::Refused { status: 404, .. } => write!(
                f,
                "BigCommerce found no such store or tax provider: check --store-hash and --provider-id"
            ),
            BcError::Refused { status: 422, detail } => write!(f, "BigCommerce rejected the connection details: {detail}"),
            BcError::Refused { status, detail } if *status >= 500 => {
                write!(f, "BigCommerce had an internal error ({status}); try again later. {detail}")
            }
            BcError::Refused { status, detail } => write!(f, "BigCommerce answered {status}: {detail}"),
            BcError::Unexpected(d) => write!(f, "BigCommerce's answer was not understood: {d}"),
        }
    }
}

impl std::error::Error for BcError {}

/// `data` of the connection endpoints.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Connection {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub configured: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A client of one store's BigCommerce API.
pub struct BigCommerce {
    base: String,
    store_hash: String,
    token: String,
    timeout: u64,
    http: Client,
}

impl BigCommerce {
    pub fn new(
        api_base: &str,
        store_hash: &str,
        token: &str,
        timeout_secs: u64,
    ) -> anyhow::Result<BigCommerce> {
        if store_hash.trim().is_empty() || store_hash.contains(['/', '?', '#']) {
            anyhow::bail!("`{store_hash}` is not a store hash");
        }
        Ok(BigCommerce {
            base: api_base.trim_end_matches('/').to_string(),
            store_hash: store_hash.trim().to_string(),
            token: token.to_string(),
            timeout: timeout_secs,
            http: Client::builder()
                .timeout(Duration::from_secs(timeout_secs))
                .build()?,
        })
    }

    pub fn store_hash(&self) -> &str {
        &self.store_hash
    }

    fn url(&self, path: &str) -> String {
        format!("{}/stores/{}/v3{}", self.base, self.store_hash, path)
    }

    fn send(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Response, BcError> {
        let mut req = self
            .http
            .request(method, url)
            .header("X-Auth-Token", &self.token)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().map_err(|e| {
            if e.is_timeout() {
                BcError::Timeout(self.timeout)
            } else {
                BcError::Unreachable(e.to_string())
            }
        })?;
        if res.status().is_success() {
            Ok(res)
        } else {
            let status = res.status().as_u16();
            let text = res.text().unwrap_or_default();
            Err(BcError::Refused {
                status,
                detail: problem_detail(&text),
            })
        }
    }

    fn json(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Value, BcError> {
        let res = self.send(method, url, body)?;
        res.json().map_err(|e| {
            if e.is_timeout() {
                BcError::Timeout(self.timeout)
            } else {
                BcError::Unexpected(e.to_string())
            }
        })
    }

    fn connection_url(&self, provider_id: &str) -> String {
        self.url(&format!("/tax/providers/{}/connection", provider_id.trim()))
    }

    fn connection(v: Value) -> Result<Connection, BcError> {
        serde_json::from_value(v["data"].clone())
            .map_err(|e| BcError::Unexpected(format!("connection status: {e}")))
    }

    pub fn put_connection(
        &self,
        provider_id: &str,
        username: &str,
        password: &str,
        profile: Option<&str>,
    ) -> Result<Connection, BcError> {
        let mut body = json!({"username": username, "password": password});
        if let Some(p) = profile {
            body["profile"] = json!(p);
        }
        Self::connection(self.json(Method::PUT, &self.connection_url(provider_id), Some(&body))?)
    }

    pub fn get_connection(&self, provider_id: &str) -> Result<Connection, BcError> {
        Self::connection(self.json(Method::GET, &self.connection_url(provider_id), None)?)
    }

    pub fn delete_connection(&self, provider_id: &str) -> Result<Connection, BcError> {
        Self::connection(self.json(Method::DELETE, &self.connection_url(provider_id), None)?)
    }

    /// Every item of a v3 collection, following `meta.pagination` page by page.
    fn all<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, BcError> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let url = format!("{}?page={page}&limit=250", self.url(path));
            let v = self.json(Method::GET, &url, None)?;
            let items: Vec<T> = serde_json::from_value(v["data"].clone())
                .map_err(|e| BcError::Unexpected(format!("{path}: {e}")))?;
            let got = items.len();
            out.extend(items);
            let total_pages = v["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1);
            if page >= total_pages || got == 0 {
                return Ok(out);
            }
            page += 1;
        }
    }

    pub fn zones(&self) -> Result<Vec<Zone>, BcError> {
        self.all("/tax/zones")
    }

    pub fn rates(&self) -> Result<Vec<Rate>, BcError> {
        self.all("/tax/rates")
    }

    /// The store's tax classes, or `None` where the API offers no way to read them
    /// (the v3 Tax Classes API of `tax_classes.v3.yaml` has no GET).
    pub fn classes(&self) -> Result<Option<Vec<TaxClass>>, BcError> {
        match self.all("/tax/classes") {
            Ok(c) => Ok(Some(c)),
            Err(BcError::Refused {
                status: 404 | 405, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The `detail`/`title` of a BigCommerce problem body, or the text itself.
fn problem_detail(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return text.chars().take(300).collect();
    };
    let pick = |v: &Value| {
        let mut parts = vec![];
        for k in ["title", "detail"] {
            if let Some(s) = v[k].as_str() {
                parts.push(s.to_string());
            }
        }
        if let Some(errors) = v["errors"].as_object() {
            for (k, e) in errors {
                parts.push(format!(
                    "{k}: {}",
                    e.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                ));
            }
        }
        parts.join("; ")
    };
    let direct = pick(&v);
    if !direct.is_empty() {
        return direct;
    }
    if let Some(first) = v["errors"].as_array().and_then(|a| a.first()) {
        return pick(first);
    }
    text.chars().take(300).collect()
}

/// What `levy connect` did.
#[derive(Debug, serde::Serialize)]
pub struct Connected {
    pub account: String,
    pub store_hash: String,
    pub username: String,
    pub profile: Option<String>,
    /// Credentials of this store that the new one replaced.
    pub revoked: Vec<String>,
}

fn admin_json(body: Body) -> anyhow::Result<Value> {
    match body {
        Body::Json(v) => Ok(v),
        _ => anyhow::bail!("the admin API answered without JSON"),
    }
}

/// Levy's side of onboarding: the account's credentials and rules. The CLI reaches it
/// through the admin API ([`AdminClient`]); the BigCommerce app through the service layer
/// in process. Either way the steps of [`connect`] are the same.
pub trait Registry {
    /// Usernames of the account's credentials that were pushed to this store.
    fn store_credentials(&self, account: &str, store_hash: &str) -> anyhow::Result<Vec<String>>;
    /// Makes an account limited to some stores accept this one too (else BigCommerce's
    /// calls would get 401).
    fn allow_store(&self, account: &str, store_hash: &str) -> anyhow::Result<()>;
    /// A new credential for this store: (username, password).
    fn create_credential(
        &self,
        account: &str,
        store_hash: &str,
    ) -> anyhow::Result<(String, String)>;
    fn revoke(&self, account: &str, username: &str) -> anyhow::Result<()>;
    /// The account's rules document.
    fn rules(&self, account: &str) -> anyhow::Result<RulesDocument>;
    /// Replaces the account's rules; the document as stored.
    fn put_rules(&self, account: &str, rules: RulesDocument) -> anyhow::Result<RulesDocument>;
}

/// The store hashes an account limited to `hashes` needs so that it also accepts `store`;
/// `None` when it already does (an empty list accepts every store).
pub fn with_store(hashes: &[String], store: &str) -> Option<Vec<String>> {
    if hashes.is_empty() || hashes.iter().any(|h| h == store) {
        return None;
    }
    let mut all = hashes.to_vec();
    all.push(store.to_string());
    Some(all)
}

impl AdminClient {
    fn account_json(&self, account: &str) -> anyhow::Result<Value> {
        admin_json(self.call(Method::GET, &format!("/admin/accounts/{account}"), None)?)
    }
}

impl Registry for AdminClient {
    fn store_credentials(&self, account: &str, store_hash: &str) -> anyhow::Result<Vec<String>> {
        Ok(store_credentials(&self.account_json(account)?, store_hash))
    }

    fn allow_store(&self, account: &str, store_hash: &str) -> anyhow::Result<()> {
        let current = self.account_json(account)?;
        let hashes: Vec<String> = current["data"]["store_hashes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(all) = with_store(&hashes, store_hash) {
            self.call(
                Method::PATCH,
                &format!("/admin/accounts/{account}"),
                Some(&json!({"store_hashes": all})),
            )?;
        }
        Ok(())
    }

    fn create_credential(
        &self,
        account: &str,
        store_hash: &str,
    ) -> anyhow::Result<(String, String)> {
        let created = admin_json(self.call(
            Method::POST,
            &format!("/admin/accounts/{account}/credentials"),
            Some(&json!({"store_hash": store_hash})),
        )?)?;
        let field = |k: &str| created["data"][k].as_str().unwrap_or_default().to_string();
        Ok((field("username"), field("password")))
    }

    fn revoke(&self, account: &str, username: &str) -> anyhow::Result<()> {
        self.call(
            Method::DELETE,
            &format!("/admin/accounts/{account}/credentials/{username}"),
            None,
        )?;
        Ok(())
    }

    fn rules(&self, account: &str) -> anyhow::Result<RulesDocument> {
        let current = admin_json(self.call(
            Method::GET,
            &format!("/admin/accounts/{account}/rules"),
            None,
        )?)?;
        Ok(serde_json::from_value(current)?)
    }

    fn put_rules(&self, account: &str, rules: RulesDocument) -> anyhow::Result<RulesDocument> {
        let stored = admin_json(self.call(
            Method::PUT,
            &format!("/admin/accounts/{account}/rules"),
            Some(&serde_json::to_value(&rules)?),
        )?)?;
        Ok(serde_json::from_value(stored)?)
    }
}

/// Credentials of the account that were pushed to this store.
fn store_credentials(account: &Value, store_hash: &str) -> Vec<String> {
    account["data"]["credentials"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["store_hash"].as_str() == Some(store_hash))
                .filter_map(|c| c["username"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `levy connect`: push a fresh credential to the store; on rotation revoke the old
/// ones only after BigCommerce confirms the new one.
pub fn connect(
    admin: &dyn Registry,
    bc: &BigCommerce,
    account: &str,
    provider_id: &str,
    profile: Option<&str>,
) -> anyhow::Result<Connected> {
    let store = bc.store_hash().to_string();
    let old = admin.store_credentials(account, &store)?;
    admin.allow_store(account, &store)?;
    let (username, password) = admin.create_credential(account, &store)?;

    if let Err(refused) = bc.put_connection(provider_id, &username, &password, profile) {
        // The PUT may have taken effect even though its answer was lost: ask before revoking.
        let took_effect = matches!(&refused, BcError::Timeout(_) | BcError::Unreachable(_))
            && bc
                .get_connection(provider_id)
                .is_ok_and(|c| c.username.as_deref() == Some(&username));
        if !took_effect {
            admin.revoke(account, &username)?;
            anyhow::bail!(
                "{refused}. The new credential was revoked; the store keeps its current one."
            );
        }
    }
    let confirmed = match bc.get_connection(provider_id) {
        Ok(c) => c,
        Err(e) => anyhow::bail!(
            "BigCommerce accepted the new credential {username} but its status could not be read ({e}). Both the new and the old credentials stay valid; run `levy connect` again to finish."
        ),
    };
    if confirmed.username.as_deref() != Some(username.as_str()) {
        admin.revoke(account, &username)?;
        anyhow::bail!(
            "BigCommerce did not take the new credential (it reports username {:?}); the new credential was revoked and the store keeps its current one",
            confirmed.username.unwrap_or_default()
        );
    }
    if !confirmed.configured {
        anyhow::bail!(
            "BigCommerce holds the new credential {username} but does not report it as configured; both the new and the old credentials stay valid until it does (run `levy connection status`)"
        );
    }
    let mut revoked = Vec::new();
    for name in old.into_iter().filter(|n| n != &username) {
        admin.revoke(account, &name)?;
        revoked.push(name);
    }
    Ok(Connected {
        account: account.to_string(),
        store_hash: store,
        username,
        profile: confirmed.profile.or(profile.map(String::from)),
        revoked,
    })
}

/// `levy disconnect`: remove the connection at BigCommerce, then revoke the account's
/// credentials for that store.
pub fn disconnect(
    admin: &dyn Registry,
    bc: &BigCommerce,
    account: &str,
    provider_id: &str,
) -> anyhow::Result<Value> {
    let credentials = admin.store_credentials(account, bc.store_hash())?;
    let status = bc.delete_connection(provider_id)?;
    let mut revoked = Vec::new();
    for name in credentials {
        admin.revoke(account, &name)?;
        revoked.push(name);
    }
    Ok(json!({"store_hash": bc.store_hash(), "connection": status, "revoked": revoked}))
}

/// `levy connection status`: BigCommerce's view, and whether Levy still accepts it.
pub fn status(
    admin: &AdminClient,
    bc: &BigCommerce,
    account: &str,
    provider_id: &str,
) -> anyhow::Result<Value> {
    let current =
        admin_json(admin.call(Method::GET, &format!("/admin/accounts/{account}"), None)?)?;
    let connection = bc.get_connection(provider_id)?;
    let known = current["data"]["credentials"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["username"].as_str() == connection.username.as_deref())
    });
    Ok(
        json!({"store_hash": bc.store_hash(), "connection": connection, "levy_accepts_username": known}),
    )
}

/// `levy rules pull`: the store's zones, rates and classes as the account's rules,
/// keeping the account's own settings.
pub fn pull(
    admin: &dyn Registry,
    bc: &BigCommerce,
    account: &str,
) -> anyhow::Result<RulesDocument> {
    let zones = bc.zones()?;
    let rates = bc.rates()?;
    let classes = bc.classes()?;
    let settings: Settings = admin.rules(account)?.settings;
    let doc = crate::rules::import::bigcommerce::rules(zones, rates, classes, settings)
        .map_err(|e| anyhow::anyhow!("the store's tax setup does not load: {e}"))?;
    admin.put_rules(account, doc.into_document())
}

//! Configuration: `config.toml` (or `LEVY_CONFIG`), then `LEVY_*` environment variables.
//!
//! Every key can be set from the environment: `LEVY_DATA_DIR`, `LEVY_LISTEN`,
//! `LEVY_ADMIN_LISTEN`, `LEVY_ADMIN_TOKEN`, `LEVY_BASE_DOMAINS` (comma-separated), and
//! nested keys with a double underscore (`LEVY_LIMITS__BODY_BYTES`). Secrets never live
//! in the file: the admin token comes from the environment or a token file.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Where the embedded store lives.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The public listener BigCommerce calls (`host:port`, port 0 picks one).
    #[serde(default = "default_listen", deserialize_with = "lenient_string")]
    pub listen: String,
    /// The admin listener (SPEC section 9).
    #[serde(default = "default_admin_listen", deserialize_with = "lenient_string")]
    pub admin_listen: String,
    /// The admin bearer token; from `LEVY_ADMIN_TOKEN` only, never the file in production.
    #[serde(default, deserialize_with = "lenient_opt_string", skip_serializing)]
    pub admin_token: Option<String>,
    /// A file holding the admin token. Without a token or a file, a random token is
    /// generated into `<data_dir>/admin-token` (mode 0600) at the first start.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// Base domains for profile routing (`acme.<base domain>`).
    #[serde(default, deserialize_with = "comma_list")]
    pub base_domains: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    /// HTTP worker threads per listener; defaults to the number of cores.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Where and how quotes and accounts are kept (`[store]`).
    #[serde(default)]
    pub store: StoreConfig,
    /// Before `[store]`: sled's page cache, in MiB. Still read, as `store.cache_mb`.
    #[serde(default, skip_serializing)]
    pub cache_mb: Option<u64>,
    /// A demo account created at start when it does not exist yet.
    #[serde(default)]
    pub demo: Option<Demo>,
    /// `text` (default) or `json` log lines (`LEVY_LOG_FORMAT`); `LEVY_LOG` is the filter.
    #[serde(default)]
    pub log_format: crate::logging::LogFormat,
    /// The BigCommerce app's OAuth client id (`LEVY_BC_CLIENT_ID`); with the secret and
    /// the provider id it turns on `/app/*` (docs/bigcommerce-app.md).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub bc_client_id: Option<String>,
    /// The app's client secret: `LEVY_BC_CLIENT_SECRET` only, never the file.
    #[serde(default, skip)]
    pub bc_client_secret: Option<String>,
    /// A file holding the client secret (`LEVY_BC_CLIENT_SECRET_FILE`).
    #[serde(default)]
    pub bc_client_secret_file: Option<PathBuf>,
    /// The tax provider id BigCommerce gave Levy (`LEVY_BC_PROVIDER_ID`).
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub bc_provider_id: Option<String>,
    /// Where the OAuth code is exchanged (`LEVY_BC_LOGIN_URL`).
    #[serde(default = "default_login_url", deserialize_with = "lenient_string")]
    pub bc_login_url: String,
    /// BigCommerce's API (`LEVY_BC_API_BASE`), as for `levy connect`.
    #[serde(default = "default_api_base", deserialize_with = "lenient_string")]
    pub bc_api_base: String,
    /// The public address BigCommerce reaches Levy at (`https://tax.example.com`); the auth
    /// callback registered in the developer portal is this plus `/app/auth`. Without it,
    /// the scheme and host of the callback request are used.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub bc_app_url: Option<String>,
    /// Local development without TLS: console cookies go without `Secure` and with
    /// `SameSite=Lax` (`LEVY_BC_INSECURE_COOKIES=true`). Never in production: inside
    /// BigCommerce's iframe only `SameSite=None; Secure` cookies are sent.
    #[serde(default)]
    pub bc_insecure_cookies: bool,
}

fn default_login_url() -> String {
    "https://login.bigcommerce.com".into()
}

fn default_api_base() -> String {
    crate::connect::DEFAULT_API_BASE.into()
}

/// Which storage backend, and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreConfig {
    #[serde(default)]
    pub kind: StoreKind,
    /// The store's directory; by default the data directory itself.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// sled's page cache, in MiB.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// sled: zstd level of stored records (`LEVY_STORE__ZSTD_LEVEL`); negative levels are
    /// zstd's fast ones, `0` stores them uncompressed. Records written at any level read back.
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
    /// PostgreSQL's URL (`postgres://user@host:port/db`, `?sslmode=require` for TLS);
    /// better from `LEVY_DATABASE_URL`, which alone selects PostgreSQL.
    #[serde(default, skip_serializing)]
    pub url: Option<String>,
    /// Connections per node to PostgreSQL.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::default(),
            path: None,
            cache_mb: default_cache_mb(),
            zstd_level: default_zstd_level(),
            url: None,
            pool_size: default_pool_size(),
        }
    }
}

/// The storage backends Levy can use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Embedded, one process on one machine.
    #[default]
    Sled,
    /// A PostgreSQL database shared by any number of Levy nodes.
    Postgres,
}

/// Request limits; the defaults fit BigCommerce's largest carts with room to spare.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    #[serde(default = "default_body_bytes")]
    pub body_bytes: usize,
    #[serde(default = "default_documents")]
    pub documents: usize,
    /// Lines (items and their wrappings) per document.
    #[serde(default = "default_lines")]
    pub lines_per_document: usize,
    /// Commits and adjusts one quote may have (a void is always accepted).
    #[serde(default = "default_versions")]
    pub versions_per_quote: u32,
    /// The bytes of one version's stored response (its request is under `body_bytes`).
    #[serde(default = "default_version_bytes")]
    pub version_bytes: usize,
    /// Bodies of the admin API (rules documents of 100,000 zones, imports).
    #[serde(default = "default_admin_body_bytes")]
    pub admin_body_bytes: usize,
    /// Seconds a client has to send a request's head.
    #[serde(default = "default_head_timeout")]
    pub head_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body (408 past it).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    /// Open connections per worker thread; past it the worker accepts no more until one
    /// closes, so stalled clients cannot exhaust memory or file descriptors.
    #[serde(default = "default_connections")]
    pub connections_per_worker: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: default_body_bytes(),
            documents: default_documents(),
            lines_per_document: default_lines(),
            versions_per_quote: default_versions(),
            version_bytes: default_version_bytes(),
            admin_body_bytes: default_admin_body_bytes(),
            head_timeout_secs: default_head_timeout(),
            body_timeout_secs: default_body_timeout(),
            connections_per_worker: default_connections(),
        }
    }
}

/// The demo account of the default configuration, so that `quotes/` answers at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Demo {
    pub account: String,
    pub username: String,
    #[serde(deserialize_with = "lenient_string")]
    pub password: String,
    #[serde(default)]
    pub store_hashes: Vec<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    /// A rules document, relative to the config file's directory.
    pub rules: PathBuf,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:8081".into()
}
fn default_pool_size() -> usize {
    16
}
fn default_zstd_level() -> i32 {
    crate::store::sled_store::DEFAULT_ZSTD_LEVEL
}
fn default_cache_mb() -> u64 {
    32
}
fn default_body_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_documents() -> usize {
    100
}
fn default_lines() -> usize {
    2000
}
fn default_versions() -> u32 {
    1000
}
fn default_version_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_admin_body_bytes() -> usize {
    256 * 1024 * 1024
}
fn default_head_timeout() -> u64 {
    5
}
fn default_body_timeout() -> u64 {
    10
}
fn default_connections() -> usize {
    4096
}

impl Config {
    /// Loads `path` (when it exists) and the environment on top. Relative paths in the
    /// file are taken relative to the file's directory.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("LEVY_CONFIG").map(PathBuf::from));
        let path = explicit
            .clone()
            .unwrap_or_else(|| PathBuf::from("config.toml"));
        if explicit.is_some() && !path.exists() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        let mut figment = Figment::new();
        if path.exists() {
            figment = figment.merge(Toml::file(&path));
        }
        // Secrets are taken from the environment as they are written: figment would read
        // `000123` as the number 123 and `true` as a boolean.
        let figment = figment.merge(
            Env::prefixed("LEVY_")
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    ![
                        "config",
                        "admin_url",
                        "log",
                        "admin_token",
                        "demo__password",
                        "database_url",
                        "bc_client_secret",
                    ]
                    .contains(&key.as_str())
                })
                .split("__"),
        );
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Some(token) = std::env::var_os("LEVY_ADMIN_TOKEN") {
            config.admin_token = Some(secret(token, "LEVY_ADMIN_TOKEN")?);
        }
        // The database URL (it may hold a password) selects PostgreSQL by itself.
        if let Some(url) = std::env::var_os("LEVY_DATABASE_URL") {
            config.store.kind = StoreKind::Postgres;
            config.store.url = Some(secret(url, "LEVY_DATABASE_URL")?);
        }
        if let (Some(demo), Some(password)) =
            (&mut config.demo, std::env::var_os("LEVY_DEMO__PASSWORD"))
        {
            demo.password = secret(password, "LEVY_DEMO__PASSWORD")?;
        }
        if let Some(s) = std::env::var_os("LEVY_BC_CLIENT_SECRET") {
            config.bc_client_secret = Some(secret(s, "LEVY_BC_CLIENT_SECRET")?);
        }
        if let Some(f) = &mut config.bc_client_secret_file {
            if f.is_relative() {
                *f = base.join(&*f);
            }
        }
        if let Some(mb) = config.cache_mb.take() {
            config.store.cache_mb = mb;
        }
        if let Some(demo) = &mut config.demo {
            if demo.rules.is_relative() {
                demo.rules = base.join(&demo.rules);
            }
        }
        Ok(config)
    }

    /// A configuration for tests and embedding: everything default, this data directory,
    /// both listeners on loopback port 0, no demo account.
    pub fn ephemeral(data_dir: &Path) -> Config {
        Config {
            data_dir: data_dir.to_path_buf(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            admin_token: None,
            admin_token_file: None,
            base_domains: vec![],
            limits: Limits::default(),
            workers: Some(2),
            store: StoreConfig {
                cache_mb: 16,
                ..StoreConfig::default()
            },
            cache_mb: None,
            demo: None,
            log_format: Default::default(),
            bc_client_id: None,
            bc_client_secret: None,
            bc_client_secret_file: None,
            bc_provider_id: None,
            bc_login_url: default_login_url(),
            bc_api_base: default_api_base(),
            bc_app_url: None,
            bc_insecure_cookies: false,
        }
    }

    /// The directory of the embedded store: `store.path`, else the data directory.
    pub fn store_path(&self) -> &Path {
        self.store.path.as_deref().unwrap_or(&self.data_dir)
    }
}

/// An environment secret, exactly as written.
fn secret(value: std::ffi::OsString, name: &str) -> anyhow::Result<String> {
    value
        .into_string()
        .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8"))
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    lenient_opt_string(d)?.ok_or_else(|| serde::de::Error::custom("expected a string"))
}

/// Environment values that look like numbers still mean strings here.
fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        Str(String),
        Int(i64),
        UInt(u64),
        Float(f64),
    }
    Ok(match Option::<S>::deserialize(d)? {
        None => None,
        Some(S::Str(s)) => Some(s),
        Some(S::Int(i)) => Some(i.to_string()),
        Some(S::UInt(u)) => Some(u.to_string()),
        Some(S::Float(f)) => Some(f.to_string()),
    })
}

/// `["a", "b"]` in the file, `a,b` in the environment.
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        One(String),
        Many(Vec<String>),
    }
    Ok(match L::deserialize(d)? {
        L::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        L::Many(v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("levy.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(Some(&path)).unwrap()
    }

    #[test]
    fn the_store_section_chooses_backend_path_and_cache() {
        let c = load(
            "data_dir = \"d\"\n[store]\nkind = \"sled\"\npath = \"elsewhere\"\ncache_mb = 8\n",
        );
        assert_eq!(c.store.kind, StoreKind::Sled);
        assert_eq!(c.store_path(), Path::new("elsewhere"));
        assert_eq!(c.store.cache_mb, 8);
        let c = load("data_dir = \"d\"\n");
        assert_eq!(
            c.store_path(),
            Path::new("d"),
            "the store lives in data_dir by default"
        );
        assert_eq!(c.store.cache_mb, 32);
    }

    #[test]
    fn a_top_level_cache_mb_from_before_the_store_section_still_counts() {
        assert_eq!(load("cache_mb = 12\n").store.cache_mb, 12);
    }

    #[test]
    fn secrets_from_the_environment_are_read_as_written() {
        // The only test that sets these variables (others do not read them).
        for token in ["000123", "true", "1e3"] {
            std::env::set_var("LEVY_ADMIN_TOKEN", token);
            std::env::set_var("LEVY_DEMO__PASSWORD", token);
            let c = load(
                "[demo]\naccount = \"d\"\nusername = \"u\"\npassword = \"p\"\nrules = \"r.json\"\n",
            );
            assert_eq!(c.admin_token.as_deref(), Some(token));
            assert_eq!(c.demo.unwrap().password, token);
        }
        std::env::remove_var("LEVY_ADMIN_TOKEN");
        std::env::remove_var("LEVY_DEMO__PASSWORD");
    }

    #[test]
    fn an_unknown_store_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("levy.toml");
        std::fs::write(&path, "[store]\nkind = \"floppy\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("floppy"), "{err}");
    }
}

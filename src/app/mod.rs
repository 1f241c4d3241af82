//! The BigCommerce single-click app: what BigCommerce sends on install, load, uninstall
//! and remove-user (an OAuth code, a `signed_payload_jwt`), the console's signed session,
//! and the store's OAuth token sealed at rest. No HTTP here: `api::console` serves it,
//! `service::app` acts on it. See docs/bigcommerce-app.md.

pub mod install;
pub mod jwt;
pub mod oauth;
pub mod seal;
pub mod session;

pub use install::{AppInstall, BcUser};

use crate::config::Config;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The app's settings, all present: without a client id, secret and provider id there
/// is no app, and `/app/*` says so.
#[derive(Clone)]
pub struct AppSettings {
    pub client_id: String,
    pub client_secret: String,
    pub provider_id: String,
    pub login_url: String,
    pub api_base: String,
    /// The public address, when configured (else taken from each callback request).
    pub app_url: Option<String>,
    /// Cookies without `Secure` for plain-http local development.
    pub insecure_cookies: bool,
    /// Signs console sessions.
    pub session_key: [u8; 32],
    /// Seals stores' OAuth tokens.
    pub seal_key: [u8; 32],
}

impl std::fmt::Debug for AppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the keys, even in a debug log.
        f.debug_struct("AppSettings")
            .field("client_id", &self.client_id)
            .field("provider_id", &self.provider_id)
            .field("login_url", &self.login_url)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// A key for one purpose, derived from the client secret (HMAC-SHA256 of a label), so
/// every node of a deployment derives the same keys from the secret they share, and the
/// secret itself never signs or encrypts anything directly.
fn derive(secret: &str, purpose: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

impl AppSettings {
    pub fn new(client_id: &str, client_secret: &str, provider_id: &str) -> AppSettings {
        AppSettings {
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            provider_id: provider_id.to_string(),
            login_url: "https://login.bigcommerce.com".into(),
            api_base: crate::connect::DEFAULT_API_BASE.into(),
            app_url: None,
            insecure_cookies: false,
            session_key: derive(client_secret, "levy console session v1"),
            seal_key: derive(client_secret, "levy oauth token seal v1"),
        }
    }

    /// The app configured in `config`, `None` when it is not configured at all, an error
    /// when only part of it is.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<AppSettings>> {
        let secret = match (&config.bc_client_secret, &config.bc_client_secret_file) {
            (Some(s), _) => Some(s.trim().to_string()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| {
                        anyhow::anyhow!("LEVY_BC_CLIENT_SECRET_FILE {}: {e}", f.display())
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let parts = (
            nonempty(config.bc_client_id.clone()),
            nonempty(secret),
            nonempty(config.bc_provider_id.clone()),
        );
        let (id, secret, provider) = match parts {
            (None, None, None) => return Ok(None),
            (Some(i), Some(s), Some(p)) => (i, s, p),
            (i, s, p) => {
                let missing: Vec<&str> = [
                    (i.is_none(), "LEVY_BC_CLIENT_ID"),
                    (
                        s.is_none(),
                        "LEVY_BC_CLIENT_SECRET (or LEVY_BC_CLIENT_SECRET_FILE)",
                    ),
                    (p.is_none(), "LEVY_BC_PROVIDER_ID"),
                ]
                .into_iter()
                .filter_map(|(m, n)| m.then_some(n))
                .collect();
                anyhow::bail!(
                    "the BigCommerce app is half configured: set {}",
                    missing.join(" and ")
                );
            }
        };
        let mut settings = AppSettings::new(id.trim(), &secret, provider.trim());
        settings.login_url = config.bc_login_url.trim_end_matches('/').to_string();
        settings.api_base = config.bc_api_base.trim_end_matches('/').to_string();
        settings.app_url = config
            .bc_app_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string());
        settings.insecure_cookies = config.bc_insecure_cookies;
        Ok(Some(settings))
    }
}

/// The store hash of a BigCommerce context (`stores/{hash}`).
pub fn store_hash_of(context: &str) -> Option<&str> {
    let hash = context.strip_prefix("stores/")?;
    let ok =
        !hash.is_empty() && hash.len() <= 32 && hash.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_on_with_all_three_settings_and_refused_with_some() {
        let dir = tempfile_dir();
        let mut config = Config::ephemeral(&dir);
        assert!(AppSettings::from_config(&config).unwrap().is_none());
        config.bc_client_id = Some("id".into());
        let e = AppSettings::from_config(&config).unwrap_err().to_string();
        assert!(
            e.contains("LEVY_BC_CLIENT_SECRET") && e.contains("LEVY_BC_PROVIDER_ID"),
            "{e}"
        );
        let file = dir.join("secret");
        std::fs::write(&file, "s3cret\n").unwrap();
        config.bc_client_secret_file = Some(file);
        config.bc_provider_id = Some("levy".into());
        let s = AppSettings::from_config(&config).unwrap().unwrap();
        assert_eq!(s.client_secret, "s3cret");
        assert_eq!(
            s.session_key,
            AppSettings::new("x", "s3cret", "y").session_key
        );
        assert_ne!(s.session_key, s.seal_key);
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("levy-app-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_context_names_a_store() {
        assert_eq!(store_hash_of("stores/abc123"), Some("abc123"));
        for bad in ["abc123", "stores/", "stores/a/b", "stores/a b", "users/1"] {
            assert_eq!(store_hash_of(bad), None, "{bad}");
        }
    }
}

//! The admin API client behind the `levy` sub-commands: clear errors for a server that is
//! down, a refused token and a missing resource.

use anyhow::{anyhow, bail, Context};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct AdminClient {
    base: String,
    token: String,
    http: Client,
}

/// The answer of a call: JSON, or text (CSV).
pub enum Body {
    Json(Value),
    Text(String),
    Empty,
}

impl AdminClient {
    /// `url` defaults to `LEVY_ADMIN_URL` or `http://127.0.0.1:8081`; the token comes from
    /// `--admin-token`/`LEVY_ADMIN_TOKEN`, else `--admin-token-file`/`LEVY_ADMIN_TOKEN_FILE`, else the
    /// token file a local `levy serve` generated (`$LEVY_DATA_DIR/admin-token` or `data/admin-token`).
    pub fn new(
        url: Option<String>,
        token: Option<String>,
        token_file: Option<PathBuf>,
    ) -> anyhow::Result<AdminClient> {
        let base = url
            .unwrap_or_else(|| "http://127.0.0.1:8081".into())
            .trim_end_matches('/')
            .to_string();
        let token = match (token, token_file) {
            (Some(t), _) => t,
            (None, Some(f)) => std::fs::read_to_string(&f)
                .with_context(|| format!("reading the admin token file {}", f.display()))?,
            (None, None) => {
                let dir = std::env::var_os("LEVY_DATA_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data"));
                let f = dir.join("admin-token");
                std::fs::read_to_string(&f).map_err(|_| {
                    anyhow!("no admin token: set LEVY_ADMIN_TOKEN, or pass --admin-token-file FILE (a local `levy serve` writes one to {})", f.display())
                })?
            }
        };
        let http = Client::builder().timeout(Duration::from_secs(30)).build()?;
        Ok(AdminClient {
            base,
            token: token.trim().to_string(),
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    /// Downloads `path` into `file` (written to a temporary name, fsynced, then renamed).
    pub fn download(&self, path: &str, file: &std::path::Path) -> anyhow::Result<u64> {
        let res = self
            .request(Method::GET, path)
            .timeout(Duration::from_secs(3600))
            .send()
            .map_err(|e| {
                anyhow!(
                    "cannot reach the admin API at {}: is `levy serve` running there? ({e})",
                    self.base
                )
            })?;
        if !res.status().is_success() {
            self.answer(res)?;
            bail!("the download failed");
        }
        let mut res = res;
        let tmp = file.with_extension("partial");
        let written = {
            // A backup holds customer addresses and credential hashes: owner only.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            #[cfg(unix)]
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            // Streamed to disk as it arrives; a cut-off stream is an error, never a file.
            let written = res.copy_to(&mut f).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                anyhow!("the download was cut off ({e}); nothing was written")
            })?;
            f.sync_all()?;
            written
        };
        std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))?;
        Ok(written)
    }

    /// POSTs a body read from `input` as it is sent (a CSV import), with a long timeout.
    pub fn upload(
        &self,
        path: &str,
        content_type: &str,
        input: impl std::io::Read + Send + 'static,
    ) -> anyhow::Result<Body> {
        let res = self
            .request(Method::POST, path)
            .timeout(Duration::from_secs(3600))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(reqwest::blocking::Body::new(input))
            .send()
            .map_err(|e| {
                anyhow!(
                    "cannot send to the admin API at {}: is `levy serve` running there? ({e})",
                    self.base
                )
            })?;
        self.answer(res)
    }

    pub fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Body> {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                anyhow!(
                    "cannot reach the admin API at {}: is `levy serve` running there? ({e})",
                    self.base
                )
            } else {
                anyhow!("request to {} failed: {e}", self.base)
            }
        })?;
        self.answer(res)
    }

    fn answer(&self, res: Response) -> anyhow::Result<Body> {
        let status = res.status();
        let is_json = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let text = res.text().unwrap_or_default();
        if status.is_success() {
            return Ok(if text.is_empty() {
                Body::Empty
            } else if is_json {
                Body::Json(serde_json::from_str(&text)?)
            } else {
                Body::Text(text)
            });
        }
        let detail: Option<Value> = serde_json::from_str(&text).ok();
        let message = detail
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str())
            .unwrap_or(text.as_str())
            .to_string();
        let path = detail
            .as_ref()
            .and_then(|v| v["error"]["path"].as_str())
            .map(|p| format!(" (at {p})"))
            .unwrap_or_default();
        match status.as_u16() {
            401 => bail!("the admin token was refused: check LEVY_ADMIN_TOKEN, --admin-token or --admin-token-file"),
            404 => bail!("not found: {message}"),
            code => bail!("{code}: {message}{path}"),
        }
    }
}

//! The OAuth code exchange of the auth callback: `POST {login}/oauth2/token` with the
//! code, scope and context BigCommerce sent, for the store's access token.

use super::{AppSettings, BcUser};
use crate::connect::BcError;
use serde::Deserialize;
use std::time::Duration;

/// BigCommerce's answer. The token is kept out of `Debug`.
#[derive(Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    #[serde(default)]
    pub scope: String,
    pub user: BcUser,
    /// The store owner; absent in some answers, then the installing user stands in.
    #[serde(default)]
    pub owner: Option<BcUser>,
    pub context: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("scope", &self.scope)
            .field("user", &self.user)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// What the auth callback received.
#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    pub code: String,
    pub scope: String,
    pub context: String,
}

/// Exchanges the grant (blocking: run it off the executor).
pub fn exchange(
    settings: &AppSettings,
    grant: &Grant,
    redirect_uri: &str,
) -> Result<Token, BcError> {
    let timeout = 15;
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(timeout))
        .build()
        .map_err(|e| BcError::Unexpected(e.to_string()))?;
    let res = http
        .post(format!("{}/oauth2/token", settings.login_url))
        .header("Accept", "application/json")
        .form(&[
            ("client_id", settings.client_id.as_str()),
            ("client_secret", settings.client_secret.as_str()),
            ("code", grant.code.as_str()),
            ("scope", grant.scope.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("context", grant.context.as_str()),
        ])
        .send()
        .map_err(|e| {
            if e.is_timeout() {
                BcError::Timeout(timeout)
            } else {
                BcError::Unreachable(e.without_url().to_string())
            }
        })?;
    let status = res.status();
    if !status.is_success() {
        return Err(BcError::Refused {
            status: status.as_u16(),
            detail: "the OAuth code exchange was refused".into(),
        });
    }
    res.json::<Token>()
        .map_err(|e| BcError::Unexpected(format!("token answer: {}", e.without_url())))
}

//! What Levy keeps of an app installation, with its account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A BigCommerce control-panel user, as the OAuth exchange and the JWT name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BcUser {
    pub id: u64,
    #[serde(default)]
    pub email: String,
}

/// The app as installed in one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppInstall {
    pub store_hash: String,
    /// The store's OAuth token, sealed ([`crate::app::seal`]); `None` once uninstalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default)]
    pub scope: String,
    pub owner: BcUser,
    /// Users who may open the console: the installer, then each user BigCommerce sends
    /// to load; remove_user takes one out.
    #[serde(default)]
    pub users: Vec<BcUser>,
    pub installed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstalled_at: Option<DateTime<Utc>>,
}

impl AppInstall {
    pub fn installed(&self) -> bool {
        self.uninstalled_at.is_none()
    }

    pub fn allows(&self, user: u64) -> bool {
        self.installed() && self.users.iter().any(|u| u.id == user)
    }
}

//! The BigCommerce app's callbacks, acted on: install (OAuth token, account, credential
//! registered with the Tax Provider Connection API, the store's manual-tax rules pulled),
//! load (who may open the console), uninstall and remove-user. Console actions use the
//! other service modules like the admin API does.

use super::accounts::{self, modify, NewAccount};
use crate::accounts::Account;
use crate::app::jwt::Verified;
use crate::app::oauth::{self, Grant};
use crate::app::session::Session;
use crate::app::{seal, store_hash_of, AppInstall, AppSettings, BcUser};
use crate::connect::{self, BigCommerce, Registry};
use crate::error::{ErrorCode, LevyError};
use crate::rules::{RulesDocument, DEFAULT_ZONE_ID};
use crate::state::AppState;
use chrono::Utc;
use std::sync::Arc;

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    pub session: Session,
    /// The credential BigCommerce now holds.
    pub username: String,
    /// Zones and rates pulled from the store's manual tax, when the account had none.
    pub pulled: Option<(usize, usize)>,
}

fn upstream(what: &str, e: impl std::fmt::Display) -> LevyError {
    LevyError::new(ErrorCode::Upstream, format!("{what}: {e}"))
}

/// The account of a store: the one the app was installed into, else the one account
/// already serving that store hash, else `None`.
fn account_of(state: &AppState, store_hash: &str) -> Option<Account> {
    let directory = state.directory.load();
    if let Some(l) = directory.app_account(store_hash) {
        return Some(l.account.clone());
    }
    let mut serving = directory.serving(store_hash);
    match (serving.next(), serving.next()) {
        (Some(l), None) => Some(l.account.clone()),
        _ => None,
    }
}

/// The account of an installed store whose console `user` may open.
fn installed(state: &AppState, store_hash: &str) -> Result<Account, LevyError> {
    account_of(state, store_hash)
        .filter(|a| a.app.as_ref().is_some_and(AppInstall::installed))
        .ok_or_else(|| {
            LevyError::new(
                ErrorCode::Unauthorized,
                "Levy is not installed in this store",
            )
        })
}

/// The auth callback: exchange the grant, then set the store up. Blocking calls to
/// BigCommerce run off the executor.
pub async fn install(
    state: Arc<AppState>,
    settings: Arc<AppSettings>,
    grant: Grant,
    redirect_uri: String,
) -> Result<Installed, LevyError> {
    let store_hash = store_hash_of(&grant.context)
        .ok_or_else(|| LevyError::at(ErrorCode::BadRequest, "context", "not stores/{hash}"))?
        .to_string();
    let token = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || oauth::exchange(&settings, &grant, &redirect_uri))
            .await
            .map_err(|_| LevyError::internal())?
            .map_err(|e| upstream("BigCommerce did not grant access", e))?
    };
    if store_hash_of(&token.context) != Some(store_hash.as_str()) {
        return Err(upstream(
            "BigCommerce granted access",
            format!("to {}, not to stores/{store_hash}", token.context),
        ));
    }
    let id = match account_of(&state, &store_hash) {
        Some(a) => a.id,
        None => {
            let id = format!("bc-{}", store_hash.to_ascii_lowercase());
            if accounts::get(&state, &id).is_err() {
                accounts::create_account(
                    &state,
                    NewAccount {
                        id: id.clone(),
                        store_hashes: vec![store_hash.clone()],
                        profiles: vec![],
                    },
                )
                .await?;
            }
            id
        }
    };
    let user = token.user.clone();
    let install = AppInstall {
        store_hash: store_hash.clone(),
        access_token: Some(seal::seal(
            &settings.seal_key,
            &store_hash,
            &token.access_token,
        )),
        scope: token.scope.clone(),
        owner: token.owner.clone().unwrap_or_else(|| user.clone()),
        users: vec![user.clone()],
        installed_at: Utc::now(),
        uninstalled_at: None,
    };
    modify(&state, &id, move |current| {
        let mut account = current.ok_or_else(|| accounts::not_found("?"))?;
        account.app = Some(install);
        Ok((Some(account), ()))
    })
    .await?;

    let handle = tokio::runtime::Handle::current();
    let (username, pulled) = {
        let (state, settings, id, store_hash) = (
            state.clone(),
            settings.clone(),
            id.clone(),
            store_hash.clone(),
        );
        let access = token.access_token.clone();
        tokio::task::spawn_blocking(move || -> Result<_, LevyError> {
            let bc = BigCommerce::new(&settings.api_base, &store_hash, &access, 15)
                .map_err(|e| upstream("BigCommerce", e))?;
            let registry = InProcess { state: &state, handle };
            let connected = connect::connect(&registry, &bc, &id, &settings.provider_id, None)
                .map_err(|e| upstream("registering Levy as the store's tax provider", e))?;
            let rules = registry.rules(&id).map_err(|e| upstream("rules", e))?;
            let own_zones = rules.zones.iter().any(|z| z.id != DEFAULT_ZONE_ID);
            let pulled = if own_zones || !rules.rates.is_empty() {
                None
            } else {
                match connect::pull(&registry, &bc, &id) {
                    Ok(doc) => Some((
                        doc.zones.iter().filter(|z| z.id != DEFAULT_ZONE_ID).count(),
                        doc.rates.len(),
                    )),
                    Err(e) => {
                        // The store is connected; its rules can be set in the console.
                        tracing::warn!(account = %id, error = %e, "app install: the store's manual tax could not be pulled");
                        None
                    }
                }
            };
            Ok((connected.username, pulled))
        })
        .await
        .map_err(|_| LevyError::internal())??
    };
    tracing::info!(target: "levy::console", account = %id, store = %store_hash, user = %user.email, user_id = user.id, credential = %username, pulled = ?pulled, "app installed");
    Ok(Installed {
        session: Session::new(&id, &store_hash, user.id, &user.email),
        username,
        pulled,
    })
}

/// The load callback: a session for the user BigCommerce vouches for.
pub async fn load(state: &AppState, verified: &Verified) -> Result<Session, LevyError> {
    let account = installed(state, &verified.store_hash)?;
    let user = verified.payload.user.clone();
    if !account.app.as_ref().is_some_and(|a| a.allows(user.id)) {
        // BigCommerce sends load only for users it lets open the app (multi-user apps).
        let added = user.clone();
        modify(state, &account.id, move |current| {
            let mut account = current.ok_or_else(LevyError::internal)?;
            if let Some(app) = &mut account.app {
                app.users.push(added);
            }
            Ok((Some(account), ()))
        })
        .await?;
    }
    tracing::info!(target: "levy::console", account = %account.id, store = %verified.store_hash, user = %user.email, user_id = user.id, "console loaded");
    Ok(Session::new(
        &account.id,
        &verified.store_hash,
        user.id,
        &user.email,
    ))
}

/// The uninstall callback: the connection removed (where BigCommerce still lets the
/// token do it), every credential of the store revoked, the token forgotten. Committed
/// quotes stay for audit.
pub async fn uninstall(
    state: Arc<AppState>,
    settings: Arc<AppSettings>,
    verified: &Verified,
) -> Result<Vec<String>, LevyError> {
    let store_hash = verified.store_hash.clone();
    let Some(account) = account_of(&state, &store_hash) else {
        return Ok(vec![]);
    };
    let token = account
        .app
        .as_ref()
        .filter(|a| a.store_hash == store_hash)
        .and_then(|a| a.access_token.as_deref())
        .and_then(|t| seal::open(&settings.seal_key, &store_hash, t));
    if let Some(token) = token {
        let (settings, hash) = (settings.clone(), store_hash.clone());
        let removed = tokio::task::spawn_blocking(move || {
            BigCommerce::new(&settings.api_base, &hash, &token, 10)
                .map_err(|e| e.to_string())
                .and_then(|bc| {
                    bc.delete_connection(&settings.provider_id)
                        .map_err(|e| e.to_string())
                })
        })
        .await
        .map_err(|_| LevyError::internal())?;
        if let Err(e) = removed {
            // BigCommerce drops an uninstalled app's token and its provider connection.
            tracing::info!(account = %account.id, error = %e, "app uninstall: connection not removed at BigCommerce");
        }
    }
    let hash = store_hash.clone();
    let revoked = modify(&state, &account.id, move |current| {
        let mut account = current.ok_or_else(LevyError::internal)?;
        let revoked: Vec<String> = account
            .credentials
            .iter()
            .filter(|c| c.store_hash.as_deref() == Some(hash.as_str()))
            .map(|c| c.username.clone())
            .collect();
        account
            .credentials
            .retain(|c| c.store_hash.as_deref() != Some(hash.as_str()));
        if let Some(app) = account.app.as_mut().filter(|a| a.store_hash == hash) {
            app.access_token = None;
            app.users.clear();
            app.uninstalled_at = Some(Utc::now());
        }
        Ok((Some(account), revoked))
    })
    .await?;
    tracing::info!(target: "levy::console", account = %account.id, store = %store_hash, user = %verified.payload.user.email, revoked = ?revoked, "app uninstalled; committed quotes kept");
    Ok(revoked)
}

/// The remove-user callback: that user's console access ends (sessions included).
pub async fn remove_user(state: &AppState, verified: &Verified) -> Result<(), LevyError> {
    let Some(account) = account_of(state, &verified.store_hash) else {
        return Ok(());
    };
    let gone = verified.payload.user.id;
    modify(state, &account.id, move |current| {
        let mut account = current.ok_or_else(LevyError::internal)?;
        if let Some(app) = &mut account.app {
            app.users.retain(|u| u.id != gone);
        }
        Ok((Some(account), ()))
    })
    .await?;
    tracing::info!(target: "levy::console", account = %account.id, store = %verified.store_hash, user = %verified.payload.user.email, user_id = gone, "console user removed");
    Ok(())
}

/// Whether a console session still stands: its store installed, its user allowed.
pub fn check(state: &AppState, session: &Session) -> Result<(), LevyError> {
    let directory = state.directory.load();
    let ok = directory.get(&session.account).is_some_and(|l| {
        l.account
            .app
            .as_ref()
            .is_some_and(|a| a.store_hash == session.store_hash && a.allows(session.user_id))
    });
    if ok {
        Ok(())
    } else {
        Err(LevyError::new(
            ErrorCode::Unauthorized,
            "this console session has ended; open Levy again from the store's control panel",
        ))
    }
}

/// The user a console action is logged with.
pub fn who(session: &Session) -> BcUser {
    BcUser {
        id: session.user_id,
        email: session.email.clone(),
    }
}

/// Levy's side of [`connect::connect`] in process, through the service layer, for a
/// blocking thread: each call is run to completion on the runtime it was started from.
struct InProcess<'a> {
    state: &'a AppState,
    handle: tokio::runtime::Handle,
}

impl InProcess<'_> {
    fn run<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, LevyError>>,
    ) -> anyhow::Result<T> {
        self.handle
            .block_on(f)
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    }
}

impl Registry for InProcess<'_> {
    fn store_credentials(&self, account: &str, store_hash: &str) -> anyhow::Result<Vec<String>> {
        Ok(accounts::get(self.state, account)?
            .credentials
            .into_iter()
            .filter(|c| c.store_hash.as_deref() == Some(store_hash))
            .map(|c| c.username)
            .collect())
    }

    fn allow_store(&self, account: &str, store_hash: &str) -> anyhow::Result<()> {
        let current = accounts::get(self.state, account)?;
        if current.store_hashes.is_empty() || current.store_hashes.iter().any(|h| h == store_hash) {
            return Ok(());
        }
        let mut all = current.store_hashes;
        all.push(store_hash.to_string());
        self.run(accounts::update_account(
            self.state,
            account,
            Some(all),
            None,
        ))?;
        Ok(())
    }

    fn create_credential(
        &self,
        account: &str,
        store_hash: &str,
    ) -> anyhow::Result<(String, String)> {
        self.run(accounts::add_store_credential(
            self.state,
            account,
            Some(store_hash.to_string()),
        ))
    }

    fn revoke(&self, account: &str, username: &str) -> anyhow::Result<()> {
        self.run(accounts::revoke_credential(self.state, account, username))
    }

    fn rules(&self, account: &str) -> anyhow::Result<RulesDocument> {
        Ok(super::rules::get(self.state, account)?.into_document())
    }

    fn put_rules(&self, account: &str, rules: RulesDocument) -> anyhow::Result<RulesDocument> {
        Ok(self
            .run(super::rules::put(self.state, account, rules, false))?
            .into_document())
    }
}

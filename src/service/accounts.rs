//! Accounts and credentials: the operations behind the admin API, the CLI (through it),
//! the connection commands and the demo bootstrap. Each change is validated, written
//! durably, and only then swapped into the live directory, so the next request sees all
//! of it and no request sees part of it.

use crate::accounts::{validate_account_id, Account, Credential, RulesPool};
use crate::error::{ErrorCode, LevyError};
use crate::rules::ValidRules;
use crate::state::AppState;
use crate::store::StoreError;
use chrono::Utc;
use std::sync::Arc;

/// Fields of a new account.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewAccount {
    pub id: String,
    #[serde(default)]
    pub store_hashes: Vec<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
}

pub(crate) fn not_found(id: &str) -> LevyError {
    LevyError::new(ErrorCode::NotFound, format!("no account has id {id}"))
}

/// Applies `change` to account `id` (or creates it when `change` gets `None`), stores
/// the result durably and publishes it.
pub async fn modify<T: Send + 'static>(
    state: &AppState,
    id: &str,
    change: impl FnOnce(Option<Account>) -> Result<(Option<Account>, T), LevyError>,
) -> Result<T, LevyError> {
    let _serial = state.account_writes.lock().await;
    // The account as stored, not as this node last saw it: another node sharing the
    // store may have changed it since.
    let mut change = Some(change);
    let mut out = None;
    let next = state
        .store
        .modify_account(id, &mut |current| {
            let change = change.take().ok_or_else(LevyError::internal)?;
            // The account as read, owned: a rules change of 40,000 zones is not copied.
            let (next, value) = change(current)?;
            out = Some(value);
            Ok(next)
        })
        .await
        .map_err(StoreError::into_client_error)?;
    // Compiling 40,000 imported zones takes a while: off the executor, which keeps
    // answering estimates meanwhile.
    let live = match next {
        Some(account) => Some(
            tokio::task::spawn_blocking(move || Arc::new(RulesPool::global().live(account)))
                .await
                .map_err(|_| LevyError::internal())?,
        ),
        None => None,
    };
    let directory = state.directory.load_full();
    state.directory.store(Arc::new(directory.with(id, live)));
    out.ok_or_else(LevyError::internal)
}

fn check_names(new: &NewAccount, state: &AppState) -> Result<(), LevyError> {
    validate_account_id(&new.id)?;
    for (i, p) in new.profiles.iter().enumerate() {
        let p = p.trim();
        if p.is_empty() || p.contains(char::is_whitespace) || p.contains('/') {
            return Err(LevyError::at(
                ErrorCode::InvalidField,
                format!("profiles[{i}]"),
                "a profile is a host name or a label",
            ));
        }
        let dir = state.directory.load();
        if let crate::accounts::HostRoute::Account(owner) = dir.route(p) {
            if owner != new.id {
                return Err(LevyError::at(
                    ErrorCode::Conflict,
                    format!("profiles[{i}]"),
                    format!("profile {p} already belongs to another account"),
                ));
            }
        }
    }
    for (i, h) in new.store_hashes.iter().enumerate() {
        if h.trim().is_empty() {
            return Err(LevyError::at(
                ErrorCode::InvalidField,
                format!("store_hashes[{i}]"),
                "a store hash may not be empty",
            ));
        }
    }
    Ok(())
}

/// Creates an account with default rules and no credentials.
pub async fn create_account(state: &AppState, new: NewAccount) -> Result<Account, LevyError> {
    check_names(&new, state)?;
    let id = new.id.clone();
    modify(state, &id, move |current| {
        if current.is_some() {
            return Err(LevyError::at(
                ErrorCode::Conflict,
                "id",
                format!("account {} already exists", new.id),
            ));
        }
        let account = Account {
            id: new.id,
            store_hashes: new.store_hashes,
            profiles: new.profiles,
            credentials: vec![],
            rules: Arc::new(ValidRules::empty()),
            created_at: Utc::now(),
            app: None,
        };
        Ok((Some(account.clone()), account))
    })
    .await
}

/// Changes an account's store hashes and/or profiles.
pub async fn update_account(
    state: &AppState,
    id: &str,
    store_hashes: Option<Vec<String>>,
    profiles: Option<Vec<String>>,
) -> Result<Account, LevyError> {
    let current = state
        .directory
        .load()
        .get(id)
        .map(|l| l.account.clone())
        .ok_or_else(|| not_found(id))?;
    let check = NewAccount {
        id: id.to_string(),
        store_hashes: store_hashes.clone().unwrap_or(current.store_hashes),
        profiles: profiles.clone().unwrap_or(current.profiles),
    };
    check_names(&check, state)?;
    modify(state, id, move |current| {
        let mut account = current.ok_or_else(|| not_found(&check.id))?;
        account.store_hashes = check.store_hashes;
        account.profiles = check.profiles;
        Ok((Some(account.clone()), account))
    })
    .await
}

pub async fn delete_account(state: &AppState, id: &str) -> Result<(), LevyError> {
    modify(state, id, |current| match current {
        Some(_) => Ok((None, ())),
        None => Err(not_found(id)),
    })
    .await
}

/// Adds a credential with a generated password; returns (username, password).
pub async fn add_credential(state: &AppState, id: &str) -> Result<(String, String), LevyError> {
    add_store_credential(state, id, None).await
}

/// Adds a credential meant for one BigCommerce store (see [`Credential::store_hash`]).
pub async fn add_store_credential(
    state: &AppState,
    id: &str,
    store_hash: Option<String>,
) -> Result<(String, String), LevyError> {
    let directory = state.directory.load();
    let (mut credential, mut password) = Credential::generate(id);
    while directory.username_taken(&credential.username) {
        (credential, password) = Credential::generate(id);
    }
    credential.store_hash = store_hash;
    modify(state, id, move |current| {
        let mut account = current.ok_or_else(|| not_found(id))?;
        let username = credential.username.clone();
        account.credentials.push(credential);
        Ok((Some(account), (username, password)))
    })
    .await
}

/// Adds a credential with a known password (the demo account's documented one).
pub async fn add_known_credential(
    state: &AppState,
    id: &str,
    username: &str,
    password: &str,
) -> Result<(), LevyError> {
    if state.directory.load().username_taken(username) {
        return Ok(());
    }
    let credential = Credential::new(username.to_string(), password);
    modify(state, id, move |current| {
        let mut account = current.ok_or_else(|| not_found(id))?;
        account.credentials.push(credential);
        Ok((Some(account), ()))
    })
    .await
}

/// Revokes one credential.
pub async fn revoke_credential(
    state: &AppState,
    id: &str,
    username: &str,
) -> Result<(), LevyError> {
    modify(state, id, |current| {
        let mut account = current.ok_or_else(|| not_found(id))?;
        let before = account.credentials.len();
        account.credentials.retain(|c| c.username != username);
        if account.credentials.len() == before {
            return Err(LevyError::new(
                ErrorCode::NotFound,
                format!("account {id} has no credential {username}"),
            ));
        }
        Ok((Some(account), ()))
    })
    .await
}

/// The account `id` as it stands now.
pub fn get(state: &AppState, id: &str) -> Result<Account, LevyError> {
    state
        .directory
        .load()
        .get(id)
        .map(|l| l.account.clone())
        .ok_or_else(|| not_found(id))
}

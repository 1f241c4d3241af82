//! The live directory: every account with its compiled rules, indexed for
//! authentication, profile routing and store hashes.
//!
//! A snapshot is immutable and swapped in whole, so an estimate sees an account change
//! entirely or not at all. A changed snapshot shares all of the previous one but what the
//! change touches: the lookup maps are sharded hash maps ([`Shards`]: one probe per
//! lookup, one shard copied per changed key) and the id-ordered list of accounts is a
//! persistent B-tree (`imbl`), so one account's change costs the same with 50,000
//! accounts as with 10, and listing needs no sort.

use super::shards::Shards;
use super::{digest, Account, Credential, RulesPool};
use crate::engine::CompiledRules;
use imbl::OrdMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A credential ready to check: decoded salt and hash, inline, and the account itself,
/// so that a request's authentication touches as little memory as it can.
#[derive(Debug)]
struct Verifier {
    live: Arc<LiveAccount>,
    /// The store the credential was pushed to; it is valid only for that store.
    store_hash: Option<Box<str>>,
    salt: [u8; MAX_SALT],
    salt_len: u8,
    hash: [u8; 32],
}

/// Levy's salts are 16 bytes; room for twice that.
const MAX_SALT: usize = 32;

impl Verifier {
    fn from(live: &Arc<LiveAccount>, c: &Credential) -> Option<Verifier> {
        let decoded = hex::decode(&c.salt).ok().filter(|s| s.len() <= MAX_SALT)?;
        let mut salt = [0u8; MAX_SALT];
        salt[..decoded.len()].copy_from_slice(&decoded);
        Some(Verifier {
            live: live.clone(),
            store_hash: c.store_hash.as_deref().map(Box::from),
            salt,
            salt_len: decoded.len() as u8,
            hash: hex::decode(&c.hash).ok()?.try_into().ok()?,
        })
    }

    fn check(&self, password: &str) -> bool {
        digest(&self.salt[..self.salt_len as usize], password)
            .ct_eq(&self.hash)
            .into()
    }
}

/// An account with its compiled rules, as estimates see it.
#[derive(Debug)]
pub struct LiveAccount {
    pub account: Account,
    pub rules: Arc<CompiledRules>,
}

/// An immutable snapshot of every account, indexed for authentication and routing.
/// Cloning it is cheap (the maps share their nodes); [`Directory::with`] makes the next.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Every account in id order (listing); lookups by id go through `by_id`.
    accounts: OrdMap<Arc<str>, Arc<LiveAccount>>,
    by_id: Shards<Arc<LiveAccount>>,
    by_username: Shards<Arc<Verifier>>,
    /// Lower-cased profile (a host name or a label) -> account id.
    by_profile: Shards<Arc<str>>,
    /// Store hash -> the accounts that list it (almost always one).
    by_store_hash: Shards<Arc<[Arc<str>]>>,
    /// Store hash -> the account the BigCommerce app was installed into.
    by_app_store: Shards<Arc<str>>,
    /// Lower-cased base domains, each with a leading dot.
    base_domains: Arc<[String]>,
}

/// What the Host header says about the account.
#[derive(Debug, PartialEq, Eq)]
pub enum HostRoute<'a> {
    /// The Host selects no account: credentials alone decide.
    Any,
    /// The Host selects this account.
    Account(&'a str),
    /// A label under a base domain that names no account: 404.
    UnknownLabel,
}

impl Directory {
    /// Builds a snapshot. Every account's rules are [`crate::rules::ValidRules`] (checked
    /// when they were written and again when a record is decoded), so this cannot fail.
    pub fn build(accounts: Vec<Account>, base_domains: &[String]) -> Directory {
        let mut dir = Directory {
            base_domains: base_domains
                .iter()
                .map(|d| format!(".{}", d.trim().trim_start_matches('.').to_ascii_lowercase()))
                .filter(|d| d.len() > 1)
                .collect(),
            ..Directory::default()
        };
        let pool = RulesPool::global();
        for account in accounts {
            dir.insert(Arc::new(pool.live(account)));
        }
        dir
    }

    fn insert(&mut self, live: Arc<LiveAccount>) {
        let account = &live.account;
        let id: Arc<str> = Arc::from(account.id.as_str());
        for c in &account.credentials {
            if let Some(v) = Verifier::from(&live, c) {
                self.by_username
                    .insert(Arc::from(c.username.as_str()), Arc::new(v));
            }
        }
        for p in &account.profiles {
            self.by_profile
                .insert(Arc::from(p.trim().to_ascii_lowercase()), id.clone());
        }
        for h in &account.store_hashes {
            let mut ids: Vec<Arc<str>> = self
                .by_store_hash
                .get(h.as_str())
                .map(|ids| ids.to_vec())
                .unwrap_or_default();
            if !ids.contains(&id) {
                ids.push(id.clone());
                self.by_store_hash.insert(Arc::from(h.as_str()), ids.into());
            }
        }
        if let Some(app) = &account.app {
            self.by_app_store
                .insert(Arc::from(app.store_hash.as_str()), id.clone());
        }
        self.by_id.insert(id.clone(), live.clone());
        self.accounts.insert(id, live);
    }

    /// Takes `id` out of every index; entries another account holds stay.
    fn remove(&mut self, id: &str) {
        let Some(old) = self.accounts.remove(id) else {
            return;
        };
        self.by_id.remove(id);
        let account = &old.account;
        for c in &account.credentials {
            if self
                .by_username
                .get(c.username.as_str())
                .is_some_and(|v| v.live.account.id == id)
            {
                self.by_username.remove(c.username.as_str());
            }
        }
        for p in &account.profiles {
            let p = p.trim().to_ascii_lowercase();
            if self.by_profile.get(p.as_str()).is_some_and(|o| &**o == id) {
                self.by_profile.remove(p.as_str());
            }
        }
        for h in &account.store_hashes {
            if let Some(ids) = self.by_store_hash.get(h.as_str()) {
                let rest: Vec<Arc<str>> = ids.iter().filter(|o| &***o != id).cloned().collect();
                if rest.is_empty() {
                    self.by_store_hash.remove(h.as_str());
                } else {
                    self.by_store_hash
                        .insert(Arc::from(h.as_str()), rest.into());
                }
            }
        }
        if let Some(app) = &account.app {
            let hash = app.store_hash.as_str();
            if self.by_app_store.get(hash).is_some_and(|o| &**o == id) {
                self.by_app_store.remove(hash);
            }
        }
    }

    /// The next snapshot: this one with account `id` added, replaced (`Some`) or removed
    /// (`None`). Work and new memory are proportional to the one account, not to the
    /// directory; this snapshot is unchanged.
    pub fn with(&self, id: &str, account: Option<Arc<LiveAccount>>) -> Directory {
        let mut dir = self.clone();
        dir.remove(id);
        if let Some(live) = account {
            dir.insert(live);
        }
        dir
    }

    pub fn get(&self, id: &str) -> Option<&Arc<LiveAccount>> {
        self.by_id.get(id)
    }

    /// Every account, in id order.
    pub fn accounts(&self) -> impl Iterator<Item = &Arc<LiveAccount>> {
        self.accounts.values()
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The accounts that list `store_hash`, in no particular order.
    pub fn serving(&self, store_hash: &str) -> impl Iterator<Item = &Arc<LiveAccount>> {
        self.by_store_hash
            .get(store_hash)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.by_id.get(id))
    }

    /// The account the BigCommerce app was installed into for `store_hash`.
    pub fn app_account(&self, store_hash: &str) -> Option<&Arc<LiveAccount>> {
        self.by_app_store
            .get(store_hash)
            .and_then(|id| self.by_id.get(id))
    }

    pub fn username_taken(&self, username: &str) -> bool {
        self.by_username.contains_key(username)
    }

    /// The account whose credential this is, and the store the credential is limited to
    /// (if it was pushed to one), when the password is right. An unknown username costs
    /// the same hash as a known one.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<(&str, Option<&str>)> {
        self.authenticated(username, password)
            .map(|(live, store)| (live.account.id.as_str(), store))
    }

    /// [`Directory::authenticate`], answering the account itself.
    pub fn authenticated(
        &self,
        username: &str,
        password: &str,
    ) -> Option<(&Arc<LiveAccount>, Option<&str>)> {
        match self.by_username.get(username) {
            Some(v) if v.check(password) => Some((&v.live, v.store_hash.as_deref())),
            Some(_) => None,
            None => {
                let _ = digest(b"levy-unknown-user", password);
                None
            }
        }
    }

    /// Profile routing: what the request's Host (port removed, lower-cased) selects.
    pub fn route(&self, host: &str) -> HostRoute<'_> {
        let host = host_name(host);
        if let Some(id) = self.by_profile.get(host.as_str()) {
            return HostRoute::Account(id);
        }
        for base in self.base_domains.iter() {
            if let Some(label) = host.strip_suffix(base.as_str()) {
                if label.is_empty() {
                    return HostRoute::Any;
                }
                if let Some(live) = self.by_id.get(label) {
                    return HostRoute::Account(&live.account.id);
                }
                if let Some(id) = self.by_profile.get(label) {
                    return HostRoute::Account(id);
                }
                return HostRoute::UnknownLabel;
            }
        }
        HostRoute::Any
    }
}

/// `Acme.Tax.Example.com:443` -> `acme.tax.example.com`; IPv6 literals keep their brackets.
pub fn host_name(host: &str) -> String {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        host.split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or_else(|| host.to_string())
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| host.to_string())
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ValidRules;
    use chrono::Utc;

    fn account(id: &str, profiles: &[&str], password: &str) -> Account {
        Account {
            id: id.into(),
            store_hashes: vec![],
            profiles: profiles.iter().map(|s| s.to_string()).collect(),
            credentials: vec![Credential::new(format!("{id}-user"), password)],
            rules: Arc::new(ValidRules::empty()),
            created_at: Utc::now(),
            app: None,
        }
    }

    fn dir() -> Directory {
        Directory::build(
            vec![
                account("acme", &["acme-prod", "tax.acme.com"], "pw-acme"),
                account("globex", &[], "pw-globex"),
            ],
            &["tax.example.com".into()],
        )
    }

    #[test]
    fn passwords_check_against_salted_hashes() {
        let d = dir();
        assert_eq!(d.authenticate("acme-user", "pw-acme"), Some(("acme", None)));
        assert_eq!(d.authenticate("acme-user", "pw-globex"), None);
        assert_eq!(d.authenticate("nobody", "pw-acme"), None);
        let c = Credential::new("u".into(), "secret");
        assert!(!c.hash.contains("secret") && c.hash.len() == 64 && c.salt.len() == 32);
        assert_ne!(
            Credential::new("u".into(), "secret").hash,
            c.hash,
            "salts differ"
        );
    }

    #[test]
    fn hosts_route_by_profile_or_label() {
        let d = dir();
        assert_eq!(d.route("tax.acme.com"), HostRoute::Account("acme"));
        assert_eq!(
            d.route("ACME.tax.example.com:443"),
            HostRoute::Account("acme")
        );
        assert_eq!(
            d.route("acme-prod.tax.example.com"),
            HostRoute::Account("acme")
        );
        assert_eq!(
            d.route("globex.tax.example.com"),
            HostRoute::Account("globex")
        );
        assert_eq!(d.route("initech.tax.example.com"), HostRoute::UnknownLabel);
        assert_eq!(d.route("tax.example.com"), HostRoute::Any);
        assert_eq!(d.route("localhost:8080"), HostRoute::Any);
        assert_eq!(d.route("127.0.0.1:8080"), HostRoute::Any);
    }

    #[test]
    fn a_change_touches_only_its_account_and_leaves_the_old_snapshot_whole() {
        let before = dir();
        let mut next = account("acme", &["acme-eu"], "pw-new");
        next.store_hashes = vec!["abc123".into()];
        next.credentials[0].username = "acme-user-2".into();
        let live = Arc::new(RulesPool::global().live(next));
        let after = before.with("acme", Some(live));
        // The new snapshot: old username, profiles and routes gone, new ones in.
        assert_eq!(after.authenticate("acme-user", "pw-acme"), None);
        assert_eq!(
            after.authenticate("acme-user-2", "pw-new"),
            Some(("acme", None))
        );
        assert_eq!(after.route("tax.acme.com"), HostRoute::Any);
        assert_eq!(
            after.route("acme-eu.tax.example.com"),
            HostRoute::Account("acme")
        );
        assert_eq!(after.serving("abc123").count(), 1);
        assert_eq!(
            after.authenticate("globex-user", "pw-globex"),
            Some(("globex", None))
        );
        // The snapshot an estimate may still hold: exactly as it was.
        assert_eq!(
            before.authenticate("acme-user", "pw-acme"),
            Some(("acme", None))
        );
        assert_eq!(before.route("tax.acme.com"), HostRoute::Account("acme"));
        assert_eq!(before.serving("abc123").count(), 0);
        // Removal takes every index entry with it.
        let gone = after.with("acme", None);
        assert!(gone.get("acme").is_none() && !gone.username_taken("acme-user-2"));
        assert_eq!(
            gone.route("acme-eu.tax.example.com"),
            HostRoute::UnknownLabel
        );
        assert_eq!(gone.serving("abc123").count(), 0);
        let ids: Vec<&str> = after.accounts().map(|l| l.account.id.as_str()).collect();
        assert_eq!(ids, ["acme", "globex"], "listed in id order");
    }

    #[test]
    fn a_store_hash_served_by_two_accounts_keeps_the_other_when_one_leaves() {
        let mut a = account("a", &[], "pw");
        a.store_hashes = vec!["h1".into()];
        let mut b = account("b", &[], "pw");
        b.store_hashes = vec!["h1".into()];
        let d = Directory::build(vec![a, b], &[]);
        assert_eq!(d.serving("h1").count(), 2);
        let d = d.with("a", None);
        let left: Vec<&str> = d.serving("h1").map(|l| l.account.id.as_str()).collect();
        assert_eq!(left, ["b"]);
    }
}

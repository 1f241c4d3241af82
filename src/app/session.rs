//! The console's session: who (store, account, BigCommerce user) and until when, in a
//! cookie signed with HMAC-SHA256. The CSRF token lives inside the signed session, so a
//! page from another site, which cannot read an HttpOnly cookie, cannot know it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "levy_console";
/// How long a session lasts after load; BigCommerce's load callback opens a new one.
pub const LIFETIME_SECS: i64 = 8 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account: String,
    pub store_hash: String,
    pub user_id: u64,
    pub email: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The token every form that changes something carries back.
    pub csrf: String,
}

impl Session {
    pub fn new(account: &str, store_hash: &str, user_id: u64, email: &str) -> Session {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        Session {
            account: account.to_string(),
            store_hash: store_hash.to_string(),
            user_id,
            email: email.to_string(),
            exp: chrono::Utc::now().timestamp() + LIFETIME_SECS,
            csrf: hex::encode(nonce),
        }
    }

    /// The cookie value: `base64(json).base64(hmac)`.
    pub fn seal(&self, key: &[u8; 32]) -> String {
        let body = B64.encode(serde_json::to_vec(self).expect("a session serializes"));
        let tag = B64.encode(mac(key, &body).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The session in a cookie value, if its signature holds and it has not expired.
    pub fn open(value: &str, key: &[u8; 32]) -> Option<Session> {
        let (body, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        mac(key, body).verify_slice(&tag).ok()?;
        let session: Session = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (session.exp > chrono::Utc::now().timestamp()).then_some(session)
    }

    /// Whether a form's token is this session's (constant time).
    pub fn csrf_ok(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

fn mac(key: &[u8; 32], body: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(body.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_only_with_its_key_and_unchanged() {
        let key = [7u8; 32];
        let s = Session::new("bc-abc", "abc", 9, "m@x.y");
        let v = s.seal(&key);
        assert_eq!(Session::open(&v, &key), Some(s.clone()));
        assert_eq!(Session::open(&v, &[8u8; 32]), None);
        // The same session claiming another store, with the old signature.
        let mut other = s.clone();
        other.store_hash = "def".into();
        other.account = "bc-def".into();
        let forged = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&other).unwrap()),
            v.split_once('.').unwrap().1
        );
        assert_eq!(Session::open(&forged, &key), None);
        let mut old = s.clone();
        old.exp = chrono::Utc::now().timestamp() - 1;
        assert_eq!(Session::open(&old.seal(&key), &key), None);
        assert!(s.csrf_ok(&s.csrf) && !s.csrf_ok("") && !s.csrf_ok("00"));
    }
}

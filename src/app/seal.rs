//! A store's OAuth token, sealed before it is stored (ChaCha20-Poly1305 with a key
//! derived from the client secret, the store hash as associated data): the store, its
//! backups and its logs never hold the token in the clear, and a sealed token moved to
//! another store's record does not open.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore;

const PREFIX: &str = "v1:";

pub fn seal(key: &[u8; 32], store_hash: &str, token: &str) -> String {
    let cipher = ChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: token.as_bytes(),
                aad: store_hash.as_bytes(),
            },
        )
        .expect("sealing does not fail");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    format!("{PREFIX}{}", B64.encode(out))
}

/// The token, if `sealed` was sealed with this key for this store.
pub fn open(key: &[u8; 32], store_hash: &str, sealed: &str) -> Option<String> {
    let bytes = B64.decode(sealed.strip_prefix(PREFIX)?).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, body) = bytes.split_at(12);
    let plain = ChaCha20Poly1305::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: store_hash.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sealed_token_opens_only_for_its_store_and_key() {
        let key = [3u8; 32];
        let s = super::seal(&key, "abc", "tok-123");
        assert!(!s.contains("tok-123"));
        assert_eq!(super::open(&key, "abc", &s).as_deref(), Some("tok-123"));
        assert_eq!(super::open(&key, "def", &s), None);
        assert_eq!(super::open(&[4u8; 32], "abc", &s), None);
    }
}

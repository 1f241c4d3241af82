//! The `signed_payload_jwt` BigCommerce sends to the load, uninstall and remove-user
//! callbacks: HS256 with the app's client secret, `aud` = client id, `iss` = `bc`,
//! `sub` = `stores/{hash}`, with expiry and not-before.

use super::BcUser;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The claims Levy uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedPayload {
    pub aud: String,
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    #[serde(default)]
    pub iat: i64,
    pub user: BcUser,
    pub owner: BcUser,
    #[serde(default)]
    pub url: Option<String>,
}

/// A verified payload and the store it is for.
#[derive(Debug, Clone)]
pub struct Verified {
    pub store_hash: String,
    pub payload: SignedPayload,
}

/// Why a JWT was refused; logged, never shown in detail.
#[derive(Debug, thiserror::Error)]
#[error("signed payload refused: {0}")]
pub struct Refused(pub String);

/// Seconds of clock difference tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// Verifies `token` for this app.
pub fn verify(token: &str, client_id: &str, client_secret: &str) -> Result<Verified, Refused> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&["bc"]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let data = decode::<SignedPayload>(
        token,
        &DecodingKey::from_secret(client_secret.as_bytes()),
        &validation,
    )
    .map_err(|e| Refused(e.to_string()))?;
    let store_hash = super::store_hash_of(&data.claims.sub)
        .ok_or_else(|| Refused(format!("sub {:?} is not stores/{{hash}}", data.claims.sub)))?
        .to_string();
    Ok(Verified {
        store_hash,
        payload: data.claims,
    })
}

/// Signs a payload as BigCommerce does: for tests and the local stand-in.
pub fn sign(payload: &SignedPayload, client_secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        payload,
        &jsonwebtoken::EncodingKey::from_secret(client_secret.as_bytes()),
    )
    .expect("HS256 signing does not fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(store: &str, exp_in: i64, nbf_in: i64) -> SignedPayload {
        let now = chrono::Utc::now().timestamp();
        SignedPayload {
            aud: "client-1".into(),
            iss: "bc".into(),
            sub: format!("stores/{store}"),
            exp: now + exp_in,
            nbf: now + nbf_in,
            iat: now,
            user: BcUser {
                id: 7,
                email: "a@b.c".into(),
            },
            owner: BcUser {
                id: 7,
                email: "a@b.c".into(),
            },
            url: Some("/".into()),
        }
    }

    #[test]
    fn a_good_token_names_its_store() {
        let t = sign(&payload("abc123", 900, -5), "s3cret");
        assert_eq!(
            verify(&t, "client-1", "s3cret").unwrap().store_hash,
            "abc123"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let good = payload("abc123", 900, -5);
        // Another app's secret, another audience, another issuer, expired, not yet valid,
        // a subject that is not a store.
        assert!(verify(&sign(&good, "other"), "client-1", "s3cret").is_err());
        assert!(verify(&sign(&good, "s3cret"), "client-2", "s3cret").is_err());
        let mut p = good.clone();
        p.iss = "evil".into();
        assert!(verify(&sign(&p, "s3cret"), "client-1", "s3cret").is_err());
        let p = payload("abc123", -600, -900);
        assert!(verify(&sign(&p, "s3cret"), "client-1", "s3cret").is_err());
        let p = payload("abc123", 1800, 600);
        assert!(verify(&sign(&p, "s3cret"), "client-1", "s3cret").is_err());
        let mut p = good.clone();
        p.sub = "users/1".into();
        assert!(verify(&sign(&p, "s3cret"), "client-1", "s3cret").is_err());
        // alg=none with the same claims.
        let none = format!(
            "eyJhbGciOiJub25lIn0.{}.",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                serde_json::to_vec(&good).unwrap()
            )
        );
        assert!(verify(&none, "client-1", "s3cret").is_err());
    }
}

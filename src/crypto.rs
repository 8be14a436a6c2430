//! Secrets at rest and in links: argon2id hashes for passwords and codes, SHA-256 for
//! high-entropy tokens (used as store keys), HMAC-signed random tokens for emailed links.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1), or cheaper
/// parameters where a test asks for them. Hashing is CPU-bound: it runs on the blocking pool.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasher {
    pub fn owasp() -> Self {
        Self {
            params: Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub async fn hash(&self, secret: SecretString) -> Result<String, HashError> {
        let argon = self.argon2();
        tokio::task::spawn_blocking(move || {
            let salt = new_salt();
            argon
                .hash_password(secret.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(|e| HashError(e.to_string()))?
    }

    /// Constant-time verification against a stored PHC string. A malformed stored hash
    /// verifies as false.
    pub async fn verify(&self, secret: SecretString, phc: String) -> bool {
        let argon = self.argon2();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc)
                .map(|h| argon.verify_password(secret.expose_secret().as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Burns the same time as a verification, for accounts that do not exist, so response
    /// time does not reveal whether an address is registered.
    pub async fn verify_dummy(&self, secret: SecretString) {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let argon = self.argon2();
        let phc = DUMMY
            .get_or_init(|| {
                let salt = new_salt();
                argon
                    .hash_password(b"dummy password for timing", &salt)
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            })
            .clone();
        let _ = self.verify(secret, phc).await;
    }
}

/// A 128-bit salt from the OS CSPRNG.
fn new_salt() -> SaltString {
    SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a valid salt")
}

/// `n` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source is available");
    b
}

/// A 256-bit random token, URL-safe base64 (no padding).
pub fn random_token() -> SecretString {
    SecretString::from(B64.encode(random_bytes::<32>()))
}

/// Hex SHA-256: how high-entropy tokens (sessions, links) are stored and looked up.
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 signer for tokens that travel in links. A link token is
/// `<random>.<mac>` where the MAC binds the random part to its purpose, so a forged or
/// truncated token is refused before the store is read, and a token made for one purpose is
/// useless for another.
#[derive(Clone)]
pub struct Signer {
    key: Arc<SecretSlice<u8>>,
}

impl Signer {
    pub fn new(key: SecretSlice<u8>) -> Self {
        Self { key: Arc::new(key) }
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac
    }

    /// A fresh random token signed for `purpose`.
    pub fn issue(&self, purpose: &str) -> SecretString {
        let random = random_token();
        let tag = B64.encode(self.mac(purpose, random.expose_secret()).finalize().into_bytes());
        SecretString::from(format!("{}.{tag}", random.expose_secret()))
    }

    /// Checks the signature in constant time; `true` when the token was issued by us for `purpose`.
    pub fn verify(&self, purpose: &str, token: &str) -> bool {
        let Some((random, tag)) = token.split_once('.') else {
            return false;
        };
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        self.mac(purpose, random).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens() {
        let s = Signer::new(SecretSlice::from(vec![7u8; 32]));
        let t = s.issue("activate");
        assert!(s.verify("activate", t.expose_secret()));
        assert!(!s.verify("session", t.expose_secret()));
        let other = Signer::new(SecretSlice::from(vec![8u8; 32]));
        assert!(!other.verify("activate", t.expose_secret()));
        let mut forged = t.expose_secret().to_owned();
        forged.replace_range(0..1, if forged.starts_with('A') { "B" } else { "A" });
        assert!(!s.verify("activate", &forged));
        assert!(!s.verify("activate", "nodot"));
    }

    #[tokio::test]
    async fn argon2id_hashes_verify() {
        let h = PasswordHasher::owasp();
        let phc = h.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(SecretString::from("correct horse"), phc.clone()).await);
        assert!(!h.verify(SecretString::from("wrong horse"), phc).await);
        assert!(!h.verify(SecretString::from("x"), "garbage".into()).await);
    }
}

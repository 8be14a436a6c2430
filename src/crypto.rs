//! Secrets at rest and in links: argon2id hashes for passwords and codes, SHA-256 for
//! high-entropy tokens (used as store keys), HMAC-signed random tokens for emailed links.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// Argon2id with OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1), or cheaper
/// parameters where a test asks for them. Hashing is CPU-bound: it runs on the blocking pool,
/// at most [`PasswordHasher::permits`] at once (each takes 19 MiB; unbounded, 128 parallel
/// sign-ins took 2.8 GiB); the others wait for a permit.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    limit: usize,
    /// Hashes running on the blocking pool now, and the most seen at once.
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    /// argon2's working memory, reused: at most `limit` buffers ever exist, so the memory
    /// held stays `limit` x m KiB whatever the allocator keeps per thread.
    buffers: Arc<std::sync::Mutex<Vec<Vec<Block>>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes allowed at once by default: twice the cores, at least 2.
pub fn default_hash_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2).max(2)
}

impl PasswordHasher {
    pub fn owasp() -> Self {
        Self::owasp_with_permits(default_hash_permits())
    }

    /// OWASP parameters with at most `permits` hashes at once (at least 1).
    pub fn owasp_with_permits(permits: usize) -> Self {
        let limit = permits.max(1);
        Self {
            params: Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            active: Arc::default(),
            peak: Arc::default(),
            buffers: Arc::default(),
        }
    }

    /// How many hashes may run at once.
    pub fn permits(&self) -> usize {
        self.limit
    }

    /// How many hashes (or verifications) are running right now.
    pub fn running(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// The most hashes that ran at once since this hasher was made.
    pub fn peak_running(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Runs `f` on the blocking pool once a permit is free; the permit is held until `f` ends.
    async fn limited<T: Send + 'static>(&self, f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let (active, peak, buffers) = (self.active.clone(), self.peak.clone(), self.buffers.clone());
        tokio::task::spawn_blocking(move || {
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let mut memory = buffers.lock().ok().and_then(|mut b| b.pop()).unwrap_or_default();
            let out = f(&mut memory);
            if let Ok(mut b) = buffers.lock() {
                b.push(memory);
            }
            active.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            out
        })
        .await
        .ok()
    }

    /// Hashes into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub async fn hash(&self, secret: SecretString) -> Result<String, HashError> {
        let params = self.params.clone();
        self.limited(move |memory| {
            let salt = new_salt();
            argon2id_phc(secret.expose_secret().as_bytes(), &salt, params, memory).map_err(|e| HashError(e.to_string()))
        })
        .await
        .unwrap_or_else(|| Err(HashError("the hashing task did not finish".into())))
    }

    /// Constant-time verification against a stored PHC string. A malformed stored hash
    /// verifies as false.
    pub async fn verify(&self, secret: SecretString, phc: String) -> bool {
        self.limited(move |memory| {
            PasswordHash::new(&phc)
                .ok()
                .and_then(|h| verify_phc(secret.expose_secret().as_bytes(), &h, memory))
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Burns the same time as a verification, for accounts that do not exist, so response
    /// time does not reveal whether an address is registered.
    pub async fn verify_dummy(&self, secret: SecretString) {
        static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let phc = DUMMY
            .get_or_init(|| async {
                self.hash(SecretString::from("dummy password for timing"))
                    .await
                    .unwrap_or_default()
            })
            .await
            .clone();
        let _ = self.verify(secret, phc).await;
    }

    /// Burns the same time as a [`PasswordHasher::hash`] whose result is not needed (a signup
    /// for a registered address), so the answer's timing matches a first signup.
    pub async fn hash_dummy(&self, secret: SecretString) {
        let _ = self.hash(secret).await;
    }
}

/// `memory` with at least the blocks `params` need.
fn blocks(memory: &mut Vec<Block>, params: &Params) -> usize {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    n
}

/// Argon2id (v0x13) of `password` into a PHC string, in the given working memory.
fn argon2id_phc(
    password: &[u8],
    salt: &SaltString,
    params: Params,
    memory: &mut Vec<Block>,
) -> Result<String, argon2::password_hash::Error> {
    let salt = salt.as_salt();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let n = blocks(memory, &params);
    let out_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = Output::init_with(out_len, |out| {
        argon
            .hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..n])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(hash),
    }
    .to_string())
}

/// Recomputes a stored PHC hash's argon2 (its own algorithm, version and parameters) and
/// compares in constant time. `None` when the stored string is not a usable argon2 hash.
fn verify_phc(password: &[u8], phc: &PasswordHash<'_>, memory: &mut Vec<Block>) -> Option<bool> {
    let algorithm = Algorithm::try_from(phc.algorithm).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(phc).ok()?;
    let expected = phc.hash?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = phc.salt?.decode_b64(&mut salt_buf).ok()?;
    let n = blocks(memory, &params);
    let argon = Argon2::new(algorithm, version, params);
    let actual = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..n])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .ok()?;
    // `Output`'s equality is constant-time.
    Some(actual == expected)
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

impl Signer {
    /// The MAC of `payload` for `purpose`, alone (a form's CSRF token bound to its session).
    pub fn tag(&self, purpose: &str, payload: &str) -> String {
        B64.encode(self.mac(purpose, payload).finalize().into_bytes())
    }

    /// Whether `tag` is [`Signer::tag`] of `payload` for `purpose` (constant time).
    pub fn check_tag(&self, purpose: &str, payload: &str, tag: &str) -> bool {
        B64.decode(tag)
            .is_ok_and(|t| self.mac(purpose, payload).verify_slice(&t).is_ok())
    }

    /// Signs `parts` (which must not contain `.`) for `purpose`: `part1.part2….mac`. Binds,
    /// for example, an OAuth state to its account, provider and expiry.
    pub fn seal(&self, purpose: &str, parts: &[&str]) -> String {
        let payload = parts.join(".");
        let tag = B64.encode(self.mac(purpose, &payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The parts of a token sealed for `purpose`, or `None` when forged, truncated or sealed
    /// for another purpose.
    pub fn open<'a>(&self, purpose: &str, token: &'a str) -> Option<Vec<&'a str>> {
        let (payload, tag) = token.rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        self.mac(purpose, payload).verify_slice(&tag).ok()?;
        Some(payload.split('.').collect())
    }
}

/// Authenticated encryption for secrets the service must keep (Google refresh tokens, PKCE
/// verifiers): XChaCha20-Poly1305 with a random 192-bit nonce per message, stored as
/// `v1:<base64(nonce || ciphertext)>`. `context` (e.g. the account ID) is bound as associated
/// data, so a ciphertext moved to another record does not decrypt.
#[derive(Clone)]
pub struct Encryptor {
    key: Arc<SecretSlice<u8>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the stored secret could not be decrypted")]
pub struct DecryptError;

impl Encryptor {
    pub fn new(key: SecretSlice<u8>) -> Self {
        Self { key: Arc::new(key) }
    }

    fn cipher(&self) -> chacha20poly1305::XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit as _;
        let key: [u8; 32] = Sha256::digest(self.key.expose_secret()).into();
        chacha20poly1305::XChaCha20Poly1305::new(&key.into())
    }

    pub fn encrypt(&self, plaintext: &SecretString, context: &str) -> String {
        use chacha20poly1305::aead::{Aead as _, Payload};
        let nonce = random_bytes::<24>();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("v1:{}", B64.encode(out))
    }

    pub fn decrypt(&self, stored: &str, context: &str) -> Result<SecretString, DecryptError> {
        use chacha20poly1305::aead::{Aead as _, Payload};
        let raw = B64
            .decode(stored.strip_prefix("v1:").ok_or(DecryptError)?)
            .map_err(|_| DecryptError)?;
        if raw.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, sealed) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| DecryptError)?;
        let plain = self
            .cipher()
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| DecryptError)
    }
}

/// Makes aws-lc-rs (the AWS SDK's TLS crypto) the process's rustls provider, so HTTP clients
/// built with reqwest share the SDK's one TLS stack. Idempotent; call before building one.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first: that one is used, which is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_parts() {
        let s = Signer::new(SecretSlice::from(vec![7u8; 32]));
        let t = s.seal("state:microsoft", &["acc", "1700000000", "rnd"]);
        assert_eq!(s.open("state:microsoft", &t), Some(vec!["acc", "1700000000", "rnd"]));
        assert_eq!(s.open("state:google", &t), None);
        assert_eq!(s.open("state:microsoft", &t.replace("acc", "acd")), None);
        assert_eq!(s.open("state:microsoft", "no-dot"), None);
    }

    #[test]
    fn encrypted_secrets() {
        let e = Encryptor::new(SecretSlice::from(vec![9u8; 32]));
        let c = e.encrypt(&SecretString::from("1//refresh-token"), "account-1");
        assert!(c.starts_with("v1:") && !c.contains("refresh"));
        assert_eq!(e.decrypt(&c, "account-1").unwrap().expose_secret(), "1//refresh-token");
        assert!(e.decrypt(&c, "account-2").is_err());
        assert!(
            Encryptor::new(SecretSlice::from(vec![8u8; 32]))
                .decrypt(&c, "account-1")
                .is_err()
        );
        assert_ne!(c, e.encrypt(&SecretString::from("1//refresh-token"), "account-1"));
    }

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_permitted_hashes_run_at_once() {
        let h = PasswordHasher::owasp_with_permits(2);
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        h.hash(SecretString::from("correct horse")).await.is_ok()
                    } else {
                        h.verify_dummy(SecretString::from("wrong horse")).await;
                        true
                    }
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        let peak = h.peak_running();
        assert!((1..=2).contains(&peak), "peak {peak} hashes at once");
        assert!(
            h.buffers.lock().unwrap().len() <= 2,
            "one working memory per permit at most"
        );
        assert_eq!(h.running(), 0);
        assert!(default_hash_permits() >= 2);
    }

    #[tokio::test]
    async fn argon2id_hashes_verify() {
        let h = PasswordHasher::owasp();
        let phc = h.hash(SecretString::from("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(SecretString::from("correct horse"), phc.clone()).await);
        assert!(!h.verify(SecretString::from("wrong horse"), phc.clone()).await);
        assert!(!h.verify(SecretString::from("x"), "garbage".into()).await);
        // Hashes made by the argon2 crate's own API (and other parameters) verify too.
        use argon2::password_hash::PasswordHasher as _;
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse", &new_salt())
        .unwrap()
        .to_string();
        assert!(h.verify(SecretString::from("correct horse"), cheap.clone()).await);
        assert!(!h.verify(SecretString::from("wrong horse"), cheap).await);
        // And ours verify with the crate's own verifier.
        use argon2::password_hash::PasswordVerifier as _;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &PasswordHash::new(&phc).unwrap())
                .is_ok()
        );
    }
}

//! Sealing secrets at rest (cluster CA keys, broker keys, the control plane's Kafka
//! password, webhook secrets): ChaCha20-Poly1305 with keys derived by HKDF-SHA256 from the
//! operator's sealing keys (`TIDEWAY_SEAL_KEYS`), apart from the signing secret. The first
//! key seals; every key opens, so a key is rotated by putting a new one first, running
//! `control-plane reseal`, then dropping the old one. A sealed value is `TWS2`, the
//! sealing key's id (8 bytes), the nonce and the ciphertext; tampering fails to open.
//! Values sealed before keys had ids (nonce and ciphertext only, with the key derived
//! from the signing secret) still open, until `reseal` rewrites them.

use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    ChaCha20Poly1305, Key, Nonce,
};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;
const CONTEXT: &[u8] = b"tideway sealed secrets v1";
/// The start of a value sealed with a key id.
const MAGIC: &[u8; 4] = b"TWS2";
const ID_LEN: usize = 8;

/// One sealing key and its id (the first bytes of the SHA-256 of the derived key).
#[derive(Clone)]
struct SealKey {
    id: [u8; ID_LEN],
    cipher: ChaCha20Poly1305,
}

impl SealKey {
    fn derive(secret: &[u8]) -> SealKey {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, secret)
            .expand(CONTEXT, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let digest = Sha256::digest(key);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        SealKey {
            id,
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    fn open(&self, nonce_and_ciphertext: &[u8]) -> Option<Vec<u8>> {
        if nonce_and_ciphertext.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .ok()
    }
}

/// Seals with the newest key and opens with any.
#[derive(Clone)]
pub struct Sealer {
    /// Newest first; the first seals.
    keys: Vec<SealKey>,
    /// The key of values sealed before keys had ids, when it is still accepted.
    legacy: Option<SealKey>,
}

impl Sealer {
    /// One key, used for sealing and opening (and for values without a key id).
    pub fn new(secret: &[u8]) -> Sealer {
        let key = SealKey::derive(secret);
        Sealer {
            keys: vec![key.clone()],
            legacy: Some(key),
        }
    }

    /// The operator's keys, newest first, and the secret older values were sealed with.
    pub fn with_keys(keys: &[String], legacy_secret: &[u8]) -> Sealer {
        if keys.is_empty() {
            return Sealer::new(legacy_secret);
        }
        Sealer {
            keys: keys.iter().map(|k| SealKey::derive(k.as_bytes())).collect(),
            legacy: Some(SealKey::derive(legacy_secret)),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend(
            key.cipher
                .encrypt(&nonce, plaintext)
                .expect("encryption into memory cannot fail"),
        );
        out
    }

    /// The plaintext, or an error when no key of this sealer sealed it or it changed.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if let Some(rest) = sealed.strip_prefix(MAGIC.as_slice()) {
            if rest.len() >= ID_LEN {
                let (id, body) = rest.split_at(ID_LEN);
                if let Some(plain) = self
                    .keys
                    .iter()
                    .chain(&self.legacy)
                    .find(|k| k.id == id)
                    .and_then(|k| k.open(body))
                {
                    return Ok(plain);
                }
            }
        }
        self.legacy
            .as_ref()
            .and_then(|k| k.open(sealed))
            .ok_or_else(|| "cannot open a sealed secret: wrong key or damaged value".into())
    }

    /// Opens a sealed UTF-8 text.
    pub fn open_text(&self, sealed: &[u8]) -> Result<String, String> {
        String::from_utf8(self.open(sealed)?).map_err(|_| "a sealed text is not UTF-8".into())
    }

    /// Whether `sealed` was sealed by another key than the newest (a `reseal` rewrites it).
    pub fn is_stale(&self, sealed: &[u8]) -> bool {
        sealed.get(..MAGIC.len() + ID_LEN)
            != Some(
                [MAGIC.as_slice(), self.keys[0].id.as_slice()]
                    .concat()
                    .as_slice(),
            )
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(keys redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNING: &[u8] = b"the signing secret, of thirty-two characters";

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_unchanged() {
        let a = Sealer::new(b"a secret of at least thirty-two characters");
        let b = Sealer::new(b"another secret of thirty-two characters!");
        let sealed = a.seal(b"private key");
        assert!(
            !sealed.windows(11).any(|w| w == b"private key"),
            "not in clear"
        );
        assert_eq!(a.open(&sealed).expect("opens"), b"private key");
        assert!(b.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().expect("bytes") ^= 1;
        assert!(a.open(&tampered).is_err());
        assert_ne!(a.seal(b"x"), a.seal(b"x"), "fresh nonce each time");
    }

    #[test]
    fn keys_rotate_newest_first_and_old_values_still_open() {
        let old = Sealer::with_keys(&["old-sealing-key-of-thirty-two-chars!!".into()], SIGNING);
        let sealed_old = old.seal(b"ca key");
        let rotated = Sealer::with_keys(
            &[
                "new-sealing-key-of-thirty-two-chars!!".into(),
                "old-sealing-key-of-thirty-two-chars!!".into(),
            ],
            SIGNING,
        );
        assert_eq!(rotated.open(&sealed_old).expect("old key opens"), b"ca key");
        assert!(rotated.is_stale(&sealed_old));
        let resealed = rotated.seal(b"ca key");
        assert!(!rotated.is_stale(&resealed));
        let only_new =
            Sealer::with_keys(&["new-sealing-key-of-thirty-two-chars!!".into()], SIGNING);
        assert_eq!(only_new.open(&resealed).expect("opens"), b"ca key");
        assert!(
            only_new.open(&sealed_old).is_err(),
            "the dropped key is gone"
        );
    }

    #[test]
    fn values_sealed_with_the_signing_secret_open_until_resealed() {
        // The format before sealing keys: nonce and ciphertext, key from the signing secret.
        let key = SealKey::derive(SIGNING);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut legacy = nonce.to_vec();
        legacy.extend(
            key.cipher
                .encrypt(&nonce, b"password".as_slice())
                .expect("seal"),
        );
        let sealer = Sealer::with_keys(&["a-separate-sealing-key-32-characters".into()], SIGNING);
        assert_eq!(sealer.open(&legacy).expect("opens"), b"password");
        assert!(sealer.is_stale(&legacy));
        let resealed = sealer.seal(b"password");
        let signing_only = Sealer::new(SIGNING);
        assert!(
            signing_only.open(&resealed).is_err(),
            "the signing secret alone no longer opens it"
        );
    }
}

//! Sealing secrets at rest (cluster CA keys, broker keys, the control plane's Kafka
//! password): ChaCha20-Poly1305 with a key derived by HKDF-SHA256 from the control
//! plane's secret. A sealed value is nonce || ciphertext; tampering fails to open.

use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    ChaCha20Poly1305, Key, Nonce,
};
use hkdf::Hkdf;
use sha2::Sha256;

const NONCE_LEN: usize = 12;
const CONTEXT: &[u8] = b"tideway sealed secrets v1";

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret: &[u8]) -> Sealer {
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, secret)
            .expand(CONTEXT, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plaintext)
                .expect("encryption into memory cannot fail"),
        );
        out
    }

    /// The plaintext, or an error when the value was sealed with another key or changed.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN {
            return Err("the sealed value is truncated".into());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| "cannot open a sealed secret: wrong key or damaged value".into())
    }

    /// Opens a sealed UTF-8 text.
    pub fn open_text(&self, sealed: &[u8]) -> Result<String, String> {
        String::from_utf8(self.open(sealed)?).map_err(|_| "a sealed text is not UTF-8".into())
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(key redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Secrets at rest: AES-256-GCM sealing under the master key, and keys derived from it.
//!
//! Every sealed value is bound to the record that owns it (associated data), so a ciphertext
//! copied to another row does not open. Where the master key comes from is [`key`].

pub mod aad;
pub mod key;
pub mod rotate;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;

pub use key::{existing_master_key, load_master_key, parse_key, replace_key_file};

/// Errors of key handling and sealing.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// `PATCHBAY_SECRET_KEY` (or the key file) is not 32 bytes of hex or base64.
    #[error("PATCHBAY_SECRET_KEY must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// Path of the key file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Ciphertext is damaged, or sealed with another key or for another record.
    #[error("cannot decrypt: wrong key, or damaged data")]
    Decrypt,
    /// The plaintext is not the JSON that was sealed.
    #[error("sealed value is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The master key and what is derived from it.
#[derive(Clone)]
pub struct Secrets {
    cipher: Aes256Gcm,
    cursor_key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// From a 32-byte master key.
    pub fn new(key: [u8; 32]) -> Self {
        let cipher = Aes256Gcm::new_from_slice(&key).expect("32-byte key");
        Self {
            cipher,
            cursor_key: derive(&key, b"patchbay/cursor/v1"),
        }
    }

    /// Encrypts `plaintext`, bound to `aad` (the owning record's id): nonce || ciphertext.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`Secrets::seal`] produced for the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < 12 {
            return Err(SecretsError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| SecretsError::Decrypt)
    }

    /// Seals a value as JSON.
    pub fn seal_json(&self, value: &impl Serialize, aad: &[u8]) -> Vec<u8> {
        self.seal(&serde_json::to_vec(value).expect("JSON serializes"), aad)
    }

    /// Opens a value sealed by [`Secrets::seal_json`].
    pub fn open_json<T: DeserializeOwned>(&self, sealed: &[u8], aad: &[u8]) -> Result<T, SecretsError> {
        Ok(serde_json::from_slice(&self.open(sealed, aad)?)?)
    }

    /// Seals an account's credentials (bound to the account id).
    pub fn seal_credentials(&self, account_id: &str, credentials: &Value) -> Vec<u8> {
        self.seal_json(credentials, &aad::credentials(account_id))
    }

    /// Opens an account's credentials.
    pub fn open_credentials(&self, account_id: &str, sealed: &[u8]) -> Result<Value, SecretsError> {
        self.open_json(sealed, &aad::credentials(account_id))
    }

    /// Key for signing pagination cursors.
    pub fn cursor_key(&self) -> &[u8; 32] {
        &self.cursor_key
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_is_bound_to_aad_and_key() {
        let s = Secrets::new([7; 32]);
        let sealed = s.seal(b"{\"api_key\":\"k\"}", b"acct_1");
        assert!(
            !sealed.windows(7).any(|w| w == b"api_key"),
            "plaintext must not appear"
        );
        assert_eq!(s.open(&sealed, b"acct_1").unwrap(), b"{\"api_key\":\"k\"}");
        assert!(s.open(&sealed, b"acct_2").is_err());
        assert!(Secrets::new([8; 32]).open(&sealed, b"acct_1").is_err());
        let creds = serde_json::json!({"api_key": "k"});
        let sealed = s.seal_credentials("acct_1", &creds);
        assert_eq!(s.open_credentials("acct_1", &sealed).unwrap(), creds);
        assert!(s.open_credentials("acct_2", &sealed).is_err());
    }
}

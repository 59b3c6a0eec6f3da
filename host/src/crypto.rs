//! Secrets at rest: the master key, AES-256-GCM sealing of credentials, and derived keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Errors of key handling and sealing.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// `PATCHBAY_SECRET_KEY` is not 32 bytes of hex or base64.
    #[error("PATCHBAY_SECRET_KEY must be 32 bytes, as 64 hex digits or base64")]
    BadKey,
    /// The key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// Path of the key file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Ciphertext is damaged, or sealed with another key or for another record.
    #[error("cannot decrypt: wrong key, or damaged data")]
    Decrypt,
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
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| CryptoError::Decrypt)
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

/// Parses a key written as 64 hex digits or base64 of 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .ok_or(CryptoError::BadKey)?;
    bytes.try_into().map_err(|_| CryptoError::BadKey)
}

/// Where the generated key lives for a database URL (`None` for in-memory databases).
pub fn key_file_for(database_url: &str) -> Option<PathBuf> {
    crate::config::beside_database(database_url, "key")
}

/// The master key: `PATCHBAY_SECRET_KEY`, else the key file beside the database (created 0600
/// with a warning when missing), else (in-memory databases) an ephemeral key.
pub fn load_or_create_key(database_url: &str) -> Result<[u8; 32], CryptoError> {
    if let Ok(text) = std::env::var("PATCHBAY_SECRET_KEY") {
        return parse_key(&text);
    }
    let Some(path) = key_file_for(database_url) else {
        tracing::warn!("PATCHBAY_SECRET_KEY is unset and the database is in memory: using an ephemeral key");
        return Ok(random_key());
    };
    read_or_create_key_file(&path)
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], CryptoError> {
    let io = |source| CryptoError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_key();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
            tracing::warn!(
                key_file = %path.display(),
                "PATCHBAY_SECRET_KEY is unset: generated a master key file; back it up, credentials cannot be decrypted without it"
            );
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
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
    }

    #[test]
    fn key_parsing_and_key_file() {
        assert_eq!(parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_key("short").is_err());
        assert_eq!(
            key_file_for("sqlite://data/p.db?mode=rwc").unwrap(),
            PathBuf::from("data/p.db.key")
        );
        assert_eq!(key_file_for("sqlite::memory:"), None);
        let dir = std::env::temp_dir().join(format!("pb-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.db.key");
        let _ = std::fs::remove_file(&path);
        let k1 = read_or_create_key_file(&path).unwrap();
        let k2 = read_or_create_key_file(&path).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

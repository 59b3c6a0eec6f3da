//! Where the master key comes from: given by the embedding program, `PATCHBAY_SECRET_KEY`, or a
//! `0600` key file (created with a warning when missing), else an ephemeral key. The file's
//! location is configuration ([`crate::config::Config::key_file`]); nothing here knows about
//! databases.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use rand::RngCore;

use super::SecretsError;
use crate::telemetry::emit;
use crate::telemetry::events::{SECRETS_EPHEMERAL_KEY, SECRETS_KEY_GENERATED};

/// Parses a key written as 64 hex digits or base64 of 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; 32], SecretsError> {
    let text = text.trim();
    let bytes = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .ok_or(SecretsError::BadKey)?;
    bytes.try_into().map_err(|_| SecretsError::BadKey)
}

/// The master key: `given`, else `PATCHBAY_SECRET_KEY`, else the key file (created `0600` with a
/// warning when missing), else (no key file) an ephemeral key.
pub fn load_master_key(given: Option<[u8; 32]>, key_file: Option<&Path>) -> Result<[u8; 32], SecretsError> {
    if let Some(key) = given {
        return Ok(key);
    }
    if let Ok(text) = std::env::var("PATCHBAY_SECRET_KEY") {
        return parse_key(&text);
    }
    let Some(path) = key_file else {
        emit!(WARN, SECRETS_EPHEMERAL_KEY);
        return Ok(random_key());
    };
    read_or_create_key_file(path)
}

/// The master key a host would use, without creating one: `PATCHBAY_SECRET_KEY`, else the key
/// file; `Ok(None)` when neither exists (key rotation must not invent the old key).
pub fn existing_master_key(key_file: Option<&Path>) -> Result<Option<[u8; 32]>, SecretsError> {
    if let Ok(text) = std::env::var("PATCHBAY_SECRET_KEY") {
        return parse_key(&text).map(Some);
    }
    let Some(path) = key_file else { return Ok(None) };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretsError::KeyFile {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replaces a key file's key (written beside it `0600`, then renamed over it: never half-written).
pub fn replace_key_file(path: &Path, key: &[u8; 32]) -> Result<(), SecretsError> {
    let io = |source| SecretsError::KeyFile {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("key-new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], SecretsError> {
    let io = |source| SecretsError::KeyFile {
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
            emit!(WARN, SECRETS_KEY_GENERATED, key_file = %path.display());
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parsing_and_key_file() {
        assert_eq!(parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(parse_key("short").is_err());
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
        assert_eq!(load_master_key(Some([3; 32]), Some(&path)).unwrap(), [3; 32]);
    }
}

//! The master key against the database: the key check every host makes at startup (a host with
//! another key is refused before it seals anything), and `patchbay secrets rotate`, which
//! re-seals every stored secret under a new key in one transaction.

use super::{Secrets, SecretsError, aad};
use crate::store::{Sealed, Store, StoreError};

/// Why the key does not fit the database, or a rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database's key check does not open with this key.
    #[error(
        "the master key does not open this database's secrets: another key sealed them (was it rotated \
         with `patchbay secrets rotate`? every host needs the new PATCHBAY_SECRET_KEY)"
    )]
    WrongKey,
    /// A stored secret does not open with the current key (nothing was changed).
    #[error("{kind:?} {id} does not open with the current key: {source} (nothing was re-sealed)")]
    Unreadable {
        /// What kind of secret.
        kind: Sealed,
        /// Its row.
        id: String,
        /// Why.
        source: SecretsError,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the key check seals.
const CHECK_VALUE: &[u8] = b"patchbay master key check v1";

/// Checks the key against the database's key check, storing one on first use.
pub async fn check_key(store: &Store, secrets: &Secrets) -> Result<(), KeyError> {
    if store.key_check().await?.is_none() {
        store
            .init_key_check(&secrets.seal(CHECK_VALUE, aad::KEY_CHECK))
            .await?;
    }
    // Read again: another host starting at the same time may have stored its own first.
    let sealed = store.key_check().await?.ok_or(KeyError::WrongKey)?;
    match secrets.open(&sealed, aad::KEY_CHECK) {
        Ok(value) if value == CHECK_VALUE => Ok(()),
        _ => Err(KeyError::WrongKey),
    }
}

/// Re-seals every stored secret from `old` to `new` in one transaction; how many. Hosts must be
/// stopped meanwhile (a running host keeps sealing with the key it started with) and started
/// again with `new`.
pub async fn rotate(store: &Store, old: &Secrets, new: &Secrets) -> Result<usize, KeyError> {
    check_key(store, old).await?;
    let reseal = |kind: Sealed, id: &str, sealed: &[u8]| -> Result<Vec<u8>, KeyError> {
        let aad = aad_of(kind, id);
        let plain = old.open(sealed, &aad).map_err(|source| KeyError::Unreadable {
            kind,
            id: id.to_owned(),
            source,
        })?;
        Ok(new.seal(&plain, &aad))
    };
    store.reseal_all(&reseal).await?
}

/// The associated data a kind of secret is sealed with.
fn aad_of(kind: Sealed, id: &str) -> Vec<u8> {
    match kind {
        Sealed::Credentials => aad::credentials(id),
        Sealed::OAuthApp => aad::oauth_app(id),
        Sealed::OAuthState => aad::OAUTH_STATE.to_vec(),
        Sealed::WebhookSecret => aad::webhook_secret(id),
        Sealed::EndpointSecret => aad::endpoint_secret(id),
        Sealed::KeyCheck => aad::KEY_CHECK.to_vec(),
    }
}

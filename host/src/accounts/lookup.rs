//! Finding an account on behalf of a caller: tenant tokens see only their tenant's accounts, and
//! an account they may not see does not exist for them (no existence leak).

use super::error::AccountsError;
use super::model::AccountRow;
use super::principal::Principal;
use crate::store::Store;

/// Loads an account visible to `principal` (`NotFound` otherwise). `cached` allows a copy up to
/// the store's cache TTL old (the hot path of vendor calls).
pub async fn visible_account(
    store: &Store,
    principal: &Principal,
    id: &str,
    cached: bool,
) -> Result<AccountRow, AccountsError> {
    let found = if cached {
        store.account_cached(id).await?
    } else {
        store.account(id).await?
    };
    match found {
        Some(a) if principal.can_see(&a.tenant_id) => Ok(a),
        _ => Err(AccountsError::NotFound(id.to_owned())),
    }
}

/// Reads an account fresh from the database (`NotFound` when it is gone).
pub async fn reload(store: &Store, id: &str) -> Result<AccountRow, AccountsError> {
    store
        .account(id)
        .await?
        .ok_or_else(|| AccountsError::NotFound(id.to_owned()))
}

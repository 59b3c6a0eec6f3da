//! Connecting an account: the manifest's post-install steps, then its validation requests, then
//! the transition they decide (`active`, `post_install_error`, `validation_error`).

use patchbay_engine::lifecycle::CompiledStep;
use patchbay_engine::{Account, Payload, RemoteErrorCode};

use crate::registry::LiveConnector;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::lifecycle::AccountEvent;
use crate::refresh::Reason;
use crate::server::AppState;
use crate::store::{AccountRow, AccountStatus, Transition, now_ms};

/// Runs post-install and validation for an account in `connecting` (or, for a retry, in an error
/// state) and moves it on. `reactivating`: the account was in `needs_reauth` before this reconnect.
pub async fn install(
    state: &AppState,
    account: AccountRow,
    actor: &str,
    reactivating: bool,
) -> Result<AccountRow, ApiError> {
    let connector = state.registry.get(&account.connector).ok_or_else(|| {
        ApiError::remote_code(
            RemoteErrorCode::ConnectorError,
            format!("connector {:?} is not loaded", account.connector),
        )
    })?;
    // An OAuth token that expired while the account sat in an error state is refreshed first.
    let account = if account.token_expires_at.is_some() {
        match state
            .refresher
            .refresh(state, &account.id, Reason::Expiring, actor)
            .await
        {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(account = %account.id, error = %e, "patchbay.accounts.install_refresh_failed");
                account
            }
        }
    } else {
        account
    };
    let credentials = state.open_credentials(&account)?;
    let mut context = account.context.clone();
    let lifecycle = connector.lifecycle();
    let phases = [
        (
            &lifecycle.post_install,
            AccountStatus::PostInstallError,
            AccountEvent::PostInstallError,
            "post_install",
        ),
        (
            &lifecycle.validation,
            AccountStatus::ValidationError,
            AccountEvent::ValidationError,
            "validation",
        ),
    ];
    for (steps, failed_status, failed_event, phase) in phases {
        for step in steps {
            let engine_account = Account {
                credentials: &credentials,
                context: &context,
                base_url: account.base_url.as_deref(),
            };
            match run_step(state, &connector, step, &engine_account).await {
                Ok(result) => match step.context_updates(&result) {
                    Ok(updates) => {
                        if let Value::Object(ctx) = &mut context {
                            ctx.extend(updates);
                        }
                    }
                    Err(message) => {
                        return fail(
                            state,
                            &account,
                            failed_status,
                            failed_event,
                            phase,
                            step,
                            message,
                            context,
                            actor,
                        )
                        .await;
                    }
                },
                Err(message) => {
                    return fail(
                        state,
                        &account,
                        failed_status,
                        failed_event,
                        phase,
                        step,
                        message,
                        context,
                        actor,
                    )
                    .await;
                }
            }
        }
    }
    let event = if reactivating {
        AccountEvent::Reactivated
    } else {
        AccountEvent::Active
    };
    let mut t = Transition::new(&account, AccountStatus::Active, event, actor);
    t.context = Some(context);
    state.store.transition(&t).await.map_err(ApiError::store)?;
    reload(state, &account.id).await
}

#[allow(clippy::too_many_arguments)]
async fn fail(
    state: &AppState,
    account: &AccountRow,
    status: AccountStatus,
    event: AccountEvent,
    phase: &str,
    step: &CompiledStep,
    message: String,
    context: Value,
    actor: &str,
) -> Result<AccountRow, ApiError> {
    tracing::warn!(account = %account.id, phase, step = %step.name, %message, "patchbay.accounts.install_failed");
    if account.status == status {
        // A retry that fails the same way: no transition, but the detail is refreshed.
        state
            .store
            .set_detail(
                &account.id,
                &json!({"phase": phase, "step": step.name, "message": message, "at": now_ms()}),
            )
            .await
            .map_err(ApiError::internal)?;
        return reload(state, &account.id).await;
    }
    let mut t = Transition::new(account, status, event, actor);
    t.detail = Some(json!({"phase": phase, "step": step.name, "message": message, "at": now_ms()}));
    t.context = Some(context);
    state.store.transition(&t).await.map_err(ApiError::store)?;
    reload(state, &account.id).await
}

/// Reads an account fresh from the database.
pub async fn reload(state: &AppState, id: &str) -> Result<AccountRow, ApiError> {
    state
        .store
        .account(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no integrated account {id:?}")))
}

/// One step's vendor call; the result is the record (or the records array of a list method).
async fn run_step(
    state: &AppState,
    connector: &LiveConnector,
    step: &CompiledStep,
    account: &Account<'_>,
) -> Result<Value, String> {
    let call = step.call(account);
    let response = state
        .executor
        .send(connector, account, &call)
        .await
        .map_err(|e| e.message.clone())?;
    let outcome = connector
        .interpret(&call, response)
        .await
        .map_err(|e| e.message.clone())?;
    match outcome.result {
        Ok(Payload::Single(v)) => Ok(v),
        Ok(Payload::List { records, .. }) => Ok(Value::Array(records)),
        Err(f) => Err(format!(
            "{} (vendor status {}): {}",
            f.code.as_str(),
            f.status,
            f.message
        )),
    }
}

//! Connecting an account: the manifest's post-install steps, then its validation requests, then
//! the transition they decide (`active`, `post_install_error`, `validation_error`).

use std::sync::Arc;

use patchbay_engine::lifecycle::CompiledStep;
use patchbay_engine::{Account, Payload, RemoteErrorCode};
use serde_json::Value;

use super::detail::{Phase, StatusDetail};
use super::error::AccountsError;
use super::lookup::reload;
use super::model::{AccountRow, AccountStatus};
use super::state_machine::{AccountEvent, Transition};
use crate::connectors::{LiveConnector, Registry};
use crate::oauth::refresh::{Reason, Refresher};
use crate::secrets::Secrets;
use crate::store::Store;
use crate::telemetry::emit;
use crate::telemetry::events::{ACCOUNT_INSTALL_FAILED, ACCOUNT_INSTALL_REFRESH_FAILED};
use crate::upstream::Upstream;

/// Runs the connect steps of accounts.
#[derive(Debug, Clone)]
pub struct Installer {
    store: Store,
    registry: Arc<Registry>,
    upstream: Upstream,
    refresher: Arc<Refresher>,
    secrets: Secrets,
}

impl Installer {
    /// An installer over these handles.
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        upstream: Upstream,
        refresher: Arc<Refresher>,
        secrets: Secrets,
    ) -> Self {
        Self {
            store,
            registry,
            upstream,
            refresher,
            secrets,
        }
    }

    /// Runs post-install and validation for an account in `connecting` (or, for a retry, in an
    /// error state) and moves it on. `reactivating`: the account was in `needs_reauth` before
    /// this reconnect.
    pub async fn install(
        &self,
        account: AccountRow,
        actor: &str,
        reactivating: bool,
    ) -> Result<AccountRow, AccountsError> {
        let connector = self
            .registry
            .get(&account.connector)
            .ok_or_else(|| AccountsError::ConnectorNotLoaded(account.connector.clone()))?;
        // An OAuth token that expired while the account sat in an error state is refreshed first.
        let account = if account.token_expires_at.is_some() {
            match self.refresher.refresh(&account.id, Reason::Expiring, actor).await {
                Ok(fresh) => fresh,
                Err(e) => {
                    emit!(WARN, ACCOUNT_INSTALL_REFRESH_FAILED, account = %account.id, error = %e);
                    account
                }
            }
        } else {
            account
        };
        let credentials = self.secrets.open_credentials(&account.id, &account.credentials)?;
        let mut context = account.context.clone();
        let lifecycle = connector.connector.lifecycle();
        let mut phases = [
            (
                &lifecycle.validation,
                AccountStatus::ValidationError,
                AccountEvent::ValidationError,
                Phase::Validation,
            ),
            (
                &lifecycle.post_install,
                AccountStatus::PostInstallError,
                AccountEvent::PostInstallError,
                Phase::PostInstall,
            ),
        ];
        let post_install_first = connector
            .connector
            .manifest
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.post_install_first);
        if post_install_first {
            phases.reverse();
        }
        for (steps, failed_status, failed_event, phase) in phases {
            for step in steps {
                let engine_account = Account {
                    credentials: &credentials,
                    context: &context,
                    base_url: account.base_url.as_deref(),
                    auth_method: account.auth_method.as_deref(),
                };
                let updates = self
                    .run_step(&connector, step, &engine_account)
                    .await
                    .and_then(|result| step.context_updates(&result).map_err(StepFailure::other));
                match updates {
                    Ok(updates) => {
                        if let Value::Object(ctx) = &mut context {
                            ctx.extend(updates);
                        }
                    }
                    Err(StepFailure { message, rejected }) => {
                        emit!(WARN, ACCOUNT_INSTALL_FAILED, account = %account.id, phase = phase.as_str(), step = %step.name, %message);
                        // Credentials the vendor refused are a validation failure in any phase.
                        let (status, event, phase) = if rejected {
                            (
                                AccountStatus::ValidationError,
                                AccountEvent::ValidationError,
                                Phase::Validation,
                            )
                        } else {
                            (failed_status, failed_event, phase)
                        };
                        let detail = StatusDetail::new(phase, step.name.clone(), message);
                        return self
                            .settle_failed(&account, status, event, detail, context, actor)
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
        self.store.transition(&t).await?;
        reload(&self.store, &account.id).await
    }

    /// Moves an account to the error state of a failed step (a retry that fails the same way
    /// only refreshes the detail).
    async fn settle_failed(
        &self,
        account: &AccountRow,
        status: AccountStatus,
        event: AccountEvent,
        detail: StatusDetail,
        context: Value,
        actor: &str,
    ) -> Result<AccountRow, AccountsError> {
        if account.status == status {
            self.store.set_detail(&account.id, &detail).await?;
        } else {
            let mut t = Transition::new(account, status, event, actor).with_detail(detail);
            t.context = Some(context);
            self.store.transition(&t).await?;
        }
        reload(&self.store, &account.id).await
    }

    /// A connect that failed before post-install (no first token): `validation_error` with the
    /// reason.
    pub async fn fail_connect(
        &self,
        account: &AccountRow,
        step: &str,
        message: String,
        actor: &str,
    ) -> Result<AccountRow, AccountsError> {
        let t = Transition::new(
            account,
            AccountStatus::ValidationError,
            AccountEvent::ValidationError,
            actor,
        )
        .with_detail(StatusDetail::new(Phase::Validation, step, message));
        self.store.transition(&t).await?;
        reload(&self.store, &account.id).await
    }

    /// One step's vendor call; the result is the record (or the records array of a list method).
    async fn run_step(
        &self,
        connector: &LiveConnector,
        step: &CompiledStep,
        account: &Account<'_>,
    ) -> Result<Value, StepFailure> {
        let call = step.call(account);
        let response = self
            .upstream
            .call(connector, account, &call)
            .await
            .map_err(StepFailure::other)?;
        let outcome = connector
            .dispatch()
            .outcome(&call, response)
            .await
            .map_err(StepFailure::other)?;
        match outcome.result {
            Ok(Payload::Single(v)) => Ok(v),
            Ok(Payload::List { records, .. }) => Ok(Value::Array(records)),
            Err(f) => Err(StepFailure {
                message: format!("{} (vendor status {}): {}", f.code.as_str(), f.status, f.message),
                rejected: f.code == RemoteErrorCode::RemoteUnauthorized,
            }),
        }
    }
}

/// Why a connect step failed, and whether the vendor refused the credentials.
struct StepFailure {
    message: String,
    rejected: bool,
}

impl StepFailure {
    fn other(e: impl std::fmt::Display) -> Self {
        Self {
            message: e.to_string(),
            rejected: false,
        }
    }
}

//! The background refresh scheduler: refreshes tokens whose scheduled time has come, a few at a
//! time, until the host stops.

use std::sync::Arc;

use super::refresh::{Reason, Refresher};
use crate::clock::now_ms;
use crate::store::Store;
use crate::telemetry::emit;
use crate::telemetry::events::{OAUTH_SCHEDULED_REFRESH_FAILED, OAUTH_SCHEDULER_FAILED};

/// Runs until `stop` flips.
pub async fn run(refresher: Arc<Refresher>, store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    let config = refresher.config().clone();
    let limit = Arc::new(tokio::sync::Semaphore::new(config.concurrency));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.tick) => {}
            _ = stop.changed() => return,
        }
        let due = match store.due_for_refresh(now_ms(), 100).await {
            Ok(due) => due,
            Err(e) => {
                emit!(ERROR, OAUTH_SCHEDULER_FAILED, error = %e);
                continue;
            }
        };
        for id in due {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let refresher = refresher.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = refresher.refresh(&id, Reason::Due, "scheduler").await {
                    emit!(DEBUG, OAUTH_SCHEDULED_REFRESH_FAILED, account = %id, error = %e);
                }
            });
        }
    }
}

//! The acknowledgement's group commit: requests waiting to be stored are written together, in
//! one transaction per batch, by one task; each waits for the commit that holds it. Under load a
//! batch holds every request that arrived during the previous commit, so one fsync covers many
//! acknowledgements; alone, a request is committed at once.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use super::error::WebhookError;
use super::model::NewInbound;
use crate::store::Store;
use crate::telemetry::emit;
use crate::telemetry::events::WEBHOOK_WORKER_ERROR;

/// Largest batch one transaction writes.
const MAX_BATCH: usize = 512;

type Waiter = oneshot::Sender<Result<(), String>>;

/// The handle requests are stored through.
#[derive(Debug, Clone)]
pub struct Intake {
    tx: mpsc::Sender<(NewInbound, Waiter)>,
}

impl Intake {
    /// Starts the writer; `stored` is notified after every commit (the processing workers wait on it).
    pub fn start(store: Store, stored: Arc<Notify>) -> Self {
        let (tx, mut rx) = mpsc::channel::<(NewInbound, Waiter)>(MAX_BATCH * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut waiters = Vec::with_capacity(MAX_BATCH);
            while let Some((first, waiter)) = rx.recv().await {
                batch.push(first);
                waiters.push(waiter);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok((r, w)) => {
                            batch.push(r);
                            waiters.push(w);
                        }
                        Err(_) => break,
                    }
                }
                let result = store.insert_inbound(&batch).await.map_err(|e| e.to_string());
                if let Err(e) = &result {
                    emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = "intake", error = %e);
                }
                for w in waiters.drain(..) {
                    let _ = w.send(result.clone());
                }
                batch.clear();
                stored.notify_waiters();
            }
        });
        Self { tx }
    }

    /// Stores one request; returns once it is committed.
    pub async fn store(&self, request: NewInbound) -> Result<(), WebhookError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((request, tx))
            .await
            .map_err(|_| WebhookError::IntakeClosed)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WebhookError::Intake(e)),
            Err(_) => Err(WebhookError::IntakeClosed),
        }
    }
}

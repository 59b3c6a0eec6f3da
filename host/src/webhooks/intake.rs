//! Group commit: items waiting to be written are written together, in one transaction per batch,
//! by one task; each caller waits for the commit that holds its item. Under load a batch holds
//! everything that arrived during the previous commit, so one fsync covers many acknowledgements
//! (or delivery attempts); alone, an item is committed at once. [`Intake`] is the
//! acknowledgement path's: a webhook is answered 200 only after its commit.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use super::error::WebhookError;
use super::model::NewInbound;
use crate::store::{Store, StoreError};
use crate::telemetry::emit;
use crate::telemetry::events::WEBHOOK_WORKER_ERROR;

/// Largest batch of acknowledgements one transaction writes.
const INTAKE_BATCH: usize = 512;

/// A commit's failure as every waiter of the batch gets it: whether the database was
/// unreachable (a 503 the vendor retries), and the message.
type Failure = (bool, String);

type Waiter = oneshot::Sender<Result<(), Failure>>;

/// A group-commit writer of `T`s.
#[derive(Debug)]
pub struct GroupCommit<T> {
    tx: mpsc::Sender<(T, Waiter)>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the writer task: `write` stores one batch of at most `max_batch` in one
    /// transaction; `committed` is notified after each commit. `name` labels its errors in the log.
    pub fn start<F, Fut>(name: &'static str, max_batch: usize, committed: Arc<Notify>, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), StoreError>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(T, Waiter)>(max_batch * 4);
        tokio::spawn(async move {
            let mut waiters = Vec::with_capacity(max_batch);
            while let Some((first, waiter)) = rx.recv().await {
                let mut batch = Vec::with_capacity(max_batch);
                batch.push(first);
                waiters.push(waiter);
                while batch.len() < max_batch {
                    match rx.try_recv() {
                        Ok((item, w)) => {
                            batch.push(item);
                            waiters.push(w);
                        }
                        Err(_) => break,
                    }
                }
                let result = write(batch)
                    .await
                    .map_err(|e| (e.is_unavailable(), e.to_string()));
                if let Err((_, e)) = &result {
                    emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = name, error = %e);
                }
                for w in waiters.drain(..) {
                    let _ = w.send(result.clone());
                }
                committed.notify_waiters();
            }
        });
        Self { tx }
    }

    /// Writes one item; returns once it is committed.
    pub async fn write(&self, item: T) -> Result<(), WebhookError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((item, tx))
            .await
            .map_err(|_| WebhookError::IntakeClosed)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((true, e))) => Err(WebhookError::Unavailable(e)),
            Ok(Err((false, e))) => Err(WebhookError::Intake(e)),
            Err(_) => Err(WebhookError::IntakeClosed),
        }
    }
}

/// Stores inbound requests before they are acknowledged.
#[derive(Debug, Clone)]
pub struct Intake(GroupCommit<NewInbound>);

impl Intake {
    /// Starts the writer; `stored` is notified after every commit (the processing workers wait on it).
    pub fn start(store: Store, stored: Arc<Notify>) -> Self {
        Self(GroupCommit::start(
            "intake",
            INTAKE_BATCH,
            stored,
            move |batch: Vec<NewInbound>| {
                let store = store.clone();
                async move { store.insert_inbound(&batch).await }
            },
        ))
    }

    /// Stores one request; returns once it is committed.
    pub async fn store(&self, request: NewInbound) -> Result<(), WebhookError> {
        self.0.write(request).await
    }
}

//! This process's writers take turns before `BEGIN IMMEDIATE`. SQLite's own busy handler waits by
//! sleeping (up to 100 ms a time), which put hundreds of milliseconds on webhook acknowledgements
//! queued behind the processing and delivery writers; here they queue in memory instead, and the
//! acknowledgement path goes first. Other processes sharing the file still wait in the busy
//! handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

/// The write turns of one database.
#[derive(Debug, Default)]
pub(super) struct Turns {
    /// One writer at a time.
    gate: Arc<Mutex<()>>,
    /// Ordinary writers queue here first, so at most one of them waits at the gate.
    lobby: Mutex<()>,
    /// Urgent writers waiting for the gate or holding it.
    urgent: AtomicUsize,
    /// Notified when the last urgent writer is done.
    urgent_done: Notify,
}

/// Holds this process's write turn until dropped (after the commit).
pub(super) struct Turn {
    gate: Option<OwnedMutexGuard<()>>,
    /// Set for an urgent writer's turn, which counts among the urgent until dropped (also when
    /// the wait for the gate is cancelled).
    urgent: Option<Arc<Turns>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.gate.take());
        if let Some(turns) = self.urgent.take()
            && turns.urgent.fetch_sub(1, Ordering::AcqRel) == 1
        {
            turns.urgent_done.notify_waiters();
        }
    }
}

impl Turns {
    /// An ordinary writer's turn: it yields the gate to urgent writers, so an urgent one waits
    /// only for the writer in the middle of a transaction, never for one queued before it.
    pub(super) async fn ordinary(&self) -> Turn {
        let _in_line = self.lobby.lock().await;
        loop {
            let done = self.urgent_done.notified();
            if self.urgent.load(Ordering::Acquire) > 0 {
                done.await;
                continue;
            }
            let gate = self.gate.clone().lock_owned().await;
            if self.urgent.load(Ordering::Acquire) == 0 {
                return Turn {
                    gate: Some(gate),
                    urgent: None,
                };
            }
            // An urgent writer queued while this one waited: let it go first.
            drop(gate);
        }
    }

    /// An urgent writer's turn (the acknowledgement path's).
    pub(super) async fn urgent(self: &Arc<Self>) -> Turn {
        self.urgent.fetch_add(1, Ordering::AcqRel);
        let mut turn = Turn {
            gate: None,
            urgent: Some(self.clone()),
        };
        turn.gate = Some(self.gate.clone().lock_owned().await);
        turn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn an_urgent_writer_passes_an_ordinary_one_waiting_at_the_gate() {
        let turns = Arc::new(Turns::default());
        let holder = turns.ordinary().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ordinary = {
            let (turns, order) = (turns.clone(), order.clone());
            tokio::spawn(async move {
                let _g = turns.ordinary().await;
                order.lock().unwrap().push("ordinary");
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await; // the ordinary one waits at the gate
        let urgent = {
            let (turns, order) = (turns.clone(), order.clone());
            tokio::spawn(async move {
                let _g = turns.urgent().await;
                order.lock().unwrap().push("urgent");
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(holder);
        urgent.await.unwrap();
        ordinary.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["urgent", "ordinary"]);
    }

    #[tokio::test]
    async fn ordinary_writers_resume_after_the_urgent_ones() {
        let turns = Arc::new(Turns::default());
        let urgent = turns.urgent().await;
        let ordinary = {
            let turns = turns.clone();
            tokio::spawn(async move { drop(turns.ordinary().await) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !ordinary.is_finished(),
            "waits while an urgent writer holds the gate"
        );
        drop(urgent);
        tokio::time::timeout(Duration::from_secs(5), ordinary)
            .await
            .expect("the ordinary writer gets its turn")
            .unwrap();
    }
}

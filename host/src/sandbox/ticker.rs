//! The epoch ticker: advances the engine's epoch every [`TICK`] while a guest may be running,
//! which is what CPU budgets and the guests' periodic yields count. With no guest running it
//! waits, so an idle host (or one serving only manifest connectors) is not woken a thousand
//! times a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

use super::config::TICK;

/// How often an idle ticker checks whether its engine is gone.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The ticker of one engine.
#[derive(Debug, Default)]
pub(super) struct Ticker {
    /// Guest calls (and instantiations) under way.
    running: Mutex<usize>,
    wake: Condvar,
    /// Epochs advanced so far (for the tests).
    ticks: AtomicU64,
}

/// Keeps the ticker going until dropped: held around anything that runs guest code.
pub(super) struct Running(Arc<Ticker>);

impl Drop for Running {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
    }
}

impl Ticker {
    /// Starts the ticker thread of `engine`; it ends once the engine is dropped.
    pub(super) fn start(engine: &Engine) -> std::io::Result<Arc<Self>> {
        let ticker = Arc::new(Self::default());
        let (this, weak) = (ticker.clone(), engine.weak());
        std::thread::Builder::new()
            .name("patchbay-epoch".into())
            .spawn(move || this.run(&weak))?;
        Ok(ticker)
    }

    fn run(&self, engine: &EngineWeak) {
        loop {
            let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
            while *running == 0 {
                if engine.upgrade().is_none() {
                    return;
                }
                running = self
                    .wake
                    .wait_timeout(running, IDLE_CHECK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            drop(running);
            // A full tick after a guest starts, so its first tick of budget is a whole one.
            std::thread::sleep(TICK);
            if *self.running.lock().unwrap_or_else(PoisonError::into_inner) == 0 {
                continue;
            }
            match engine.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    self.ticks.fetch_add(1, Ordering::Relaxed);
                }
                None => return,
            }
        }
    }

    /// Marks guest code as running until the guard is dropped.
    pub(super) fn running(self: &Arc<Self>) -> Running {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        *running += 1;
        if *running == 1 {
            self.wake.notify_one();
        }
        Running(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_advances_only_while_a_guest_runs() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let ticker = Ticker::start(&engine).unwrap();
        let ticks = || ticker.ticks.load(Ordering::Relaxed);
        let while_ = Duration::from_millis(50);
        std::thread::sleep(while_);
        assert_eq!(ticks(), 0, "idle: no ticks");
        let (outer, inner) = (ticker.running(), ticker.running());
        std::thread::sleep(while_);
        drop(inner);
        let running = ticks();
        assert!(running >= 5, "running: {running} ticks in {while_:?}");
        drop(outer);
        // A tick under way when the last guest stopped is not counted; let the thread settle.
        std::thread::sleep(Duration::from_millis(100));
        let stopped = ticks();
        std::thread::sleep(while_);
        assert_eq!(ticks(), stopped, "idle again: no more ticks");
    }
}

//! How the API is served: on the caller's runtime ([`on_this_runtime`], the default), or on
//! threads of its own (`--http-threads`, [`serve`]): each thread runs a single-threaded
//! tokio runtime that accepts on a duplicate of the listening socket and serves its connections
//! to the end, and the vendor connections a call uses are that thread's own (the
//! [`crate::upstream::Upstream`] keeps a client per thread), so a call never changes threads
//! and the threads share no run queue. On 2 cores this serves more calls/s at high concurrency
//! and a single call a little slower (docs/BENCHMARKS.md, issue 12). Background work (refresh,
//! webhook workers, watchers) stays on the process's runtime.

use std::future::Future;
use std::io;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Serves `router` on `threads` threads until `shutdown`, then lets each drain its requests. A
/// thread that stops before `shutdown` (it could not start its runtime, or it panicked) stops
/// the others and is the error returned: a host serving on fewer threads than asked must not
/// look healthy.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    threads: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let socket = listener.into_std()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<io::Result<()>>();
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let socket = socket.try_clone()?;
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let done = Done(Some(done_tx.clone()));
        let handle = std::thread::Builder::new()
            .name(format!("patchbay-http-{i}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = TcpListener::from_std(socket)?;
                            let stop = async move {
                                let _ = stop.wait_for(|s| *s).await;
                            };
                            on_this_runtime(listener, router, stop).await
                        })
                    });
                done.send(served);
            })?;
        handles.push(handle);
    }
    drop((socket, done_tx));
    let mut result = Ok(());
    let mut running = threads;
    tokio::select! {
        () = shutdown => {}
        early = done_rx.recv() => {
            running -= 1;
            result = Err(match early {
                Some(Err(e)) => e,
                _ => io::Error::other("an API thread stopped before shutdown"),
            });
        }
    }
    let _ = stop_tx.send(true);
    while running > 0 {
        match done_rx.recv().await {
            Some(Err(e)) if result.is_ok() => result = Err(e),
            Some(_) => {}
            None => break,
        }
        running -= 1;
    }
    // Every thread has reported; wait for them to be gone too.
    let _ = tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| drop(h.join()))).await;
    result
}

/// A thread's report of how it ended; one that unwinds without reporting reports a panic.
struct Done(Option<mpsc::UnboundedSender<io::Result<()>>>);

impl Done {
    fn send(mut self, served: io::Result<()>) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(served);
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(io::Error::other("an API thread panicked")));
        }
    }
}

/// Serves `router` on `listener` on the current runtime until `shutdown`, then drains.
pub async fn on_this_runtime(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Small JSON answers must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

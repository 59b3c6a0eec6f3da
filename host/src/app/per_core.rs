//! How the API is served: on the caller's runtime ([`on_this_runtime`], the default), or on
//! threads of its own (`--http-threads`, [`serve`]): each thread runs a single-threaded
//! tokio runtime that accepts on a duplicate of the listening socket and serves its connections
//! to the end, and the vendor connections a call uses are that thread's own (the
//! [`crate::upstream::Upstream`] keeps a client per thread). A call then never changes threads:
//! on the multi-threaded runtime, the hops between the caller's connection task, the handler
//! and the vendor connection's task woke other workers on every call (docs/BENCHMARKS.md).
//! Background work (refresh, webhook workers, watchers) stays on the process's runtime.

use std::future::Future;
use std::io;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// Serves `router` on `threads` threads until `shutdown`, then lets each drain its requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    threads: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let socket = listener.into_std()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stopped = Vec::with_capacity(threads);
    for i in 0..threads {
        let socket = socket.try_clone()?;
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let (done, stopped_rx) = oneshot::channel::<io::Result<()>>();
        std::thread::Builder::new()
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
                let _ = done.send(served);
            })?;
        stopped.push(stopped_rx);
    }
    drop(socket);
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    for thread in stopped {
        if let Ok(Err(e)) = thread.await
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result
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

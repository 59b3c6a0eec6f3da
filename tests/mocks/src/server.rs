//! Serving a mock router on an ephemeral loopback port for the lifetime of a test.
//!
//! The server binds `127.0.0.1:0` (never another address: tests only ever talk to this
//! machine) and stops gracefully when the [`MockServer`] handle is dropped, so a test
//! cannot leak a listener into the next one.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running mock server. Dropping it triggers a graceful shutdown.
#[derive(Debug)]
pub struct MockServer {
    /// The bound loopback address (the port is chosen by the OS).
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and serves `router` in a background tokio task.
    ///
    /// # Panics
    /// If the loopback listener cannot be bound, which makes every test meaningless anyway.
    pub async fn spawn(router: Router) -> MockServer {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind 127.0.0.1:0 for mock server");
        let addr = listener.local_addr().expect("local_addr of bound listener");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                // Either an explicit signal or the sender being dropped ends the server.
                let _ = rx.await;
            };
            // An I/O error here only means the test is tearing down; nothing to report to.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        MockServer {
            addr,
            shutdown: Some(tx),
        }
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn raw_get(addr: SocketAddr, path_and_query: &str, extra: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let req =
            format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.expect("read");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn serves_over_loopback_and_links_point_back_to_it() {
        let mock = crate::GitHubMock::new("ghp_test");
        mock.seed(40);
        let server = MockServer::spawn(mock.router()).await;
        assert!(server.addr.ip().is_loopback());
        assert_eq!(server.base_url(), format!("http://{}", server.addr));

        let resp = raw_get(
            server.addr,
            "/repos/octo/hello/issues?state=all",
            "Authorization: Bearer ghp_test\r\n",
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        let expected = format!(
            "<{}/repos/octo/hello/issues?state=all&page=2>; rel=\"next\"",
            server.base_url()
        );
        assert!(resp.contains(&expected), "{resp}");
    }

    #[tokio::test]
    async fn drop_stops_the_listener() {
        let server = MockServer::spawn(crate::PipedriveMock::new("t").router()).await;
        let addr = server.addr;
        drop(server);
        // Give the background task a moment to observe the shutdown signal.
        for _ in 0..50 {
            if TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("listener still accepting after drop");
    }
}

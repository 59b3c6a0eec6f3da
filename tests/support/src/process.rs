//! A host as a process of its own (the `patchbay` binary), for the tests that kill it and the
//! benches that must not share a runtime with their load generator: start, wait until healthy,
//! an admin token, admin calls. The binary's path comes from the caller
//! (`env!("CARGO_BIN_EXE_patchbay")` exists only in the host package's tests and benches).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `patchbay serve`; killed (SIGKILL) when dropped.
pub struct HostProcess {
    pub child: Child,
    pub url: String,
}

impl HostProcess {
    /// Starts `bin serve` on `127.0.0.1:port` with the database `db` and the bundled connectors
    /// (unless `extra` names `--connectors`), logging at `warn` to `log`; `extra` are more
    /// `serve` arguments.
    pub fn start(bin: &Path, db: &str, port: u16, log: &Path, extra: &[&str]) -> Self {
        let log = std::fs::File::create(log).unwrap();
        let mut cmd = Command::new(bin);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            db,
        ]);
        if !extra.contains(&"--connectors") {
            cmd.arg("--connectors").arg(crate::bundled_connectors());
        }
        let child = cmd
            .args(extra)
            .env("PATCHBAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits (up to a minute) until `/healthz` answers.
    pub async fn wait_healthy(&self, http: &reqwest::Client) {
        let started = Instant::now();
        while http.get(format!("{}/healthz", self.url)).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the host did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A new admin token in database `db` (`patchbay token create --admin`).
pub fn admin_token(bin: &Path, db: &str) -> String {
    let out = Command::new(bin)
        .args(["token", "create", "--admin", "--database", db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An admin call that must succeed; its JSON body.
pub async fn admin(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut r = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

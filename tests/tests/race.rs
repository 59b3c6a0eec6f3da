//! Two `patchbay` processes on one SQLite database, 200 accounts with short-lived rotating
//! tokens, concurrent calls through both for a while. The provider (the project's OAuth mock)
//! counts what must never happen: a refresh token used twice, an expired access token sent to the
//! vendor. No account may end up in `needs_reauth`.
//!
//! `RACE_SECS` sets the load duration (default 60).
//!
//! A binary of its own, on purpose: it links only the mock vendors and the host-free fixtures
//! (not the host, which runs as separate processes), and cargo runs it alone, so the 60 s of load
//! share the machine with nothing else.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use patchbay_mock_vendors::{MockServer, OAuthProviderMock};
use patchbay_test_support::{copy_connectors, run_authorization, scratch_dir, write_acme_connector};
use serde_json::{Value, json};

const ACCOUNTS: usize = 200;
const KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// The `patchbay` binary cargo built next to this test.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("patchbay");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test --workspace` builds it",
        bin.display()
    );
    bin
}

struct Process {
    url: String,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn spawn(db: &str, connectors: &PathBuf) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--connectors")
        .arg(connectors)
        .env("DATABASE_URL", db)
        .env("PATCHBAY_SECRET_KEY", KEY)
        .env("PATCHBAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Process {
        url: format!("http://127.0.0.1:{port}"),
        child,
    }
}

async fn ready(http: &reqwest::Client, p: &Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{}/readyz", p.url)).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never became ready", p.url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_rotating_tokens_without_reuse() {
    let secs: u64 = std::env::var("RACE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let provider = OAuthProviderMock::new("patchbay", "provider-secret");
    provider.set_lifetime(5);
    let server = MockServer::spawn(provider.router()).await;
    let dir = scratch_dir("race");
    let connectors = dir.join("connectors");
    std::fs::create_dir_all(&connectors).unwrap();
    copy_connectors(&connectors);
    write_acme_connector(&connectors, &server.base_url(), None);
    let db = format!("sqlite://{}", dir.join("shared.db").display());

    let out = Command::new(binary())
        .args(["token", "create", "--admin", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let hosts = [spawn(&db, &connectors), spawn(&db, &connectors)];
    let http = reqwest::Client::new();
    for h in &hosts {
        ready(&http, h).await;
    }
    let auth = format!("Bearer {token}");
    let app = json!({"client_id": "patchbay", "client_secret": "provider-secret"});
    let r = http
        .put(format!("{}/connectors/acme/oauth-app", hosts[0].url))
        .header("authorization", &auth)
        .json(&app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // 200 accounts, connected through both hosts.
    let mut ids = Vec::with_capacity(ACCOUNTS);
    for i in 0..ACCOUNTS {
        let host = &hosts[i % 2];
        let body =
            json!({"tenant_id": format!("tenant-{}", i % 7), "redirect_uri": "https://product.example/done"});
        let started: Value = http
            .post(format!("{}/connect/acme", host.url))
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let back = run_authorization(started["authorize_url"].as_str().unwrap()).await;
        let get = |k: &str| back.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("status").as_deref(), Some("active"), "{back:?}");
        ids.push(get("integrated_account_id").unwrap());
    }
    let ids = Arc::new(ids);

    // Concurrent calls through both processes.
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let urls: Arc<Vec<String>> = Arc::new(hosts.iter().map(|h| h.url.clone()).collect());
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (http, auth, ids, urls, ok, failed) = (
                http.clone(),
                auth.clone(),
                ids.clone(),
                urls.clone(),
                ok.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < deadline {
                    let id = &ids[i % ids.len()];
                    let url = format!(
                        "{}/proxy/me/x?integrated_account_id={id}",
                        urls[(i / ids.len() + w) % 2]
                    );
                    match http.get(url).header("authorization", &auth).send().await {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(r) => {
                            eprintln!(
                                "call failed: {} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            eprintln!("call failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    i += 16;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }

    let mut not_active = 0;
    for status in [
        "needs_reauth",
        "validation_error",
        "post_install_error",
        "connecting",
    ] {
        let list: Value = http
            .get(format!(
                "{}/integrated-accounts?connector=acme&status={status}",
                hosts[0].url
            ))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        not_active += list["result_count"].as_u64().unwrap();
    }
    let stats = provider.stats();
    println!(
        "race: 2 processes, {ACCOUNTS} accounts, 5 s rotating tokens, {secs} s: {} calls ok, {} failed; \
         {} refreshes, {} refresh-token reuses, {} expired access tokens sent, {} invalid tokens sent, {} accounts not active",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        stats.refreshes,
        stats.refresh_token_reuse,
        stats.expired_token_uses,
        stats.invalid_token_uses,
        not_active
    );
    assert_eq!(stats.refresh_token_reuse, 0, "a refresh token was used twice");
    assert_eq!(
        stats.expired_token_uses, 0,
        "an expired access token reached the vendor"
    );
    assert_eq!(
        stats.invalid_token_uses, 0,
        "a revoked or unknown token reached the vendor"
    );
    assert_eq!(not_active, 0, "accounts wrongly left active");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(
        stats.refreshes as usize >= ACCOUNTS * (secs as usize / 5),
        "tokens kept being refreshed: {stats:?}"
    );
    drop(hosts);
    let _ = std::fs::remove_dir_all(dir);
}

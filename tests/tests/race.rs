//! Several `patchbay` processes on one database (three on PostgreSQL in the backend matrix's run,
//! two on a SQLite file otherwise), 200 accounts with 5 s single-use rotating refresh tokens,
//! concurrent calls through every host for a while, and one host `kill -9`'d in the middle and
//! restarted on its port. The provider (the project's OAuth mock) counts what must never happen:
//! a refresh token used twice, an expired or invalid access token sent to the vendor; no account
//! may leave `active`.
//!
//! The one thing a crash can cost: a host killed between the provider's rotation and its own
//! commit loses the new tokens, and the grant is gone (the provider revokes the family when the
//! old refresh token comes again). Only the accounts whose refresh lease the killed host held at
//! that instant can be touched, so the test reads those leases right after the kill and allows
//! a cost for them alone; everything else must be exactly zero. The run prints the figures.
//!
//! `RACE_SECS` sets the load duration (default 60).
//!
//! A binary of its own, on purpose: it links only the mock vendors and the host-free fixtures
//! (not the host, which runs as separate processes), and cargo runs it alone, so the 60 s of load
//! share the machine with nothing else.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_mock_vendors::{MockServer, OAuthProviderMock};
use patchbay_test_support::database::{fresh_database, postgres_server, query_column};
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
    port: u16,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Killed and reaped already (the victim): its pid may belong to someone else by now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(db: &str, connectors: &PathBuf, port: u16) -> Process {
    let child = Command::new(binary())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        // The `acme` vendor is the provider mock on loopback, named by the manifest.
        .arg("--allow-private-vendor-targets")
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
        port,
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
async fn hosts_share_rotating_tokens_without_reuse_through_a_kill_9() {
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
    let db = fresh_database(&dir);
    let backend = if postgres_server().is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let n = if postgres_server().is_some() { 3 } else { 2 };

    let out = Command::new(binary())
        .args(["token", "create", "--admin", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut hosts: Vec<Process> = (0..n).map(|_| spawn(&db, &connectors, free_port())).collect();
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
        let host = &hosts[i % n];
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

    // Concurrent calls through every process; the last one is killed halfway and restarted.
    let ok = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    // (account, what went wrong) of every other failed call.
    let failures: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let victim = n - 1;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let urls: Arc<Vec<String>> = Arc::new(hosts.iter().map(|h| h.url.clone()).collect());
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (http, auth, ids, urls) = (http.clone(), auth.clone(), ids.clone(), urls.clone());
            let (ok, refused, failures, down) = (ok.clone(), refused.clone(), failures.clone(), down.clone());
            tokio::spawn(async move {
                let mut i = w;
                while Instant::now() < deadline {
                    let id = &ids[i % ids.len()];
                    let target = (i / ids.len() + w) % urls.len();
                    let url = format!("{}/proxy/me/x?integrated_account_id={id}", urls[target]);
                    match http.get(url).header("authorization", &auth).send().await {
                        Ok(r) if r.status() == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        // The killed host's connections, while it is down.
                        Err(_) if target == victim && down.load(Ordering::Relaxed) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            let what = format!("{} {}", r.status(), r.text().await.unwrap_or_default());
                            failures.lock().unwrap().push((id.clone(), what));
                        }
                        Err(e) => failures.lock().unwrap().push((id.clone(), e.to_string())),
                    }
                    i += 16;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs / 2)).await;
    down.store(true, Ordering::Relaxed);
    let killed_pid = hosts[victim].child.id();
    hosts[victim].child.kill().unwrap(); // SIGKILL
    hosts[victim].child.wait().unwrap();
    // The refreshes the killed host had in flight: its leases, left to expire.
    let touched: BTreeSet<String> = query_column(
        &db,
        &format!("SELECT id FROM integrated_accounts WHERE lease_owner LIKE 'host-{killed_pid}-%'"),
    )
    .into_iter()
    .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let port = hosts[victim].port;
    hosts[victim] = spawn(&db, &connectors, port);
    ready(&http, &hosts[victim]).await;
    down.store(false, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let mut not_active = BTreeSet::new();
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
        for a in list["result"].as_array().unwrap() {
            not_active.insert(a["id"].as_str().unwrap().to_owned());
        }
    }
    let stats = provider.stats();
    let failures = failures.lock().unwrap().clone();
    let (of_touched, others): (Vec<_>, Vec<_>) = failures.iter().partition(|(id, _)| touched.contains(id));
    let failing_touched: BTreeSet<&String> = of_touched.iter().map(|(id, _)| id).collect();
    println!(
        "race ({backend}): {n} processes, {ACCOUNTS} accounts, 5 s rotating tokens, {secs} s, host {victim} kill -9'd \
         at {}s and restarted 3 s later: {} calls ok, {} refused while it was down, {} failed (on {} of the {} \
         accounts whose refresh it had in flight, {} on others); {} refreshes, {} refresh-token reuses, {} expired \
         access tokens sent, {} invalid tokens sent, {} accounts not active ({} of them among those)",
        secs / 2,
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        failures.len(),
        failing_touched.len(),
        touched.len(),
        others.len(),
        stats.refreshes,
        stats.refresh_token_reuse,
        stats.expired_token_uses,
        stats.invalid_token_uses,
        not_active.len(),
        not_active.intersection(&touched).count()
    );
    for (id, what) in others.iter().take(20) {
        eprintln!("call failed: {id}: {what}");
    }
    assert!(
        others.is_empty(),
        "{} calls failed on accounts the kill did not touch",
        others.len()
    );
    // A reuse revokes its grant (RFC 9700 §4.14.2), so the account it belongs to ends in
    // `needs_reauth`: the subset check below proves every reuse was of an interrupted refresh.
    if touched.is_empty() {
        assert_eq!(stats.refresh_token_reuse, 0, "a refresh token was used twice");
    }
    assert_eq!(
        stats.expired_token_uses, 0,
        "an expired access token reached the vendor"
    );
    if stats.refresh_token_reuse == 0 {
        assert_eq!(
            stats.invalid_token_uses, 0,
            "a revoked or unknown token reached the vendor"
        );
    }
    assert!(
        not_active.is_subset(&touched),
        "accounts wrongly left active: {:?}",
        not_active.difference(&touched).collect::<Vec<_>>()
    );
    assert!(
        stats.refreshes as usize >= ACCOUNTS * (secs as usize / 5) * 4 / 5,
        "tokens kept being refreshed: {stats:?}"
    );
    drop(hosts);
    let _ = std::fs::remove_dir_all(dir);
}

//! Several hosts on PostgreSQL (issue 13), in one run on this machine:
//!
//! - **through the load balancer** (`scripts/cluster.sh`: nginx in front of 1, 2 and 3 release
//!   hosts on one PostgreSQL database), against the static nginx vendor of the comparison
//!   bench: a proxied single contact with `wrk` (p50 at 1 connection, requests/s at 16) and the
//!   10,000 contacts through `/unified/crm/contacts` with 4 concurrent walks (records/s);
//! - **per store operation, PostgreSQL against SQLite** (the `Store` in this process, no HTTP):
//!   an account read from the database (not the cache), a status transition (with its audit
//!   entry, outbox event and change-log entry in one transaction) and a webhook acknowledgement's
//!   commit (one stored inbound request), one at a time (µs each) and 16 at a time (per second).
//!
//! Needs nginx, wrk and PostgreSQL's server (`apt-get install nginx-light wrk postgresql`).
//! Run: `cargo bench -p patchbay --bench cluster`. Results go to docs/BENCHMARKS.md.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use patchbay::accounts::model::{AccountRow, AccountStatus};
use patchbay::accounts::state_machine::{AccountEvent, Transition};
use patchbay::store::Store;
use patchbay::webhooks::model::NewInbound;
use patchbay_test_support::cluster::Cluster;
use patchbay_test_support::scratch_dir;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(name: &str, args: &[&str]) -> String {
    let out = Command::new(repo().join("scripts").join(name))
        .args(args)
        .env("PATCHBAY_BIN", env!("CARGO_BIN_EXE_patchbay"))
        .env("PATCHBAY_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// CPU time (user + system) a process has used, in µs (`/proc/<pid>/stat`, 100 ticks a second).
fn cpu_us(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) * 10_000.0
}

/// A process and its children (nginx's workers, PostgreSQL's backends).
fn with_children(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            if rest.split_whitespace().nth(1) == Some(&pid.to_string()) {
                all.push(child);
            }
        }
    }
    all
}

/// Busy CPU time of the whole machine, in µs (`/proc/stat`).
fn machine_busy_us() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal
    (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 10_000.0
}

fn pid_in(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// CPU per proxied request at 16 connections, by process group (µs).
#[derive(Default)]
struct CpuPerRequest {
    hosts: f64,
    balancer: f64,
    postgres: f64,
    rest: f64,
}

/// 1, 2, 3 hosts behind nginx: (p50 µs, requests/s at 16) of a proxied contact, unified
/// records/s, and where the CPU of the 16-connection run went.
async fn through_the_balancer(hosts: usize, vendor: &str) -> (f64, f64, f64, CpuPerRequest) {
    let cluster = Cluster::start(
        &scratch_dir(&format!("bench-cluster-{hosts}")),
        Path::new(env!("CARGO_BIN_EXE_patchbay")),
        hosts,
        "",
    );
    let dir = cluster.dir().to_owned();
    let (lb, token) = (
        cluster.env("LB_URL").to_owned(),
        cluster.env("ADMIN_TOKEN").to_owned(),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let r = http
        .post(format!("{lb}/integrated-accounts"))
        .bearer_auth(&token)
        .json(&json!({"connector": "hubspot", "tenant_id": "bench", "credentials": {"access_token": TOKEN}, "base_url": vendor}))
        .send()
        .await
        .unwrap();
    let account: serde_json::Value = r.json().await.unwrap();
    assert_eq!(account["status"], "active", "{account}");
    let id = account["id"].as_str().unwrap().to_owned();
    let url = format!("{lb}/proxy/contacts/101?integrated_account_id={id}");
    let auth = format!("Bearer {token}");
    wrk(&url, Some(&auth), 4, 2); // warm-up: every host's cache and pools
    let (p50, _, _) = wrk(&url, Some(&auth), 1, 5);
    let host_pids: Vec<u32> = (1..=hosts)
        .map(|i| pid_in(&dir.join(format!("host-{i}.pid"))))
        .collect();
    let lb_pids = with_children(pid_in(&dir.join("nginx.pid")));
    let pg_pids = with_children(pid_in(&dir.join("pg/data/postmaster.pid")));
    let sum = |pids: &[u32]| pids.iter().map(|p| cpu_us(*p)).sum::<f64>();
    let before = (sum(&host_pids), sum(&lb_pids), sum(&pg_pids), machine_busy_us());
    let seconds = 5;
    let (_, _, rps) = wrk(&url, Some(&auth), 16, seconds);
    let after = (sum(&host_pids), sum(&lb_pids), sum(&pg_pids), machine_busy_us());
    let requests = rps * seconds as f64;
    let cpu = CpuPerRequest {
        hosts: (after.0 - before.0) / requests,
        balancer: (after.1 - before.1) / requests,
        postgres: (after.2 - before.2) / requests,
        rest: ((after.3 - before.3) - (after.0 - before.0) - (after.1 - before.1) - (after.2 - before.2))
            / requests,
    };
    let walk = || {
        let (h, u, t, a) = (http.clone(), lb.clone(), token.clone(), id.clone());
        async move { unified_walk(&h, &u, &t, &a, true).await }
    };
    records_per_s(4, walk).await; // warm-up
    let unified = records_per_s(4, walk).await;
    drop(cluster);
    (p50, rps, unified, cpu)
}

/// (µs per operation one at a time, operations/s 16 at a time) of `op`.
async fn per_op<F, Fut>(n: usize, op: F) -> (f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    for i in 0..n {
        op(i).await;
    }
    let serial = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in (w..n).step_by(16) {
                    op(n + i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (serial, n as f64 / started.elapsed().as_secs_f64())
}

/// Account lookup, transition and webhook ack on one backend.
async fn store_ops(url: &str) -> [(f64, f64); 3] {
    let store = Store::connect(url).await.unwrap();
    let accounts: Vec<String> = (0..32).map(|i| format!("acct-{i}")).collect();
    for id in &accounts {
        let row = AccountRow::new(
            id.clone(),
            "hubspot".into(),
            "bench".into(),
            vec![7; 200],
            json!({"portal": 1}),
            None,
        );
        store.create_account(&row, "bench").await.unwrap();
    }
    let ids = Arc::new(accounts);
    let lookup = {
        let (store, ids) = (store.clone(), ids.clone());
        per_op(4000, move |i| {
            let (store, ids) = (store.clone(), ids.clone());
            async move {
                store.account(&ids[i % ids.len()]).await.unwrap().unwrap();
            }
        })
        .await
    };
    // connecting -> active -> connecting (reconnected) ..., each account by one task at a time.
    let transition = {
        let (store, ids) = (store.clone(), ids.clone());
        per_op(1600, move |i| {
            let (store, ids) = (store.clone(), ids.clone());
            async move {
                // Each task owns the accounts i % 16 selects, so no two change one at once.
                let id = &ids[(i % 16) + 16 * ((i / 16) % 2)];
                let row = store.account(id).await.unwrap().unwrap();
                let (to, event) = match row.status {
                    AccountStatus::Connecting => (AccountStatus::Active, AccountEvent::Active),
                    _ => (AccountStatus::Connecting, AccountEvent::Updated),
                };
                store
                    .transition(&Transition::new(&row, to, event, "bench"))
                    .await
                    .unwrap();
            }
        })
        .await
    };
    let ack = {
        let store = store.clone();
        per_op(4000, move |i| {
            let store = store.clone();
            async move {
                let request = NewInbound {
                    id: format!("{:020}", i),
                    connector: "acme".into(),
                    account_id: Some("acct-0".into()),
                    tenant_id: Some("bench".into()),
                    method: "POST".into(),
                    url: "http://h/webhooks/acme/acct-0".into(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: br#"{"type":"order.paid","data":{"order":1}}"#.to_vec(),
                    received_at: i as i64,
                };
                store.insert_inbound(&[request]).await.unwrap();
            }
        })
        .await
    };
    [lookup, transition, ack]
}

#[tokio::main]
async fn main() {
    require("nginx");
    require("wrk");
    let dir = scratch_dir("bench-cluster");
    let root = dir.join("vendor");
    write_vendor_files(&root).await;
    let vendor_port = patchbay_test_support::process::free_port();
    let mut nginx = start_nginx(&dir, &root, vendor_port, None);
    let vendor = format!("http://127.0.0.1:{vendor_port}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    println!("## several hosts on PostgreSQL, through nginx");
    println!(
        "| hosts | proxy p50 at 1 connection | proxy requests/s at 16 | unified records/s (4 walks) | CPU µs per proxied \
         request: hosts / nginx balancer / PostgreSQL / rest (wrk, vendor, kernel) |"
    );
    println!("|---:|---:|---:|---:|---|");
    for hosts in 1..=3 {
        let (p50, rps, unified, cpu) = through_the_balancer(hosts, &vendor).await;
        println!(
            "| {hosts} | {p50:.0} µs | {rps:.0} | {unified:.0} | {:.1} / {:.1} / {:.1} / {:.1} |",
            cpu.hosts, cpu.balancer, cpu.postgres, cpu.rest
        );
    }

    println!("\n## store operations, PostgreSQL against SQLite (this process, no HTTP)");
    let pg_dir = dir.join("pg");
    let server = script("postgres.sh", &["start", pg_dir.to_str().unwrap()]);
    let pg = patchbay_test_support::database::fresh_postgres_database(server.trim());
    let sqlite = format!("sqlite://{}", dir.join("ops.db").display());
    println!(
        "| operation | PostgreSQL: µs one at a time | PostgreSQL: per s, 16 at a time | SQLite: µs one at a time | SQLite: per s, 16 at a time |"
    );
    println!("|---|---:|---:|---:|---:|");
    let on_pg = store_ops(&pg).await;
    let on_sqlite = store_ops(&sqlite).await;
    for (name, (p, s)) in [
        "account lookup (uncached)",
        "status transition",
        "webhook ack commit",
    ]
    .iter()
    .zip(on_pg.iter().zip(on_sqlite.iter()))
    {
        println!("| {name} | {:.0} | {:.0} | {:.0} | {:.0} |", p.0, p.1, s.0, s.1);
    }
    script("postgres.sh", &["stop", pg_dir.to_str().unwrap()]);
    let _ = nginx.kill();
    let _ = nginx.wait();
}

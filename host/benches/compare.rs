//! Patchbay side by side with nginx and a bare client, in one run (issue 12):
//!
//! - a static **nginx vendor** serving HubSpot-shaped answers (one contact; 10,000 contacts in
//!   pages of 100, walked by HubSpot's `after` cursor), written from the HubSpot mock's own
//!   answers, so the vendor is never the bottleneck;
//! - **nginx as a plain reverse proxy** in front of it, and the release `patchbay serve` (its
//!   own process) with a HubSpot account whose base URL is the static vendor;
//! - `wrk` for one contact, direct / through nginx / through `/proxy`: p50 and p99 at one
//!   connection, requests/s at 16, interleaved rounds, the best round of each kept;
//! - the 10,000 contacts with a bare Rust client (reqwest + serde_json: fetch and parse only) and
//!   through `/unified/crm/contacts` walked by `next_cursor`, with and without `remote_data`;
//!   1, 4 and 16 concurrent unified lists; first pages over 100 and 1,000 accounts;
//! - the same pages read by airbyte-cdk's declarative runtime with a comparable mapping
//!   (`scripts/airbyte-bench.sh`: a throwaway virtualenv, skipped when pip cannot reach PyPI
//!   or with `BENCH_AIRBYTE=0`);
//! - idle RSS with every bundled connector and with one, RSS under load, cold start.
//!
//! Needs `nginx` and `wrk` on the PATH (`apt-get install nginx-light wrk`).
//! Run: `scripts/bench-compare.sh` (or `cargo bench -p patchbay --bench compare`).
//! `BENCH_ROUNDS` (default 3) sets the interleaved rounds. `BENCH_PAUSE=<seconds>` prints the
//! set-up's URLs and token and waits that long before measuring (to attach `perf` to the host).
//! Results go to docs/BENCHMARKS.md.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use patchbay_test_support::process::{HostProcess, admin, admin_token, free_port};
use patchbay_test_support::scratch_dir;
use reqwest::Method;
use serde_json::{Value, json};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_patchbay"))
}

/// Walks the vendor's pages as a bare client would: fetch, parse, follow `paging.next.after`.
async fn bare_walk(http: &reqwest::Client, vendor: &str) -> usize {
    let mut count = 0;
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{vendor}/crm/v3/objects/contacts?limit={PAGE}");
        if let Some(a) = &after {
            url.push_str(&format!("&after={}", encode(a)));
        }
        let bytes = http
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let page: Value = serde_json::from_slice(&bytes).unwrap();
        count += page["results"].as_array().unwrap().len();
        match page["paging"]["next"]["after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => return count,
        }
    }
}

/// airbyte-cdk's declarative runtime reading the same pages (`scripts/airbyte-bench.sh`, in a
/// throwaway virtualenv): records/s, or why it was skipped (no pip, no PyPI, `BENCH_AIRBYTE=0`).
async fn airbyte_walk(vendor: &str) -> Result<f64, String> {
    if std::env::var("BENCH_AIRBYTE").is_ok_and(|v| v == "0") {
        return Err("BENCH_AIRBYTE=0".into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/airbyte-bench.sh");
    let vendor = vendor.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(script)
            .args([vendor.as_str(), TOKEN])
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await
    .unwrap()
    .map_err(|e| format!("scripts/airbyte-bench.sh did not run: {e}"))?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(out.status.success(), "airbyte-bench failed: {line}");
    if let Some(reason) = line.strip_prefix("skipped:") {
        return Err(reason.trim().to_owned());
    }
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("airbyte-bench printed {line:?}"))
    };
    let records = field("records=");
    assert_eq!(records as usize, CONTACTS, "airbyte-cdk read every contact");
    Ok(records / field("seconds="))
}

/// Resident and peak resident memory of a process, in MiB (`/proc/<pid>/status`).
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

/// A connectors directory holding only `names` of the bundled ones.
fn connectors_subset(dir: &Path, names: &[&str]) -> PathBuf {
    let out = dir.join(format!("connectors-{}", names.len()));
    std::fs::create_dir_all(&out).unwrap();
    for n in names {
        let file = format!("{n}.json");
        std::fs::copy(
            patchbay_test_support::bundled_connectors().join(&file),
            out.join(file),
        )
        .unwrap();
    }
    out
}

/// Starts a host on its own database; (the process, ms from spawn to the first answer).
async fn start_timed(
    http: &reqwest::Client,
    dir: &Path,
    label: &str,
    connectors: Option<&Path>,
) -> (HostProcess, f64) {
    let db = format!("sqlite://{}", dir.join(format!("{label}.db")).display());
    let mut extra: Vec<String> = Vec::new();
    if let Some(c) = connectors {
        extra.extend(["--connectors".to_owned(), c.display().to_string()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let started = Instant::now();
    let host = HostProcess::start(bin(), &db, free_port(), &dir.join(format!("{label}.log")), &extra);
    loop {
        if let Ok(r) = http.get(format!("{}/healthz", host.url)).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{label} did not start"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (host, started.elapsed().as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require("nginx");
    require("wrk");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = scratch_dir("bench-compare");
    let root = dir.join("vendor");
    write_vendor_files(&root).await;
    let (vendor_port, proxy_port) = (free_port(), free_port());
    let mut nginx = start_nginx(&dir, &root, vendor_port, Some(proxy_port));
    let vendor = format!("http://127.0.0.1:{vendor_port}");
    let nginx_proxy = format!("http://127.0.0.1:{proxy_port}");

    let db = format!("sqlite://{}", dir.join("p.db").display());
    let token = admin_token(bin(), &db);
    let host = HostProcess::start(bin(), &db, free_port(), &dir.join("host.log"), &[]);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    host.wait_healthy(&http).await;
    let started = Instant::now();
    while http
        .get(format!("{vendor}/crm/v3/objects/contacts/101"))
        .send()
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(10), "nginx did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let create = |tenant: String| {
        let (http, token, url, vendor) = (http.clone(), token.clone(), host.url.clone(), vendor.clone());
        async move {
            let a = admin(&http, &token, Method::POST, format!("{url}/integrated-accounts"),
                Some(json!({"connector": "hubspot", "tenant_id": tenant, "credentials": {"access_token": TOKEN}, "base_url": vendor}))).await;
            assert_eq!(a["status"], "active", "{a}");
            a["id"].as_str().unwrap().to_owned()
        }
    };
    let account = create("bench".into()).await;

    let contact = "/crm/v3/objects/contacts/101";
    if let Some(secs) = std::env::var("BENCH_PAUSE").ok().and_then(|v| v.parse().ok()) {
        println!(
            "host {} (pid {}), admin token {token}, account {account}; vendor {vendor}, nginx proxy {nginx_proxy}",
            host.url,
            host.child.id()
        );
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }

    // 1. One contact: direct, through nginx, through Patchbay; interleaved rounds.
    let targets = [
        (
            "direct to the vendor",
            format!("{vendor}{contact}"),
            format!("Bearer {TOKEN}"),
        ),
        (
            "nginx reverse proxy",
            format!("{nginx_proxy}{contact}"),
            format!("Bearer {TOKEN}"),
        ),
        (
            "Patchbay /proxy",
            format!("{}/proxy/contacts/101?integrated_account_id={account}", host.url),
            format!("Bearer {token}"),
        ),
    ];
    for (_, url, auth) in &targets {
        wrk(url, Some(auth), 4, 2); // warm-up
    }
    let mut best = [(f64::MAX, f64::MAX, 0.0f64); 3];
    for round in 0..rounds {
        for (i, (name, url, auth)) in targets.iter().enumerate() {
            let (p50, p99, _) = wrk(url, Some(auth), 1, 5);
            let (_, _, rps) = wrk(url, Some(auth), 16, 5);
            println!("round {round} {name:<22} p50 {p50:>7.0} µs  p99 {p99:>7.0} µs  {rps:>8.0} req/s at 16");
            best[i] = (best[i].0.min(p50), best[i].1.min(p99), best[i].2.max(rps));
        }
    }
    let (_, load_peak) = rss_mib(host.child.id());
    println!("\n## one small contact (wrk; best of {rounds} interleaved rounds)");
    println!("| what | p50 at 1 connection | p99 at 1 connection | requests/s at 16 connections |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _, _)) in targets.iter().enumerate() {
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.0} |",
            best[i].0, best[i].1, best[i].2
        );
    }
    println!(
        "Patchbay / nginx: p50 **{:.2}×** (target ≤ 1.5×), p99 {:.2}×, throughput **{:.2}×** (target ≥ 0.6×)",
        best[2].0 / best[1].0,
        best[2].1 / best[1].1,
        best[2].2 / best[1].2
    );

    // 2. 10,000 contacts: bare client vs the unified API, interleaved rounds.
    let walk = |remote_data: bool| {
        let (h, u, t, a) = (http.clone(), host.url.clone(), token.clone(), account.clone());
        move || {
            let (h, u, t, a) = (h.clone(), u.clone(), t.clone(), a.clone());
            async move { unified_walk(&h, &u, &t, &a, remote_data).await }
        }
    };
    let mut bare = 0.0f64;
    let mut unified = 0.0f64;
    let mut unified_lean = 0.0f64;
    let mut airbyte: Result<f64, String> = Err("not run".into());
    for _ in 0..rounds {
        bare = bare.max(
            records_per_s(1, || {
                let (h, v) = (http.clone(), vendor.clone());
                async move { bare_walk(&h, &v).await }
            })
            .await,
        );
        unified = unified.max(records_per_s(1, walk(true)).await);
        unified_lean = unified_lean.max(records_per_s(1, walk(false)).await);
        // Its first round installs the CDK; a skip is not retried.
        if !matches!(&airbyte, Err(why) if why != "not run") {
            let round = airbyte_walk(&vendor).await;
            airbyte = match (airbyte, round) {
                (Ok(best), Ok(r)) => Ok(best.max(r)),
                (_, r) => r,
            };
        }
    }
    println!("\n## {CONTACTS} HubSpot-shaped contacts, {PAGE} per page (best of {rounds} rounds)");
    println!("| what | records/s |");
    println!("|---|---:|");
    println!("| bare Rust client (reqwest + serde_json: fetch and parse) | {bare:.0} |");
    println!(
        "| Patchbay /unified/crm/contacts, remote_data on | {unified:.0} (**{:.2}×** bare, target ≥ 0.5×) |",
        unified / bare
    );
    println!(
        "| same, remote_data=false | {unified_lean:.0} ({:.2}× bare) |",
        unified_lean / bare
    );
    match airbyte {
        Ok(a) => println!(
            "| airbyte-cdk declarative runtime, same pages and mapping (scripts/airbyte-bench) | {a:.0} (Patchbay is **{:.0}×**, target ≥ 50×) |",
            unified / a
        ),
        Err(why) => println!("| airbyte-cdk declarative runtime | skipped: {why} |"),
    }

    println!("\n## concurrent unified lists (one account)");
    println!("| lists at once | records/s in all |");
    println!("|---:|---:|");
    for n in [1, 4, 16] {
        let rps = records_per_s(n, walk(true)).await;
        println!("| {n} | {rps:.0} |");
    }

    // 3. Many accounts: the first page of each, 16 at a time, twice (cold, then warm caches).
    println!("\n## first unified page of every account, 16 at a time");
    println!("| accounts | cold: pages/s | warm: pages/s |");
    println!("|---:|---:|---:|");
    let mut accounts = vec![account.clone()];
    for target in [100usize, 1000] {
        while accounts.len() < target {
            let batch: Vec<_> = (accounts.len()..target.min(accounts.len() + 16))
                .map(|i| tokio::spawn(create(format!("t{i}"))))
                .collect();
            for b in batch {
                accounts.push(b.await.unwrap());
            }
        }
        let accounts = Arc::new(accounts.clone());
        let mut figures = Vec::new();
        for _ in 0..2 {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let started = Instant::now();
            let workers: Vec<_> = (0..16)
                .map(|_| {
                    let (h, u, t, accounts, next) = (
                        http.clone(),
                        host.url.clone(),
                        token.clone(),
                        accounts.clone(),
                        next.clone(),
                    );
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(a) = accounts.get(i) else { return };
                            let r = h
                                .get(format!(
                                    "{u}/unified/crm/contacts?integrated_account_id={a}&limit={PAGE}"
                                ))
                                .bearer_auth(&t)
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(r.status(), 200);
                            r.bytes().await.unwrap();
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
            figures.push(accounts.len() as f64 / started.elapsed().as_secs_f64());
        }
        println!("| {target} | {:.0} | {:.0} |", figures[0], figures[1]);
    }
    let (_, load_peak2) = rss_mib(host.child.id());

    // 4. Memory and cold start.
    drop(host);
    let all = patchbay_test_support::bundled_connector_names();
    let one = connectors_subset(&dir, &["hubspot"]);
    let (first, first_ms) = start_timed(&http, &dir, "cold-all", None).await;
    drop(first);
    let (again, cached_ms) = start_timed(&http, &dir, "cold-all", None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_all, _) = rss_mib(again.child.id());
    drop(again);
    let (single, single_ms) = start_timed(&http, &dir, "cold-one", Some(&one)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_one, _) = rss_mib(single.child.id());
    drop(single);
    println!("\n## memory and start");
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| idle RSS, {} bundled connectors | {idle_all:.1} MiB (target ≤ 50) |",
        all.len()
    );
    println!("| idle RSS, 1 connector | {idle_one:.1} MiB |");
    println!(
        "| per loaded connector | {:.2} MiB |",
        (idle_all - idle_one) / (all.len() - 1) as f64
    );
    println!(
        "| peak RSS under the loads above | {:.1} MiB |",
        load_peak.max(load_peak2)
    );
    println!(
        "| cold start to first answer, {} connectors, new database and compile cache | {first_ms:.0} ms |",
        all.len()
    );
    println!("| same, second start (compile cache warm) | {cached_ms:.0} ms (target < 200) |");
    println!("| same, 1 connector | {single_ms:.0} ms |");

    let _ = nginx.kill();
    let _ = nginx.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

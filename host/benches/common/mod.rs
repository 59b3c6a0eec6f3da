//! What the benches that put Patchbay in front of a static vendor share: the vendor's files
//! (written from the HubSpot mock's answers), nginx serving them (and, for the comparison, nginx
//! as a reverse proxy), `wrk`, and walks of `/unified/crm/contacts`.

#![allow(dead_code)] // each bench uses its part

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use patchbay_mock_vendors::{HubSpotMock, MockServer};
use serde_json::Value;

pub const TOKEN: &str = "bench-token";
pub const CONTACTS: usize = 10_000;
pub const PAGE: usize = 100;

pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed: apt-get install nginx-light wrk");
}

/// Writes the static vendor's files from the HubSpot mock's answers: `contacts/101.json` and
/// one file per page, named by the `after` value that asks for it (raw and percent-encoded, as
/// nginx's `$arg_after` is not decoded).
pub async fn write_vendor_files(root: &Path) {
    let mock = HubSpotMock::new(TOKEN);
    mock.seed(CONTACTS);
    let server = MockServer::spawn(mock.router()).await;
    let base = server.base_url();
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    // One file per single answer, at its path: the contact, and the portal the connector's
    // post-install step reads.
    for path in ["/crm/v3/objects/contacts/101", "/account-info/v3/details"] {
        let file = root.join(format!("{}.json", &path[1..]));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, get(format!("{base}{path}")).await).unwrap();
    }
    let pages = root.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    let mut after = String::new();
    loop {
        let mut url = format!("{base}/crm/v3/objects/contacts?limit={PAGE}");
        if !after.is_empty() {
            url.push_str(&format!("&after={}", encode(&after)));
        }
        let body = get(url).await;
        for name in [after.clone(), encode(&after)] {
            std::fs::write(pages.join(format!("page-{name}.json")), &body).unwrap();
        }
        let page: Value = serde_json::from_str(&body).unwrap();
        match page["paging"]["next"]["after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    drop(server);
}

pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// nginx: the static vendor on `vendor`, and the reverse proxy to it on `proxy` when given.
pub fn start_nginx(dir: &Path, root: &Path, vendor: u16, proxy: Option<u16>) -> Child {
    let proxy_server = proxy.map_or(String::new(), |proxy| {
        format!(
            r#"    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://vendor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"#
        )
    });
    let conf = format!(
        r#"worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    upstream vendor {{ server 127.0.0.1:{vendor}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{vendor};
        root {root};
        location = /crm/v3/objects/contacts {{ try_files /pages/page-$arg_after.json =404; }}
        location / {{ try_files $uri.json =404; }}
    }}
{proxy_server}}}
"#,
        dir = dir.display(),
        root = root.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    Command::new("nginx")
        .args(["-e", &format!("{}/nginx-error.log", dir.display())])
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One `wrk` run: (p50 µs, p99 µs, requests/s).
pub fn wrk(url: &str, auth: Option<&str>, connections: usize, seconds: u64) -> (f64, f64, f64) {
    let threads = connections.min(2).to_string();
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", &threads, "-c", &connections.to_string()]).args([
        "-d",
        &format!("{seconds}s"),
        "--latency",
    ]);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under wrk:\n{text}"
    );
    let field = |prefix: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's output:\n{text}"))
            .split_whitespace()
            .next()
            .unwrap()
    };
    (
        micros(field("50%")),
        micros(field("99%")),
        field("Requests/sec:").parse().unwrap(),
    )
}

/// wrk's `123.45us`, `1.23ms`, `1.02s` in µs.
pub fn micros(s: &str) -> f64 {
    let (n, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        panic!("wrk latency {s}")
    };
    n.parse::<f64>().unwrap() * scale
}

/// Walks `/unified/crm/contacts` of `account` by `next_cursor`; the records seen.
pub async fn unified_walk(
    http: &reqwest::Client,
    host: &str,
    token: &str,
    account: &str,
    remote_data: bool,
) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{host}/unified/crm/contacts?integrated_account_id={account}&limit={PAGE}&remote_data={remote_data}"
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&next_cursor={}", encode(c)));
        }
        let r = http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let records = page["result"].as_array().unwrap();
        assert_eq!(records[0].get("remote_data").is_some(), remote_data);
        count += records.len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return count,
        }
    }
}

/// Records/s of `walks` concurrent walks of `f`.
pub async fn records_per_s<F, Fut>(walks: usize, f: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = usize> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..walks).map(|_| tokio::spawn(f())).collect();
    let mut total = 0;
    for t in tasks {
        let n = t.await.unwrap();
        assert_eq!(n, CONTACTS);
        total += n;
    }
    total as f64 / started.elapsed().as_secs_f64()
}

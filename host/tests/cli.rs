//! The `patchbay` binary: `token create`, `connector validate`, `secrets rotate`, and `serve` with
//! graceful shutdown on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_patchbay"))
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("patchbay-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn connectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors")
}

#[test]
fn token_create_prints_only_the_token() {
    let dir = scratch("token");
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let out = bin()
        .args(["token", "create", "--admin", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    assert!(lines[0].starts_with("pbt_") && lines[0].len() == 68, "{stdout:?}");
    let out = bin()
        .args(["token", "create", "--database", &db])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a token must be admin or for a tenant");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tokens_are_listed_with_their_expiry_and_revoked_by_id() {
    let dir = scratch("tokens");
    let db = patchbay_test_support::database::fresh_database(&dir);
    let run = |args: &[&str]| {
        let out = bin().args(args).args(["--database", &db]).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert!(run(&["token", "create", "--admin"]).0);
    assert!(run(&["token", "create", "--tenant", "t1", "--expires-in", "1h"]).0);
    assert!(run(&["token", "create", "--metrics"]).0);
    assert!(
        !run(&["token", "create", "--metrics", "--admin"]).0,
        "one kind per token"
    );
    let (ok, listed) = run(&["token", "list"]);
    assert!(ok, "{listed}");
    let rows: Vec<Vec<&str>> = listed.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3, "{listed}");
    let kind = |k: &str| {
        rows.iter()
            .find(|r| r[1] == k)
            .unwrap_or_else(|| panic!("no {k}: {listed}"))
    };
    assert_eq!(kind("admin")[3], "never", "{listed}");
    assert_eq!(kind("metrics")[3], "never", "{listed}");
    let tenant = kind("tenant:t1");
    assert!(tenant[3].starts_with("20"), "an RFC 3339 expiry: {listed}");
    assert!(!listed.contains("pbt_"), "a token is never shown again: {listed}");
    let (ok, said) = run(&["token", "revoke", tenant[0]]);
    assert!(ok && said.contains("revoked"), "{said}");
    assert!(!run(&["token", "revoke", tenant[0]]).0, "revoking twice fails");
    assert_eq!(run(&["token", "list"]).1.lines().count(), 3, "two tokens left");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn connector_validate_reports_every_problem_with_file_and_path() {
    let dir = scratch("validate");
    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        r#"{"name": "Bad Name", "version": "1", "base_url": "ftp://x", "auth": {"type": "bearer"},
            "resources": {"r": {"methods": {"list": {"method": "GET", "path": "r", "records": "]["}}}}}"#,
    )
    .unwrap();
    let good = connectors().join("hubspot.json");
    let out = bin()
        .arg("connector")
        .arg("validate")
        .arg(&good)
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("hubspot.json: ok (hubspot 1.0.0)"), "{stdout}");
    for path in [
        "$.name",
        "$.base_url",
        "$.resources.r.methods.list.path",
        "$.resources.r.methods.list.records",
    ] {
        assert!(
            stdout.contains(&format!("broken.json: {path}:")),
            "missing {path} in {stdout}"
        );
    }
    let ok = bin()
        .arg("connector")
        .arg("validate")
        .arg(&good)
        .output()
        .unwrap();
    assert!(ok.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

/// One HTTP/1.1 exchange on loopback; returns the whole answer text.
fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A one-endpoint stand-in vendor: answers every request with an empty Pipedrive page.
fn tiny_vendor() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let body = r#"{"success":true,"data":null,"additional_data":{"pagination":{"start":0,"limit":100,"more_items_in_collection":false}}}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn serve_answers_never_logs_credentials_and_stops_on_sigterm() {
    let dir = scratch("serve");
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let out = bin()
        .args(["token", "create", "--admin", "--database", &db])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .arg("--connectors")
        .arg(connectors())
        .env("DATABASE_URL", &db)
        .env("PATCHBAY_LOG", "debug")
        .env_remove("PATCHBAY_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the logs while the server runs: a full pipe would block it.
    let mut stderr = child.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut logs = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut logs).unwrap();
        logs
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        match http(port, "GET", "/readyz", None, None) {
            Ok(text) => break text,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("server never answered: {e}"),
        }
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    // The bundled manifests; Linear's only once its component is built (scripts/build-components.sh).
    let manifests = std::fs::read_dir(connectors())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".json") && name != "manifest.schema.json"
        })
        .count();
    let expected = if connectors().join("linear.wasm").is_file() {
        manifests
    } else {
        manifests - 1
    };
    assert!(body.contains(&format!("\"connectors\":{expected}")), "{body}");
    // No PATCHBAY_SECRET_KEY: a 0600 key file appears beside the database.
    let key = dir.join("p.db.key");
    assert!(key.exists());

    // A proxied call with a query-string API key: the key must not reach the logs.
    const API_TOKEN: &str = "pd-secret-0123456789abcdef";
    let vendor = tiny_vendor();
    let create = format!(
        r#"{{"connector":"pipedrive","tenant_id":"t","credentials":{{"api_token":"{API_TOKEN}"}},"context":{{"company_domain":"acme"}},"base_url":"http://127.0.0.1:{vendor}/api/v1"}}"#
    );
    let created = http(port, "POST", "/integrated-accounts", Some(&token), Some(&create)).unwrap();
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let id = created
        .split("\"id\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let listed = http(
        port,
        "GET",
        &format!("/proxy/persons?integrated_account_id={id}"),
        Some(&token),
        None,
    )
    .unwrap();
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    assert!(!created.contains(API_TOKEN) && !listed.contains(API_TOKEN));

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let logs = drain.join().unwrap();
    let first = logs.lines().next().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "JSON logs: {first}"
    );
    assert!(
        logs.contains("PATCHBAY_SECRET_KEY is unset"),
        "the generated key is announced"
    );
    assert!(
        logs.contains("/api/v1/persons"),
        "the vendor call was logged (by path)"
    );
    assert!(!logs.contains(API_TOKEN), "a credential reached the logs");
    assert!(!logs.contains(&token), "an API token reached the logs");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_keeps_the_master_key_where_it_is_told() {
    let dir = scratch("keyfile");
    let key = dir.join("elsewhere").join("master.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // An in-memory database has no file to put a key beside: only the flag gives it one.
    let mut child = bin()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", "sqlite::memory:"])
        .arg("--secret-key-file")
        .arg(&key)
        .arg("--connectors")
        .arg(connectors())
        .env_remove("PATCHBAY_SECRET_KEY")
        .env("PATCHBAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http(port, "GET", "/healthz", None, None).is_err() {
        assert!(Instant::now() < deadline, "server never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&key).expect("the key file was created where asked");
    assert_eq!(text.len(), 64, "64 hex digits");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `patchbay secrets rotate`: every sealed secret is re-sealed under the new key in one
/// transaction; the host restarts on the new key and opens all of them; the old key is refused.
#[tokio::test]
async fn secrets_rotate_reseals_every_secret_and_the_old_key_is_refused() {
    use patchbay_mock_vendors::{HubSpotMock, MockServer};
    use patchbay_test_support::process::{HostProcess, admin, admin_token, free_port};
    use reqwest::Method;
    use serde_json::json;

    const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let exe = Path::new(env!("CARGO_BIN_EXE_patchbay"));
    let dir = scratch("rotate");
    let db = patchbay_test_support::database::fresh_database(&dir);
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, OLD).unwrap();
    let key_arg = key_file.to_str().unwrap().to_owned();
    let serve_args = [
        "--secret-key-file",
        key_arg.as_str(),
        "--allow-private-delivery-targets",
    ];
    let mock = HubSpotMock::new("vendor-token");
    mock.seed(2);
    let vendor = MockServer::spawn(mock.router()).await;
    let http = reqwest::Client::new();
    let token = admin_token(exe, &db);
    let port = free_port();

    let host = HostProcess::start(exe, &db, port, &dir.join("host1.log"), &serve_args);
    host.wait_healthy(&http).await;
    let url = host.url.clone();
    let account = admin(
        &http,
        &token,
        Method::POST,
        format!("{url}/integrated-accounts"),
        Some(
            json!({"connector": "hubspot", "tenant_id": "t1", "credentials": {"access_token": "vendor-token"},
                    "base_url": vendor.base_url()}),
        ),
    )
    .await;
    let id = account["id"].as_str().unwrap().to_owned();
    admin(
        &http,
        &token,
        Method::PUT,
        format!("{url}/connectors/hubspot/oauth-app"),
        Some(json!({"client_id": "cid", "client_secret": "app-secret"})),
    )
    .await;
    let r = http
        .put(format!("{url}/connectors/hubspot/webhook-secret"))
        .bearer_auth(&token)
        .json(&json!({"secret": "hook-secret"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    admin(
        &http,
        &token,
        Method::POST,
        format!("{url}/webhook-endpoints"),
        Some(json!({"url": "http://127.0.0.1:9/hooks"})),
    )
    .await;
    let proxied = format!("{url}/proxy/contacts?integrated_account_id={id}");
    let before = http.get(&proxied).bearer_auth(&token).send().await.unwrap();
    assert_eq!(before.status(), 200);
    drop(host);

    let out = bin()
        .args([
            "secrets",
            "rotate",
            "--database",
            &db,
            "--secret-key-file",
            &key_arg,
        ])
        .env("PATCHBAY_NEW_SECRET_KEY", NEW)
        .env_remove("PATCHBAY_SECRET_KEY")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An account's credentials, an OAuth app, a webhook secret, an endpoint secret, the key check.
    assert!(said.contains("re-sealed 5 secrets"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        NEW,
        "the key file holds the new key"
    );

    // Restarted on the new key: every secret opens.
    let host = HostProcess::start(exe, &db, port, &dir.join("host2.log"), &serve_args);
    host.wait_healthy(&http).await;
    let after = http.get(&proxied).bearer_auth(&token).send().await.unwrap();
    assert_eq!(after.status(), 200, "the credentials open under the new key");
    let app = admin(
        &http,
        &token,
        Method::GET,
        format!("{url}/connectors/hubspot/oauth-app"),
        None,
    )
    .await;
    assert_eq!(app["client_id"], "cid", "{app}");
    drop(host);

    // The old key is refused at startup, before anything is sealed with it.
    std::fs::write(&key_file, OLD).unwrap();
    let out = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--database",
            &db,
        ])
        .args(serve_args)
        .env_remove("PATCHBAY_SECRET_KEY")
        .env("PATCHBAY_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a host with the old key must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not open this database's secrets"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

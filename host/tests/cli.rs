//! The `patchbay` binary: `token create`, `connector validate`, and `serve` with graceful
//! shutdown on SIGTERM.

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

#[test]
fn serve_answers_and_stops_on_sigterm() {
    let dir = scratch("serve");
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
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("p.db").display()))
        .env_remove("PATCHBAY_SECRET_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            use std::io::{Read, Write};
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        });
        match got {
            Ok(text) => break text,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("server never answered: {e}"),
        }
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"connectors\":3"), "{body}");
    // No PATCHBAY_SECRET_KEY: a 0600 key file appears beside the database.
    let key = dir.join("p.db.key");
    assert!(key.exists());
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    let first = logs.lines().next().unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "JSON logs: {first}"
    );
    assert!(
        logs.contains("PATCHBAY_SECRET_KEY is unset"),
        "the generated key is announced"
    );
    let _ = std::fs::remove_dir_all(dir);
}

//! Connector tests as data: runs a connector's cases (`connectors/<name>/tests/*.json`, format
//! in [`spec`]) through a real host. Each case gets a replaying vendor on loopback
//! ([`replay`]), a host on a scratch SQLite database with the connector loaded by the registry,
//! an account (created `active` in the host's store: its connect steps are not part of the case),
//! and the case's call over the host's HTTP API; the answer is compared with the expectations.

pub mod replay;
pub mod skeleton;
pub mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_engine::Connector;
use rand::RngCore;
use serde_json::Value;
use tokio::net::TcpListener;

use self::spec::{Api, Case, CaseFile, contains};
use crate::accounts::model::{AccountRow, AccountStatus};
use crate::accounts::state_machine::{AccountEvent, Transition};
use crate::{App, Config};

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The connector.
    pub connector: String,
    /// The case's name (or its file, when it does not parse).
    pub case: String,
    /// The case file.
    pub file: PathBuf,
    /// `Ok`, or every problem found.
    pub outcome: Result<(), Vec<String>>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Runs every case, one after the other.
pub async fn run_all(files: &[CaseFile]) -> Vec<CaseResult> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        out.push(run_case(f).await);
    }
    out
}

/// The results as a table (connector, case, result, time), failures explained below it.
pub fn table(results: &[CaseResult]) -> String {
    let mut out = String::new();
    let w = results
        .iter()
        .map(|r| r.connector.len())
        .max()
        .unwrap_or(9)
        .max(9);
    let c = results
        .iter()
        .map(|r| r.case.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 70);
    out.push_str(&format!(
        "{:w$}  {:c$}  {:6}  {:>8}\n",
        "connector", "case", "result", "time"
    ));
    for r in results {
        let result = if r.outcome.is_ok() { "pass" } else { "FAIL" };
        let case: String = r.case.chars().take(c).collect();
        out.push_str(&format!(
            "{:w$}  {:c$}  {:6}  {:>6}ms\n",
            r.connector,
            case,
            result,
            r.elapsed.as_millis()
        ));
    }
    for r in results {
        if let Err(problems) = &r.outcome {
            out.push_str(&format!("\n{} ({}):\n", r.case, r.file.display()));
            for p in problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
    }
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    out.push_str(&format!(
        "\n{} cases, {} passed, {failed} failed\n",
        results.len(),
        results.len() - failed
    ));
    out
}

/// Runs one case.
pub async fn run_case(file: &CaseFile) -> CaseResult {
    let started = Instant::now();
    let parsed = std::fs::read_to_string(&file.path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Case>(&t).map_err(|e| format!("not a case: {e}")));
    let (connector, name, outcome) = match parsed {
        Err(e) => ("?".to_owned(), file.path.display().to_string(), Err(vec![e])),
        Ok(case) => {
            let outcome = run(&case, &file.manifest).await;
            (case.connector.clone(), case.name.clone(), outcome)
        }
    };
    CaseResult {
        connector,
        case: name,
        file: file.path.clone(),
        outcome,
        elapsed: started.elapsed(),
    }
}

async fn run(case: &Case, manifest: &Path) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];
    let text = std::fs::read_to_string(manifest).map_err(|e| one(format!("{}: {e}", manifest.display())))?;
    let engine = Connector::from_json(&text).map_err(|ps| {
        ps.iter()
            .map(|p| format!("{}: {}: {}", manifest.display(), p.path, p.message))
            .collect::<Vec<_>>()
    })?;
    if engine.name() != case.connector {
        return Err(one(format!(
            "the case is for {:?}, the manifest is {:?}",
            case.connector,
            engine.name()
        )));
    }
    let credentials = Value::Object(case.account.credentials.clone());
    let context = Value::Object(case.account.context.clone());
    let vendor = engine
        .base_url(&patchbay_engine::Account {
            credentials: &credentials,
            context: &context,
            base_url: None,
            auth_method: case.account.auth_method.as_deref(),
        })
        .map_err(|e| one(format!("the account cannot reach the vendor: {e}")))?;
    // Only URLs under the API root are the vendor's API (Asana's web links share its origin).
    let base_path = vendor.path().trim_end_matches('/').to_owned();
    let vendor_root = format!("{}{base_path}", vendor.origin().ascii_serialization());
    let replay = replay::start(case.exchanges.clone(), vendor_root, base_path.clone())
        .await
        .map_err(|e| one(format!("replay: {e}")))?;
    let base = format!("{}{base_path}", replay.origin);

    let scratch = std::env::temp_dir().join(format!("patchbay-case-{}", uuid::Uuid::new_v4().simple()));
    let result = host_call(case, manifest, &text, &scratch, &credentials, &context, &base).await;
    let mut problems = match result {
        Ok(p) => p,
        Err(e) => vec![e],
    };
    problems.extend(replay.finish());
    let _ = std::fs::remove_dir_all(&scratch);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Starts a host for the case, makes the call, compares; returns the differences.
async fn host_call(
    case: &Case,
    manifest: &Path,
    text: &str,
    scratch: &Path,
    credentials: &Value,
    context: &Value,
    base: &str,
) -> Result<Vec<String>, String> {
    let connectors = scratch.join("connectors");
    std::fs::create_dir_all(&connectors).map_err(|e| e.to_string())?;
    let file_name = manifest.file_name().unwrap_or_default();
    std::fs::write(connectors.join(file_name), text).map_err(|e| e.to_string())?;
    // A component the manifest names is copied beside it.
    let component: Option<String> = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        v.pointer("/component/path")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if let Some(rel) = component {
        let from = manifest.parent().unwrap_or(Path::new(".")).join(&rel);
        let to = connectors.join(&rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::copy(&from, &to).map_err(|e| format!("component {}: {e}", from.display()))?;
    }
    let mut config = Config::new(
        format!("sqlite://{}", scratch.join("patchbay.db").display()),
        connectors,
    );
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    config.secret_key = Some(key);
    let app = Arc::new(App::open(&config).await.map_err(|e| format!("host: {e:#}"))?);
    if app.registry.get(&case.connector).is_none() {
        let errors = serde_json::to_string(&app.registry.snapshot().errors).unwrap_or_default();
        return Err(format!("the host did not load {:?}: {errors}", case.connector));
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, app.clone(), async {
        let _ = stopped.await;
    }));
    let schema_file = manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join("unified")
        .join(format!(
            "{}.{}.schema.json",
            case.call.model.as_deref().unwrap_or_default(),
            case.call.resource
        ));
    let outcome = call(case, &app, &url, credentials, context, base)
        .await
        .map(|(mut problems, records)| {
            // Unified records must also be what their model's schema says.
            if case.call.api == Api::Unified {
                problems.extend(schema_problems(&schema_file, &records));
            }
            problems
        });
    let _ = stop.send(());
    let _ = server.await;
    outcome
}

async fn call(
    case: &Case,
    app: &App,
    url: &str,
    credentials: &Value,
    context: &Value,
    base: &str,
) -> Result<(Vec<String>, Vec<Value>), String> {
    let id = AccountRow::new_id();
    let row = AccountRow::new(
        id.clone(),
        case.connector.clone(),
        "case".into(),
        app.secrets.seal_credentials(&id, credentials),
        context.clone(),
        Some(base.to_owned()),
    )
    .with_auth_method(case.account.auth_method.clone());
    app.store
        .create_account(&row, "case")
        .await
        .map_err(|e| e.to_string())?;
    app.store
        .transition(&Transition::new(
            &row,
            AccountStatus::Active,
            AccountEvent::Active,
            "case",
        ))
        .await
        .map_err(|e| e.to_string())?;
    let token = app
        .store
        .create_token(true, None)
        .await
        .map_err(|e| e.to_string())?;

    let c = &case.call;
    let mut path = match (c.api, &c.model) {
        (Api::Unified, Some(model)) => format!("{url}/unified/{model}/{}", c.resource),
        (Api::Unified, None) => return Err("a unified call needs `model`".into()),
        (Api::Proxy, _) => format!("{url}/proxy/{}", c.resource),
    };
    if let Some(id) = &c.id {
        path.push('/');
        path.push_str(&url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
    }
    let method = match c.method.as_str() {
        "list" | "get" => reqwest::Method::GET,
        "create" => reqwest::Method::POST,
        "update" => reqwest::Method::PATCH,
        "delete" => reqwest::Method::DELETE,
        other => return Err(format!("unknown call method {other:?}")),
    };
    let http = reqwest::Client::new();
    let mut records: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let (status, headers, body) = loop {
        let mut query: Vec<(String, String)> = vec![("integrated_account_id".into(), id.clone())];
        query.extend(c.query.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(cur) = &cursor {
            query.push(("next_cursor".into(), cur.clone()));
        }
        let mut req = http
            .request(method.clone(), &path)
            .bearer_auth(&token)
            .query(&query);
        if let Some(b) = &c.body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| format!("host call: {e}"))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        pages += 1;
        match body.get("result") {
            Some(Value::Array(rs)) if c.method == "list" => records.extend(rs.iter().cloned()),
            Some(r @ Value::Object(_)) if status < 300 => records.push(r.clone()),
            _ => {}
        }
        let next = body["next_cursor"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        match next {
            Some(n) if c.follow && status < 300 && pages < 50 => cursor = Some(n),
            _ => break (status, headers, body),
        }
    };

    let e = &case.expect;
    let mut problems = Vec::new();
    if let Some(want) = e.status
        && want != status
    {
        problems.push(format!("status: expected {want}, got {status} ({body})"));
    }
    if let Some(code) = &e.error {
        let got = body.pointer("/error/code").and_then(Value::as_str);
        if got != Some(code.as_str()) {
            problems.push(format!("error: expected {code:?}, got {got:?} ({body})"));
        }
    }
    if let Some(want) = &e.records
        && let Err(d) = contains(
            &Value::Array(want.clone()),
            Some(&Value::Array(records.clone())),
            "records",
        )
    {
        problems.push(d);
    }
    if let Some(want) = &e.record
        && let Err(d) = contains(want, body.get("result"), "record")
    {
        problems.push(d);
    }
    if let Some(want) = e.next_cursor {
        let has = body["next_cursor"].as_str().is_some_and(|s| !s.is_empty());
        if has != want {
            problems.push(format!(
                "next_cursor: expected {}, got {}",
                if want { "one" } else { "none" },
                if has { "one" } else { "none" }
            ));
        }
    }
    for (k, v) in &e.headers {
        let got = headers.get(k.as_str()).and_then(|h| h.to_str().ok());
        if got != Some(v.as_str()) {
            problems.push(format!("header {k}: expected {v:?}, got {got:?}"));
        }
    }
    Ok((problems, records))
}

/// Where unified records break their model's schema (`connectors/unified/<model>.<resource>`).
fn schema_problems(schema_file: &Path, records: &[Value]) -> Vec<String> {
    let Some(schema) = std::fs::read_to_string(schema_file)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return vec![format!("no unified model schema {}", schema_file.display())];
    };
    let validator = match crate::connectors::json_schema::compile(&schema) {
        Ok(v) => v,
        Err(e) => return vec![format!("{}: {e}", schema_file.display())],
    };
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        for e in validator.iter_errors(r) {
            out.push(format!(
                "record {i} breaks its model's schema at {}: {e}",
                e.instance_path
            ));
        }
    }
    out
}

//! The replaying vendor of a case: a loopback HTTP server that expects the case's exchanges in
//! order, checks each request against the next one, and answers what the vendor documented
//! (with the vendor's origin rewritten to its own, so absolute next-page URLs lead back here).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::net::TcpListener;

use super::spec::Exchange;

/// What the replay saw.
#[derive(Debug, Default)]
struct Log {
    next: usize,
    problems: Vec<String>,
}

#[derive(Clone)]
struct Replay {
    exchanges: Arc<Vec<Exchange>>,
    log: Arc<Mutex<Log>>,
    vendor_root: String,
    root: String,
}

/// A running replay.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    log: Arc<Mutex<Log>>,
    total: usize,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// Stops the server; returns every problem (mismatches, unused exchanges).
    pub fn finish(mut self) -> Vec<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let log = self.log.lock().expect("replay log");
        let mut problems = log.problems.clone();
        if log.next < self.total {
            problems.push(format!(
                "exchange {} of {} was never requested",
                log.next + 1,
                self.total
            ));
        }
        problems
    }
}

/// Starts a replay of `exchanges`; `vendor_root` (the vendor's API root URL, whose path is
/// `base_path`) is rewritten to the replay's in answers.
pub async fn start(
    exchanges: Vec<Exchange>,
    vendor_root: String,
    base_path: String,
) -> std::io::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let log = Arc::new(Mutex::new(Log::default()));
    let total = exchanges.len();
    let state = Replay {
        exchanges: Arc::new(exchanges),
        log: log.clone(),
        vendor_root,
        root: format!("{origin}{base_path}"),
    };
    let app = Router::new().fallback(answer).with_state(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Running {
        origin,
        log,
        total,
        stop: Some(stop),
    })
}

async fn answer(
    State(r): State<Replay>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = {
        let mut log = r.log.lock().expect("replay log");
        let i = log.next;
        log.next += 1;
        i
    };
    let Some(exchange) = r.exchanges.get(index) else {
        let problem = format!("unexpected request {method} {uri} after the last exchange");
        return refuse(&r, problem);
    };
    if let Err(problem) = check(exchange, &method, &uri, &headers, &body) {
        return refuse(&r, format!("exchange {}: {problem}", index + 1));
    }
    let rewrite = |s: &str| s.replace(&r.vendor_root, &r.root);
    let res = &exchange.response;
    let mut builder = Response::builder().status(StatusCode::from_u16(res.status).unwrap_or(StatusCode::OK));
    let has_type = res.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type"));
    for (k, v) in &res.headers {
        builder = builder.header(k.as_str(), rewrite(v));
    }
    let body = match (&res.body, &res.body_text) {
        (Some(json), _) => {
            if !has_type {
                builder = builder.header("content-type", "application/json");
            }
            rewrite(&json.to_string())
        }
        (None, Some(text)) => rewrite(text),
        (None, None) => String::new(),
    };
    builder
        .body(Body::from(body))
        .unwrap_or_else(|e| refuse(&r, format!("bad response: {e}")))
}

fn refuse(r: &Replay, problem: String) -> Response {
    r.log.lock().expect("replay log").problems.push(problem.clone());
    let mut res = Response::new(Body::from(problem));
    *res.status_mut() = StatusCode::from_u16(599).expect("599 is a status");
    res
}

fn check(e: &Exchange, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Result<(), String> {
    let want = &e.request;
    if !want.method.eq_ignore_ascii_case(method.as_str()) || want.path != uri.path() {
        return Err(format!(
            "expected {} {}, got {method} {}",
            want.method,
            want.path,
            uri.path()
        ));
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for (k, v) in &want.query {
        if !query.iter().any(|(qk, qv)| qk == k && qv == v) {
            let got: Vec<&str> = query
                .iter()
                .filter(|(qk, _)| qk == k)
                .map(|(_, v)| v.as_str())
                .collect();
            return Err(format!("query {k}: expected {v:?}, got {got:?}"));
        }
    }
    for (k, v) in &want.headers {
        let got = headers.get(k.as_str()).and_then(|h| h.to_str().ok());
        if got != Some(v.as_str()) {
            return Err(format!("header {k}: expected {v:?}, got {got:?}"));
        }
    }
    if let Some(expected) = &want.body {
        let got: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        if got.as_ref() != Some(expected) {
            return Err(format!(
                "body: expected {expected}, got {}",
                String::from_utf8_lossy(body)
            ));
        }
    }
    Ok(())
}

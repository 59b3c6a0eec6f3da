//! A real `patchbay` host for a test (the library's `serve`, on port 0, with a fresh database: a
//! SQLite file in a fresh directory, or a PostgreSQL database in the backend matrix's run), its
//! answers, and typed helpers for the API calls tests repeat.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use patchbay::{App, Config};
use reqwest::Method;
use serde_json::{Value, json};

use patchbay_test_support::{copy_connectors, scratch_dir, urlencode};

/// A running host.
pub struct Host {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// An admin token.
    pub admin: String,
    /// The host's services (its store, secrets, registry).
    pub app: Arc<App>,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Scratch directory (database, connectors copy).
    pub dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Options of [`Host::start_with`].
pub struct HostOptions {
    /// Connectors directory (default: the bundled ones).
    pub connectors: Option<PathBuf>,
    /// Upstream timeout.
    pub upstream_timeout: Duration,
    /// Token refresh settings.
    pub refresh: patchbay::config::RefreshConfig,
    /// Database URL (default: a fresh database, see `patchbay_test_support::database`).
    pub database_url: Option<String>,
    /// Any other configuration change.
    pub tweak: Option<fn(&mut Config)>,
    /// Compiled-component cache (default: one shared by the tests of a run).
    pub wasm_cache: Option<PathBuf>,
    /// Let vendor calls reach loopback (`--allow-private-vendor-targets`): needed when a
    /// manifest or a token answer, rather than an account's `base_url` override, points at a
    /// mock vendor. Off by default, so the SSRF guard is on in every other test.
    pub private_vendors: bool,
}

impl HostOptions {
    /// Everything on loopback allowed: vendors that `connectors`' manifests point at, and the
    /// product's webhook receivers, delivered to at once (one attempt).
    pub fn on_loopback(connectors: PathBuf) -> Self {
        Self {
            connectors: Some(connectors),
            private_vendors: true,
            tweak: Some(|c| {
                c.webhooks.allow_private_targets = true;
                c.webhooks.retry_schedule = vec![Duration::ZERO];
            }),
            ..Default::default()
        }
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            connectors: None,
            upstream_timeout: Duration::from_secs(10),
            refresh: Default::default(),
            database_url: None,
            tweak: None,
            wasm_cache: None,
            private_vendors: false,
        }
    }
}

impl Host {
    /// Starts a host with the bundled connectors.
    pub async fn start() -> Self {
        Self::start_with(HostOptions::default()).await
    }

    /// Starts a host.
    pub async fn start_with(options: HostOptions) -> Self {
        let dir = scratch_dir("host");
        let mut config = Config::new(
            options
                .database_url
                .unwrap_or_else(|| patchbay_test_support::database::fresh_database(&dir)),
            options.connectors.unwrap_or_else(|| {
                let connectors = dir.join("connectors");
                copy_connectors(&connectors);
                connectors
            }),
        );
        config.secret_key = Some([42; 32]);
        // Compiled components are shared across the tests of a run (keyed by content hash).
        config.sandbox.cache_dir = Some(
            options
                .wasm_cache
                .unwrap_or_else(|| std::env::temp_dir().join("patchbay-tests-wasm-cache")),
        );
        config.upstream_timeout = options.upstream_timeout;
        config.refresh = options.refresh;
        config.allow_private_vendor_targets = options.private_vendors;
        if let Some(tweak) = options.tweak {
            tweak(&mut config);
        }
        let app = Arc::new(App::open(&config).await.expect("host opens"));
        let admin = app.store.create_token(true, None).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(patchbay::serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        Self {
            url,
            admin,
            app,
            http: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A token for one tenant.
    pub async fn tenant_token(&self, tenant: &str) -> String {
        self.app.store.create_token(false, Some(tenant)).await.unwrap()
    }

    /// A token that may only read `GET /metrics`.
    pub async fn metrics_token(&self) -> String {
        let scope = Some(patchbay::accounts::Principal::METRICS);
        self.app
            .store
            .create_token_with(false, None, None, scope)
            .await
            .unwrap()
            .0
    }

    /// A request with a token.
    pub fn req(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    /// GET with the admin token; returns status, headers and JSON body.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &self.admin, None).await
    }

    /// Sends a JSON request with a token.
    pub async fn send(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut r = self.req(method, path, token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::from(r.send().await.unwrap()).await
    }

    /// Sends a JSON request with the admin token.
    pub async fn admin_send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, &self.admin, body).await
    }

    /// `POST /integrated-accounts` with the admin token.
    pub async fn create_account(&self, body: Value) -> Reply {
        self.admin_send(Method::POST, "/integrated-accounts", Some(body))
            .await
    }

    /// Creates an account with the admin token (201 expected); returns its id.
    pub async fn account(
        &self,
        connector: &str,
        tenant: &str,
        credentials: Value,
        context: Value,
        base_url: &str,
    ) -> String {
        let reply = self
            .create_account(json!({"connector": connector, "tenant_id": tenant, "credentials": credentials, "context": context, "base_url": base_url}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// `GET /integrated-accounts/{id}`: the account's public view.
    pub async fn account_view(&self, id: &str) -> Value {
        self.get(&format!("/integrated-accounts/{id}")).await.body
    }

    /// The account's status.
    pub async fn status(&self, id: &str) -> String {
        self.account_view(id).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `PATCH /integrated-accounts/{id}` with the admin token.
    pub async fn patch_account(&self, id: &str, body: Value) -> Reply {
        self.admin_send(Method::PATCH, &format!("/integrated-accounts/{id}"), Some(body))
            .await
    }

    /// `POST /integrated-accounts/{id}/retry` with the admin token.
    pub async fn retry(&self, id: &str) -> Reply {
        self.admin_send(Method::POST, &format!("/integrated-accounts/{id}/retry"), None)
            .await
    }

    /// `POST /integrated-accounts/{id}/refresh` with the admin token.
    pub async fn refresh(&self, id: &str) -> Reply {
        self.admin_send(Method::POST, &format!("/integrated-accounts/{id}/refresh"), None)
            .await
    }

    /// `DELETE /integrated-accounts/{id}` with the admin token.
    pub async fn delete_account(&self, id: &str) -> Reply {
        self.admin_send(Method::DELETE, &format!("/integrated-accounts/{id}"), None)
            .await
    }

    /// The names of an account's audit-log events, oldest first.
    pub async fn events(&self, id: &str) -> Vec<String> {
        let reply = self.get(&format!("/integrated-accounts/{id}/events")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `PUT /connectors/{name}` with the admin token (a manifest, or `{manifest, component}`).
    pub async fn put_connector(&self, name: &str, body: Value) -> Reply {
        self.admin_send(Method::PUT, &format!("/connectors/{name}"), Some(body))
            .await
    }

    /// `PUT /connectors/{connector}/oauth-app` with the admin token (200 expected).
    pub async fn put_oauth_app(&self, connector: &str, app: Value) -> Reply {
        let reply = self
            .admin_send(
                Method::PUT,
                &format!("/connectors/{connector}/oauth-app"),
                Some(app),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
    }

    /// `GET /metrics` with the admin token: the exposition.
    pub async fn metrics(&self) -> String {
        let r = self
            .req(Method::GET, "/metrics", &self.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Stops the host gracefully.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A host answer.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// JSON body (null when empty).
    pub body: Value,
}

impl Reply {
    /// Reads an answer.
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body's `status` (an account view's).
    pub fn status_field(&self) -> &str {
        self.body["status"].as_str().unwrap_or_default()
    }

    /// Asserts the normalized error body and returns it.
    pub fn error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status of {}", self.body);
        let e = &self.body["error"];
        assert_eq!(e["code"], code, "{}", self.body);
        assert!(
            e["request_id"].as_str().is_some_and(|r| r.starts_with("req_")),
            "{}",
            self.body
        );
        assert!(e["message"].is_string(), "{}", self.body);
        assert!(e["remote"].is_boolean(), "{}", self.body);
        e
    }
}

/// Follows `next_cursor` from `first_path` until the end; returns every record and the page count.
/// Later pages send only `integrated_account_id` and the cursor: a cursor carries the rest.
pub async fn walk_pages(host: &Host, first_path: &str) -> (Vec<Value>, usize) {
    let (route, query) = first_path.split_once('?').expect("a path with a query");
    let account = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "integrated_account_id")
        .map(|(_, v)| v.into_owned())
        .expect("integrated_account_id");
    let mut records = Vec::new();
    let mut pages = 0;
    let mut path = first_path.to_owned();
    loop {
        let reply = host.get(&path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        pages += 1;
        let page = reply.body["result"].as_array().unwrap();
        assert_eq!(reply.body["result_count"], page.len());
        records.extend(page.iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(c) => {
                path = format!(
                    "{route}?integrated_account_id={account}&next_cursor={}",
                    urlencode(c)
                )
            }
            None => return (records, pages),
        }
        assert!(pages < 1000, "pagination does not end");
    }
}

/// Activation times, sorted: `runs` times, a connector change (`put(i)`, which must answer 200)
/// up to the first `call()` served by it, i.e. whose `patchbay-connector-version` starts with
/// `served(i)`.
pub async fn activation_times(
    runs: usize,
    put: impl Fn(usize) -> reqwest::RequestBuilder,
    call: impl Fn() -> reqwest::RequestBuilder,
    served: impl Fn(usize) -> String,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = std::time::Instant::now();
        let r = put(i).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let r = call().send().await.unwrap();
        let by = r.headers()["patchbay-connector-version"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(by.starts_with(&served(i)), "{by}");
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// The value of the sample `name` whose labels are exactly `labels`, in an exposition.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, mut got) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}')?;
                let pairs: Vec<(String, String)> = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap_or((p, ""));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (n, pairs)
            }
            None => (series, Vec::new()),
        };
        got.sort();
        (n == name && got == want).then(|| value.parse().ok()).flatten()
    })
}

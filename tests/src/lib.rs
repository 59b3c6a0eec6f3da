//! End-to-end harness: starts a real `patchbay` host (the library's `serve`, on port 0, with a
//! SQLite file in a fresh directory) next to mock vendor servers, and talks to it over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use patchbay::{AppState, Config};
pub use patchbay_mock_vendors as mocks;
use serde_json::{Value, json};

/// The repository's `connectors/` directory.
pub fn bundled_connectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors")
}

/// A fresh, empty scratch directory.
pub fn scratch_dir(label: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "patchbay-{label}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The guest crates built for `wasm32-wasip2` (connector components and the hostile test ones).
pub const GUEST_CRATES: [&str; 4] = [
    "patchbay-linear",
    "patchbay-manifest-component",
    "patchbay-hostile-component",
    "patchbay-forbidden-import-component",
];

/// The path of a built guest component (`patchbay_linear`, `patchbay_manifest_component`, …).
/// The first call in a test process builds every guest crate with cargo (a no-op when fresh;
/// `.ci/run` builds them up front).
pub fn component(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&root).args([
            "build",
            "--profile",
            "guest",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
            "target/guests",
        ]);
        for c in GUEST_CRATES {
            cmd.args(["-p", c]);
        }
        let status = cmd.status().expect("cargo runs");
        assert!(
            status.success(),
            "building the guest components failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"
        );
        root.join("target/guests/wasm32-wasip2/guest")
    });
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Copies the bundled connectors (manifests, unified schemas, and the Linear component built from
/// `connectors/linear`) into `dir`.
pub fn copy_connectors(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(component("patchbay_linear"), dir.join("linear.wasm")).unwrap();
    let src = bundled_connectors();
    std::fs::create_dir_all(dir.join("unified")).unwrap();
    for entry in std::fs::read_dir(&src)
        .unwrap()
        .chain(std::fs::read_dir(src.join("unified")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let rel = path.strip_prefix(&src).unwrap();
            std::fs::copy(&path, dir.join(rel)).unwrap();
        }
    }
}

/// A running host.
pub struct Host {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// An admin token.
    pub admin: String,
    /// The host's state (for creating tokens).
    pub state: Arc<AppState>,
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
    /// Database URL (default: a fresh SQLite file).
    pub database_url: Option<String>,
    /// Any other configuration change.
    pub tweak: Option<fn(&mut Config)>,
    /// Compiled-component cache (default: one shared by the tests of a run).
    pub wasm_cache: Option<PathBuf>,
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
                .unwrap_or_else(|| format!("sqlite://{}", dir.join("patchbay.db").display())),
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
        if let Some(tweak) = options.tweak {
            tweak(&mut config);
        }
        let state = Arc::new(AppState::open(&config).await.expect("host state opens"));
        let admin = state.store.create_token(true, None).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(patchbay::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        Self {
            url,
            admin,
            state,
            http: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// A token for one tenant.
    pub async fn tenant_token(&self, tenant: &str) -> String {
        self.state.store.create_token(false, Some(tenant)).await.unwrap()
    }

    /// A request with a token.
    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    /// GET with the admin token; returns status, headers and JSON body.
    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(
            self.req(reqwest::Method::GET, path, &self.admin)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Sends a JSON request with a token.
    pub async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut r = self.req(method, path, token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        Reply::from(r.send().await.unwrap()).await
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
        let body = json!({"connector": connector, "tenant_id": tenant, "credentials": credentials, "context": context, "base_url": base_url});
        let reply = self
            .send(
                reqwest::Method::POST,
                "/integrated-accounts",
                &self.admin.clone(),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
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

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Validates `value` against a unified model schema from `connectors/unified/`.
pub fn assert_matches_unified_schema(model_resource: &str, value: &Value) {
    let path = bundled_connectors()
        .join("unified")
        .join(format!("{model_resource}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{model_resource} record {value} violates its schema: {errors:?}"
    );
}

/// A running `oauth2-mock-server` (npm), the OAuth2 server nobody here wrote.
pub struct OidcServer {
    /// Issuer URL.
    pub url: String,
    child: std::process::Child,
}

impl OidcServer {
    /// Starts `tests/oauth-mock-server/server.mjs` (needs `npm ci --prefix tests/oauth-mock-server`).
    pub fn start() -> Self {
        use std::io::BufRead;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("oauth-mock-server");
        assert!(
            dir.join("node_modules/oauth2-mock-server").exists(),
            "oauth2-mock-server is not installed: run `npm ci --prefix tests/oauth-mock-server`"
        );
        let mut child = std::process::Command::new("node")
            .arg(dir.join("server.mjs"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = serde_json::from_str::<Value>(&line).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned();
        Self { url, child }
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a test connector manifest into `dir`.
pub fn write_connector(dir: &Path, manifest: &Value) {
    let name = manifest["name"].as_str().unwrap();
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(manifest).unwrap(),
    )
    .unwrap();
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

/// Follows an authorization URL through the provider and the host's callback, without following
/// the final redirect; returns the query of the product's `redirect_uri` it points to.
pub async fn run_authorization(authorize_url: &str) -> Vec<(String, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = authorize_url.to_owned();
    for _ in 0..5 {
        let r = http.get(&url).send().await.unwrap();
        assert!(
            r.status().is_redirection(),
            "{} from {url}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let next = url::Url::parse(&url).unwrap().join(&location).unwrap();
        if !next.path().starts_with("/oauth/callback") && !next.path().starts_with("/authorize") {
            return next.query_pairs().into_owned().collect();
        }
        url = next.to_string();
    }
    panic!("too many redirects");
}

/// Writes the `acme` test connector: OAuth2 authorization code against an [`mocks::OAuthProviderMock`]
/// at `provider_url`, a `me` and a paginated `items` resource, post-install and validation steps.
pub fn write_acme_connector(dir: &Path, provider_url: &str, default_expires_in: Option<u64>) {
    let mut auth = json!({"type": "oauth2", "grant": "authorization_code", "authorize_url": format!("{provider_url}/authorize"),
        "token_url": format!("{provider_url}/token"), "scopes": ["read", "write"], "client_auth": "basic", "refresh_token_rotates": true});
    if let Some(d) = default_expires_in {
        auth["default_expires_in"] = json!(d);
    }
    write_connector(
        dir,
        &json!({
            "name": "acme", "version": "1.0.0", "base_url": provider_url, "auth": auth,
            "resources": {
                "me": {"methods": {"get": {"method": "GET", "path": "/api/me"}}},
                "items": {"methods": {"list": {"method": "GET", "path": "/api/items", "records": ".items",
                    "pagination": {"type": "cursor", "cursor": ".next_cursor", "param": "cursor"}}}}
            },
            "lifecycle": {
                "post_install": [{"name": "workspace", "resource": "me", "method": "get", "context": {"workspace_id": ".workspace.id"}}],
                "validation": [{"name": "list_items", "resource": "items", "method": "list"}]
            }
        }),
    );
}

//! Fixtures of Patchbay's tests that need no host: scratch directories, copies of the bundled
//! connectors, the guest components built for `wasm32-wasip2`, test connector manifests, the
//! OAuth redirect dance, and `oauth2-mock-server` (npm). The race test uses only this crate and
//! the mock vendors, so its binary does not link the host (or wasmtime).

pub mod cluster;
pub mod database;
pub mod process;
pub mod receiver;
pub mod signing;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// The repository's `connectors/` directory.
pub fn bundled_connectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors")
}

/// The names of the bundled connectors (their manifest files), sorted.
pub fn bundled_connector_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bundled_connectors())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?.to_owned();
            (stem != "manifest.schema").then_some(stem)
        })
        .collect();
    names.sort();
    names
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
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
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
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../oauth-mock-server");
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

/// Writes the `acme` test connector: OAuth2 authorization code against an `OAuthProviderMock`
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

/// Runs the Python script at `script` (relative to the repository's `tests/`) with `args`,
/// `input` as JSON on stdin, and returns its stdout; a non-zero exit fails the test with
/// `what` and the script's output.
pub fn run_python(script: &str, args: &[&str], input: &Value, what: &str) -> String {
    use std::io::Write;
    let path = bundled_connectors().join("../tests").join(script);
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

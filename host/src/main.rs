//! The `patchbay` command: `serve`, `token create`, `connector validate`, `connector schema`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use patchbay::config::{
    Config, DEFAULT_DATABASE_URL, DEFAULT_LISTEN, DEFAULT_RETRY_SCHEDULE, parse_duration, parse_schedule,
};
use patchbay::connectors::{load_file, smoke, validate_text};
use patchbay::sandbox::{Sandbox, SandboxConfig, package};
use patchbay::telemetry::{self, LogFormat as Logs, log_shutdown_requested};

/// mimalloc: the proxy path allocates per request on every worker thread, where glibc's arenas
/// contend (docs/BENCHMARKS.md, issue 12). Built with `no_thp`: on a kernel whose transparent
/// huge pages are `madvise`d or always on, its arenas would otherwise stay resident in 2 MiB
/// pages (25 MB more idle RSS with the bundled connectors).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "patchbay", version, about = "Patchbay connector runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup: the size of `Serve` costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the host.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PATCHBAY_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Directory of connector manifests.
        #[arg(long, env = "PATCHBAY_CONNECTORS", default_value = "./connectors")]
        connectors: PathBuf,
        /// Database URL: `sqlite://path` (embedded, the default) or `postgres://user@host/db`
        /// (several hosts; TLS per the URL's `sslmode`).
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// Most connections to a PostgreSQL database (per host).
        #[arg(long, env = "PATCHBAY_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
        database_max_connections: u32,
        /// A PostgreSQL statement running longer than this is cancelled (`10s`, `500ms`).
        #[arg(long, env = "PATCHBAY_DATABASE_STATEMENT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
        database_statement_timeout: Duration,
        /// Log format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Deadline of one vendor call, in milliseconds.
        #[arg(long, env = "PATCHBAY_UPSTREAM_TIMEOUT_MS", default_value_t = 30_000)]
        upstream_timeout_ms: u64,
        /// Public base URL of this host, as browsers and vendors reach it (the OAuth callback is
        /// `<URL>/oauth/callback`; webhook signatures that sign the URL, HubSpot v3 and Twilio,
        /// are checked against `<URL>/webhooks/…`); default `http://<listen address>`.
        #[arg(long, env = "PATCHBAY_PUBLIC_URL")]
        public_url: Option<String>,
        /// CPU budget of one Wasm hook call, in milliseconds.
        #[arg(long, env = "PATCHBAY_WASM_CPU_MS", default_value_t = 100)]
        wasm_cpu_ms: u64,
        /// Memory a Wasm component instance may use, in MiB.
        #[arg(long, env = "PATCHBAY_WASM_MEMORY_MIB", default_value_t = 64)]
        wasm_memory_mib: usize,
        /// Where compiled components are cached (default: `<database file>.wasm-cache`).
        #[arg(long, env = "PATCHBAY_WASM_CACHE_DIR")]
        wasm_cache_dir: Option<PathBuf>,
        /// The master key file, used when `PATCHBAY_SECRET_KEY` is unset (created `0600` on
        /// first start; default: `<database file>.key`).
        #[arg(long, env = "PATCHBAY_SECRET_KEY_FILE")]
        secret_key_file: Option<PathBuf>,
        /// Largest inbound webhook body, in bytes (413 past it).
        #[arg(long, env = "PATCHBAY_WEBHOOK_MAX_BODY", default_value_t = 1024 * 1024)]
        webhook_max_body: usize,
        /// Delays before each outbound delivery attempt, comma-separated (`200ms,1s,5s`);
        /// default Svix's: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
        #[arg(long, env = "PATCHBAY_DELIVERY_RETRY_SCHEDULE", default_value = DEFAULT_RETRY_SCHEDULE)]
        delivery_retry_schedule: String,
        /// Disable an endpoint whose every attempt failed for this long (`5d`, `12h`).
        #[arg(long, env = "PATCHBAY_DELIVERY_DISABLE_AFTER", default_value = "5d", value_parser = parse_duration)]
        delivery_disable_after: Duration,
        /// Allow delivery to loopback, private and link-local addresses (off: the SSRF guard
        /// refuses them at creation and after DNS resolution at each delivery).
        #[arg(long, env = "PATCHBAY_ALLOW_PRIVATE_DELIVERY_TARGETS",
              value_parser = clap::builder::BoolishValueParser::new())]
        allow_private_delivery_targets: bool,
        /// Let vendor calls reach loopback, private, link-local and metadata addresses (off: a
        /// URL a manifest or component builds must resolve to public addresses, except the
        /// origin of an account's admin-set `base_url` override).
        #[arg(long, env = "PATCHBAY_ALLOW_PRIVATE_VENDOR_TARGETS",
              value_parser = clap::builder::BoolishValueParser::new())]
        allow_private_vendor_targets: bool,
        /// Threads that serve the API, each with its own single-threaded runtime and vendor
        /// connections, so a call never changes threads; 0 serves on the shared runtime.
        #[arg(long, env = "PATCHBAY_HTTP_THREADS", default_value_t = 0)]
        http_threads: usize,
        /// Also serve `GET /metrics` without a token on this address (bind it to a private
        /// interface, e.g. `127.0.0.1:9464`); the main listener's `/metrics` needs an admin token.
        #[arg(long, env = "PATCHBAY_METRICS_LISTEN")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Tenants that keep their own `tenant` label in per-tenant metrics (the rest are `other`).
        #[arg(long, env = "PATCHBAY_METRICS_TENANT_LIMIT", default_value_t = 100)]
        metrics_tenant_limit: usize,
        /// Where the OAuth connect flow may send the browser back: `redirect_uri` prefixes,
        /// comma-separated (`https://app.example.com/oauth,http://localhost:3000/`); a redirect
        /// must match one's scheme, host and port and sit under its path. Empty: any http(s) URL
        /// (logged as a warning at startup).
        #[arg(long, env = "PATCHBAY_OAUTH_REDIRECT_ALLOW", value_delimiter = ',')]
        oauth_redirect_allow: Vec<String>,
        /// Sample each connector resource's vendor answers for schema drift at most this often.
        #[arg(long, env = "PATCHBAY_DRIFT_SAMPLE_INTERVAL", default_value = "1s", value_parser = parse_duration)]
        drift_sample_interval: Duration,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Connector manifests.
    Connector {
        #[command(subcommand)]
        command: ConnectorCommand,
    },
    /// The master key and the secrets it seals.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Print the host API's OpenAPI 3.1 description (what `GET /openapi.json` answers), with the
    /// unified models of a connectors directory.
    Openapi {
        /// Directory of connector manifests.
        #[arg(long, env = "PATCHBAY_CONNECTORS", default_value = "./connectors")]
        connectors: PathBuf,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-seal every stored secret (credentials, OAuth apps and pending authorizations, webhook
    /// secrets) under a new master key, in one transaction. Stop every host first, then start
    /// them with the new key; the old one is refused from then on. The current key is
    /// `PATCHBAY_SECRET_KEY`, else the key file (which then receives the new key).
    Rotate {
        /// The new key: 32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`).
        #[arg(long, env = "PATCHBAY_NEW_SECRET_KEY", hide_env_values = true)]
        new_key: String,
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// The key file (default: `<database file>.key`).
        #[arg(long, env = "PATCHBAY_SECRET_KEY_FILE")]
        secret_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (only the token).
    Create {
        /// An admin token manages everything.
        #[arg(long)]
        admin: bool,
        /// Restrict the token to one tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// A token that may only read `GET /metrics` (for Prometheus).
        #[arg(long, conflicts_with_all = ["admin", "tenant"])]
        metrics: bool,
        /// The token stops working after this long (`30d`, `12h`); default: never.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<Duration>,
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
    },
    /// List the tokens: id, kind (admin or tenant), created, expires (never the token itself).
    List {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
    },
    /// Revoke a token by id: refused at once by this database's hosts (within their change
    /// watcher's poll, 250 ms; at most the 2 s token cache).
    Revoke {
        /// The token's id (`patchbay token list`).
        id: String,
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
    },
}

#[derive(Subcommand)]
enum ConnectorCommand {
    /// Print the catalogue table of the manifests in a directory (what `docs/CONNECTORS.md`
    /// publishes); `--write FILE` replaces the table between its markers instead.
    Catalogue {
        /// The connectors directory.
        #[arg(default_value = "connectors")]
        dir: PathBuf,
        /// A Markdown file whose catalogue markers get the table.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Run connector test cases (`<dir>/<name>/tests/*.json`) against a replaying vendor through
    /// a real host; print a table; exit non-zero when one fails. Arguments: connectors
    /// directories, manifests, or case files (default: `connectors`).
    Test {
        /// Directories, manifests or case files.
        paths: Vec<PathBuf>,
    },
    /// Write a skeleton connector (a manifest and one test case) that passes `validate` and
    /// `test`.
    New {
        /// The connector's name.
        name: String,
        /// The connectors directory.
        #[arg(long, default_value = "connectors")]
        dir: PathBuf,
    },
    /// Validate manifest files; print every problem; exit non-zero when there is one.
    Validate {
        /// Manifest files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the manifest JSON Schema.
    Schema,
    /// Compile a declarative manifest into one sandboxed component (the manifest-engine
    /// component with the manifest embedded); the result is loaded and smoke-tested before it is
    /// written.
    Build {
        /// The manifest.
        manifest: PathBuf,
        /// Output file (default: the manifest's name with `.wasm`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The manifest-engine component (default: `$PATCHBAY_ENGINE_COMPONENT`, then
        /// `patchbay_manifest_component.wasm` beside this binary, then the workspace build at
        /// `target/guests/wasm32-wasip2/guest/`).
        #[arg(long, env = "PATCHBAY_ENGINE_COMPONENT")]
        engine: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for Logs {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Text => Logs::Text,
            LogFormat::Json => Logs::Json,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    log_shutdown_requested();
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_inner().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_inner() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            listen,
            connectors,
            database,
            database_max_connections,
            database_statement_timeout,
            log_format,
            upstream_timeout_ms,
            public_url,
            wasm_cpu_ms,
            wasm_memory_mib,
            wasm_cache_dir,
            secret_key_file,
            webhook_max_body,
            delivery_retry_schedule,
            delivery_disable_after,
            allow_private_delivery_targets,
            allow_private_vendor_targets,
            http_threads,
            metrics_listen,
            metrics_tenant_limit,
            drift_sample_interval,
            oauth_redirect_allow,
        } => {
            telemetry::init(log_format.into());
            let mut config = Config::new(database, connectors);
            config.database.max_connections = database_max_connections;
            config.database.statement_timeout = database_statement_timeout;
            config.upstream_timeout = Duration::from_millis(upstream_timeout_ms);
            config.allow_private_vendor_targets = allow_private_vendor_targets;
            config.http_threads = http_threads;
            config.public_url = public_url;
            config.sandbox.cpu_budget = Duration::from_millis(wasm_cpu_ms);
            config.sandbox.memory_bytes = wasm_memory_mib << 20;
            if wasm_cache_dir.is_some() {
                config.sandbox.cache_dir = wasm_cache_dir;
            }
            if secret_key_file.is_some() {
                config.key_file = secret_key_file;
            }
            config.webhooks.max_body_bytes = webhook_max_body;
            config.webhooks.retry_schedule = parse_schedule(&delivery_retry_schedule)
                .map_err(|e| anyhow::anyhow!("--delivery-retry-schedule: {e}"))?;
            config.webhooks.disable_after = delivery_disable_after;
            config.webhooks.allow_private_targets = allow_private_delivery_targets;
            config.monitoring.metrics_listen = metrics_listen;
            config.monitoring.tenant_limit = metrics_tenant_limit;
            config.monitoring.drift_sample_interval = drift_sample_interval;
            config.oauth_redirect_allow = oauth_redirect_allow;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            patchbay::run(listener, config, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    admin,
                    tenant,
                    metrics,
                    expires_in,
                    database,
                },
        } => {
            if !admin && tenant.is_none() && !metrics {
                anyhow::bail!("a token is --admin, for one --tenant ID, or --metrics");
            }
            let store = patchbay::store::Store::connect(&database).await?;
            let expires_at = expires_in.map(|d| patchbay::clock::now_ms() + d.as_millis() as i64);
            let scope = metrics.then_some(patchbay::accounts::Principal::METRICS);
            let (token, _) = store
                .create_token_with(admin, tenant.as_deref(), expires_at, scope)
                .await?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::List { database },
        } => {
            let store = patchbay::store::Store::connect(&database).await?;
            let at = |ms: i64| {
                chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
            };
            println!("id\tkind\tcreated\texpires");
            for t in store.tokens().await? {
                let kind = match (&t.tenant_id, t.admin, &t.scope) {
                    (_, _, Some(scope)) => scope.clone(),
                    (_, true, None) => "admin".to_owned(),
                    (Some(tenant), false, None) => format!("tenant:{tenant}"),
                    (None, false, None) => "none".to_owned(),
                };
                let expires = t.expires_at.map_or_else(|| "never".to_owned(), at);
                println!("{}\t{kind}\t{}\t{expires}", t.id, at(t.created_at));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command: TokenCommand::Revoke { id, database },
        } => {
            let store = patchbay::store::Store::connect(&database).await?;
            if store.revoke_token(&id).await? {
                println!("revoked {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no token {id}");
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Openapi { connectors } => {
            let doc = patchbay::http::openapi::for_connectors_dir(&connectors).map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Secrets {
            command:
                SecretsCommand::Rotate {
                    new_key,
                    database,
                    secret_key_file,
                },
        } => {
            use patchbay::secrets::{Secrets, existing_master_key, parse_key, replace_key_file, rotate};
            let new = parse_key(&new_key).context("--new-key")?;
            let key_file = secret_key_file.or_else(|| patchbay::config::beside_database(&database, "key"));
            let from_env = std::env::var_os("PATCHBAY_SECRET_KEY").is_some();
            let old = existing_master_key(key_file.as_deref())?.ok_or_else(|| {
                anyhow::anyhow!("no current key: set PATCHBAY_SECRET_KEY or --secret-key-file")
            })?;
            if old == new {
                anyhow::bail!("--new-key is the current key");
            }
            let store = patchbay::store::Store::connect(&database).await?;
            let count = rotate::rotate(&store, &Secrets::new(old), &Secrets::new(new)).await?;
            match key_file.filter(|_| !from_env) {
                Some(path) => {
                    replace_key_file(&path, &new)?;
                    println!("re-sealed {count} secrets; {} holds the new key", path.display());
                }
                None => println!(
                    "re-sealed {count} secrets; start every host with the new PATCHBAY_SECRET_KEY (the old key is refused)"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector {
            command: ConnectorCommand::Validate { files },
        } => {
            let mut failed = false;
            for file in &files {
                match load_file(file) {
                    Ok(c) => println!("{}: ok ({} {})", file.display(), c.name(), c.version()),
                    Err(report) => {
                        failed = true;
                        print!("{report}");
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Connector {
            command:
                ConnectorCommand::Build {
                    manifest,
                    output,
                    engine,
                },
        } => build_component(&manifest, output, engine).await,
        Command::Connector {
            command: ConnectorCommand::Test { paths },
        } => {
            let paths = if paths.is_empty() {
                vec![PathBuf::from("connectors")]
            } else {
                paths
            };
            let mut files = Vec::new();
            for p in &paths {
                files.extend(patchbay::app::cases::spec::discover(p).map_err(anyhow::Error::msg)?);
            }
            if files.is_empty() {
                anyhow::bail!("no test cases found in {paths:?}");
            }
            let results = patchbay::app::cases::run_all(&files).await;
            print!("{}", patchbay::app::cases::table(&results));
            Ok(if results.iter().all(|r| r.outcome.is_ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Connector {
            command: ConnectorCommand::New { name, dir },
        } => {
            let written = patchbay::app::cases::skeleton::write(&dir, &name)?;
            for f in written {
                println!("wrote {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector {
            command: ConnectorCommand::Catalogue { dir, write },
        } => {
            let mut errors = Vec::new();
            let mut manifests = Vec::new();
            for f in patchbay::connectors::files::manifest_files(&dir, &mut errors) {
                match load_file(&f) {
                    Ok(c) => manifests.push(c.manifest),
                    Err(report) => anyhow::bail!("{report}"),
                }
            }
            let table = patchbay::connectors::catalogue::table(&manifests);
            match write {
                None => print!("{table}"),
                Some(doc) => {
                    let text = std::fs::read_to_string(&doc)?;
                    let new = patchbay::connectors::catalogue::splice(&text, &table)
                        .ok_or_else(|| anyhow::anyhow!("{} has no catalogue markers", doc.display()))?;
                    std::fs::write(&doc, new)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector {
            command: ConnectorCommand::Schema,
        } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&patchbay_engine::manifest::schema())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `patchbay connector build`.
async fn build_component(
    manifest: &Path,
    output: Option<PathBuf>,
    engine: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    if let Err(report) = load_file(manifest) {
        print!("{report}");
        return Ok(ExitCode::FAILURE);
    }
    const ENGINE_FILE: &str = "patchbay_manifest_component.wasm";
    let engine = engine
        .or_else(|| {
            let beside = std::env::current_exe().ok()?.parent()?.join(ENGINE_FILE);
            beside.is_file().then_some(beside)
        })
        .unwrap_or_else(|| PathBuf::from("target/guests/wasm32-wasip2/guest").join(ENGINE_FILE));
    let engine_bytes = std::fs::read(&engine).with_context(|| {
        format!(
            "cannot read the manifest-engine component {} (build it with `cargo build --profile guest --target wasm32-wasip2 --target-dir target/guests -p patchbay-manifest-component`, or pass --engine)",
            engine.display()
        )
    })?;
    let text =
        std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let component = package::build(&engine_bytes, &text)?;
    let embedded =
        package::embedded_manifest(&component).context("the built component embeds no manifest")??;
    // Load and smoke-test it exactly as a host would before writing it.
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let connector = validate_text(&embedded).map_err(|p| anyhow::anyhow!("{p:?}"))?;
    let loaded = sandbox.load(
        &component,
        &format!("{}@{}", connector.name(), connector.version()),
        &embedded,
    )?;
    smoke(&loaded, &connector).await?;
    let hooks = connector.hooks();
    let output = output.unwrap_or_else(|| manifest.with_extension("wasm"));
    std::fs::write(&output, &component).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "{}: {} {} compiled to a component ({} bytes, hooks: {})",
        output.display(),
        connector.name(),
        connector.version(),
        component.len(),
        hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

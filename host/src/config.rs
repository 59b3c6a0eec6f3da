//! Runtime configuration of a host process: plain data, with the defaults in one place.
//!
//! Paths that default to sitting beside a SQLite database file (the master key file, the
//! compiled-component cache) are derived here once, by [`Config::new`]; the modules that use them
//! receive paths, never the database URL.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::sandbox::SandboxConfig;
use crate::store::DatabaseOptions;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://patchbay.db";

/// Everything `run` needs besides the listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// sqlx database URL (`sqlite://path` or `postgres://…`).
    pub database_url: String,
    /// Connection settings of a PostgreSQL database.
    pub database: DatabaseOptions,
    /// Directory of connector manifests.
    pub connectors_dir: PathBuf,
    /// 32-byte master key; `None` reads `PATCHBAY_SECRET_KEY`, then [`Config::key_file`].
    pub secret_key: Option<[u8; 32]>,
    /// Where the master key is kept when `PATCHBAY_SECRET_KEY` is unset (created on first use);
    /// `None` (an in-memory database): an ephemeral key.
    pub key_file: Option<PathBuf>,
    /// Deadline of one vendor call.
    pub upstream_timeout: Duration,
    /// Largest request body accepted from callers.
    pub max_body_bytes: usize,
    /// Largest vendor answer read.
    pub max_upstream_body_bytes: usize,
    /// Let vendor calls reach loopback, private, link-local and metadata addresses from any
    /// origin (off: only the origin of an account's admin-set `base_url` override may be private).
    pub allow_private_vendor_targets: bool,
    /// Threads that serve the API, each with its own single-threaded runtime and its own vendor
    /// connections, so a call never changes threads (0: serve on the caller's runtime).
    pub http_threads: usize,
    /// Public base URL of this host (the OAuth callback; the URL vendors sign, HubSpot v3 and
    /// Twilio); default: the listen address.
    pub public_url: Option<String>,
    /// Token refresh settings.
    pub refresh: RefreshConfig,
    /// How long pending OAuth authorizations stay valid.
    pub oauth_state_ttl: Duration,
    /// Where the OAuth connect flow may send the browser back (`redirect_uri` prefixes; empty:
    /// any http(s) URL).
    pub oauth_redirect_allow: Vec<String>,
    /// An account `connecting` for longer than this was abandoned (its host stopped mid-install)
    /// and may be retried.
    pub stuck_connecting_after: Duration,
    /// Limits of Wasm connector components, and their compilation cache.
    pub sandbox: SandboxConfig,
    /// Inbound and outbound webhooks.
    pub webhooks: WebhookConfig,
    /// Metrics and schema drift.
    pub monitoring: MonitoringConfig,
}

/// Metrics and schema-drift settings.
#[derive(Debug, Clone)]
pub struct MonitoringConfig {
    /// Also serve `GET /metrics` without a token on this address (a private interface).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How many tenants keep their own `tenant` label (the rest are `other`).
    pub tenant_limit: usize,
    /// Each connector resource's answers are sampled for drift at most once per this interval.
    pub drift_sample_interval: Duration,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            metrics_listen: None,
            tenant_limit: crate::telemetry::tenants::DEFAULT_TENANT_LIMIT,
            drift_sample_interval: Duration::from_secs(1),
        }
    }
}

/// Svix's retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE: &str = "0s,5s,5m,30m,2h,5h,10h,10h";

/// Inbound ingestion and outbound delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Largest inbound webhook body (413 past it).
    pub max_body_bytes: usize,
    /// Inbound processing workers.
    pub workers: usize,
    /// How long a worker holds an inbound request or a delivery before another may take it.
    pub lease: Duration,
    /// How often workers look for work when nothing wakes them (other hosts' work, retries).
    pub tick: Duration,
    /// Delay before each delivery attempt (the first is usually 0); its length is the attempt count.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint failing every attempt for this long is disabled.
    pub disable_after: Duration,
    /// Deliver to loopback, private and link-local addresses (tests, private networks).
    pub allow_private_targets: bool,
    /// Deadline of one delivery attempt.
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once, over all endpoints.
    pub delivery_concurrency: usize,
    /// Deliveries in flight at once to one endpoint.
    pub per_endpoint_concurrency: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            workers: 2,
            lease: Duration::from_secs(30),
            tick: Duration::from_millis(500),
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).expect("the default schedule parses"),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            allow_private_targets: false,
            delivery_timeout: Duration::from_secs(15),
            delivery_concurrency: 64,
            per_endpoint_concurrency: 16,
        }
    }
}

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`, `d`), e.g. `200ms`, `5m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 200ms, 5s or 10m"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m, h or d")),
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

/// Parses a comma-separated retry schedule (`200ms,1s,5s`).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let schedule: Vec<Duration> = text.split(',').map(parse_duration).collect::<Result<_, _>>()?;
    if schedule.is_empty() {
        return Err("the schedule needs at least one attempt".into());
    }
    Ok(schedule)
}

/// Token refresh settings.
#[derive(Debug, Clone)]
pub struct RefreshConfig {
    /// Refresh before a call when the token expires within this (or a quarter of its lifetime).
    pub buffer: Duration,
    /// How long a refresh lease is held at most.
    pub lease: Duration,
    /// Transient failures for this long move the account to `needs_reauth`.
    pub failure_window: Duration,
    /// First retry delay after a transient failure (doubled each time, with jitter).
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How often the scheduler looks for due refreshes.
    pub tick: Duration,
    /// Refreshes the scheduler runs at once.
    pub concurrency: usize,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            buffer: Duration::from_secs(30),
            lease: Duration::from_secs(30),
            failure_window: Duration::from_secs(600),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            concurrency: 8,
        }
    }
}

impl Config {
    /// Defaults for a database URL and connectors directory.
    pub fn new(database_url: impl Into<String>, connectors_dir: impl Into<PathBuf>) -> Self {
        let database_url = database_url.into();
        Self {
            key_file: beside_database(&database_url, "key"),
            sandbox: SandboxConfig {
                cache_dir: beside_database(&database_url, "wasm-cache"),
                ..SandboxConfig::default()
            },
            database_url,
            database: DatabaseOptions::default(),
            connectors_dir: connectors_dir.into(),
            secret_key: None,
            upstream_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            max_upstream_body_bytes: 32 * 1024 * 1024,
            allow_private_vendor_targets: false,
            http_threads: 0,
            public_url: None,
            refresh: RefreshConfig::default(),
            oauth_state_ttl: Duration::from_secs(600),
            oauth_redirect_allow: Vec::new(),
            stuck_connecting_after: Duration::from_secs(300),
            webhooks: WebhookConfig::default(),
            monitoring: MonitoringConfig::default(),
        }
    }
}

/// This host's public base URL, shared by everything that builds URLs others call back (the OAuth
/// callback, the webhook URLs vendors sign): `--public-url` when given, else the listen address
/// once it is known.
#[derive(Debug, Clone, Default)]
pub struct PublicUrl(Arc<OnceLock<String>>);

impl PublicUrl {
    /// The configured URL, if any.
    pub fn new(configured: Option<&str>) -> Self {
        let url = Self::default();
        if let Some(u) = configured {
            url.set_default(u);
        }
        url
    }

    /// Sets the URL unless it is set already (the listen address, once known).
    pub fn set_default(&self, url: &str) {
        let _ = self.0.set(url.trim_end_matches('/').to_owned());
    }

    /// The base URL (`http://127.0.0.1:8080` before anything set it).
    pub fn base(&self) -> &str {
        self.0.get().map_or("http://127.0.0.1:8080", String::as_str)
    }
}

/// `<database file>.<suffix>` for a SQLite file database (`None` in memory or for other databases).
pub fn beside_database(database_url: &str, suffix: &str) -> Option<PathBuf> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths_sit_beside_a_database_file() {
        let c = Config::new("sqlite://data/p.db?mode=rwc", "connectors");
        assert_eq!(c.key_file, Some(PathBuf::from("data/p.db.key")));
        assert_eq!(c.sandbox.cache_dir, Some(PathBuf::from("data/p.db.wasm-cache")));
        let memory = Config::new("sqlite::memory:", "connectors");
        assert_eq!((memory.key_file, memory.sandbox.cache_dir), (None, None));
    }

    #[test]
    fn retry_schedules_parse() {
        assert_eq!(
            parse_schedule("200ms,1s,5m,2h,1d").unwrap(),
            [200, 1000, 300_000, 7_200_000, 86_400_000].map(Duration::from_millis)
        );
        assert_eq!(WebhookConfig::default().retry_schedule.len(), 8);
        assert!(parse_schedule("5x").unwrap_err().contains("unit"));
        assert!(parse_schedule("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}

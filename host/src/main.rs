//! The `patchbay` command: `serve`, `token create`, `connector validate`, `connector schema`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use patchbay::config::{Config, DEFAULT_DATABASE_URL, DEFAULT_LISTEN};

#[derive(Parser)]
#[command(name = "patchbay", version, about = "Patchbay connector runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// Log format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Deadline of one vendor call, in milliseconds.
        #[arg(long, env = "PATCHBAY_UPSTREAM_TIMEOUT_MS", default_value_t = 30_000)]
        upstream_timeout_ms: u64,
        /// Public base URL of this host, as browsers reach it (the OAuth callback is
        /// `<URL>/oauth/callback`); default `http://<listen address>`.
        #[arg(long, env = "PATCHBAY_PUBLIC_URL")]
        public_url: Option<String>,
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
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
    },
}

#[derive(Subcommand)]
enum ConnectorCommand {
    /// Validate manifest files; print every problem; exit non-zero when there is one.
    Validate {
        /// Manifest files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the manifest JSON Schema.
    Schema,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATCHBAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
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
    tracing::info!("shutdown requested");
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
            log_format,
            upstream_timeout_ms,
            public_url,
        } => {
            init_logging(log_format);
            let mut config = Config::new(database, connectors);
            config.upstream_timeout = Duration::from_millis(upstream_timeout_ms);
            config.public_url = public_url;
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
                    database,
                },
        } => {
            if !admin && tenant.is_none() {
                anyhow::bail!("a token is either --admin or for one --tenant ID");
            }
            let store = patchbay::store::Store::connect(&database).await?;
            println!("{}", store.create_token(admin, tenant.as_deref()).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Connector {
            command: ConnectorCommand::Validate { files },
        } => {
            let mut failed = false;
            for file in &files {
                match patchbay::registry::load_file(file) {
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

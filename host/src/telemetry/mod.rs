//! Telemetry: tracing set-up, and the one list of every event, span and metric the host emits
//! ([`events`], [`metrics`]), each with its meaning.
//!
//! Modules never call `tracing`'s level macros directly: they [`emit!`] an event from
//! [`events`], so names follow one scheme (`patchbay.<area>.<op>`) and the list stays complete
//! (a test over the sources checks both).

pub mod events;
pub mod metrics;
pub mod tenants;

pub(crate) use events::{emit, span};
pub use metrics::{Counter, Metrics};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber: `format` on stderr, filtered by `PATCHBAY_LOG` (default
/// `info`).
pub fn init(format: LogFormat) {
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

/// Logs that SIGTERM or Ctrl-C asked the process to stop (for the binary, which has no [`emit!`]).
pub fn log_shutdown_requested() {
    emit!(INFO, events::APP_SHUTDOWN_REQUESTED);
}

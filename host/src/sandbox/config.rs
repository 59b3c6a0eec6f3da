//! The limits applied to every hook call, and where compiled components are cached.

use std::path::PathBuf;
use std::time::Duration;

/// Interval of the epoch ticker: the granularity of CPU budgets.
pub const TICK: Duration = Duration::from_millis(1);

/// Limits applied to every hook call.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// CPU time a hook call may use.
    pub cpu_budget: Duration,
    /// Linear memory a component instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wasm stack, in bytes.
    pub stack_bytes: usize,
    /// Where compiled components are cached across restarts (`None`: memory only).
    pub cache_dir: Option<PathBuf>,
    /// Idle instances kept per component version for reuse.
    pub warm_instances: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            cpu_budget: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            stack_bytes: 512 << 10,
            cache_dir: None,
            warm_instances: 16,
        }
    }
}

//! The Wasm sandbox: one wasmtime engine for the process, the import allow-list, compilation
//! (cached by content hash, in memory and on disk) and validation of connector components.
//!
//! Each component is checked before it may serve: it must be a component (not a core module),
//! import nothing outside [`ALLOWED_IMPORTS`], and export the `patchbay:connector/hooks@1.x`
//! interface with the right types. Calls run under per-call limits: a CPU budget (epoch ticks),
//! a memory cap (`StoreLimits`, and the pooling allocator's slot size) and a stack cap. WASI is
//! linked only because Rust's standard library imports it; the WASI context has no directories,
//! no environment, no network, a frozen clock and a captured stderr.

mod component;
mod config;
mod guest;
pub mod package;
mod ticker;
mod wire;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::telemetry::emit;
use crate::telemetry::events::SANDBOX_POOLING_UNAVAILABLE;
use guest::{State, bindings};
use ticker::Ticker;

pub use component::{Hook, HookFailure, LoadedComponent};
pub use config::{SandboxConfig, TICK};

/// Interfaces a component may import (versions aside). Everything else, sockets and HTTP among
/// them, is refused at load. Rust's standard library imports the WASI ones; the host serves them
/// with nothing behind: no preopened directories (so the filesystem interfaces can open nothing),
/// no environment, a frozen clock.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "patchbay:connector/log",
    "patchbay:connector/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// Why a component cannot be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// Not a WebAssembly component.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// wasmtime refused or failed to compile it.
    #[error("component does not compile: {0}")]
    Compile(String),
    /// It imports something outside the allow-list.
    #[error(
        "component imports {0:?}, which connectors may not use (allowed: patchbay:connector/log and the WASI interfaces Rust's std needs; no sockets or HTTP)"
    )]
    ForbiddenImport(String),
    /// It does not export the contract (or with other types).
    #[error("component does not implement the patchbay:connector@1 world: {0}")]
    World(String),
}

/// The process's Wasm engine and what every component shares.
pub struct Sandbox {
    engine: Engine,
    ticker: Arc<Ticker>,
    linker: Linker<State>,
    config: Arc<SandboxConfig>,
    compiled: Mutex<HashMap<String, Component>>,
    compilations: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("config", &self.config).finish()
    }
}

impl Sandbox {
    /// The engine, its linker and the epoch ticker.
    pub fn new(config: SandboxConfig) -> anyhow::Result<Arc<Self>> {
        let mut c = wasmtime::Config::new();
        c.epoch_interruption(true)
            .max_wasm_stack(config.stack_bytes)
            // Host functions get the difference between the fiber stack and the Wasm stack.
            .async_stack_size(config.stack_bytes + (1 << 20))
            // No component-model async here: plain calls are several times cheaper.
            .concurrency_support(false);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(512)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(1024)
            .total_stacks(512)
            .max_memory_size(config.memory_bytes)
            .max_unused_warm_slots(64);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = match Engine::new(&c) {
            Ok(e) => e,
            Err(e) => {
                // A machine without the address space for the pool still serves, just slower.
                emit!(WARN, SANDBOX_POOLING_UNAVAILABLE, error = %e);
                c.allocation_strategy(InstanceAllocationStrategy::OnDemand);
                Engine::new(&c)?
            }
        };
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Connector::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)?;
        let ticker = Ticker::start(&engine)?;
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Arc::new(Self {
            engine,
            ticker,
            linker,
            config: Arc::new(config),
            compiled: Mutex::new(HashMap::new()),
            compilations: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// How many components this sandbox compiled (as opposed to finding them in a cache).
    pub fn compilations(&self) -> u64 {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The limits in force.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Compiles (or finds compiled) and validates a component serving `manifest` (handed to its
    /// `init` on every new instance); see [`LoadedComponent::smoke`] for the smoke test. `label`
    /// names it in errors and logs.
    pub fn load(&self, bytes: &[u8], label: &str, manifest: &str) -> Result<LoadedComponent, LoadError> {
        // An embedded manifest is data for `init`, not code: components that differ only in it
        // share one compiled artifact.
        let component = self.compile(&package::without_manifest(bytes))?;
        check_imports(&self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::World(format!("{e:#}")))?;
        let pre = bindings::ConnectorPre::new(pre).map_err(|e| LoadError::World(format!("{e:#}")))?;
        Ok(LoadedComponent::new(
            self.engine.clone(),
            self.ticker.clone(),
            self.config.clone(),
            pre,
            label,
            hex::encode(Sha256::digest(bytes)),
            manifest,
        ))
    }

    fn compile(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotAComponent("missing the \\0asm header".into()));
        }
        if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(LoadError::NotAComponent(
                "this is a core module; build for wasm32-wasip2 (which emits a component)".into(),
            ));
        }
        let key = self.cache_key(bytes);
        if let Some(c) = self.compiled.lock().expect("cache lock").get(&key) {
            return Ok(c.clone());
        }
        let path = self
            .config
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{key}.cwasm")));
        // SAFETY: the cache directory is the host's own (never a connector author's upload), and the
        // key includes the engine's compatibility hash; a foreign artifact is rejected by wasmtime.
        let cached = path
            .as_ref()
            .filter(|p| p.is_file())
            .and_then(|p| unsafe { Component::deserialize_file(&self.engine, p) }.ok());
        let component = match cached {
            Some(c) => c,
            None => {
                self.compilations
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let c =
                    Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                if let Some(path) = &path
                    && let Ok(artifact) = c.serialize()
                {
                    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, artifact)
                        .and_then(|_| std::fs::rename(&tmp, path))
                        .is_err()
                    {
                        let _ = std::fs::remove_file(&tmp);
                    }
                }
                c
            }
        };
        let mut compiled = self.compiled.lock().expect("cache lock");
        if compiled.len() >= 256 {
            compiled.clear();
        }
        compiled.insert(key, component.clone());
        Ok(component)
    }

    /// Content hash of the component and of this engine's code generation settings.
    fn cache_key(&self, bytes: &[u8]) -> String {
        let mut h = std::hash::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("{}-{:016x}", hex::encode(Sha256::digest(bytes)), h.finish())
    }
}

/// Refuses imports outside [`ALLOWED_IMPORTS`].
fn check_imports(engine: &Engine, component: &Component) -> Result<(), LoadError> {
    for (name, _) in component.component_type().imports(engine) {
        let unversioned = name.split('@').next().unwrap_or(name);
        if !ALLOWED_IMPORTS.contains(&unversioned) {
            return Err(LoadError::ForbiddenImport(name.to_owned()));
        }
    }
    Ok(())
}

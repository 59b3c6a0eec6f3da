//! One loaded component version: its pre-linked form, a small pool of warm instances, and the
//! typed hook calls with their limits. A call that traps, runs out of CPU or memory, or panics
//! drops its store (a trapped store is dead) and becomes a [`HookFailure::Crashed`] naming the
//! connector, the hook and what the guest printed on stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_engine::manifest::Hook as ManifestHook;
use patchbay_engine::{Account, Call, HttpRequest, HttpResponse, Payload, RateLimitInfo, RemoteFailure};
use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::config::{SandboxConfig, TICK};
use super::guest::State;
use super::guest::bindings::patchbay::connector::types as wit;
use super::guest::bindings::{Connector as GuestInstance, ConnectorPre as GuestPre};
use super::ticker::Ticker;
use super::wire;
use crate::telemetry::emit;
use crate::telemetry::events::SANDBOX_CRASHED;

/// A hook of the contract.
pub type Hook = ManifestHook;

/// Guest stderr kept per store; a store whose stderr filled up is retired.
const STDERR_CAP: usize = 64 << 10;
/// Calls served by one store before it is replaced (guest heaps only grow).
const MAX_CALLS_PER_STORE: u32 = 10_000;

/// Why a hook call did not produce a result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HookFailure {
    /// The component refused the input (`hook-error::invalid`): the caller's fault.
    #[error("{label} {hook}: {message}")]
    Invalid {
        /// `name@version`.
        label: Arc<str>,
        /// The hook.
        hook: &'static str,
        /// The component's message.
        message: String,
    },
    /// The component could not read or map the vendor's data (`hook-error::mapping`).
    #[error("{label} {hook}: {message}")]
    Mapping {
        /// `name@version`.
        label: Arc<str>,
        /// The hook.
        hook: &'static str,
        /// The component's message.
        message: String,
    },
    /// The manifest declares the hook, the component says it does not implement it.
    #[error("{label} declares hook {hook} but does not implement it")]
    Unsupported {
        /// `name@version`.
        label: Arc<str>,
        /// The hook.
        hook: &'static str,
    },
    /// The call trapped, exceeded a limit or panicked; the instance was discarded.
    #[error("{label} {hook} failed: {reason}{}", stderr_suffix(.stderr))]
    Crashed {
        /// `name@version`.
        label: Arc<str>,
        /// The hook.
        hook: &'static str,
        /// What happened (budget, memory, stack, trap).
        reason: String,
        /// What the guest wrote to stderr during the call (panic messages).
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(" (guest stderr: {stderr})")
    }
}

/// The call ran past its CPU budget.
#[derive(Debug)]
struct BudgetExhausted;

impl std::fmt::Display for BudgetExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CPU budget exhausted")
    }
}

impl std::error::Error for BudgetExhausted {}

/// A clock stopped at the epoch: components get time only from hook arguments.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

struct Warm {
    store: Store<State>,
    instance: GuestInstance,
    stderr: MemoryOutputPipe,
    calls: u32,
}

/// A validated component version, ready to serve hook calls.
pub struct LoadedComponent {
    engine: wasmtime::Engine,
    ticker: Arc<Ticker>,
    config: Arc<SandboxConfig>,
    pre: GuestPre<State>,
    label: Arc<str>,
    /// SHA-256 of the component bytes (hex).
    pub hash: String,
    /// The manifest handed to `init`.
    manifest: Arc<str>,
    warm: Mutex<Vec<Warm>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("label", &self.label)
            .field("hash", &self.hash)
            .finish()
    }
}

/// Runs one hook call on a warm (or new) instance and hands the instance back unless it failed.
macro_rules! call_hook {
    ($self:ident, $hook:expr, |$h:ident, $store:ident| $call:expr) => {{
        let hook: Hook = $hook;
        let _ticking = $self.ticker.running();
        let mut w = $self.checkout(hook).await?;
        let seen = w.stderr.contents().len();
        let result = {
            let $h = w.instance.patchbay_connector_hooks();
            let $store = &mut w.store;
            $call.await
        };
        match result {
            Ok(answer) => {
                $self.checkin(w);
                $self.hook_result(hook, answer)
            }
            Err(e) => Err($self.crashed(hook.as_str(), &e, &w.stderr, seen)),
        }
    }};
}

impl LoadedComponent {
    pub(super) fn new(
        engine: wasmtime::Engine,
        ticker: Arc<Ticker>,
        config: Arc<SandboxConfig>,
        pre: GuestPre<State>,
        label: &str,
        hash: String,
        manifest: &str,
    ) -> Self {
        Self {
            engine,
            ticker,
            config,
            pre,
            label: label.into(),
            hash,
            manifest: manifest.into(),
            warm: Mutex::new(Vec::new()),
        }
    }

    /// `name@version` of the connector this component serves.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Builds the vendor request (without credentials).
    pub async fn build_request(
        &self,
        account: &Account<'_>,
        call: &Call,
    ) -> Result<HttpRequest, HookFailure> {
        let (account, call) = (wire::account(account), wire::call(call));
        let request = call_hook!(self, Hook::BuildRequest, |h, store| h
            .call_build_request(store, &account, &call))?;
        wire::request(request).map_err(|e| self.mapping(Hook::BuildRequest, e.to_string()))
    }

    /// Rate-limit state and failure of an answer.
    pub async fn classify(
        &self,
        call: &Call,
        response: &HttpResponse,
        now_ms: i64,
    ) -> Result<(RateLimitInfo, Option<RemoteFailure>), HookFailure> {
        let (call, wit_response) = (wire::call(call), wire::response(response));
        let c = call_hook!(self, Hook::Classify, |h, store| h.call_classify(
            store,
            &call,
            &wit_response,
            now_ms
        ))?;
        wire::classification(c, response).map_err(|e| self.mapping(Hook::Classify, e.to_string()))
    }

    /// Records and next page, or the record, of a successful answer.
    pub async fn read_page(&self, call: &Call, response: &HttpResponse) -> Result<Payload, HookFailure> {
        let (call, response) = (wire::call(call), wire::response(response));
        let payload = call_hook!(self, Hook::ReadPage, |h, store| h
            .call_read_page(store, &call, &response))?;
        wire::payload(payload).map_err(|e| self.mapping(Hook::ReadPage, e.to_string()))
    }

    /// Maps a page of vendor records to unified records.
    pub async fn map_records(
        &self,
        model: &str,
        resource: &str,
        method: &str,
        records: &[Value],
    ) -> Result<Vec<Value>, HookFailure> {
        let text = serde_json::to_string(records).expect("JSON serializes");
        let out = call_hook!(self, Hook::MapRecords, |h, store| h
            .call_map_records(store, model, resource, method, &text))?;
        let mapped: Vec<Value> = serde_json::from_str(&out)
            .map_err(|e| self.mapping(Hook::MapRecords, format!("answer is not a JSON array: {e}")))?;
        if mapped.len() != records.len() {
            return Err(self.mapping(
                Hook::MapRecords,
                format!("mapped {} records into {}", records.len(), mapped.len()),
            ));
        }
        Ok(mapped)
    }

    /// Maps a unified write body to the vendor's.
    pub async fn map_back(
        &self,
        model: &str,
        resource: &str,
        method: &str,
        body: &Value,
    ) -> Result<Value, HookFailure> {
        let text = body.to_string();
        let out = call_hook!(self, Hook::MapBack, |h, store| h
            .call_map_back(store, model, resource, method, &text))?;
        serde_json::from_str(&out)
            .map_err(|e| self.mapping(Hook::MapBack, format!("answer is not JSON: {e}")))
    }

    /// Verifies an inbound webhook's signature.
    pub async fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        secret: &[u8],
        now_ms: i64,
    ) -> Result<bool, HookFailure> {
        call_hook!(self, Hook::VerifyWebhook, |h, store| h
            .call_verify_webhook(store, headers, body, secret, now_ms))
    }

    /// Maps an inbound webhook to unified events.
    pub async fn map_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<Value>, HookFailure> {
        let out = call_hook!(self, Hook::MapWebhook, |h, store| h
            .call_map_webhook(store, headers, body))?;
        serde_json::from_str(&out)
            .map_err(|e| self.mapping(Hook::MapWebhook, format!("answer is not a JSON array: {e}")))
    }

    /// Instantiates `n` instances into the warm pool (up to its size), so that calls do not pay
    /// for instantiation.
    pub async fn prewarm(&self, n: usize) -> Result<(), HookFailure> {
        for _ in 0..n {
            let w = self.instantiate("instantiate").await?;
            self.checkin(w);
        }
        Ok(())
    }

    /// Instantiates (running `init`), then calls each hook once with minimal inputs: the
    /// component must answer (a result or a hook error) within its limits. An `init` error, a
    /// trap, an exhausted budget or a declared hook that says `unsupported` fails the check.
    pub async fn smoke(&self, hooks: &[Hook], resource: &str, method: &str) -> Result<(), HookFailure> {
        // A fresh instance first: its `init` must accept the manifest (any failure refuses).
        self.prewarm(1).await?;
        let call = Call {
            resource: resource.to_owned(),
            method: method.to_owned(),
            ..Default::default()
        };
        let empty = Value::Object(Default::default());
        let account = Account {
            credentials: &empty,
            context: &empty,
            base_url: None,
            auth_method: None,
        };
        let response = HttpResponse {
            status: 200,
            headers: patchbay_engine::Headers::new(Vec::new()),
            body: b"{}".to_vec(),
            url: None,
        };
        for hook in hooks {
            let outcome = match hook {
                Hook::BuildRequest => self.build_request(&account, &call).await.map(drop),
                Hook::Classify => self.classify(&call, &response, 0).await.map(drop),
                Hook::ReadPage => self.read_page(&call, &response).await.map(drop),
                Hook::MapRecords => self.map_records("smoke", resource, method, &[]).await.map(drop),
                Hook::MapBack => self.map_back("smoke", resource, method, &empty).await.map(drop),
                Hook::VerifyWebhook => self.verify_webhook(&[], b"{}", b"smoke", 0).await.map(drop),
                Hook::MapWebhook => self.map_webhook(&[], b"{}").await.map(drop),
            };
            match outcome {
                Ok(()) | Err(HookFailure::Invalid { .. } | HookFailure::Mapping { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn checkout(&self, hook: Hook) -> Result<Warm, HookFailure> {
        let cached = self.warm.lock().expect("pool lock").pop();
        let mut w = match cached {
            Some(w) => w,
            None => self.instantiate(hook.as_str()).await?,
        };
        let ticks = (self.config.cpu_budget.as_micros() / TICK.as_micros()).max(1) as u64;
        let state = w.store.data_mut();
        state.ticks_left = ticks;
        state.hook = hook.as_str();
        w.store.set_epoch_deadline(1);
        w.calls += 1;
        Ok(w)
    }

    fn checkin(&self, w: Warm) {
        if w.calls >= MAX_CALLS_PER_STORE || w.stderr.contents().len() > STDERR_CAP / 2 {
            return;
        }
        let mut pool = self.warm.lock().expect("pool lock");
        if pool.len() < self.config.warm_instances {
            pool.push(w);
        }
    }

    async fn instantiate(&self, hook: &'static str) -> Result<Warm, HookFailure> {
        // `init` runs guest code.
        let _ticking = self.ticker.running();
        let config = &self.config;
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(config.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            ticks_left: (config.cpu_budget.as_micros() / TICK.as_micros()).max(1) as u64,
            label: self.label.clone(),
            hook,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Each tick that finds the guest running costs one tick of budget; in between, the
        // guest yields so a busy component never holds an executor thread for long.
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.ticks_left == 0 {
                return Err(wasmtime::Error::new(BudgetExhausted));
            }
            state.ticks_left -= 1;
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        let instance = match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => return Err(self.crashed(hook, &e, &stderr, 0)),
        };
        let init = instance
            .patchbay_connector_hooks()
            .call_init(&mut store, &self.manifest)
            .await;
        match init {
            Ok(Ok(())) => Ok(Warm {
                store,
                instance,
                stderr,
                calls: 0,
            }),
            Ok(Err(e)) => Err(HookFailure::Invalid {
                label: self.label.clone(),
                hook: "init",
                message: format!("{e:?}"),
            }),
            Err(e) => Err(self.crashed("init", &e, &stderr, 0)),
        }
    }

    fn hook_result<T>(&self, hook: Hook, answer: Result<T, wit::HookError>) -> Result<T, HookFailure> {
        let label = self.label.clone();
        let hook = hook.as_str();
        answer.map_err(|e| match e {
            wit::HookError::Invalid(message) => HookFailure::Invalid { label, hook, message },
            wit::HookError::Mapping(message) => HookFailure::Mapping { label, hook, message },
            wit::HookError::Unsupported => HookFailure::Unsupported { label, hook },
        })
    }

    fn mapping(&self, hook: Hook, message: String) -> HookFailure {
        HookFailure::Mapping {
            label: self.label.clone(),
            hook: hook.as_str(),
            message,
        }
    }

    fn crashed(
        &self,
        hook: &'static str,
        e: &wasmtime::Error,
        stderr: &MemoryOutputPipe,
        seen: usize,
    ) -> HookFailure {
        let config = &self.config;
        let reason = if e.downcast_ref::<BudgetExhausted>().is_some() {
            format!("exceeded its CPU budget of {} ms", config.cpu_budget.as_millis())
        } else {
            match e.downcast_ref::<Trap>() {
                Some(Trap::StackOverflow) => {
                    format!("overflowed its stack of {} KiB", config.stack_bytes >> 10)
                }
                Some(Trap::UnreachableCodeReached) => "panicked or aborted (wasm unreachable)".to_owned(),
                _ if format!("{e:#}").contains("growing memory") => {
                    format!("exceeded its memory limit of {} MiB", config.memory_bytes >> 20)
                }
                Some(trap) => format!("trapped: {trap}"),
                None => format!("failed: {e:#}"),
            }
        };
        let all = stderr.contents();
        let text = String::from_utf8_lossy(all.get(seen..).unwrap_or_default());
        let text = text.trim();
        // The end of a long stderr is the part that explains the crash.
        let start = text.len().saturating_sub(2000);
        let start = (start..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        let failure = HookFailure::Crashed {
            label: self.label.clone(),
            hook,
            reason,
            stderr: text[start..].to_owned(),
        };
        emit!(WARN, SANDBOX_CRASHED, error = %failure);
        failure
    }
}

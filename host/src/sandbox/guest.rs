//! What a guest instance sees: the generated bindings of the WIT world, and the per-store state
//! behind its imports (WASI with nothing behind it, the `log` interface, the call's budget).

use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::telemetry::emit;
use crate::telemetry::events::SANDBOX_GUEST_LOG;

/// Host bindings of `wit/connector.wit`. The world is named `connector`, so bindgen calls its
/// instance type `Connector`; outside this module it is imported as `GuestInstance`, never
/// confused with the engine's compiled [`patchbay_engine::Connector`].
#[allow(missing_docs)]
pub(super) mod bindings {
    wasmtime::component::bindgen!({
        world: "connector",
        path: "../wit",
        exports: { default: async },
    });
}

/// Per-store state.
pub struct State {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limits: StoreLimits,
    /// Epoch ticks left in the current call's CPU budget.
    pub(super) ticks_left: u64,
    /// `name@version#revision hook`, for log lines.
    pub(super) label: Arc<str>,
    pub(super) hook: &'static str,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::patchbay::connector::types::Host for State {}

impl bindings::patchbay::connector::log::Host for State {
    fn log(&mut self, level: bindings::patchbay::connector::log::Level, message: String) {
        use bindings::patchbay::connector::log::Level;
        let (label, hook) = (&*self.label, self.hook);
        // Guest text is data: bounded, and logged as a field.
        let message: String = message.chars().take(2000).collect();
        match level {
            Level::Trace => emit!(TRACE, SANDBOX_GUEST_LOG, connector = label, hook, message),
            Level::Debug => emit!(DEBUG, SANDBOX_GUEST_LOG, connector = label, hook, message),
            Level::Info => emit!(INFO, SANDBOX_GUEST_LOG, connector = label, hook, message),
            Level::Warn => emit!(WARN, SANDBOX_GUEST_LOG, connector = label, hook, message),
            Level::Error => emit!(ERROR, SANDBOX_GUEST_LOG, connector = label, hook, message),
        }
    }
}

//! The Patchbay connector SDK: what a connector component is written with.
//!
//! A component is a small `cdylib` crate built with `cargo build --target wasm32-wasip2`. It
//! implements [`Connector`] for a unit struct, overriding only the hooks it declares in its
//! manifest's `component.hooks`, and calls [`export_connector!`]:
//!
//! ```ignore
//! use patchbay_sdk::{Connector, HookError, types::*};
//!
//! struct Acme;
//!
//! impl Connector for Acme {
//!     fn map_records(_model: String, _resource: String, _method: String, records: String)
//!         -> Result<String, HookError> {
//!         Ok(records)
//!     }
//! }
//!
//! patchbay_sdk::export_connector!(Acme);
//! ```
//!
//! The contract is `wit/connector.wit` (`patchbay:connector@1.0.0`): JSON documents cross the
//! boundary as text once per page, the only import is [`log`], and credentials never enter a
//! component (the host adds them to the request a hook builds). [`engine`] converts between the
//! WIT types and the declarative engine's, so a component can reuse the engine for the parts a
//! manifest describes well.
#![deny(missing_docs)]

pub mod engine;

/// Bindings generated from `wit/connector.wit` (guest side).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "connector",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "patchbay_sdk::bindings",
    });
}

pub use bindings::patchbay::connector::types;
pub use patchbay_engine;
pub use serde_json;
pub use types::HookError;

/// The hooks of a connector component. Every hook defaults to [`HookError::Unsupported`]: a
/// component implements the ones its manifest declares, and the host's declarative engine serves
/// the rest. Hooks must be pure functions of their inputs: a component instance may be reused
/// across calls, or dropped at any time.
pub trait Connector {
    /// Receives the connector's manifest (JSON text), once per instance, before any other hook.
    fn init(manifest: String) -> Result<(), HookError> {
        let _ = manifest;
        Ok(())
    }

    /// Builds the vendor request for a call, without credentials.
    fn build_request(account: types::Account, call: types::Call) -> Result<types::HttpRequest, HookError> {
        let _ = (account, call);
        Err(HookError::Unsupported)
    }

    /// Rate-limit state of an answer and, when the answer is a failure, its taxonomy code.
    fn classify(
        call: types::Call,
        response: types::HttpResponse,
        now_ms: i64,
    ) -> Result<types::Classification, HookError> {
        let _ = (call, response, now_ms);
        Err(HookError::Unsupported)
    }

    /// Records and next page of a successful list answer, or the record of a single one.
    fn read_page(call: types::Call, response: types::HttpResponse) -> Result<types::Payload, HookError> {
        let _ = (call, response);
        Err(HookError::Unsupported)
    }

    /// Maps a page of vendor records (JSON array) to unified records (JSON array, same order).
    fn map_records(
        model: String,
        resource: String,
        method: String,
        records: String,
    ) -> Result<String, HookError> {
        let _ = (model, resource, method, records);
        Err(HookError::Unsupported)
    }

    /// Maps a unified write body to the vendor's.
    fn map_back(model: String, resource: String, method: String, body: String) -> Result<String, HookError> {
        let _ = (model, resource, method, body);
        Err(HookError::Unsupported)
    }

    /// Verifies an inbound webhook's signature (compare in constant time).
    fn verify_webhook(
        headers: Vec<types::Header>,
        body: Vec<u8>,
        secret: Vec<u8>,
        now_ms: i64,
    ) -> Result<bool, HookError> {
        let _ = (headers, body, secret, now_ms);
        Err(HookError::Unsupported)
    }

    /// Maps an inbound webhook to unified events (JSON array).
    fn map_webhook(headers: Vec<types::Header>, body: Vec<u8>) -> Result<String, HookError> {
        let _ = (headers, body);
        Err(HookError::Unsupported)
    }
}

/// Exports a [`Connector`] implementation as the component's `hooks`.
#[macro_export]
macro_rules! export_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __PatchbayHooks;

        impl $crate::bindings::exports::patchbay::connector::hooks::Guest for __PatchbayHooks {
            fn init(manifest: String) -> Result<(), $crate::HookError> {
                <$ty as $crate::Connector>::init(manifest)
            }
            fn build_request(
                account: $crate::types::Account,
                call: $crate::types::Call,
            ) -> Result<$crate::types::HttpRequest, $crate::HookError> {
                <$ty as $crate::Connector>::build_request(account, call)
            }
            fn classify(
                call: $crate::types::Call,
                response: $crate::types::HttpResponse,
                now_ms: i64,
            ) -> Result<$crate::types::Classification, $crate::HookError> {
                <$ty as $crate::Connector>::classify(call, response, now_ms)
            }
            fn read_page(
                call: $crate::types::Call,
                response: $crate::types::HttpResponse,
            ) -> Result<$crate::types::Payload, $crate::HookError> {
                <$ty as $crate::Connector>::read_page(call, response)
            }
            fn map_records(
                model: String,
                resource: String,
                method: String,
                records: String,
            ) -> Result<String, $crate::HookError> {
                <$ty as $crate::Connector>::map_records(model, resource, method, records)
            }
            fn map_back(
                model: String,
                resource: String,
                method: String,
                body: String,
            ) -> Result<String, $crate::HookError> {
                <$ty as $crate::Connector>::map_back(model, resource, method, body)
            }
            fn verify_webhook(
                headers: Vec<$crate::types::Header>,
                body: Vec<u8>,
                secret: Vec<u8>,
                now_ms: i64,
            ) -> Result<bool, $crate::HookError> {
                <$ty as $crate::Connector>::verify_webhook(headers, body, secret, now_ms)
            }
            fn map_webhook(
                headers: Vec<$crate::types::Header>,
                body: Vec<u8>,
            ) -> Result<String, $crate::HookError> {
                <$ty as $crate::Connector>::map_webhook(headers, body)
            }
        }

        // Exported only in the component: the export names (`patchbay:connector/hooks@1.0.0#…`)
        // are not valid native symbols, and a native build is only for unit tests and lints.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__PatchbayHooks with_types_in $crate::bindings);
    };
}

/// Log lines, forwarded to the host's tracing with the connector, version and hook attached.
pub mod log {
    use crate::bindings::patchbay::connector::log::{Level, log};

    /// Logs at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Logs at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Logs at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Logs at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Parses JSON text handed over by the host, as a [`HookError::Invalid`] when it is not valid.
pub fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, HookError> {
    serde_json::from_str(text).map_err(|e| HookError::Invalid(format!("{what}: {e}")))
}

/// Serializes a value to JSON text for the host.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

/// The value of a header (names compare case-insensitively).
pub fn header<'a>(headers: &'a [types::Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

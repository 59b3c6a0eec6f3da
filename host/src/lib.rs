//! The Patchbay host: one generic runtime for every vendor.
//!
//! It owns what is the same for every integration — credentials (encrypted at rest), integrated
//! accounts, API tokens, rate-limit normalization, the error taxonomy — and runs connectors that
//! are data ([`patchbay_engine`]). Product services call it over HTTP ([`http::router`]).
//!
//! Modules, from the edge down (imports point down; a test checks there are no cycles):
//! [`app`] wires everything; [`http`] is the API edge; [`calls`], [`accounts`] and [`oauth`] are
//! the services; [`connectors`] (registry, validation, dispatch) and [`upstream`] (the vendor
//! client) run connectors; [`store`], [`secrets`], [`sandbox`], [`ssrf`] and [`telemetry`]
//! are the foundations. `docs/ARCHITECTURE.md` has the map.

pub mod accounts;
pub mod app;
pub mod calls;
pub mod clock;
pub mod config;
pub mod connectors;
pub mod http;
pub mod monitoring;
pub mod oauth;
pub mod sandbox;
pub mod secrets;
pub mod ssrf;
pub mod store;
pub mod telemetry;
pub mod upstream;
pub mod webhooks;

pub use app::{App, run, serve};
pub use config::Config;

//! The end-to-end suite, as one test binary (so the suite links the host and wasmtime once):
//! real hosts on loopback against the mock vendors, the Wasm sandbox, hot reload, the account
//! lifecycle and OAuth, and the architecture checks over the sources. The race test between two
//! host processes is a binary of its own (`tests/race.rs`).

mod api;
mod architecture;
mod bundled_connectors;
mod catalogue;
mod connector_cases;
mod differential;
mod github;
mod hot_reload;
mod hubspot;
mod isolation;
mod lifecycle;
mod linear;
mod monitoring;
mod oauth_server;
mod passthrough;
mod pipedrive;
mod sandbox;
mod ssrf;
mod store;
mod webhook_vectors;
mod webhooks;

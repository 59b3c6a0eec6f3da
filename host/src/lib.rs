//! The Patchbay host: one generic runtime for every vendor.
//!
//! It owns what is the same for every integration — credentials (encrypted at rest), integrated
//! accounts, API tokens, rate-limit normalization, the error taxonomy — and runs connectors that
//! are data ([`patchbay_engine`]). Product services call it over HTTP ([`server::router`]).

pub mod api;
pub mod auth;
pub mod cache;
pub mod config;
pub mod connect;
pub mod crypto;
pub mod cursor;
pub mod error;
pub mod executor;
pub mod hooks;
pub mod lifecycle;
pub mod oauth;
pub mod package;
pub mod refresh;
pub mod registry;
pub mod sandbox;
pub mod server;
pub mod store;
pub mod watch;

pub use config::Config;
pub use server::{AppState, run, serve};

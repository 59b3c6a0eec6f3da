//! The sans-IO connector engine of Patchbay.
//!
//! Pure functions from a connector manifest and call inputs to HTTP requests, and from HTTP
//! answers to records, next-page state and normalized outcomes. No sockets, no clock, no
//! filesystem: the same code runs in the host and inside a Wasm component, and every strategy is
//! unit-tested without a network.
//!
//! Flow of one call: [`Connector::from_json`] compiles a manifest once; per call,
//! [`Connector::build_request`] gives an [`HttpRequest`]; the host sends it and hands the answer
//! to [`Connector::interpret`], which returns an [`Outcome`].

pub mod auth;
mod auth_choice;
pub mod call;
mod compile;
pub mod connector;
pub mod cursor;
pub mod error_code;
pub mod expr;
mod fastpath;
pub mod http;
mod jq_budget;
pub mod lifecycle;
pub mod manifest;
pub mod pagination;
pub mod passthrough;
pub mod ratelimit;
pub mod rawpath;
pub mod request;
pub mod response;
pub mod shape;
pub mod template;
pub mod unified;
pub mod webhook;

pub use call::{Account, Call, CallError, PageState};
pub use connector::{CompiledMethod, CompiledUnified, Connector, Problem};
pub use error_code::{ErrorCode, RemoteErrorCode};
pub use expr::Expr;
pub use http::{Headers, HttpRequest, HttpResponse};
pub use manifest::{HttpMethod, Manifest};
pub use passthrough::PassthroughError;
pub use ratelimit::RateLimitInfo;
pub use rawpath::RawPage;
pub use response::{Outcome, Payload, RemoteFailure};
pub use unified::UnifiedError;

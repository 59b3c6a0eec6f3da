//! Faithful mock servers of the vendor APIs Patchbay's end-to-end tests talk to.
//!
//! Each vendor module owns one mock (`HubSpotMock`, `GitHubMock`, `PipedriveMock`,
//! `LinearMock`, `StripeMock`) that reproduces the documented request/response shapes, authentication
//! failures, pagination and rate-limit signalling of the real API closely enough that a
//! connector which passes against the mock should pass against the vendor. [`common`] owns
//! the knobs every mock shares (failure injection, latency, request recording, rate-limit
//! arithmetic) and [`server`] owns putting a router on a loopback socket.

pub mod common;
pub mod github;
pub mod hubspot;
pub mod linear;
pub mod oauth_provider;
pub mod pipedrive;
pub mod server;
pub mod stripe;

pub use common::RecordedRequest;
pub use github::GitHubMock;
pub use hubspot::HubSpotMock;
pub use linear::LinearMock;
pub use oauth_provider::{OAuthProviderMock, ProviderStats};
pub use pipedrive::PipedriveMock;
pub use server::MockServer;
pub use stripe::StripeMock;

#[cfg(test)]
mod test_util;

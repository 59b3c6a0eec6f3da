//! Webhooks in and out.
//!
//! Inbound ([`Inbound`], [`processor`]): a vendor request is verified (the signature is its
//! credential), stored raw by a group commit, and only then acknowledged; workers lease the
//! stored requests from the database, map them through the connector ([`crate::connectors::Dispatch`])
//! and write each vendor event's unified event to the outbox once, keyed by the vendor's event id.
//!
//! Outbound ([`Endpoints`], [`delivery`]): every outbox event (lifecycle events and unified
//! events) fans out to the enabled endpoints whose filter and tenant match, and is delivered
//! signed per Standard Webhooks, with retries on a schedule, `Retry-After`, `410 Gone`,
//! disabling after a failure window, and an SSRF guard ([`crate::ssrf`]) checked after DNS resolution.

pub mod delivery;
mod endpoints;
mod error;
mod inbound;
mod intake;
pub mod model;
pub mod processor;

pub use endpoints::{EndpointPatch, EndpointView, Endpoints, NewEndpointRequest};
pub use error::WebhookError;
pub use inbound::{Ack, Inbound, RawRequest};
pub use intake::Intake;

/// The lifecycle event recorded when the host disables an endpoint.
pub const ENDPOINT_DISABLED_EVENT: &str = "webhook_endpoint:disabled";
/// The event `POST /webhook-endpoints/{id}/test` sends.
pub const ENDPOINT_TEST_EVENT: &str = "webhook_endpoint:test";

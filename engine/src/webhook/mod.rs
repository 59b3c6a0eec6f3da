//! Inbound webhooks, sans-IO: from a manifest's `webhooks` section and a raw request to a
//! verdict (signature valid or why not), a handshake answer, and the request's events (vendor id,
//! time, account key, unified events). The host stores, leases and delivers; everything
//! vendor-specific is decided here.

mod compiled;
mod events;
mod handshake;
mod request;
mod signature;
pub mod spec;

pub use compiled::CompiledWebhooks;
pub use events::{InboundEvent, UnifiedEvent};
pub use handshake::HandshakeAnswer;
pub use request::{Rejection, WebhookRequest};
pub use signature::{CompiledSignature, form_sorted, hmac_sha256, parse_header, parse_time, secret_key};
pub use spec::WebhooksSpec;

#[cfg(test)]
mod tests;

//! Proxied, passthrough and unified calls: resolving the account, the vendor-401 policy, cursors, and reading
//! answers into records (the engine's raw path for list pages where it applies). The HTTP routes
//! call into [`Calls`]; nothing here knows about HTTP beyond the [`Answer`] it returns.

pub mod answer;
pub mod context;
pub mod error;
pub mod passthrough;
pub mod proxy;
pub mod query;
pub mod service;
pub mod unified;

pub use answer::Answer;
pub use error::{CallFailure, CallsError, RemoteAnswer};
pub use passthrough::{Forwarded, PassthroughRequest};
pub use patchbay_engine::cursor::{CursorError, Cursors, Resume};
pub use proxy::ProxyCall;
pub use query::{CallQuery, MAX_LIMIT};
pub use service::Calls;
pub use unified::UnifiedCall;

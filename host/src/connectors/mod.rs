//! Connectors: the registry of live versions, complete validation, reading the connectors
//! directory, hot reload, and the dispatch table that picks the component or the engine for each
//! step of a call.

pub mod catalogue;
pub mod dispatch;
pub mod files;
pub mod json_schema;
pub mod live;
pub mod registry;
pub mod validate;
pub mod watch;

pub use dispatch::{Classification, Dispatch, DispatchError, WebhookDispatchError};
pub use live::LiveConnector;
pub use registry::{ChangeError, Registry, Snapshot};
pub use validate::{FileReport, load_file, smoke, validate_text};

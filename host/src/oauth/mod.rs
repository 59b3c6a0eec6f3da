//! OAuth2: the token endpoint client (one constructor for every grant), operators' apps, token
//! times, refresh and its scheduler, and the authorization-code flows of the API.

pub mod apps;
pub mod client;
pub mod flows;
pub mod redirects;
pub mod refresh;
pub mod scheduler;
pub mod times;

pub use apps::{AppError, OAuthApp, OAuthApps};
pub use flows::{Callback, FlowError, OAuthFlows, StartConnect};
pub use refresh::{Reason, RefreshClass, RefreshError, Refresher};

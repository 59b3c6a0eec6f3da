//! A live connector: the compiled manifest, the stored revision it is, and its Wasm component
//! when it has one. Its steps run through [`super::dispatch`] (`live.dispatch()`).

use std::sync::Arc;

use patchbay_engine::Connector;
use patchbay_engine::manifest::OAuth2;

use crate::sandbox::LoadedComponent;

/// A connector that serves calls.
#[derive(Debug)]
pub struct LiveConnector {
    /// The compiled manifest (the declarative engine).
    pub connector: Connector,
    /// Activation revision (per connector, from the version store).
    pub revision: i64,
    /// The connector's Wasm component, when it has one.
    pub component: Option<Arc<LoadedComponent>>,
}

impl LiveConnector {
    /// The connector's name.
    pub fn name(&self) -> &str {
        self.connector.name()
    }

    /// What served a call: `name@version#revision`.
    pub fn served_by(&self) -> String {
        format!(
            "{}@{}#{}",
            self.connector.name(),
            self.connector.version(),
            self.revision
        )
    }

    /// The settings of the connector's first OAuth2 method, if it has one.
    pub fn oauth2(&self) -> Option<&OAuth2> {
        self.connector.manifest.auth.oauth2()
    }

    /// The provider settings of an account's auth method, when it holds OAuth2 tokens.
    pub fn account_oauth2(&self, method: Option<&str>) -> Option<&OAuth2> {
        self.connector.account_auth(method).oauth2()
    }
}

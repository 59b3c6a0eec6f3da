//! The inputs of one call: the account as the engine sees it, the call itself, where a list
//! continues, and why a request cannot be built from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the engine needs to know about the integrated account.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    /// Decrypted credentials (`credentials.*` in templates).
    pub credentials: &'a Value,
    /// Non-secret account context (`context.*`), e.g. a subdomain.
    pub context: &'a Value,
    /// Per-account override of the connector's `base_url`.
    pub base_url: Option<&'a str>,
    /// The manifest auth method the account uses (default: see [`crate::Connector::account_auth`]).
    pub auth_method: Option<&'a str>,
}

impl<'a> Account<'a> {
    /// An account with the connector's own base URL and default auth method.
    pub fn new(credentials: &'a Value, context: &'a Value) -> Self {
        Self {
            credentials,
            context,
            base_url: None,
            auth_method: None,
        }
    }
}

/// Where to continue a paginated list; opaque to callers (the host signs it into `next_cursor`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageState {
    /// Query parameters to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// JSON merged into the request body (GraphQL variables, body cursors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Full URL of the next page (link headers, `next` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One call of a connector method.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// Resource name.
    pub resource: String,
    /// Method name.
    pub method: String,
    /// Record id (`{{id}}`).
    pub id: Option<String>,
    /// Page size asked by the caller (`{{limit}}`).
    pub limit: Option<u64>,
    /// The caller's query parameters (`{{query.*}}`).
    pub query: Map<String, Value>,
    /// Extra query parameters forwarded verbatim (proxy pass-through).
    pub passthrough: Vec<(String, String)>,
    /// Request body (`{{body}}`; sent as is when the method has no body template).
    pub body: Option<Value>,
    /// Where to continue a list.
    pub page: Option<PageState>,
}

/// Why a request could not be built (the caller's or the account's fault, not the vendor's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such resource.
    #[error("connector has no resource {0:?}")]
    UnknownResource(String),
    /// No such method.
    #[error("resource {resource:?} has no method {method:?}")]
    UnknownMethod {
        /// Resource.
        resource: String,
        /// Method.
        method: String,
    },
    /// A placeholder in a required template had no value.
    #[error("missing value for {0}")]
    Missing(String),
    /// The base URL or a next-page URL is not usable.
    #[error("{0}")]
    BadUrl(String),
}

/// The template scope of a call.
pub(crate) fn scope(account: &Account, call: &Call) -> Value {
    let mut s = Map::new();
    s.insert("credentials".into(), account.credentials.clone());
    s.insert("context".into(), account.context.clone());
    if let Some(id) = &call.id {
        s.insert("id".into(), Value::String(id.clone()));
    }
    if let Some(limit) = call.limit {
        s.insert("limit".into(), Value::from(limit));
    }
    s.insert("query".into(), Value::Object(call.query.clone()));
    if let Some(body) = &call.body {
        s.insert("body".into(), body.clone());
    }
    Value::Object(s)
}

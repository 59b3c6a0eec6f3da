//! Unified calls: turning a call on a unified model into a vendor call, and mapping back.

use serde_json::Value;

use crate::call::{Call, CallError};
use crate::connector::{CompiledUnified, Connector};
use crate::template::Escape;

/// Why a unified call cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnifiedError {
    /// The connector does not implement the model's resource.
    #[error("connector does not implement unified {model}/{resource}")]
    NotImplemented {
        /// Model.
        model: String,
        /// Resource.
        resource: String,
    },
    /// The connector implements the resource but not this method.
    #[error("connector does not implement {method} on unified {model}/{resource}")]
    MethodNotImplemented {
        /// Model.
        model: String,
        /// Resource.
        resource: String,
        /// Method.
        method: String,
    },
    /// The request body mapping failed on the caller's body.
    #[error("request body mapping failed: {0}")]
    BodyMapping(String),
    /// The vendor call could not be built.
    #[error(transparent)]
    Call(#[from] CallError),
}

impl Connector {
    /// The vendor call for a unified call (`call.resource`/`call.method` are ignored and set from
    /// the mapping; `call.query` is the caller's unified query).
    pub fn unified_call<'a>(
        &'a self,
        model: &str,
        resource: &str,
        method: &str,
        mut call: Call,
    ) -> Result<(&'a CompiledUnified, Call), UnifiedError> {
        if !self.has_unified(model, resource) {
            return Err(UnifiedError::NotImplemented {
                model: model.into(),
                resource: resource.into(),
            });
        }
        let u = self
            .unified(model, resource, method)
            .ok_or_else(|| UnifiedError::MethodNotImplemented {
                model: model.into(),
                resource: resource.into(),
                method: method.into(),
            })?;
        let scope = serde_json::json!({ "query": Value::Object(call.query.clone()) });
        call.passthrough = u
            .query
            .iter()
            .filter_map(|(k, t)| t.render(&scope, Escape::None).map(|v| (k.clone(), v)))
            .collect();
        if let Some(body) = &call.body {
            call.body = Some(u.map_request_body(body).map_err(UnifiedError::BodyMapping)?);
        }
        call.resource = u.resource.clone();
        call.method = u.method.clone();
        self.resolve(&call.resource, &call.method)?;
        Ok((u, call))
    }

    /// Unified resources implemented, as `(model, resource, methods)`.
    pub fn unified_resources(&self) -> impl Iterator<Item = (&str, &str, Vec<&str>)> {
        self.unified.iter().map(|((m, r), methods)| {
            (
                m.as_str(),
                r.as_str(),
                methods.keys().map(String::as_str).collect(),
            )
        })
    }
}

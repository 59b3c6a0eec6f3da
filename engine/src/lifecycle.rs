//! Connect-time steps (post-install and validation), compiled from the manifest's `lifecycle`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::call::{Account, Call, scope};
use crate::expr::Expr;
use crate::template::{Escape, JsonTemplate, Template};

/// A compiled lifecycle step.
#[derive(Debug)]
pub struct CompiledStep {
    /// Step name.
    pub name: String,
    pub(crate) resource: String,
    pub(crate) method: String,
    pub(crate) id: Option<Template>,
    pub(crate) query: Vec<(String, Template)>,
    pub(crate) body: Option<JsonTemplate>,
    pub(crate) context: BTreeMap<String, Expr>,
}

/// Compiled post-install and validation steps.
#[derive(Debug, Default)]
pub struct CompiledLifecycle {
    /// Run first; a failure is a `post_install_error`.
    pub post_install: Vec<CompiledStep>,
    /// Run next; a failure is a `validation_error`.
    pub validation: Vec<CompiledStep>,
}

impl CompiledStep {
    /// The vendor call of this step for an account.
    pub fn call(&self, account: &Account) -> Call {
        let scope = scope(account, &Call::default());
        Call {
            resource: self.resource.clone(),
            method: self.method.clone(),
            id: self.id.as_ref().and_then(|t| t.render(&scope, Escape::None)),
            passthrough: self
                .query
                .iter()
                .filter_map(|(k, t)| t.render(&scope, Escape::None).map(|v| (k.clone(), v)))
                .collect(),
            body: self.body.as_ref().and_then(|t| t.render(&scope)),
            ..Default::default()
        }
    }

    /// The context values this step stores, from its result.
    pub fn context_updates(&self, result: &Value) -> Result<Map<String, Value>, String> {
        self.context
            .iter()
            .map(|(k, e)| Ok((k.clone(), e.eval(result)?)))
            .collect()
    }
}

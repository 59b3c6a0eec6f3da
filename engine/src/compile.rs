//! What compiling a manifest reports: each [`Problem`] with its JSON path, collected by the
//! [`Compiler`] that every section's compilation (connector, lifecycle, webhooks) writes into.

use std::collections::BTreeMap;

use crate::expr::Expr;
use crate::template::Template;

/// One problem found in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// JSON path of the offending value, e.g. `$.resources.contacts.methods.list.records`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while compiling.
#[derive(Default)]
pub(crate) struct Compiler {
    problems: Vec<Problem>,
}

impl Compiler {
    /// Every problem found, or nothing.
    pub(crate) fn finish(&mut self) -> Result<(), Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.problems))
        }
    }

    pub(crate) fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn template(&mut self, path: &str, source: &str) -> Template {
        Template::parse(source).unwrap_or_else(|e| {
            self.problem(path, e);
            Template::parse("").expect("empty template")
        })
    }

    pub(crate) fn templates(
        &mut self,
        path: &str,
        map: &BTreeMap<String, String>,
    ) -> Vec<(String, Template)> {
        map.iter()
            .map(|(k, v)| (k.clone(), self.template(&format!("{path}.{k}"), v)))
            .collect()
    }

    pub(crate) fn header_templates(
        &mut self,
        path: &str,
        map: &BTreeMap<String, String>,
    ) -> Vec<(String, Template)> {
        for name in map.keys() {
            self.header_name(&format!("{path}.{name}"), name);
        }
        self.templates(path, map)
    }

    pub(crate) fn header_name(&mut self, path: &str, name: &str) {
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            self.problem(path, format!("{name:?} is not a valid HTTP header name"));
        }
    }

    pub(crate) fn expr(&mut self, path: &str, source: &str) -> Option<Expr> {
        Expr::compile(source).map_err(|e| self.problem(path, e)).ok()
    }

    pub(crate) fn opt_expr(&mut self, path: &str, source: &Option<String>) -> Option<Expr> {
        source.as_deref().and_then(|s| self.expr(path, s))
    }
}

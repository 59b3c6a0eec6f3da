//! Loading a manifest: parse, then compile every template and expression, reporting every problem
//! with its JSON path. A [`Connector`] is the compiled, immutable form the engine runs.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::compile::Compiler;
pub use crate::compile::Problem;
use crate::expr::Expr;
use crate::lifecycle::{CompiledLifecycle, CompiledStep};
use crate::manifest::{
    BodyOrQuery, ErrorRule, HeaderNumber, HeaderTime, HttpMethod, Lifecycle, LifecycleStep, Manifest,
    Pagination, RateLimitDialect, TimeUnit,
};
use crate::template::{JsonTemplate, Template};

/// A compiled connector.
#[derive(Debug)]
pub struct Connector {
    /// The manifest as written.
    pub manifest: Manifest,
    pub(crate) base_url: Template,
    pub(crate) headers: Vec<(String, Template)>,
    pub(crate) query: Vec<(String, Template)>,
    pub(crate) auth: Vec<crate::auth::CompiledAuthMethod>,
    pub(crate) resources: BTreeMap<String, BTreeMap<String, CompiledMethod>>,
    pub(crate) rate_limit: Option<CompiledRateLimit>,
    pub(crate) error_message: Option<Expr>,
    pub(crate) error_rules: Vec<CompiledRule>,
    pub(crate) unified: BTreeMap<(String, String), BTreeMap<String, CompiledUnified>>,
    pub(crate) lifecycle: CompiledLifecycle,
    pub(crate) webhooks: Option<crate::webhook::CompiledWebhooks>,
    /// Record shapes declared by `response_schema`, by resource.
    pub(crate) declared_shapes: BTreeMap<String, crate::shape::Shape>,
}

/// A compiled method of a resource.
#[derive(Debug)]
pub struct CompiledMethod {
    pub(crate) http: HttpMethod,
    pub(crate) path: Template,
    pub(crate) query: Vec<(String, Template)>,
    pub(crate) headers: Vec<(String, Template)>,
    pub(crate) body: Option<JsonTemplate>,
    pub(crate) records: Option<Expr>,
    pub(crate) record: Option<Expr>,
    pub(crate) pagination: CompiledPagination,
}

impl CompiledMethod {
    /// Whether the method returns a paginated list of records.
    pub fn is_list(&self) -> bool {
        self.records.is_some()
    }

    /// The HTTP method used.
    pub fn http_method(&self) -> HttpMethod {
        self.http
    }
}

#[derive(Debug)]
pub(crate) enum CompiledPagination {
    None,
    Cursor {
        cursor: Expr,
        param: String,
        location: BodyOrQuery,
    },
    Page {
        param: String,
        start: u64,
        has_more: Option<Expr>,
    },
    Offset {
        param: String,
        next_offset: Option<Expr>,
        has_more: Option<Expr>,
    },
    LinkHeader {
        rel: String,
    },
    NextUrl {
        next_url: Expr,
    },
    GraphqlCursor {
        page_info: Expr,
        variable: String,
    },
    Dynamic {
        next: Expr,
    },
}

#[derive(Debug)]
pub(crate) struct CompiledRateLimit {
    pub limit: Option<HeaderNumber>,
    pub remaining: Option<HeaderNumber>,
    pub reset: Option<HeaderTime>,
    pub retry_after: HeaderTime,
    pub throttled: Option<Expr>,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub rule: ErrorRule,
    pub when: Option<Expr>,
}

/// A compiled unified method.
#[derive(Debug)]
pub struct CompiledUnified {
    pub(crate) resource: String,
    pub(crate) method: String,
    pub(crate) query: Vec<(String, Template)>,
    pub(crate) response: Option<Expr>,
    pub(crate) request_body: Option<Expr>,
}

impl CompiledUnified {
    /// Maps one vendor record to the unified shape.
    pub fn map_record(&self, record: &Value) -> Result<Value, String> {
        match &self.response {
            Some(e) => e.eval(record),
            None => Ok(record.clone()),
        }
    }

    /// Maps a unified request body to the vendor's.
    pub fn map_request_body(&self, body: &Value) -> Result<Value, String> {
        match &self.request_body {
            Some(e) => e.eval(body),
            None => Ok(body.clone()),
        }
    }

    /// The response mapping, if any.
    pub fn response_expr(&self) -> Option<&Expr> {
        self.response.as_ref()
    }
}

impl Connector {
    /// Parses and compiles a manifest from JSON text.
    pub fn from_json(text: &str) -> Result<Self, Vec<Problem>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![Problem {
                path: "$".into(),
                message: format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()),
            }]
        })?;
        Self::from_value(value)
    }

    /// Deserializes and compiles a manifest from a JSON value.
    pub fn from_value(value: Value) -> Result<Self, Vec<Problem>> {
        Self::compile(parse_manifest(value).map_err(|p| vec![p])?)
    }

    /// Compiles a manifest, reporting every problem at once.
    pub fn compile(manifest: Manifest) -> Result<Self, Vec<Problem>> {
        let mut cx = Compiler::default();
        if !crate::manifest::is_valid_name(&manifest.name) {
            cx.problem("$.name", "must be lower-case letters, digits, '_' or '-'");
        }
        let base_url = cx.template("$.base_url", &manifest.base_url);
        // `{{context.instance_url}}/…`: an origin the account's context holds (Salesforce).
        let origin_placeholder = manifest.base_url.starts_with("{{context.");
        if !(manifest.base_url.starts_with("https://")
            || manifest.base_url.starts_with("http://")
            || origin_placeholder)
        {
            cx.problem(
                "$.base_url",
                "must start with https://, http:// or a {{context.*}} origin",
            );
        }
        let headers = cx.header_templates("$.headers", &manifest.headers);
        let query = cx.templates("$.query", &manifest.query);
        let auth = crate::auth::compile_methods(&mut cx, &manifest.auth);
        if let Some(component) = &manifest.component {
            if component.hooks.is_empty() {
                cx.problem(
                    "$.component.hooks",
                    "name at least one hook the component implements",
                );
            }
            for (i, hook) in component.hooks.iter().enumerate() {
                if component.hooks[..i].contains(hook) {
                    cx.problem(
                        format!("$.component.hooks[{i}]"),
                        format!("{} is listed twice", hook.as_str()),
                    );
                }
            }
        }
        let rate_limit = manifest
            .rate_limit
            .as_ref()
            .map(|rl| compile_rate_limit(&mut cx, rl));
        let error_message = cx.opt_expr("$.errors.message", &manifest.errors.message);
        let error_rules = manifest
            .errors
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let path = format!("$.errors.rules[{i}]");
                if rule.status.is_empty() && rule.when.is_none() {
                    cx.problem(&path, "a rule needs `status`, `when`, or both");
                }
                CompiledRule {
                    rule: rule.clone(),
                    when: cx.opt_expr(&format!("{path}.when"), &rule.when),
                }
            })
            .collect();

        let mut resources = BTreeMap::new();
        if manifest.resources.is_empty() {
            cx.problem("$.resources", "a connector needs at least one resource");
        }
        for (rname, resource) in &manifest.resources {
            let mut methods = BTreeMap::new();
            for (mname, m) in &resource.methods {
                let path = format!("$.resources.{rname}.methods.{mname}");
                let pagination = m.pagination.as_ref().or(manifest.pagination.as_ref());
                let pagination = match (&m.records, pagination) {
                    (Some(_), Some(p)) => compile_pagination(&mut cx, &format!("{path}.pagination"), p),
                    (None, Some(_)) if m.pagination.is_some() => {
                        cx.problem(
                            format!("{path}.pagination"),
                            "pagination needs `records` (the method returns one record)",
                        );
                        CompiledPagination::None
                    }
                    _ => CompiledPagination::None,
                };
                if !m.path.starts_with('/') {
                    cx.problem(format!("{path}.path"), "must start with '/'");
                }
                let body = m.body.as_ref().map(|b| {
                    let mut errs = Vec::new();
                    let t = JsonTemplate::parse(b, &format!("{path}.body"), &mut errs);
                    for (p, e) in errs {
                        cx.problem(p, e);
                    }
                    t
                });
                let compiled = CompiledMethod {
                    http: m.method,
                    path: cx.template(&format!("{path}.path"), &m.path),
                    query: cx.templates(&format!("{path}.query"), &m.query),
                    headers: cx.header_templates(&format!("{path}.headers"), &m.headers),
                    body,
                    records: cx.opt_expr(&format!("{path}.records"), &m.records),
                    record: cx.opt_expr(&format!("{path}.record"), &m.record),
                    pagination,
                };
                methods.insert(mname.clone(), compiled);
            }
            resources.insert(rname.clone(), methods);
        }

        let mut unified = BTreeMap::new();
        for (model, model_resources) in &manifest.unified {
            for (uresource, methods) in model_resources {
                let mut compiled_methods = BTreeMap::new();
                for (umethod, u) in methods {
                    let path = format!("$.unified.{model}.{uresource}.{umethod}");
                    let method = u.method.clone().unwrap_or_else(|| umethod.clone());
                    match resources.get(&u.resource).map(|ms| ms.get(&method)) {
                        None => cx.problem(
                            format!("{path}.resource"),
                            format!("no resource {:?}", u.resource),
                        ),
                        Some(None) => cx.problem(
                            format!("{path}.method"),
                            format!("resource {:?} has no method {method:?}", u.resource),
                        ),
                        Some(Some(vm)) if umethod == "list" && !vm.is_list() => cx.problem(
                            format!("{path}.method"),
                            format!(
                                "unified list calls {}.{method}, which has no `records`",
                                u.resource
                            ),
                        ),
                        _ => {}
                    }
                    compiled_methods.insert(
                        umethod.clone(),
                        CompiledUnified {
                            resource: u.resource.clone(),
                            method,
                            query: cx.templates(&format!("{path}.query"), &u.query),
                            response: cx.opt_expr(&format!("{path}.response"), &u.response),
                            request_body: cx.opt_expr(&format!("{path}.request_body"), &u.request_body),
                        },
                    );
                }
                unified.insert((model.clone(), uresource.clone()), compiled_methods);
            }
        }

        let mut declared_shapes = BTreeMap::new();
        for (rname, r) in &manifest.resources {
            if let Some(schema) = &r.response_schema {
                match crate::shape::Shape::from_schema(schema) {
                    Ok(shape) => {
                        declared_shapes.insert(rname.clone(), shape);
                    }
                    Err((at, message)) => {
                        let base = format!("$.resources.{rname}.response_schema");
                        let path = if at.is_empty() {
                            base
                        } else {
                            format!("{base}.{at}")
                        };
                        cx.problem(path, message);
                    }
                }
            }
        }
        let lifecycle = compile_lifecycle(&mut cx, manifest.lifecycle.as_ref(), &resources);
        let webhooks = manifest
            .webhooks
            .as_ref()
            .and_then(|w| crate::webhook::CompiledWebhooks::compile(&mut cx, w));

        cx.finish()?;
        Ok(Self {
            manifest,
            base_url,
            headers,
            query,
            auth,
            resources,
            rate_limit,
            error_message,
            error_rules,
            unified,
            lifecycle,
            webhooks,
            declared_shapes,
        })
    }

    /// The record shape `resource` declares with `response_schema`, if any.
    pub fn declared_shape(&self, resource: &str) -> Option<&crate::shape::Shape> {
        self.declared_shapes.get(resource)
    }

    /// The compiled `webhooks` section, if the manifest has one.
    pub fn webhooks(&self) -> Option<&crate::webhook::CompiledWebhooks> {
        self.webhooks.as_ref()
    }

    /// Post-install and validation steps.
    pub fn lifecycle(&self) -> &CompiledLifecycle {
        &self.lifecycle
    }

    /// The hooks the connector's component implements (none without a component).
    pub fn hooks(&self) -> &[crate::manifest::Hook] {
        self.manifest.component.as_ref().map_or(&[], |c| &c.hooks)
    }

    /// Whether the connector's component implements `hook`.
    pub fn has_hook(&self, hook: crate::manifest::Hook) -> bool {
        self.hooks().contains(&hook)
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The manifest's version.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// A method of a resource.
    pub fn method(&self, resource: &str, method: &str) -> Option<&CompiledMethod> {
        self.resources.get(resource)?.get(method)
    }

    /// Whether the resource exists.
    pub fn has_resource(&self, resource: &str) -> bool {
        self.resources.contains_key(resource)
    }

    /// A unified method.
    pub fn unified(&self, model: &str, resource: &str, method: &str) -> Option<&CompiledUnified> {
        self.unified
            .get(&(model.to_owned(), resource.to_owned()))?
            .get(method)
    }

    /// Whether the connector implements a unified resource.
    pub fn has_unified(&self, model: &str, resource: &str) -> bool {
        self.unified
            .contains_key(&(model.to_owned(), resource.to_owned()))
    }

    /// Every expression in the connector with its JSON path (for differential tests and tooling).
    pub fn expressions(&self) -> Vec<(String, &Expr)> {
        let mut out = Vec::new();
        for (r, methods) in &self.resources {
            for (m, cm) in methods {
                let base = format!("$.resources.{r}.methods.{m}");
                if let Some(e) = &cm.records {
                    out.push((format!("{base}.records"), e));
                }
                if let Some(e) = &cm.record {
                    out.push((format!("{base}.record"), e));
                }
            }
        }
        for ((model, res), methods) in &self.unified {
            for (m, u) in methods {
                for (field, e) in [("response", &u.response), ("request_body", &u.request_body)] {
                    if let Some(e) = e {
                        out.push((format!("$.unified.{model}.{res}.{m}.{field}"), e));
                    }
                }
            }
        }
        out
    }
}

/// Deserializes a manifest; the problem names the JSON path of the first structural error.
pub fn parse_manifest(value: Value) -> Result<Manifest, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            "$".to_owned()
        } else {
            format!("$.{path}")
        };
        Problem {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

fn compile_lifecycle(
    cx: &mut Compiler,
    lifecycle: Option<&Lifecycle>,
    resources: &BTreeMap<String, BTreeMap<String, CompiledMethod>>,
) -> CompiledLifecycle {
    let Some(l) = lifecycle else {
        return CompiledLifecycle::default();
    };
    let mut steps = |kind: &str, list: &[LifecycleStep]| -> Vec<CompiledStep> {
        list.iter()
            .enumerate()
            .map(|(i, step)| {
                let path = format!("$.lifecycle.{kind}[{i}]");
                match resources
                    .get(&step.resource)
                    .map(|ms| ms.contains_key(&step.method))
                {
                    None => cx.problem(
                        format!("{path}.resource"),
                        format!("no resource {:?}", step.resource),
                    ),
                    Some(false) => cx.problem(
                        format!("{path}.method"),
                        format!("resource {:?} has no method {:?}", step.resource, step.method),
                    ),
                    Some(true) => {}
                }
                let body = step.body.as_ref().map(|b| {
                    let mut errs = Vec::new();
                    let t = JsonTemplate::parse(b, &format!("{path}.body"), &mut errs);
                    for (p, e) in errs {
                        cx.problem(p, e);
                    }
                    t
                });
                CompiledStep {
                    name: step.name.clone(),
                    resource: step.resource.clone(),
                    method: step.method.clone(),
                    id: step.id.as_ref().map(|t| cx.template(&format!("{path}.id"), t)),
                    query: cx.templates(&format!("{path}.query"), &step.query),
                    body,
                    context: step
                        .context
                        .iter()
                        .filter_map(|(k, e)| {
                            cx.expr(&format!("{path}.context.{k}"), e).map(|e| (k.clone(), e))
                        })
                        .collect(),
                }
            })
            .collect()
    };
    let post_install = steps("post_install", &l.post_install);
    let validation = steps("validation", &l.validation);
    CompiledLifecycle {
        post_install,
        validation,
    }
}

fn compile_rate_limit(cx: &mut Compiler, rl: &RateLimitDialect) -> CompiledRateLimit {
    for (field, h) in [("limit", &rl.limit), ("remaining", &rl.remaining)] {
        if let Some(h) = h {
            cx.header_name(&format!("$.rate_limit.{field}.header"), &h.header);
        }
    }
    for (field, h) in [("reset", &rl.reset), ("retry_after", &rl.retry_after)] {
        if let Some(h) = h {
            cx.header_name(&format!("$.rate_limit.{field}.header"), &h.header);
        }
    }
    CompiledRateLimit {
        limit: rl.limit.clone(),
        remaining: rl.remaining.clone(),
        reset: rl.reset.clone(),
        retry_after: rl.retry_after.clone().unwrap_or_else(default_retry_after),
        throttled: cx.opt_expr("$.rate_limit.throttled", &rl.throttled),
    }
}

/// `Retry-After` as RFC 9110 defines it (delay-seconds or HTTP-date).
pub(crate) fn default_retry_after() -> HeaderTime {
    HeaderTime {
        header: "retry-after".into(),
        unit: TimeUnit::DeltaSeconds,
    }
}

fn compile_pagination(cx: &mut Compiler, path: &str, p: &Pagination) -> CompiledPagination {
    let mut req = |field: &str, src: &str| cx.expr(&format!("{path}.{field}"), src);
    let compiled = match p {
        Pagination::None => Some(CompiledPagination::None),
        Pagination::Cursor {
            cursor,
            param,
            location,
        } => req("cursor", cursor).map(|cursor| CompiledPagination::Cursor {
            cursor,
            param: param.clone(),
            location: *location,
        }),
        Pagination::Page {
            param,
            start,
            has_more,
        } => Some(CompiledPagination::Page {
            param: param.clone(),
            start: *start,
            has_more: cx.opt_expr(&format!("{path}.has_more"), has_more),
        }),
        Pagination::Offset {
            param,
            next_offset,
            has_more,
        } => Some(CompiledPagination::Offset {
            param: param.clone(),
            next_offset: cx.opt_expr(&format!("{path}.next_offset"), next_offset),
            has_more: cx.opt_expr(&format!("{path}.has_more"), has_more),
        }),
        Pagination::LinkHeader { rel } => Some(CompiledPagination::LinkHeader { rel: rel.clone() }),
        Pagination::NextUrl { next_url } => {
            req("next_url", next_url).map(|next_url| CompiledPagination::NextUrl { next_url })
        }
        Pagination::GraphqlCursor { page_info, variable } => {
            req("page_info", page_info).map(|page_info| CompiledPagination::GraphqlCursor {
                page_info,
                variable: variable.clone(),
            })
        }
        Pagination::Dynamic { next } => req("next", next).map(|next| CompiledPagination::Dynamic { next }),
    };
    compiled.unwrap_or(CompiledPagination::None)
}

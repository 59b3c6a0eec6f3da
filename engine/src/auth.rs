//! Auth methods: how an account's credentials go into each request, which method an account
//! uses, what a connect form must ask for (a JSON Schema per method), and which fields of a token
//! endpoint's answer become account context. One closed set of strategies, selected by `type`.

use serde_json::{Map, Value};

use crate::compile::Compiler;
use crate::expr::Expr;
use crate::manifest::{Auth, AuthMethod, AuthSpec, OAuth2, ParamLocation};
use crate::template::Template;

/// How a compiled method injects credentials.
#[derive(Debug)]
pub(crate) enum CompiledAuth {
    None,
    Header(String, Template),
    Query(String, Template),
    Basic(Template, Template),
}

/// One compiled auth method.
#[derive(Debug)]
pub struct CompiledAuthMethod {
    /// The manifest's method.
    pub spec: AuthMethod,
    pub(crate) inject: CompiledAuth,
    pub(crate) base_url: Option<Template>,
    token_context: Vec<(String, Expr)>,
}

impl CompiledAuthMethod {
    /// The method's id.
    pub fn name(&self) -> &str {
        self.spec.id()
    }

    /// The OAuth2 settings, when accounts of this method hold OAuth2 tokens.
    pub fn oauth2(&self) -> Option<&OAuth2> {
        self.spec.kind.oauth2()
    }

    /// Account context read from a token endpoint's JSON answer (keys whose expression yields
    /// nothing are left out).
    pub fn token_context(&self, answer: &Value) -> Map<String, Value> {
        self.token_context
            .iter()
            .filter_map(|(k, e)| match e.eval(answer) {
                Ok(Value::Null) | Err(_) => None,
                Ok(v) => Some((k.clone(), v)),
            })
            .collect()
    }

    /// The context keys the token endpoint fills.
    pub fn token_context_keys(&self) -> impl Iterator<Item = &str> {
        self.token_context.iter().map(|(k, _)| k.as_str())
    }
}

/// Compiles every method of a manifest's `auth`.
pub(crate) fn compile_methods(cx: &mut Compiler, spec: &AuthSpec) -> Vec<CompiledAuthMethod> {
    let many = matches!(spec, AuthSpec::Many(_));
    if spec.methods().is_empty() {
        cx.problem("$.auth", "declare at least one auth method");
    }
    let mut out: Vec<CompiledAuthMethod> = Vec::new();
    for (i, m) in spec.methods().iter().enumerate() {
        let path = if many {
            format!("$.auth[{i}]")
        } else {
            "$.auth".to_owned()
        };
        let valid = crate::manifest::is_valid_name(m.id());
        if !valid {
            cx.problem(
                format!("{path}.name"),
                "must be lower-case letters, digits, '_' or '-'",
            );
        }
        if out.iter().any(|o| o.name() == m.id()) {
            cx.problem(
                format!("{path}.name"),
                format!("auth method {:?} is declared twice (give each a `name`)", m.id()),
            );
        }
        for key in m.fields.keys() {
            if !(key.starts_with("credentials.") || key.starts_with("context.")) {
                cx.problem(
                    format!("{path}.fields.{key}"),
                    "field keys are `credentials.<name>` or `context.<name>`",
                );
            }
        }
        let base_url = m.base_url.as_ref().map(|b| {
            if !(b.starts_with("https://") || b.starts_with("http://") || b.starts_with("{{")) {
                cx.problem(
                    format!("{path}.base_url"),
                    "must start with https://, http:// or a placeholder",
                );
            }
            cx.template(&format!("{path}.base_url"), b)
        });
        let mut token_context = Vec::new();
        if let Some(o) = m.kind.oauth2() {
            for (k, e) in &o.token_context {
                if let Some(e) = cx.expr(&format!("{path}.token_context.{k}"), e) {
                    token_context.push((k.clone(), e));
                }
            }
            for (field, url) in [
                ("authorize_url", o.authorize_url.as_deref()),
                ("token_url", Some(&o.token_url)),
            ] {
                if let Some(url) = url {
                    cx.template(&format!("{path}.{field}"), url);
                }
            }
        }
        out.push(CompiledAuthMethod {
            spec: m.clone(),
            inject: compile_inject(cx, &path, &m.kind),
            base_url,
            token_context,
        });
    }
    out
}

fn compile_inject(cx: &mut Compiler, path: &str, auth: &Auth) -> CompiledAuth {
    match auth {
        Auth::None => CompiledAuth::None,
        Auth::ApiKey {
            location,
            name,
            value,
        } => {
            let t = cx.template(&format!("{path}.value"), value);
            if name.is_empty() {
                cx.problem(format!("{path}.name"), "must not be empty");
            }
            match location {
                ParamLocation::Header => {
                    cx.header_name(&format!("{path}.name"), name);
                    CompiledAuth::Header(name.clone(), t)
                }
                ParamLocation::Query => CompiledAuth::Query(name.clone(), t),
            }
        }
        Auth::Bearer { token } => {
            let t = cx.template(&format!("{path}.token"), &format!("Bearer {token}"));
            CompiledAuth::Header("Authorization".into(), t)
        }
        Auth::Oauth2(o) => {
            if o.grant == crate::manifest::OAuth2Grant::AuthorizationCode && o.authorize_url.is_none() {
                cx.problem(
                    format!("{path}.authorize_url"),
                    "the authorization_code grant needs an authorize_url",
                );
            }
            let t = Template::parse("Bearer {{credentials.access_token}}").expect("static template");
            CompiledAuth::Header("Authorization".into(), t)
        }
        Auth::Basic { username, password } => CompiledAuth::Basic(
            cx.template(&format!("{path}.username"), username),
            cx.template(&format!("{path}.password"), password),
        ),
    }
}

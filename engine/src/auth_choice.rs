//! Which auth method an account uses, and what a connect form must ask for: a JSON Schema of
//! each method's inputs, derived from the placeholders its templates use.

use serde_json::{Map, Value, json};

use crate::auth::{CompiledAuth, CompiledAuthMethod};
use crate::call::Account;
use crate::connector::Connector;
use crate::template::Template;

impl Connector {
    /// Every auth method, in manifest order.
    pub fn auth_methods(&self) -> &[CompiledAuthMethod] {
        &self.auth
    }

    /// A method by name.
    pub fn auth_method(&self, name: &str) -> Option<&CompiledAuthMethod> {
        self.auth.iter().find(|m| m.name() == name)
    }

    /// The method an account uses: the one it names, else the first that needs no browser
    /// (what `POST /integrated-accounts` creates), else the first.
    pub fn account_auth(&self, named: Option<&str>) -> &CompiledAuthMethod {
        named
            .and_then(|n| self.auth_method(n))
            .or_else(|| self.auth.iter().find(|m| !m.spec.is_authorization_code()))
            .unwrap_or(&self.auth[0])
    }

    /// The method an account of this method name uses, for an [`Account`].
    pub(crate) fn auth_of(&self, account: &Account) -> &CompiledAuthMethod {
        self.account_auth(account.auth_method)
    }

    /// The first authorization-code OAuth method (what `POST /connect` starts by default).
    pub fn connect_auth(&self, named: Option<&str>) -> Option<&CompiledAuthMethod> {
        match named {
            Some(n) => self.auth_method(n).filter(|m| m.spec.is_authorization_code()),
            None => self.auth.iter().find(|m| m.spec.is_authorization_code()),
        }
    }

    /// What an account of `method` must be given, as a JSON Schema of the
    /// `{credentials, context}` of `POST /integrated-accounts` (for a connect form). Inputs are
    /// the placeholders the method's templates and base URL use; authorization-code methods get
    /// their credentials from the provider, and token-filled context is not asked for.
    pub fn auth_schema(&self, method: &CompiledAuthMethod) -> Value {
        let mut templates: Vec<&Template> = match &method.inject {
            CompiledAuth::Header(_, t) | CompiledAuth::Query(_, t) => vec![t],
            CompiledAuth::Basic(u, p) => vec![u, p],
            CompiledAuth::None => vec![],
        };
        templates.push(method.base_url.as_ref().unwrap_or(&self.base_url));
        templates.extend(self.headers.iter().chain(&self.query).map(|(_, t)| t));
        let oauth_urls: Vec<Template> = method
            .oauth2()
            .map(|o| {
                [o.authorize_url.as_deref(), Some(o.token_url.as_str())]
                    .into_iter()
                    .flatten()
                    .filter_map(|u| Template::parse(u).ok())
                    .collect()
            })
            .unwrap_or_default();
        templates.extend(&oauth_urls);
        let mut credentials: Vec<String> = Vec::new();
        let mut context: Vec<String> = Vec::new();
        for path in templates.into_iter().flat_map(Template::vars) {
            let list = match path.first().map(String::as_str) {
                Some("credentials") => &mut credentials,
                Some("context") => &mut context,
                _ => continue,
            };
            if let Some(n) = path.get(1)
                && !list.contains(n)
            {
                list.push(n.clone());
            }
        }
        if method.oauth2().is_some() {
            // Tokens come from the token endpoint.
            credentials.retain(|c| c != "access_token");
        }
        let filled: Vec<&str> = method.token_context_keys().collect();
        context.retain(|c| !filled.contains(&c.as_str()));
        let object = |root: &str, names: &[String]| {
            let props: Map<String, Value> = names
                .iter()
                .map(|n| {
                    let mut p = json!({"type": "string"});
                    if let Some(doc) = method.spec.fields.get(&format!("{root}.{n}")) {
                        for (k, v) in [("title", &doc.title), ("description", &doc.description)] {
                            if let Some(v) = v {
                                p[k] = json!(v);
                            }
                        }
                        if let Some(e) = &doc.example {
                            p["examples"] = json!([e]);
                        }
                    }
                    if root == "credentials" {
                        p["writeOnly"] = json!(true);
                    }
                    (n.clone(), p)
                })
                .collect();
            json!({"type": "object", "properties": props, "required": names})
        };
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": format!("{} ({})", self.name(), method.name()),
            "type": "object",
            "properties": {
                "credentials": object("credentials", &credentials),
                "context": object("context", &context),
            },
            "required": ["credentials", "context"],
        })
    }
}

//! `{{path}}` string templates: compiled once at load, rendered per call against a scope.
//!
//! The scope is a JSON object with the roots in [`ROOTS`]. A template whose placeholder has no
//! value renders to `None`, which lets optional query parameters (`"limit": "{{limit}}"`) vanish.

use serde_json::Value;

/// Names a placeholder may start with.
pub const ROOTS: &[&str] = &["credentials", "context", "id", "limit", "query", "body"];

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Vec<String>),
}

/// How placeholder values are escaped when inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inserted as is (headers, query values: the URL builder encodes those).
    None,
    /// Percent-encoded as one URL path segment, so an id cannot add path segments or change host.
    PathSegment,
}

impl Template {
    /// Parses `source`; the error says what is wrong.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed placeholder in template {source:?}"))?;
            let path = after[..end].trim();
            let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
            let valid_segment = |s: &String| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            if !segments.iter().all(valid_segment) {
                return Err(format!(
                    "invalid placeholder {{{{{path}}}}} in template {source:?}"
                ));
            }
            if !ROOTS.contains(&segments[0].as_str()) {
                return Err(format!(
                    "unknown placeholder root {:?} in template {source:?} (expected one of {})",
                    segments[0],
                    ROOTS.join(", ")
                ));
            }
            parts.push(Part::Var(segments));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// If the template is exactly one placeholder, its path.
    fn single_var(&self) -> Option<&[String]> {
        match self.parts.as_slice() {
            [Part::Var(path)] => Some(path),
            _ => None,
        }
    }

    /// The placeholders' paths (`["credentials", "api_token"]`), in order.
    pub fn vars(&self) -> impl Iterator<Item = &[String]> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(path) => Some(path.as_slice()),
            Part::Lit(_) => None,
        })
    }

    /// Renders a URL template whose first placeholder may be a whole origin: a template that
    /// starts with a placeholder whose value is an absolute http(s) URL (Salesforce's
    /// `{{context.instance_url}}`) takes that value as is, without a trailing `/`; every other
    /// placeholder is one escaped path segment (a subdomain, an id).
    pub fn render_url(&self, scope: &Value) -> Option<String> {
        if let [Part::Var(path), rest @ ..] = self.parts.as_slice() {
            let first = scalar_text(lookup(scope, path)?)?;
            if first.starts_with("https://") || first.starts_with("http://") {
                let tail = Self { parts: rest.to_vec() };
                let mut out = first.trim_end_matches('/').to_owned();
                out.push_str(&tail.render(scope, Escape::PathSegment)?);
                return Some(out);
            }
        }
        self.render(scope, Escape::PathSegment)
    }

    /// Renders the template; `None` when a placeholder has no value.
    pub fn render(&self, scope: &Value, escape: Escape) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(path) => {
                    let text = scalar_text(lookup(scope, path)?)?;
                    match escape {
                        Escape::None => out.push_str(&text),
                        // URL parsers resolve `.`/`..` segments (even percent-encoded ones), which
                        // would let an id walk up the vendor's path: such values have no rendering.
                        Escape::PathSegment if matches!(text.as_str(), "" | "." | "..") => return None,
                        Escape::PathSegment => out.push_str(&encode_segment(&text)),
                    }
                }
            }
        }
        Some(out)
    }
}

fn lookup<'a>(scope: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = scope;
    for seg in path {
        cur = match cur {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON body template: a JSON value whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A string template; exactly-one-placeholder strings keep the value's JSON type.
    Str(Template),
    /// An array of templates.
    Array(Vec<JsonTemplate>),
    /// An object of templates; members that render to nothing are omitted.
    Object(Vec<(String, JsonTemplate)>),
    /// A non-string literal.
    Literal(Value),
}

impl JsonTemplate {
    /// Parses every string in `value`; errors carry the JSON path below `value`.
    pub fn parse(value: &Value, path: &str, errors: &mut Vec<(String, String)>) -> Self {
        match value {
            Value::String(s) => match Template::parse(s) {
                Ok(t) => Self::Str(t),
                Err(e) => {
                    errors.push((path.to_owned(), e));
                    Self::Literal(Value::Null)
                }
            },
            Value::Array(items) => Self::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::parse(v, &format!("{path}[{i}]"), errors))
                    .collect(),
            ),
            Value::Object(map) => Self::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::parse(v, &format!("{path}.{k}"), errors)))
                    .collect(),
            ),
            other => Self::Literal(other.clone()),
        }
    }

    /// Renders against `scope`; `None` when a string's placeholder has no value.
    pub fn render(&self, scope: &Value) -> Option<Value> {
        match self {
            Self::Str(t) => match t.single_var() {
                Some(path) => lookup(scope, path).cloned(),
                None => t.render(scope, Escape::None).map(Value::String),
            },
            Self::Array(items) => Some(Value::Array(
                items.iter().filter_map(|t| t.render(scope)).collect(),
            )),
            Self::Object(members) => Some(Value::Object(
                members
                    .iter()
                    .filter_map(|(k, t)| t.render(scope).map(|v| (k.clone(), v)))
                    .collect(),
            )),
            Self::Literal(v) => Some(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_and_omits_missing() {
        let t = Template::parse("https://{{context.subdomain}}.zendesk.com").unwrap();
        let scope = json!({"context": {"subdomain": "acme"}});
        assert_eq!(
            t.render(&scope, Escape::None).unwrap(),
            "https://acme.zendesk.com"
        );
        assert_eq!(t.render(&json!({}), Escape::None), None);
        let limit = Template::parse("{{ limit }}").unwrap();
        assert_eq!(limit.render(&json!({"limit": 25}), Escape::None).unwrap(), "25");
    }

    #[test]
    fn path_segments_are_escaped() {
        let t = Template::parse("/contacts/{{id}}").unwrap();
        let got = t
            .render(&json!({"id": "../admin?x=1"}), Escape::PathSegment)
            .unwrap();
        assert_eq!(got, "/contacts/..%2Fadmin%3Fx%3D1");
        for dots in ["..", ".", ""] {
            assert_eq!(
                t.render(&json!({"id": dots}), Escape::PathSegment),
                None,
                "{dots:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_placeholders() {
        assert!(
            Template::parse("{{nope.x}}")
                .unwrap_err()
                .contains("unknown placeholder root")
        );
        assert!(Template::parse("{{id").unwrap_err().contains("unclosed"));
        assert!(Template::parse("{{a b}}").is_err());
    }

    #[test]
    fn json_templates_keep_types() {
        let mut errors = Vec::new();
        let t = JsonTemplate::parse(
            &json!({"variables": {"first": "{{limit}}", "q": "x{{query.q}}"}, "n": 1, "input": "{{body}}"}),
            "$.body",
            &mut errors,
        );
        assert!(errors.is_empty());
        let out = t.render(&json!({"limit": 5, "body": {"a": [1]}})).unwrap();
        assert_eq!(
            out,
            json!({"variables": {"first": 5}, "n": 1, "input": {"a": [1]}})
        );
    }
}

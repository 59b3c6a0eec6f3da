//! Building the vendor HTTP request for a call: URL, query, headers, credentials, body.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::auth::CompiledAuth;
use crate::call::{Account, Call, CallError, scope};
use crate::connector::{CompiledMethod, Connector};
use crate::http::HttpRequest;
use crate::template::Escape;

impl Connector {
    /// Looks up a method, with a precise error.
    pub fn resolve(&self, resource: &str, method: &str) -> Result<&CompiledMethod, CallError> {
        if !self.has_resource(resource) {
            return Err(CallError::UnknownResource(resource.to_owned()));
        }
        self.method(resource, method)
            .ok_or_else(|| CallError::UnknownMethod {
                resource: resource.to_owned(),
                method: method.to_owned(),
            })
    }

    /// The vendor API root for an account.
    pub fn base_url(&self, account: &Account) -> Result<url::Url, CallError> {
        let raw = self.base_url_text(account)?;
        let url = url::Url::parse(&raw).map_err(|e| CallError::BadUrl(format!("base URL {raw:?}: {e}")))?;
        check_base(&raw, &url)?;
        Ok(url)
    }

    /// The account's base URL as text: its own, or the manifest's rendered over its context.
    fn base_url_text<'a>(&self, account: &Account<'a>) -> Result<Cow<'a, str>, CallError> {
        Ok(match account.base_url {
            Some(b) => Cow::Borrowed(b),
            None => Cow::Owned(
                self.auth_of(account)
                    .base_url
                    .as_ref()
                    .unwrap_or(&self.base_url)
                    .render_url(&scope(account, &Call::default()))
                    .ok_or_else(|| CallError::Missing("base_url placeholders (account context)".into()))?,
            ),
        })
    }

    /// Builds the vendor request for `call`, credentials included.
    pub fn build_request(&self, account: &Account, call: &Call) -> Result<HttpRequest, CallError> {
        let mut request = self.build_unsigned(account, call)?;
        self.authorize(&mut request, account)?;
        Ok(request)
    }

    /// Builds the vendor request for `call` without the `auth` credentials: what a sandboxed
    /// component builds, which the host then [`authorize`](Self::authorize)s.
    pub fn build_unsigned(&self, account: &Account, call: &Call) -> Result<HttpRequest, CallError> {
        let m = self.resolve(&call.resource, &call.method)?;
        let scope = scope(account, call);
        let page = call.page.as_ref();

        let mut url = match page.and_then(|p| p.url.as_deref()) {
            Some(next) => {
                let base = self.base_url(account)?;
                let next = base
                    .join(next)
                    .map_err(|e| CallError::BadUrl(format!("next page URL: {e}")))?;
                // Credentials go only to the vendor's own origin, whatever a response body says.
                if next.origin() != base.origin() {
                    return Err(CallError::BadUrl(format!(
                        "next page URL {next} leaves the vendor's origin"
                    )));
                }
                next
            }
            None => {
                let path = m.path.render(&scope, Escape::PathSegment).ok_or_else(|| {
                    CallError::Missing(format!("path of {}.{} (id?)", call.resource, call.method))
                })?;
                // The base is parsed only as part of the whole URL (once per call, on the hot
                // path); a base that does not hold up is then reported as such.
                let base = self.base_url_text(account)?;
                let joined = format!("{}{}", base.trim().trim_end_matches('/'), path);
                let mut url = match url::Url::parse(&joined) {
                    Ok(url) if check_base(&base, &url).is_ok() => url,
                    parsed => {
                        self.base_url(account)?;
                        parsed.map_err(|e| CallError::BadUrl(format!("{joined}: {e}")))?
                    }
                };
                {
                    let mut q = url.query_pairs_mut();
                    // A pass-through parameter overrides the manifest's parameter of the same name.
                    let overridden = |k: &str| call.passthrough.iter().any(|(p, _)| p == k);
                    for (k, t) in self.query.iter().chain(&m.query).filter(|(k, _)| !overridden(k)) {
                        if let Some(v) = t.render(&scope, Escape::None) {
                            q.append_pair(k, &v);
                        }
                    }
                    for (k, v) in &call.passthrough {
                        q.append_pair(k, v);
                    }
                }
                url
            }
        };
        if let Some(p) = page {
            set_query(&mut url, p.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }

        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, t) in self.headers.iter().chain(&m.headers) {
            if let Some(v) = t.render(&scope, Escape::None) {
                headers.push((k.clone(), v));
            }
        }
        let mut body = if m.http.has_body() || m.body.is_some() {
            match &m.body {
                Some(t) => t.render(&scope),
                None => call.body.clone(),
            }
        } else {
            None
        };
        if let Some(patch) = page.and_then(|p| p.body.as_ref()) {
            let target = body.get_or_insert_with(|| json!({}));
            merge(target, patch);
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        Ok(HttpRequest {
            method: m.http,
            url: url.into(),
            headers,
            body,
        })
    }

    /// Adds the account's credentials to a request, as the manifest's `auth` says.
    pub fn authorize(&self, request: &mut HttpRequest, account: &Account) -> Result<(), CallError> {
        let scope = scope(account, &Call::default());
        let headers = &mut request.headers;
        let missing_credential =
            || CallError::Missing("account credentials required by the connector's auth".into());
        match &self.auth_of(account).inject {
            CompiledAuth::None => {}
            CompiledAuth::Header(name, t) => {
                headers.push((
                    name.clone(),
                    t.render(&scope, Escape::None).ok_or_else(missing_credential)?,
                ));
            }
            CompiledAuth::Query(name, t) => {
                let v = t.render(&scope, Escape::None).ok_or_else(missing_credential)?;
                set_query_str(&mut request.url, &[(name.as_str(), v.as_str())])?;
            }
            CompiledAuth::Basic(user, pass) => {
                let user = user.render(&scope, Escape::None).ok_or_else(missing_credential)?;
                let pass = pass.render(&scope, Escape::None).unwrap_or_default();
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                headers.push(("Authorization".into(), format!("Basic {token}")));
            }
        }

        Ok(())
    }
}

/// A base URL must be http(s) with a host.
fn check_base(raw: &str, url: &url::Url) -> Result<(), CallError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(CallError::BadUrl(format!(
            "base URL {raw:?} is not an http(s) URL"
        )));
    }
    Ok(())
}

/// Sets query parameters, replacing existing ones of the same names.
/// [`set_query`] on a URL held as text (a URL the engine built, so it parses).
fn set_query_str(url: &mut String, set: &[(&str, &str)]) -> Result<(), CallError> {
    let mut parsed = url::Url::parse(url).map_err(|e| CallError::BadUrl(format!("{url}: {e}")))?;
    set_query(&mut parsed, set.iter().copied());
    *url = parsed.into();
    Ok(())
}

fn set_query<'a>(url: &mut url::Url, set: impl IntoIterator<Item = (&'a str, &'a str)> + Clone) {
    let names: Vec<&str> = set.clone().into_iter().map(|(k, _)| k).collect();
    if names.is_empty() {
        return;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !names.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &kept {
        q.append_pair(k, v);
    }
    for (k, v) in set {
        q.append_pair(k, v);
    }
}

/// Deep-merges `patch` into `target` (objects recursively; anything else replaces).
pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::PageState;
    use crate::connector::Connector;
    use serde_json::Map;

    fn connector(auth: Value, extra_methods: Value) -> Connector {
        let mut methods = json!({
            "list": {"method": "GET", "path": "/items", "query": {"per_page": "{{limit}}", "q": "{{query.q}}"}, "records": ".items"},
            "get": {"method": "GET", "path": "/items/{{id}}"},
            "create": {"method": "POST", "path": "/items"}
        });
        merge(&mut methods, &extra_methods);
        Connector::from_value(json!({
            "name": "acme", "version": "1", "base_url": "https://{{context.sub}}.acme.test/v2",
            "headers": {"Accept": "application/json"}, "query": {"locale": "en"},
            "auth": auth,
            "pagination": {"type": "cursor", "cursor": ".next", "param": "cursor"},
            "resources": {"items": {"methods": methods}}
        }))
        .unwrap()
    }

    fn account<'a>(creds: &'a Value, ctx: &'a Value) -> Account<'a> {
        Account::new(creds, ctx)
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn query_templates_limit_and_passthrough() {
        let c = connector(json!({"type": "bearer"}), json!({}));
        let (creds, ctx) = (json!({"access_token": "tok"}), json!({"sub": "eu"}));
        let call = Call {
            resource: "items".into(),
            method: "list".into(),
            limit: Some(5),
            passthrough: vec![("q".into(), "x y".into()), ("extra".into(), "1".into())],
            query: Map::from_iter([("q".to_owned(), json!("ignored, pass-through wins"))]),
            ..Default::default()
        };
        let r = c.build_request(&account(&creds, &ctx), &call).unwrap();
        assert_eq!(
            r.url,
            "https://eu.acme.test/v2/items?locale=en&per_page=5&q=x+y&extra=1"
        );
        assert_eq!(header(&r, "authorization"), Some("Bearer tok"));
        assert_eq!(header(&r, "accept"), Some("application/json"));
        assert_eq!(r.body, None);
        // Without a limit the parameter is omitted, not sent empty.
        let bare = Call {
            resource: "items".into(),
            method: "list".into(),
            ..Default::default()
        };
        let r = c.build_request(&account(&creds, &ctx), &bare).unwrap();
        assert_eq!(r.url, "https://eu.acme.test/v2/items?locale=en");
    }

    #[test]
    fn auth_kinds() {
        let (creds, ctx) = (
            json!({"api_key": "k1", "user": "u", "pass": "p"}),
            json!({"sub": "x"}),
        );
        let get = Call {
            resource: "items".into(),
            method: "get".into(),
            id: Some("7".into()),
            ..Default::default()
        };
        let q = connector(
            json!({"type": "api_key", "in": "query", "name": "api_token", "value": "{{credentials.api_key}}"}),
            json!({}),
        );
        assert_eq!(
            q.build_request(&account(&creds, &ctx), &get).unwrap().url,
            "https://x.acme.test/v2/items/7?locale=en&api_token=k1"
        );
        let h = connector(
            json!({"type": "api_key", "in": "header", "name": "X-Api-Key", "value": "Token {{credentials.api_key}}"}),
            json!({}),
        );
        assert_eq!(
            header(
                &h.build_request(&account(&creds, &ctx), &get).unwrap(),
                "x-api-key"
            ),
            Some("Token k1")
        );
        let b = connector(
            json!({"type": "basic", "username": "{{credentials.user}}", "password": "{{credentials.pass}}"}),
            json!({}),
        );
        assert_eq!(
            header(
                &b.build_request(&account(&creds, &ctx), &get).unwrap(),
                "authorization"
            ),
            Some("Basic dTpw")
        );
        let bearer = connector(json!({"type": "bearer"}), json!({}));
        let err = bearer.build_request(&account(&creds, &ctx), &get).unwrap_err();
        assert!(matches!(err, CallError::Missing(_)), "no access_token: {err:?}");
    }

    #[test]
    fn ids_missing_methods_and_bodies() {
        let c = connector(
            json!({"type": "none"}),
            json!({"search": {"method": "POST", "path": "/items/search", "body": {"filter": {"q": "{{body.q}}", "n": "{{limit}}"}, "fixed": true}}}),
        );
        let (creds, ctx) = (json!({}), json!({"sub": "x"}));
        let acct = account(&creds, &ctx);
        let no_id = Call {
            resource: "items".into(),
            method: "get".into(),
            ..Default::default()
        };
        assert!(matches!(
            c.build_request(&acct, &no_id),
            Err(CallError::Missing(_))
        ));
        for dots in ["..", "."] {
            let walk_up = Call {
                id: Some(dots.into()),
                ..no_id.clone()
            };
            assert!(
                matches!(c.build_request(&acct, &walk_up), Err(CallError::Missing(_))),
                "{dots}"
            );
        }
        let nope = Call {
            resource: "items".into(),
            method: "nope".into(),
            ..Default::default()
        };
        assert!(matches!(
            c.build_request(&acct, &nope),
            Err(CallError::UnknownMethod { .. })
        ));
        let create = Call {
            resource: "items".into(),
            method: "create".into(),
            body: Some(json!({"a": 1})),
            ..Default::default()
        };
        let r = c.build_request(&acct, &create).unwrap();
        assert_eq!(r.body, Some(json!({"a": 1})));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let search = Call {
            resource: "items".into(),
            method: "search".into(),
            limit: Some(3),
            body: Some(json!({"q": "ada"})),
            ..Default::default()
        };
        assert_eq!(
            c.build_request(&acct, &search).unwrap().body,
            Some(json!({"filter": {"q": "ada", "n": 3}, "fixed": true}))
        );
        // A context that fails to fill the base URL is the caller's problem, not a panic.
        let empty = json!({});
        assert!(matches!(
            c.build_request(&account(&creds, &empty), &create),
            Err(CallError::Missing(_))
        ));
    }

    #[test]
    fn page_state_applies_and_next_urls_keep_the_origin() {
        let c = connector(
            json!({"type": "api_key", "in": "query", "name": "key", "value": "{{credentials.k}}"}),
            json!({}),
        );
        let (creds, ctx) = (json!({"k": "secret"}), json!({"sub": "x"}));
        let acct = account(&creds, &ctx);
        let mut call = Call {
            resource: "items".into(),
            method: "list".into(),
            limit: Some(2),
            ..Default::default()
        };
        call.page = Some(PageState {
            query: [("cursor".to_owned(), "c2".to_owned())].into(),
            ..Default::default()
        });
        assert_eq!(
            c.build_request(&acct, &call).unwrap().url,
            "https://x.acme.test/v2/items?locale=en&per_page=2&cursor=c2&key=secret"
        );
        call.page = Some(PageState {
            url: Some("https://x.acme.test/v2/items?page=3&key=stale".into()),
            ..Default::default()
        });
        assert_eq!(
            c.build_request(&acct, &call).unwrap().url,
            "https://x.acme.test/v2/items?page=3&key=secret"
        );
        call.page = Some(PageState {
            url: Some("/v2/items?page=4".into()),
            ..Default::default()
        });
        assert_eq!(
            c.build_request(&acct, &call).unwrap().url,
            "https://x.acme.test/v2/items?page=4&key=secret"
        );
        for evil in [
            "https://evil.test/v2/items",
            "http://x.acme.test/v2/items",
            "https://x.acme.test:444/v2/items",
            "//evil.test/x",
        ] {
            call.page = Some(PageState {
                url: Some(evil.into()),
                ..Default::default()
            });
            assert!(
                matches!(c.build_request(&acct, &call), Err(CallError::BadUrl(_))),
                "{evil}"
            );
        }
        call.page = Some(PageState {
            body: Some(json!({"variables": {"after": "e1"}})),
            ..Default::default()
        });
        assert_eq!(
            c.build_request(&acct, &call).unwrap().body,
            Some(json!({"variables": {"after": "e1"}}))
        );
    }
}

//! Passthrough requests: a caller's own vendor path, under the account's API root and nowhere
//! else. The host forwards the caller's method, headers and body as they are; this module owns
//! the one decision that must not go wrong: which URL the account's credentials are sent to.

use crate::call::{Account, CallError};
use crate::connector::Connector;
use crate::http::HttpRequest;
use crate::manifest::{HttpMethod, PassthroughRoot};

/// Why a passthrough target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassthroughError {
    /// The caller's path would leave the account's API root (dot segments, backslashes, an
    /// absolute or scheme-relative URL).
    #[error("passthrough path {0:?} would leave the account's API root")]
    Escapes(String),
    /// The account's API root cannot be built (a context value is missing, the URL is bad).
    #[error(transparent)]
    Root(#[from] CallError),
}

impl Connector {
    /// The root passthrough paths are relative to, for `account`.
    pub fn passthrough_root(&self, account: &Account) -> Result<url::Url, CallError> {
        let mut root = self.base_url(account)?;
        if self.manifest.passthrough_root == PassthroughRoot::Origin {
            root.set_path("");
        }
        root.set_query(None);
        root.set_fragment(None);
        Ok(root)
    }

    /// The vendor URL of a passthrough request: `path` (as received, percent-encoded, empty or
    /// starting with `/`) and `query` (raw) under the account's root. Refuses any path that
    /// could resolve outside the root, before and after URL normalization.
    pub fn passthrough_url(
        &self,
        account: &Account,
        path: &str,
        query: Option<&str>,
    ) -> Result<String, PassthroughError> {
        let escapes = || PassthroughError::Escapes(path.to_owned());
        if !(path.is_empty() || path.starts_with('/')) || path.starts_with("//") {
            return Err(escapes());
        }
        if path.split('/').any(is_dot_segment) || path.contains('\\') || has_encoded(path, "5c") {
            return Err(escapes());
        }
        let root = self.passthrough_root(account)?;
        let prefix = root.path().trim_end_matches('/');
        let mut raw = format!("{}{}{path}", root.origin().ascii_serialization(), prefix);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            raw.push('?');
            raw.push_str(q);
        }
        let url = url::Url::parse(&raw).map_err(|_| escapes())?;
        // Defence in depth: whatever the parser made of the path, it stays under the root.
        let under_root = url.path() == prefix
            || url.path().starts_with(&format!("{prefix}/"))
            || (prefix.is_empty() && url.path() == "/");
        if url.origin() != root.origin() || !under_root || url.fragment().is_some() {
            return Err(escapes());
        }
        Ok(url.into())
    }

    /// The account's credentials for a passthrough request to `url` (from
    /// [`Connector::passthrough_url`]): the URL with any query credential set (replacing the
    /// caller's parameter of that name) and the headers to set over the caller's. The manifest's
    /// own headers are not added: the caller's SDK sends the version headers it was written for.
    pub fn passthrough_credentials(
        &self,
        account: &Account,
        url: String,
    ) -> Result<(String, Vec<(String, String)>), CallError> {
        let mut request = HttpRequest {
            method: HttpMethod::Get,
            url,
            headers: Vec::new(),
            body: None,
        };
        self.authorize(&mut request, account)?;
        Ok((request.url, request.headers))
    }
}

/// `.` or `..`, also percent-encoded (`%2e`), which URL parsers resolve like the plain ones.
fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// Whether `path` holds the percent-encoding of byte `hex` (lower-case hex digits).
fn has_encoded(path: &str, hex: &str) -> bool {
    path.to_ascii_lowercase().contains(&format!("%{hex}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn connector(base_url: &str, root: &str) -> Connector {
        Connector::from_value(json!({
            "name": "v", "version": "1", "base_url": base_url, "passthrough_root": root,
            "auth": {"type": "api_key", "in": "query", "name": "key", "value": "{{credentials.key}}"},
            "resources": {"me": {"methods": {"get": {"method": "GET", "path": "/me"}}}}
        }))
        .unwrap()
    }

    fn account<'a>(creds: &'a Value, ctx: &'a Value) -> Account<'a> {
        Account::new(creds, ctx)
    }

    #[test]
    fn paths_resolve_under_the_root() {
        let (creds, ctx) = (json!({"key": "k"}), json!({"sub": "acme"}));
        let a = account(&creds, &ctx);
        let c = connector("https://{{context.sub}}.vendor.com/api/v2", "base_url");
        let url = |p, q| c.passthrough_url(&a, p, q);
        assert_eq!(
            url("/users/1", Some("a=1&b=%20")).unwrap(),
            "https://acme.vendor.com/api/v2/users/1?a=1&b=%20"
        );
        assert_eq!(url("", None).unwrap(), "https://acme.vendor.com/api/v2");
        // GitLab's encoded project paths stay encoded.
        assert_eq!(
            url("/projects/group%2Fproject", None).unwrap(),
            "https://acme.vendor.com/api/v2/projects/group%2Fproject"
        );
        let origin = connector("https://api.vendor.com/v1", "origin");
        assert_eq!(
            origin.passthrough_url(&a, "/v1/customers", None).unwrap(),
            "https://api.vendor.com/v1/customers"
        );
    }

    #[test]
    fn paths_that_would_leave_the_root_are_refused() {
        let (creds, ctx) = (json!({"key": "k"}), json!({}));
        let a = account(&creds, &ctx);
        let c = connector("https://api.vendor.com/api/v2", "base_url");
        for p in [
            "/../v1/admin",
            "/users/..",
            "/%2e%2e/admin",
            "/.%2E/admin",
            "/./x",
            "//evil.example/x",
            "/x\\..\\..\\admin",
            "/x%5c..%5cadmin",
            "https://evil.example/x",
            "x",
            "/a#frag",
        ] {
            let refused = c.passthrough_url(&a, p, None);
            assert!(
                matches!(refused, Err(PassthroughError::Escapes(_))),
                "{p}: {refused:?}"
            );
        }
        // A host-looking first segment is still a path under the vendor's root.
        assert_eq!(
            c.passthrough_url(&a, "/evil.example:443/x", None).unwrap(),
            "https://api.vendor.com/api/v2/evil.example:443/x"
        );
    }

    #[test]
    fn credentials_are_added_and_the_callers_copy_replaced() {
        let (creds, ctx) = (json!({"key": "secret"}), json!({}));
        let a = account(&creds, &ctx);
        let c = connector("https://api.vendor.com", "base_url");
        let url = c.passthrough_url(&a, "/x", Some("key=forged&y=1")).unwrap();
        let (url, headers) = c.passthrough_credentials(&a, url).unwrap();
        assert_eq!(url, "https://api.vendor.com/x?y=1&key=secret");
        assert!(headers.is_empty());
    }
}

//! Where the OAuth connect flow may send the browser back to: the host's allow-list of
//! `redirect_uri` prefixes (`--oauth-redirect-allow`). An open redirect after a consent screen is
//! how an attacker lands a victim on their page with a fresh account id; the allow-list closes it.

use url::Url;

/// The allowed prefixes; empty: any absolute http(s) URL (the host warns at startup).
#[derive(Debug, Clone, Default)]
pub struct RedirectAllowList(Vec<Url>);

impl RedirectAllowList {
    /// Parses the prefixes (absolute http(s) URLs).
    pub fn parse<S: AsRef<str>>(prefixes: &[S]) -> Result<Self, String> {
        prefixes
            .iter()
            .map(|p| {
                let p = p.as_ref().trim();
                match Url::parse(p) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
                    _ => Err(format!("{p:?} is not an absolute http(s) URL")),
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether no list was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `redirect` may be used: an absolute http(s) URL without credentials, on an
    /// allowed prefix's scheme, host and port, under its path (whole segments: `/app` allows
    /// `/app` and `/app/done`, not `/application`).
    pub fn allows(&self, redirect: &str) -> bool {
        let Ok(url) = Url::parse(redirect) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !url.username().is_empty() {
            return false;
        }
        if url.password().is_some() {
            return false;
        }
        self.0.is_empty()
            || self.0.iter().any(|p| {
                p.scheme() == url.scheme()
                    && p.host() == url.host()
                    && p.port_or_known_default() == url.port_or_known_default()
                    && under(p.path(), url.path())
            })
    }
}

/// Whether `path` is `prefix` or below it, by whole segments.
fn under(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_and_paths_are_allowed() {
        let list =
            RedirectAllowList::parse(&["https://app.example.com/oauth", "http://localhost:3000/"]).unwrap();
        for ok in [
            "https://app.example.com/oauth",
            "https://app.example.com/oauth/done?x=1",
            "https://app.example.com:443/oauth/done",
            "http://localhost:3000/anything",
        ] {
            assert!(list.allows(ok), "{ok}");
        }
        for refused in [
            "https://app.example.com/oauthx",
            "https://app.example.com/other",
            "http://app.example.com/oauth/done",
            "https://evil.example.com/oauth",
            "https://app.example.com.evil.example/oauth",
            "https://user:pw@app.example.com/oauth",
            "http://localhost:3001/",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(!list.allows(refused), "{refused}");
        }
        let any = RedirectAllowList::default();
        assert!(any.allows("https://anything.example/x"));
        assert!(!any.allows("ftp://x.example/"));
        assert!(RedirectAllowList::parse(&["not a url"]).is_err());
    }
}

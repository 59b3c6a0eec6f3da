//! Opaque, tamper-evident pagination cursors: the engine's page state, bound to one account and
//! one method, signed with HMAC-SHA256 under a key derived from the master key.

use crate::PageState;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// Account id.
    a: String,
    /// Scope: `proxy:<resource>.<method>` or `unified:<model>/<resource>`.
    s: String,
    /// Page state.
    p: PageState,
    /// The first page's query parameters (a cursor alone continues the same list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    q: Vec<(String, String)>,
    /// The first page's `limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<u64>,
}

/// Where a list continues: the engine's page state plus the query and limit it started with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Engine page state.
    pub page: PageState,
    /// Caller's query parameters of the first page.
    pub query: Vec<(String, String)>,
    /// Caller's `limit` of the first page.
    pub limit: Option<u64>,
}

/// A cursor that is not one this host issued for this account and call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("next_cursor is invalid, tampered with, or belongs to another call")]
pub struct CursorError;

/// Signs and verifies cursors.
#[derive(Clone)]
pub struct Cursors {
    key: [u8; 32],
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors(..)")
    }
}

impl Cursors {
    /// With a signing key.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length")
    }

    /// Encodes a cursor.
    pub fn encode(&self, account: &str, scope: &str, resume: &Resume) -> String {
        let claims = Claims {
            a: account.to_owned(),
            s: scope.to_owned(),
            p: resume.page.clone(),
            q: resume.query.clone(),
            l: resume.limit,
        };
        let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Decodes a cursor issued for this account and scope; anything else is a [`CursorError`].
    pub fn decode(&self, cursor: &str, account: &str, scope: &str) -> Result<Resume, CursorError> {
        let (payload, sig) = cursor.split_once('.').ok_or(CursorError)?;
        let sig = B64.decode(sig).map_err(|_| CursorError)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| CursorError)?; // constant-time comparison
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).map_err(|_| CursorError)?)
            .map_err(|_| CursorError)?;
        if claims.a != account || claims.s != scope {
            return Err(CursorError);
        }
        Ok(Resume {
            page: claims.p,
            query: claims.q,
            limit: claims.l,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_tamper_evidence() {
        let c = Cursors::new([1; 32]);
        let page = PageState {
            url: Some("https://api.github.com/x?page=2".into()),
            ..Default::default()
        };
        let resume = Resume {
            page,
            query: vec![("state".into(), "all".into())],
            limit: Some(20),
        };
        let tok = c.encode("acct_1", "proxy:issues.list", &resume);
        assert_eq!(c.decode(&tok, "acct_1", "proxy:issues.list").unwrap(), resume);
        assert!(
            c.decode(&tok, "acct_2", "proxy:issues.list").is_err(),
            "foreign account"
        );
        assert!(
            c.decode(&tok, "acct_1", "proxy:pulls.list").is_err(),
            "other method"
        );
        let (payload, sig) = tok.split_once('.').unwrap();
        let forged =
            B64.encode(br#"{"a":"acct_1","s":"proxy:issues.list","p":{"url":"https://evil.example/"}}"#);
        assert!(
            c.decode(&format!("{forged}.{sig}"), "acct_1", "proxy:issues.list")
                .is_err()
        );
        assert!(
            Cursors::new([2; 32])
                .decode(&tok, "acct_1", "proxy:issues.list")
                .is_err()
        );
        assert!(c.decode(payload, "acct_1", "proxy:issues.list").is_err());
    }
}

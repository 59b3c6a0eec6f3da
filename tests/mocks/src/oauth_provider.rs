//! Mock OAuth 2.0 authorization server plus the protected resource ("vendor API") it guards,
//! for token-lifecycle edge cases off-the-shelf mock servers cannot produce.
//!
//! * `GET /authorize`: authorization code grant without a login UI (answers 302 at once),
//!   PKCE `S256` only;
//! * `POST /token`: `authorization_code`, `refresh_token` and `client_credentials` grants,
//!   `client_secret_basic` or `client_secret_post` client authentication, refresh token
//!   rotation with reuse detection that revokes the whole token family;
//! * `GET /api/me`, `GET /api/items`: bearer-protected resource answering RFC 6750 errors.
//!
//! Sources: RFC 6749 (OAuth 2.0), RFC 6750 (bearer tokens), RFC 7636 (PKCE) and RFC 9700
//! (OAuth 2.0 Security BCP, §2.2.2 and §4.14 on refresh token rotation). Choices the RFCs
//! leave open are marked ⚠.
//!
//! Expiry uses [`tokio::time::Instant`], so a test running on a paused tokio clock can expire
//! tokens with `tokio::time::advance`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::common::{self, Ctx, Fault, Harness, RateSnapshot, RecordedRequest, Vendor, set_header};

/// Access token lifetime unless `set_lifetime` says otherwise.
const DEFAULT_LIFETIME_SECS: u64 = 3600;
/// RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED";
/// the mock is stricter so expiry is reachable in tests.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Realm named in `WWW-Authenticate` challenges.
const REALM: &str = "patchbay-mock";
/// `/api/items` serves this many fixed items ...
const ITEM_COUNT: usize = 25;
/// ... this many per page.
const PAGE_SIZE: usize = 10;

/// Counters of what the provider saw, for assertions about a connector's token handling.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderStats {
    /// Every `POST /token`, whatever its outcome (injected failures included).
    pub token_requests: u64,
    /// Successful `authorization_code` grants.
    pub codes_exchanged: u64,
    /// Successful `refresh_token` grants.
    pub refreshes: u64,
    /// Successful `client_credentials` grants.
    pub client_credentials: u64,
    /// A refresh token presented after it had already been used (rotated away).
    pub refresh_token_reuse: u64,
    /// Token families revoked by the server's own security rules: refresh token reuse and
    /// authorization code replay (`revoke_all` is not counted).
    pub revoked_families: u64,
    /// `GET /api/*` with a valid access token.
    pub api_calls: u64,
    /// `/api/*` called with a known access token past its expiry.
    pub expired_token_uses: u64,
    /// `/api/*` called with an unknown or revoked access token.
    pub invalid_token_uses: u64,
}

/// An authorization code handed out by `/authorize`.
#[derive(Debug)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    /// The S256 `code_challenge`, when the request used PKCE.
    challenge: Option<String>,
    expires_at: Instant,
    /// The family of the tokens issued for this code, once it was exchanged.
    family: Option<u64>,
}

#[derive(Debug)]
struct AccessToken {
    /// `None` for `client_credentials` tokens, which belong to no grant family.
    family: Option<u64>,
    expires_at: Instant,
    revoked: bool,
}

#[derive(Debug)]
struct RefreshToken {
    client_id: String,
    family: u64,
    /// The scope of the original grant (a refresh may narrow the access token's scope only).
    scope: Option<String>,
    /// Rotated away: presenting it again is reuse (RFC 9700 §4.14.2).
    used: bool,
    revoked: bool,
}

#[derive(Debug)]
struct ProviderState {
    client_id: String,
    client_secret: String,
    lifetime_secs: u64,
    omit_expires_in: bool,
    extra_fields: Value,
    rotation: bool,
    token_faults: VecDeque<u16>,
    token_delay: Duration,
    deny_next: bool,
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    next_family: u64,
    revoked_families: HashSet<u64>,
    stats: ProviderStats,
}

/// Mock OAuth 2.0 authorization server and protected resource for one confidential client.
///
/// Any absolute `redirect_uri` is accepted at `/authorize` (there is no registration step);
/// the token request must repeat it exactly.
#[derive(Clone, Debug)]
pub struct OAuthProviderMock {
    harness: Harness,
    state: Arc<Mutex<ProviderState>>,
}

impl OAuthProviderMock {
    /// A provider knowing one client, authenticated by `client_id` / `client_secret`.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        OAuthProviderMock {
            // No rate limiting: the window is never exhausted.
            harness: Harness::new(u64::MAX),
            state: Arc::new(Mutex::new(ProviderState {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                lifetime_secs: DEFAULT_LIFETIME_SECS,
                omit_expires_in: false,
                extra_fields: json!({}),
                rotation: true,
                token_faults: VecDeque::new(),
                token_delay: Duration::ZERO,
                deny_next: false,
                codes: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next_family: 1,
                revoked_families: HashSet::new(),
                stats: ProviderStats::default(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, ProviderState> {
        // A test that panicked while holding the lock must not poison every later assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The axum router serving `/authorize`, `/token` and `/api/*` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/api/{*rest}", get(api))
            .fallback(not_found)
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<OAuthProviderMock>,
            ))
    }

    /// Counters so far.
    pub fn stats(&self) -> ProviderStats {
        self.state().stats.clone()
    }

    /// Lifetime of access tokens issued from now on (default 3600 s). `0` issues tokens that
    /// are already expired.
    pub fn set_lifetime(&self, secs: u64) {
        self.state().lifetime_secs = secs;
    }

    /// Token responses leave out `expires_in` (RFC 6749 §5.1 makes it RECOMMENDED only); the
    /// tokens still expire after the lifetime server-side.
    pub fn omit_expires_in(&self, omit: bool) {
        self.state().omit_expires_in = omit;
    }

    /// Fields every token response also carries (Salesforce's `instance_url` and `id`,
    /// Pipedrive's `api_domain`).
    pub fn set_extra_token_fields(&self, fields: Value) {
        self.state().extra_fields = fields;
    }

    /// Refresh token rotation (default on): each refresh returns a new refresh token and
    /// invalidates the presented one. Off: the refresh token stays valid and refresh
    /// responses carry no `refresh_token`.
    pub fn set_rotation(&self, rotate: bool) {
        self.state().rotation = rotate;
    }

    /// The next `times` `POST /token` requests answer `status` (after any token delay):
    /// 400/401 with `invalid_grant`, 5xx with `server_error` (503 and 429 also carry
    /// `Retry-After: 1`), any other status with `invalid_request`. Queued after failures
    /// already pending.
    pub fn fail_token_next(&self, status: u16, times: usize) {
        self.state()
            .token_faults
            .extend(std::iter::repeat_n(status, times));
    }

    /// Delays every later `POST /token` response by `d`.
    pub fn set_token_delay(&self, d: Duration) {
        self.state().token_delay = d;
    }

    /// The next `/authorize` request that passes validation is denied by the "user":
    /// redirect with `error=access_denied`.
    pub fn deny_next_authorization(&self) {
        self.state().deny_next = true;
    }

    /// The user revoked the app: every access and refresh token issued so far becomes
    /// invalid. Tokens issued afterwards are valid.
    pub fn revoke_all(&self) {
        let mut st = self.state();
        let st = &mut *st;
        for t in st.access.values_mut() {
            t.revoked = true;
            if let Some(f) = t.family {
                st.revoked_families.insert(f);
            }
        }
        for r in st.refresh.values_mut() {
            r.revoked = true;
            st.revoked_families.insert(r.family);
        }
    }

    /// How many access tokens were issued so far (by any grant).
    pub fn access_tokens_issued(&self) -> usize {
        self.state().access.len()
    }

    /// Whether `token` is an access token this provider issued and has not revoked (for a
    /// resource server on another origin, as Salesforce's instances are).
    pub fn is_live_access_token(&self, token: &str) -> bool {
        self.state().access.get(token).is_some_and(|t| !t.revoked)
    }

    /// Every request received so far, in arrival order (form bodies are kept as a JSON
    /// string).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.harness.requests()
    }
}

impl Vendor for OAuthProviderMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    /// Authentication differs per endpoint (none, client, bearer): the handlers do it.
    fn reject_unauthenticated(&self, _ctx: &Ctx) -> Option<Response> {
        None
    }

    /// Never reached: injected failures are `/token`-only and live in the provider state.
    fn fault_response(&self, fault: Fault, _ctx: &Ctx) -> (Response, bool) {
        let status = fault.status();
        (injected_token_failure(status), false)
    }

    fn rate_headers(&self, _rate: &RateSnapshot, _ctx: &Ctx, _headers: &mut HeaderMap) {}
}

impl ProviderState {
    fn new_family(&mut self) -> u64 {
        let f = self.next_family;
        self.next_family += 1;
        f
    }

    fn issue_access(&mut self, family: Option<u64>, now: Instant) -> String {
        let lifetime = Duration::from_secs(self.lifetime_secs);
        // A lifetime too large for the clock means "never expires" in practice.
        let expires_at = now
            .checked_add(lifetime)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        let token = random_token("at_");
        self.access.insert(
            token.clone(),
            AccessToken {
                family,
                expires_at,
                revoked: false,
            },
        );
        token
    }

    fn issue_refresh(&mut self, family: u64, scope: Option<String>) -> String {
        let token = random_token("rt_");
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                client_id: self.client_id.clone(),
                family,
                scope,
                used: false,
                revoked: false,
            },
        );
        token
    }

    /// Revokes every access and refresh token of `family` (RFC 9700 §4.14.2, RFC 6749
    /// §4.1.2); counted once per family.
    fn revoke_family(&mut self, family: u64) {
        for t in self.access.values_mut() {
            if t.family == Some(family) {
                t.revoked = true;
            }
        }
        for r in self.refresh.values_mut() {
            if r.family == family {
                r.revoked = true;
            }
        }
        if self.revoked_families.insert(family) {
            self.stats.revoked_families += 1;
        }
    }

    /// RFC 6749 §5.1 success body, with `Cache-Control: no-store`.
    fn token_response(&self, access: &str, refresh: Option<&str>, scope: Option<&str>) -> Response {
        let mut body = json!({ "access_token": access, "token_type": "Bearer" });
        if let (Some(b), Some(extra)) = (body.as_object_mut(), self.extra_fields.as_object()) {
            b.extend(extra.clone());
        }
        if !self.omit_expires_in {
            body["expires_in"] = json!(self.lifetime_secs);
        }
        if let Some(r) = refresh {
            body["refresh_token"] = json!(r);
        }
        if let Some(s) = scope {
            body["scope"] = json!(s);
        }
        no_store(common::json(200, &body))
    }

    /// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-urlencoded, then joined
    /// with `:` and base64-encoded) or `client_secret_post`; never both (§2.3). `None` when the
    /// client authenticated, otherwise the error response.
    fn reject_client(&self, ctx: &Ctx, form: &[(String, String)]) -> Option<Response> {
        if let Some(credential) = common::authorization_credential(ctx, &["Basic"]) {
            if param(form, "client_secret").is_some() {
                return Some(oauth_error(
                    400,
                    "invalid_request",
                    "The client used more than one authentication method",
                ));
            }
            let decoded = STANDARD
                .decode(credential)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let Some((id, secret)) = decoded.as_deref().and_then(|s| s.split_once(':')) else {
                return Some(invalid_client("Malformed HTTP Basic credentials"));
            };
            let (id, secret) = (form_component(id), form_component(secret));
            // §4.1.3 allows `client_id` in the body next to Basic; it must then agree.
            let body_id_ok = param(form, "client_id").is_none_or(|b| b == id);
            if id == self.client_id && secret == self.client_secret && body_id_ok {
                None
            } else {
                Some(invalid_client("Client authentication failed"))
            }
        } else {
            match (param(form, "client_id"), param(form, "client_secret")) {
                (Some(id), Some(secret)) if id == self.client_id && secret == self.client_secret => None,
                (_, None) => Some(invalid_client("Client authentication required")),
                _ => Some(invalid_client("Client authentication failed")),
            }
        }
    }

    fn grant_authorization_code(&mut self, form: &[(String, String)], now: Instant) -> Response {
        let Some(code) = param(form, "code") else {
            return oauth_error(400, "invalid_request", "Missing code");
        };
        let Some(entry) = self.codes.get(code) else {
            return invalid_grant("The authorization code is invalid");
        };
        if entry.client_id != self.client_id {
            return invalid_grant("The authorization code was issued to another client");
        }
        if let Some(family) = entry.family {
            // RFC 6749 §4.1.2: a replayed code revokes the tokens issued from it.
            self.revoke_family(family);
            return invalid_grant("The authorization code has already been used");
        }
        if now >= entry.expires_at {
            return invalid_grant("The authorization code expired");
        }
        // §4.1.3: required and identical when it was part of the authorization request.
        if param(form, "redirect_uri") != Some(entry.redirect_uri.as_str()) {
            return invalid_grant("redirect_uri does not match the authorization request");
        }
        match (&entry.challenge, param(form, "code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                if !is_pkce_string(verifier) {
                    return oauth_error(
                        400,
                        "invalid_request",
                        "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
                    );
                }
                if pkce_s256(verifier) != *challenge {
                    return invalid_grant("PKCE verification failed");
                }
            }
            (Some(_), None) => return invalid_grant("Missing code_verifier"),
            // RFC 9700 §2.1.1: a verifier without a challenge must be rejected (PKCE downgrade).
            (None, Some(_)) => {
                return invalid_grant(
                    "code_verifier sent but the authorization request had no code_challenge",
                );
            }
            (None, None) => {}
        }
        let scope = entry.scope.clone();
        let family = self.new_family();
        if let Some(e) = self.codes.get_mut(code) {
            e.family = Some(family);
        }
        self.stats.codes_exchanged += 1;
        let access = self.issue_access(Some(family), now);
        let refresh = self.issue_refresh(family, scope.clone());
        self.token_response(&access, Some(&refresh), scope.as_deref())
    }

    fn grant_refresh_token(&mut self, form: &[(String, String)], now: Instant) -> Response {
        let Some(presented) = param(form, "refresh_token") else {
            return oauth_error(400, "invalid_request", "Missing refresh_token");
        };
        let Some(rt) = self.refresh.get(presented) else {
            return invalid_grant("The refresh token is invalid");
        };
        if rt.client_id != self.client_id {
            return invalid_grant("The refresh token was issued to another client");
        }
        let (family, original_scope) = (rt.family, rt.scope.clone());
        if rt.used {
            // RFC 9700 §4.14.2: reuse of a rotated token revokes the whole family.
            self.stats.refresh_token_reuse += 1;
            self.revoke_family(family);
            return invalid_grant("The refresh token has already been used");
        }
        if rt.revoked {
            return invalid_grant("The refresh token has been revoked");
        }
        // RFC 6749 §6: a refresh may narrow the scope, never widen it.
        let scope = match param(form, "scope") {
            None => original_scope.clone(),
            Some(requested) => {
                let granted: HashSet<&str> = original_scope
                    .as_deref()
                    .unwrap_or("")
                    .split_ascii_whitespace()
                    .collect();
                if requested.split_ascii_whitespace().all(|s| granted.contains(s)) {
                    Some(requested.to_owned())
                } else {
                    return oauth_error(
                        400,
                        "invalid_scope",
                        "The requested scope exceeds the scope originally granted",
                    );
                }
            }
        };
        self.stats.refreshes += 1;
        let access = self.issue_access(Some(family), now);
        let new_refresh = if self.rotation {
            if let Some(old) = self.refresh.get_mut(presented) {
                old.used = true;
            }
            Some(self.issue_refresh(family, original_scope))
        } else {
            None
        };
        self.token_response(&access, new_refresh.as_deref(), scope.as_deref())
    }

    fn grant_client_credentials(&mut self, form: &[(String, String)], now: Instant) -> Response {
        self.stats.client_credentials += 1;
        let scope = param(form, "scope").map(str::to_owned);
        let access = self.issue_access(None, now);
        // §4.4.3: "A refresh token SHOULD NOT be included."
        self.token_response(&access, None, scope.as_deref())
    }
}

/// First value of `name`; empty values count as absent (RFC 6749 §3.1).
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// The first parameter sent more than once (RFC 6749 §3.1, §3.2 forbid repeats).
fn repeated_param(pairs: &[(String, String)]) -> Option<&str> {
    let mut seen = HashSet::new();
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.as_str())
        .find(|k| !seen.insert(*k))
}

/// Form-urlencoding decode of one stand-alone component (a Basic credential half). A raw `&`
/// is escaped first so `parse_query` keeps the component whole; the leading `=` makes the
/// whole text the value, whatever `=` it contains.
fn form_component(s: &str) -> String {
    common::parse_query(&format!("={}", s.replace('&', "%26")))
        .pop()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// RFC 7636 §4.1/§4.2 syntax shared by `code_verifier` and `code_challenge`.
fn is_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An unguessable opaque string: 192 bits of SipHash output under std's randomly seeded keys.
fn random_token(prefix: &str) -> String {
    let n = TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = Vec::with_capacity(24);
    for lane in 0u64..3 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(lane);
        h.write_u64(common::now_millis());
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// RFC 6749 §5.1: responses carrying tokens or credentials must not be cached.
fn no_store(mut resp: Response) -> Response {
    set_header(resp.headers_mut(), "cache-control", "no-store");
    set_header(resp.headers_mut(), "pragma", "no-cache");
    resp
}

/// RFC 6749 §5.2 error body.
fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    no_store(common::json(
        status,
        &json!({ "error": error, "error_description": description }),
    ))
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(400, "invalid_grant", description)
}

/// §5.2: 401 `invalid_client`; ⚠ the `WWW-Authenticate: Basic` challenge is sent for
/// `client_secret_post` failures too, since every HTTP 401 must carry one.
fn invalid_client(description: &str) -> Response {
    let mut resp = oauth_error(401, "invalid_client", description);
    set_header(
        resp.headers_mut(),
        "www-authenticate",
        format!("Basic realm=\"{REALM}\""),
    );
    resp
}

fn injected_token_failure(status: u16) -> Response {
    let mut resp = match status {
        400 | 401 => oauth_error(
            status,
            "invalid_grant",
            "The provided authorization grant or refresh token is invalid, expired or revoked",
        ),
        s if s >= 500 => no_store(common::json(s, &json!({ "error": "server_error" }))),
        s => oauth_error(s, "invalid_request", "Injected failure"),
    };
    if matches!(status, 429 | 503) {
        set_header(resp.headers_mut(), "retry-after", 1);
    }
    if status == 401 {
        set_header(
            resp.headers_mut(),
            "www-authenticate",
            format!("Basic realm=\"{REALM}\""),
        );
    }
    resp
}

/// RFC 6749 §4.1.2.1: without a trustworthy `redirect_uri` the error is shown to the user,
/// never redirected.
fn error_page(message: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html><head><title>Authorization error</title></head>\
         <body><h1>Invalid authorization request</h1><p>{message}</p></body></html>\n"
    );
    let mut resp = (StatusCode::BAD_REQUEST, html).into_response();
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

/// An absolute URI without fragment (RFC 6749 §3.1.2) made of visible ASCII.
fn valid_redirect_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok && !rest.is_empty() && !uri.contains('#') && uri.bytes().all(|b| b.is_ascii_graphic())
}

/// 302 to `redirect_uri` with `params` added to its query, keeping any query it already has
/// (RFC 6749 §3.1.2).
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let sep = if redirect_uri.ends_with(['?', '&']) {
        ""
    } else if redirect_uri.contains('?') {
        "&"
    } else {
        "?"
    };
    let location = format!(
        "{redirect_uri}{sep}{}",
        common::build_query(params.iter().copied())
    );
    let mut resp = StatusCode::FOUND.into_response();
    set_header(resp.headers_mut(), "location", location);
    resp
}

/// `GET /authorize`: consent is given (or refused, see `deny_next_authorization`) at once.
async fn authorize(State(mock): State<OAuthProviderMock>, Extension(ctx): Extension<Ctx>) -> Response {
    let q = &ctx.rec.query;
    let repeated = repeated_param(q);
    let mut st = mock.state();
    if let Some(name @ ("client_id" | "redirect_uri")) = repeated {
        return error_page(&format!("The {name} parameter was sent more than once."));
    }
    match param(q, "client_id") {
        None => return error_page("The client_id parameter is missing."),
        Some(id) if id != st.client_id => return error_page("The client_id is unknown."),
        Some(_) => {}
    }
    let redirect_uri = match param(q, "redirect_uri") {
        None => return error_page("The redirect_uri parameter is missing."),
        Some(uri) if !valid_redirect_uri(uri) => {
            return error_page("The redirect_uri is not a valid absolute URI.");
        }
        Some(uri) => uri,
    };
    let state = param(q, "state");
    let fail = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        params.extend(state.map(|s| ("state", s)));
        redirect(redirect_uri, &params)
    };
    if let Some(name) = repeated {
        return fail(
            "invalid_request",
            &format!("The {name} parameter was sent more than once"),
        );
    }
    match param(q, "response_type") {
        None => return fail("invalid_request", "Missing response_type"),
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "Only response_type=code is supported",
            );
        }
    }
    let challenge = match (param(q, "code_challenge"), param(q, "code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) if is_pkce_string(c) => Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]",
            );
        }
        // RFC 7636 §4.3: an absent method means `plain`, which is refused like any other
        // method but S256.
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "Transform algorithm not supported: code_challenge_method must be S256",
            );
        }
        (None, Some(_)) => return fail("invalid_request", "Missing code_challenge"),
    };
    if std::mem::take(&mut st.deny_next) {
        return fail("access_denied", "The resource owner denied the request");
    }
    let code = random_token("ac_");
    let client_id = st.client_id.clone();
    st.codes.insert(
        code.clone(),
        AuthCode {
            client_id,
            redirect_uri: redirect_uri.to_owned(),
            scope: param(q, "scope").map(str::to_owned),
            challenge,
            expires_at: Instant::now() + CODE_LIFETIME,
            family: None,
        },
    );
    let mut params = vec![("code", code.as_str())];
    params.extend(state.map(|s| ("state", s)));
    redirect(redirect_uri, &params)
}

/// `POST /token` (RFC 6749 §3.2, §4.1.3, §4.4.2, §6).
async fn token(
    State(mock): State<OAuthProviderMock>,
    Extension(ctx): Extension<Ctx>,
    body: Bytes,
) -> Response {
    let (delay, fault) = {
        let mut st = mock.state();
        st.stats.token_requests += 1;
        (st.token_delay, st.token_faults.pop_front())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = fault {
        return injected_token_failure(status);
    }
    let is_form = ctx.rec.header("content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let Some(text) = is_form.then(|| std::str::from_utf8(&body).ok()).flatten() else {
        return oauth_error(
            400,
            "invalid_request",
            "The token endpoint accepts application/x-www-form-urlencoded (UTF-8) bodies only",
        );
    };
    let form = common::parse_query(text);
    if let Some(name) = repeated_param(&form) {
        return oauth_error(
            400,
            "invalid_request",
            &format!("The {name} parameter was sent more than once"),
        );
    }
    let mut st = mock.state();
    if let Some(resp) = st.reject_client(&ctx, &form) {
        return resp;
    }
    let now = Instant::now();
    match param(&form, "grant_type") {
        None => oauth_error(400, "invalid_request", "Missing grant_type"),
        Some("authorization_code") => st.grant_authorization_code(&form, now),
        Some("refresh_token") => st.grant_refresh_token(&form, now),
        Some("client_credentials") => st.grant_client_credentials(&form, now),
        Some(other) => oauth_error(
            400,
            "unsupported_grant_type",
            &format!("The grant type {other} is not supported"),
        ),
    }
}

/// RFC 6750 §3 `401` with an `invalid_token` challenge.
fn invalid_token(description: &str) -> Response {
    let mut resp = common::json(
        401,
        &json!({ "error": "invalid_token", "error_description": description }),
    );
    set_header(
        resp.headers_mut(),
        "www-authenticate",
        format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
    );
    resp
}

/// The protected resource: `GET /api/me`, `GET /api/items?cursor=`.
async fn api(
    State(mock): State<OAuthProviderMock>,
    Extension(ctx): Extension<Ctx>,
    Path(rest): Path<String>,
) -> Response {
    let Some(token) = common::authorization_credential(&ctx, &["Bearer"]) else {
        // RFC 6750 §3.1: no credentials at all → a challenge without an error code.
        let mut resp = common::json(
            401,
            &json!({ "error": "unauthorized", "error_description": "A bearer access token is required" }),
        );
        set_header(
            resp.headers_mut(),
            "www-authenticate",
            format!("Bearer realm=\"{REALM}\""),
        );
        return resp;
    };
    {
        let mut st = mock.state();
        let now = Instant::now();
        match st.access.get(token) {
            Some(t) if !t.revoked && now < t.expires_at => st.stats.api_calls += 1,
            Some(t) if !t.revoked => {
                st.stats.expired_token_uses += 1;
                return invalid_token("The access token expired");
            }
            _ => {
                st.stats.invalid_token_uses += 1;
                return invalid_token("The access token is invalid");
            }
        }
    }
    match rest.as_str() {
        "me" => common::json(
            200,
            &json!({
                "id": "user_1",
                "name": "Ada Lovelace",
                "workspace": { "id": "ws_42", "name": "Acme" }
            }),
        ),
        "items" => items_page(ctx.rec.query_param("cursor")),
        _ => not_found().await,
    }
}

/// Opaque cursor: base64url of `offset:<n>`.
fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let n: usize = std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()?;
    (n < ITEM_COUNT).then_some(n)
}

const ITEM_TITLES: [&str; 5] = [
    "Quarterly report",
    "Onboarding checklist",
    "Roadmap draft",
    "Customer interview notes",
    "Release plan",
];

fn items_page(cursor: Option<&str>) -> Response {
    let start = match cursor {
        None | Some("") => 0,
        Some(c) => match decode_cursor(c) {
            Some(n) => n,
            None => {
                return common::json(
                    400,
                    &json!({ "error": "invalid_cursor", "error_description": "The cursor is not valid" }),
                );
            }
        },
    };
    let end = (start + PAGE_SIZE).min(ITEM_COUNT);
    let items: Vec<Value> = (start..end)
        .map(|i| {
            json!({
                "id": format!("item_{}", i + 1),
                "title": format!("{} #{}", ITEM_TITLES[i % ITEM_TITLES.len()], i + 1),
            })
        })
        .collect();
    let next = (end < ITEM_COUNT).then(|| encode_cursor(end));
    common::json(200, &json!({ "items": items, "next_cursor": next }))
}

async fn not_found() -> Response {
    common::json(
        404,
        &json!({ "error": "not_found", "error_description": "No such endpoint" }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    const CLIENT_ID: &str = "patchbay-client";
    const SECRET: &str = "s3cret-value";
    const REDIRECT: &str = "http://127.0.0.1:8765/oauth/callback";
    /// RFC 7636 Appendix B example pair.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    struct Raw {
        status: u16,
        headers: HeaderMap,
        body: String,
    }

    impl Raw {
        fn json(&self) -> Value {
            serde_json::from_str(&self.body).unwrap_or(Value::Null)
        }

        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    async fn send(
        router: &Router,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Raw {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "mock.test");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("valid request");
        let resp = router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        Raw {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    #[derive(Clone, Copy)]
    enum Auth {
        Basic,
        Post,
    }

    fn basic(id: &str, secret: &str) -> String {
        let pair = format!(
            "{}:{}",
            common::percent_encode(id),
            common::percent_encode(secret)
        );
        format!("Basic {}", STANDARD.encode(pair))
    }

    async fn token_req(router: &Router, auth: Auth, form: &[(&str, &str)]) -> Raw {
        let mut pairs = form.to_vec();
        let basic_header = basic(CLIENT_ID, SECRET);
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        match auth {
            Auth::Basic => headers.push(("authorization", basic_header.as_str())),
            Auth::Post => pairs.extend([("client_id", CLIENT_ID), ("client_secret", SECRET)]),
        }
        let body = common::build_query(pairs);
        send(router, "POST", "/token", &headers, Some(body)).await
    }

    /// Runs `/authorize` (PKCE S256 unless `challenge` is `None`) and returns the code.
    async fn authorize_code(router: &Router, challenge: Option<&str>) -> String {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", "read write"),
            ("state", "xyz 1"),
        ];
        if let Some(c) = challenge {
            q.extend([("code_challenge", c), ("code_challenge_method", "S256")]);
        }
        let uri = format!("/authorize?{}", common::build_query(q));
        let resp = send(router, "GET", &uri, &[], None).await;
        assert_eq!(resp.status, 302, "{}", resp.body);
        let location = resp.header("location").unwrap();
        let query = location
            .strip_prefix(&format!("{REDIRECT}?"))
            .unwrap_or_else(|| panic!("{location}"));
        let pairs = common::parse_query(query);
        assert_eq!(param(&pairs, "state"), Some("xyz 1"));
        param(&pairs, "code").unwrap().to_owned()
    }

    /// Authorization code + PKCE: returns (access token, refresh token).
    async fn login(router: &Router) -> (String, String) {
        let code = authorize_code(router, Some(CHALLENGE)).await;
        let resp = token_req(
            router,
            Auth::Basic,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let b = resp.json();
        (
            b["access_token"].as_str().unwrap().to_owned(),
            b["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    async fn refresh(router: &Router, rt: &str) -> Raw {
        token_req(
            router,
            Auth::Post,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await
    }

    async fn api_get(router: &Router, path: &str, access: &str) -> Raw {
        let auth = format!("Bearer {access}");
        send(router, "GET", path, &[("authorization", &auth)], None).await
    }

    fn setup() -> (OAuthProviderMock, Router) {
        let m = OAuthProviderMock::new(CLIENT_ID, SECRET);
        let r = m.router();
        (m, r)
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(pkce_s256(VERIFIER), CHALLENGE);
        assert!(is_pkce_string(VERIFIER));
        assert!(!is_pkce_string("short"));
        assert_eq!(form_component("a%3Ab+c&d=e"), "a:b c&d=e");
        assert_ne!(random_token("x"), random_token("x"));
    }

    #[tokio::test]
    async fn pkce_happy_path_wrong_verifier_and_code_replay() {
        let (m, r) = setup();
        let code = authorize_code(&r, Some(CHALLENGE)).await;
        let exchange = |verifier: &'static str, code: String| {
            let r = r.clone();
            async move {
                token_req(
                    &r,
                    Auth::Basic,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", verifier),
                    ],
                )
                .await
            }
        };
        let wrong = exchange("wrong-verifier-wrong-verifier-wrong-verifier-0", code.clone()).await;
        assert_eq!(wrong.status, 400);
        assert_eq!(wrong.json()["error"], "invalid_grant");

        let ok = exchange(VERIFIER, code.clone()).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.header("cache-control"), Some("no-store"));
        let b = ok.json();
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["expires_in"], 3600);
        assert_eq!(b["scope"], "read write");
        let access = b["access_token"].as_str().unwrap().to_owned();
        assert!(b["refresh_token"].is_string());

        let me = api_get(&r, "/api/me", &access).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.json()["workspace"]["id"], "ws_42");

        // Replaying the code fails and revokes what it produced (RFC 6749 §4.1.2).
        let replay = exchange(VERIFIER, code).await;
        assert_eq!(replay.status, 400);
        assert_eq!(replay.json()["error"], "invalid_grant");
        assert_eq!(api_get(&r, "/api/me", &access).await.status, 401);

        // `plain` is refused at /authorize, through the redirect.
        let uri = format!(
            "/authorize?{}",
            common::build_query([
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT),
                ("state", "s"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ])
        );
        let resp = send(&r, "GET", &uri, &[], None).await;
        assert_eq!(resp.status, 302);
        let loc = resp.header("location").unwrap();
        assert!(
            loc.starts_with(&format!("{REDIRECT}?error=invalid_request&")),
            "{loc}"
        );
        assert!(loc.ends_with("&state=s"), "{loc}");

        let s = m.stats();
        assert_eq!(s.token_requests, 3);
        assert_eq!(s.codes_exchanged, 1);
        assert_eq!(s.revoked_families, 1);
        assert_eq!(s.api_calls, 1);
        assert_eq!(s.invalid_token_uses, 1);
        assert_eq!(m.access_tokens_issued(), 1);
    }

    #[tokio::test]
    async fn rotation_reuse_revokes_the_family() {
        let (m, r) = setup();
        let (_at1, rt1) = login(&r).await;
        let first = refresh(&r, &rt1).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let at2 = first.json()["access_token"].as_str().unwrap().to_owned();
        let rt2 = first.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2);
        assert_eq!(api_get(&r, "/api/me", &at2).await.status, 200);

        let reuse = refresh(&r, &rt1).await;
        assert_eq!(reuse.status, 400);
        assert_eq!(reuse.json()["error"], "invalid_grant");
        let denied = api_get(&r, "/api/me", &at2).await;
        assert_eq!(denied.status, 401);
        assert_eq!(denied.json()["error_description"], "The access token is invalid");
        // The newest refresh token of the family is gone too.
        assert_eq!(refresh(&r, &rt2).await.json()["error"], "invalid_grant");

        let s = m.stats();
        assert_eq!(s.refreshes, 1);
        assert_eq!(s.refresh_token_reuse, 1);
        assert_eq!(s.revoked_families, 1);
        assert_eq!(s.invalid_token_uses, 1);
        assert_eq!(m.access_tokens_issued(), 2);
    }

    #[tokio::test]
    async fn rotation_off_keeps_the_refresh_token() {
        let (m, r) = setup();
        m.set_rotation(false);
        let (_, rt) = login(&r).await;
        for _ in 0..3 {
            let resp = refresh(&r, &rt).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            assert!(resp.json().get("refresh_token").is_none());
            assert_eq!(resp.json()["scope"], "read write");
        }
        // A narrower scope is allowed, a wider one is not.
        let narrow = token_req(
            &r,
            Auth::Post,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "read"),
            ],
        )
        .await;
        assert_eq!(narrow.json()["scope"], "read");
        let wide = token_req(
            &r,
            Auth::Post,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", "admin"),
            ],
        )
        .await;
        assert_eq!(wide.json()["error"], "invalid_scope");
        let s = m.stats();
        assert_eq!(s.refreshes, 4);
        assert_eq!(s.refresh_token_reuse, 0);
    }

    #[tokio::test]
    async fn expired_and_unknown_access_tokens() {
        let (m, r) = setup();
        m.set_lifetime(0);
        let resp = token_req(&r, Auth::Basic, &[("grant_type", "client_credentials")]).await;
        assert_eq!(resp.json()["expires_in"], 0);
        let access = resp.json()["access_token"].as_str().unwrap().to_owned();
        let expired = api_get(&r, "/api/me", &access).await;
        assert_eq!(expired.status, 401);
        assert_eq!(expired.json()["error"], "invalid_token");
        assert_eq!(expired.json()["error_description"], "The access token expired");
        assert!(
            expired
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer error=\"invalid_token\"")
        );
        let unknown = api_get(&r, "/api/items", "nope").await;
        assert_eq!(unknown.status, 401);
        assert_eq!(unknown.json()["error_description"], "The access token is invalid");
        let missing = send(&r, "GET", "/api/me", &[], None).await;
        assert_eq!(missing.status, 401);
        let s = m.stats();
        assert_eq!(
            (s.expired_token_uses, s.invalid_token_uses, s.api_calls),
            (1, 1, 0)
        );
    }

    #[tokio::test]
    async fn client_credentials_and_items_pagination() {
        let (m, r) = setup();
        let resp = token_req(
            &r,
            Auth::Post,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
        assert_eq!(resp.status, 200);
        let b = resp.json();
        assert!(b.get("refresh_token").is_none());
        assert_eq!(b["scope"], "read");
        let access = b["access_token"].as_str().unwrap().to_owned();

        let mut ids = Vec::new();
        let mut path = "/api/items".to_owned();
        loop {
            let page = api_get(&r, &path, &access).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let body = page.json();
            for item in body["items"].as_array().unwrap() {
                ids.push(item["id"].as_str().unwrap().to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(c) => path = format!("/api/items?cursor={c}"),
                None => break,
            }
        }
        assert_eq!(ids.len(), 25);
        assert_eq!(ids[0], "item_1");
        assert_eq!(ids[24], "item_25");
        assert_eq!(api_get(&r, "/api/items?cursor=bogus", &access).await.status, 400);

        let unsupported = token_req(&r, Auth::Post, &[("grant_type", "password")]).await;
        assert_eq!(unsupported.status, 400);
        assert_eq!(unsupported.json()["error"], "unsupported_grant_type");
        let s = m.stats();
        assert_eq!(s.client_credentials, 1);
        assert_eq!(s.api_calls, 4);
    }

    #[tokio::test]
    async fn fail_token_next_and_delay() {
        let (m, r) = setup();
        m.fail_token_next(503, 1);
        m.fail_token_next(400, 1);
        let form = [("grant_type", "client_credentials")];
        let unavailable = token_req(&r, Auth::Basic, &form).await;
        assert_eq!(unavailable.status, 503);
        assert_eq!(unavailable.json(), json!({"error": "server_error"}));
        assert_eq!(unavailable.header("retry-after"), Some("1"));
        let bad = token_req(&r, Auth::Basic, &form).await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.json()["error"], "invalid_grant");
        assert!(bad.json()["error_description"].is_string());
        assert_eq!(token_req(&r, Auth::Basic, &form).await.status, 200);

        m.set_token_delay(Duration::from_millis(300));
        let slow = tokio::time::timeout(Duration::from_millis(30), token_req(&r, Auth::Basic, &form)).await;
        assert!(slow.is_err(), "the token response should be delayed");
        let s = m.stats();
        assert_eq!(s.token_requests, 4);
        assert_eq!(s.client_credentials, 1);
    }

    #[tokio::test]
    async fn omit_expires_in_still_expires_server_side() {
        let (m, r) = setup();
        m.omit_expires_in(true);
        m.set_lifetime(0);
        let resp = token_req(&r, Auth::Basic, &[("grant_type", "client_credentials")]).await;
        let b = resp.json();
        assert!(b.get("expires_in").is_none(), "{b}");
        let access = b["access_token"].as_str().unwrap();
        assert_eq!(api_get(&r, "/api/me", access).await.status, 401);
        assert_eq!(m.stats().expired_token_uses, 1);
    }

    #[tokio::test]
    async fn basic_and_post_client_authentication() {
        // Characters that RFC 6749 §2.3.1 form-urlencoding changes.
        let m = OAuthProviderMock::new("my client:1", "p@ss w+rd&=");
        let r = m.router();
        let form = "grant_type=client_credentials".to_owned();
        let ct = ("content-type", "application/x-www-form-urlencoded");

        let good = basic("my client:1", "p@ss w+rd&=");
        let resp = send(
            &r,
            "POST",
            "/token",
            &[ct, ("authorization", &good)],
            Some(form.clone()),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);

        let wrong = basic("my client:1", "nope");
        let resp = send(
            &r,
            "POST",
            "/token",
            &[ct, ("authorization", &wrong)],
            Some(form.clone()),
        )
        .await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["error"], "invalid_client");
        assert!(resp.header("www-authenticate").unwrap().starts_with("Basic"));

        let post = format!(
            "{form}&{}",
            common::build_query([("client_id", "my client:1"), ("client_secret", "p@ss w+rd&=")])
        );
        let resp = send(&r, "POST", "/token", &[ct], Some(post)).await;
        assert_eq!(resp.status, 200, "{}", resp.body);

        let post_wrong = format!("{form}&client_id=my%20client%3A1&client_secret=x");
        let resp = send(&r, "POST", "/token", &[ct], Some(post_wrong)).await;
        assert_eq!(resp.status, 401);
        assert_eq!(resp.json()["error"], "invalid_client");

        let none = send(&r, "POST", "/token", &[ct], Some(form.clone())).await;
        assert_eq!(none.status, 401);

        // Two methods at once are refused (RFC 6749 §2.3).
        let both = format!("{form}&client_secret=x");
        let resp = send(&r, "POST", "/token", &[ct, ("authorization", &good)], Some(both)).await;
        assert_eq!(resp.status, 400);
        assert_eq!(m.stats().client_credentials, 2);
    }

    #[tokio::test]
    async fn authorize_errors_denial_and_revoke_all() {
        let (m, r) = setup();
        let page = send(
            &r,
            "GET",
            "/authorize?response_type=code&client_id=other&redirect_uri=http%3A%2F%2Fx%2Fcb",
            &[],
            None,
        )
        .await;
        assert_eq!(page.status, 400);
        assert!(page.header("location").is_none());
        let page = send(
            &r,
            "GET",
            "/authorize?response_type=code&client_id=patchbay-client",
            &[],
            None,
        )
        .await;
        assert_eq!(page.status, 400);
        assert!(page.header("location").is_none());

        m.deny_next_authorization();
        let uri = format!(
            "/authorize?{}",
            common::build_query([
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", "http://127.0.0.1:1/cb?keep=1"),
                ("state", "abc"),
            ])
        );
        let denied = send(&r, "GET", &uri, &[], None).await;
        assert_eq!(denied.status, 302);
        let loc = denied.header("location").unwrap();
        assert!(
            loc.starts_with("http://127.0.0.1:1/cb?keep=1&error=access_denied&error_description="),
            "{loc}"
        );
        assert!(loc.ends_with("&state=abc"));
        // The denial is one-shot.
        let granted = send(&r, "GET", &uri, &[], None).await;
        assert!(granted.header("location").unwrap().contains("?keep=1&code="));

        let (access, refresh_token) = login(&r).await;
        m.revoke_all();
        assert_eq!(api_get(&r, "/api/me", &access).await.status, 401);
        assert_eq!(refresh(&r, &refresh_token).await.json()["error"], "invalid_grant");
        let (fresh, _) = login(&r).await;
        assert_eq!(api_get(&r, "/api/me", &fresh).await.status, 200);
        assert_eq!(m.stats().revoked_families, 0);
        assert!(m.requests().iter().any(|q| q.path == "/token"));
    }
}

//! The pieces every vendor mock shares, so none of them is written three times:
//!
//! * [`RecordedRequest`] and the per-mock request log;
//! * the *harness*: failure injection (`fail_next`), response latency (`set_delay`) and the
//!   rate-limit window (`set_rate_limit`), all behind one `Arc<Mutex<..>>`;
//! * [`gate`], the axum middleware that applies those knobs, asks the vendor to authenticate
//!   the request and stamps the vendor's rate-limit headers on every response;
//! * small codecs the mocks need without extra dependencies (query parsing and percent
//!   encoding, UTC timestamp formatting, uuid-like ids).
//!
//! Vendor-specific behaviour (bodies, header names, what "rate limited" looks like) stays in
//! the vendor modules behind the crate-private [`Vendor`] trait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as the mock received it, in arrival order (see `requests()` on each mock).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path without the query string, e.g. `/crm/v3/objects/contacts`.
    pub path: String,
    /// Percent-decoded query pairs in the order they were sent (`+` decodes to a space).
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names, in the order they were sent.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; a non-empty body that is not JSON is kept as a JSON string;
    /// `None` when the body was empty.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// First value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First value of header `name` (matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn from_parts(parts: &Parts, body: &[u8]) -> RecordedRequest {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = if body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
            )
        };
        RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parse_query(parts.uri.query().unwrap_or("")),
            headers,
            body,
        }
    }
}

/// A response the harness was told to produce instead of the normal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `fail_next(status, ..)`: the vendor's documented error for that status.
    Status(u16),
    /// GitHub's secondary rate limit (403 + `retry-after`, quota not exhausted).
    SecondaryLimit { retry_after: u64 },
    /// GitHub's plain permission 403 ("Resource not accessible by integration").
    Forbidden,
}

impl Fault {
    /// The status a vendor without GitHub's 403 dialect answers for this fault.
    pub(crate) fn status(self) -> u16 {
        match self {
            Fault::Status(s) => s,
            Fault::SecondaryLimit { .. } => 429,
            Fault::Forbidden => 403,
        }
    }
}

/// The rate-limit window as seen by one request, after that request was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateSnapshot {
    pub limit: u64,
    pub remaining: u64,
    /// The window was already empty when this request arrived.
    pub exhausted: bool,
    /// Requests counted since the mock was created (never reset; drives daily counters).
    pub served: u64,
}

impl RateSnapshot {
    /// The same window reported as empty, for rate-limit error responses.
    pub fn zeroed(self) -> RateSnapshot {
        RateSnapshot { remaining: 0, ..self }
    }
}

#[derive(Debug)]
struct HarnessState {
    faults: VecDeque<Fault>,
    delay: Duration,
    requests: Vec<RecordedRequest>,
    limit: u64,
    remaining: u64,
    served: u64,
}

/// Shared knobs of one mock; cheap to clone (all clones see the same state).
#[derive(Clone, Debug)]
pub(crate) struct Harness {
    inner: Arc<Mutex<HarnessState>>,
}

impl Harness {
    pub fn new(limit: u64) -> Harness {
        Harness {
            inner: Arc::new(Mutex::new(HarnessState {
                faults: VecDeque::new(),
                delay: Duration::ZERO,
                requests: Vec::new(),
                limit,
                remaining: limit,
                served: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HarnessState> {
        // A test that panicked while holding the lock must not poison every later assertion.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push_faults(&self, fault: Fault, times: usize) {
        let mut s = self.lock();
        s.faults.extend(std::iter::repeat_n(fault, times));
    }

    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    pub fn set_rate_limit(&self, limit: u64, remaining: u64) {
        let mut s = self.lock();
        s.limit = limit;
        s.remaining = remaining.min(limit);
    }

    /// Records the request and returns the delay to apply before answering it.
    fn record(&self, rec: RecordedRequest) -> Duration {
        let mut s = self.lock();
        s.requests.push(rec);
        s.delay
    }

    /// Pops the next injected fault and counts the request against the window.
    fn admit(&self) -> (Option<Fault>, RateSnapshot) {
        let mut s = self.lock();
        let fault = s.faults.pop_front();
        let exhausted = s.remaining == 0;
        s.remaining = s.remaining.saturating_sub(1);
        s.served += 1;
        (
            fault,
            RateSnapshot {
                limit: s.limit,
                remaining: s.remaining,
                exhausted,
                served: s.served,
            },
        )
    }
}

/// Generates the knob methods every mock exposes, delegating to its `harness` field.
macro_rules! common_knobs {
    ($ty:ty) => {
        impl $ty {
            /// The next `times` requests (whatever their path or credentials) get `status`
            /// with this vendor's documented error body and headers for it. Queued after any
            /// failures already pending.
            pub fn fail_next(&self, status: u16, times: usize) {
                self.harness
                    .push_faults($crate::common::Fault::Status(status), times);
            }

            /// Delays every subsequent response by `d` (the request is recorded first).
            pub fn set_delay(&self, d: ::std::time::Duration) {
                self.harness.set_delay(d);
            }

            /// Every request received so far, in arrival order.
            pub fn requests(&self) -> ::std::vec::Vec<$crate::common::RecordedRequest> {
                self.harness.requests()
            }

            /// Forgets the recorded requests (rate-limit counters are unaffected).
            pub fn clear_requests(&self) {
                self.harness.clear_requests();
            }

            /// Sets the current rate-limit window. Each later request decrements `remaining`
            /// by one (saturating at 0) and its response reports the decremented value.
            pub fn set_rate_limit(&self, limit: u64, remaining: u64) {
                self.harness.set_rate_limit(limit, remaining);
            }
        }
    };
}
pub(crate) use common_knobs;

/// What the gate hands to handlers through request extensions.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    pub rec: RecordedRequest,
    /// `http://<Host header>`: links in responses point back at whatever address the
    /// client used to reach the mock.
    pub base_url: String,
}

/// The vendor-specific half of the gate.
pub(crate) trait Vendor: Clone + Send + Sync + 'static {
    fn harness(&self) -> &Harness;
    /// `None` when the credential is valid, otherwise the vendor's 401 response.
    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response>;
    /// The response for an injected fault, and whether it is a rate-limit response (its
    /// rate-limit headers then report `remaining = 0`).
    fn fault_response(&self, fault: Fault, ctx: &Ctx) -> (Response, bool);
    /// The response when the window was already empty, for vendors that enforce it.
    fn exhausted_response(&self, _ctx: &Ctx) -> Option<Response> {
        None
    }
    /// Stamps the vendor's rate-limit headers.
    fn rate_headers(&self, rate: &RateSnapshot, ctx: &Ctx, headers: &mut HeaderMap);
}

/// Largest request body the mocks accept; far above anything a connector sends.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Middleware applied to every route of every mock: record, delay, inject, authenticate,
/// count, then stamp rate-limit headers on whatever the handler answered.
pub(crate) async fn gate<V: Vendor>(State(vendor): State<V>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let rec = RecordedRequest::from_parts(&parts, &bytes);
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let ctx = Ctx {
        rec: rec.clone(),
        base_url: format!("http://{host}"),
    };
    let harness = vendor.harness();
    let delay = harness.record(rec);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (fault, rate) = harness.admit();

    if let Some(fault) = fault {
        let (mut resp, rate_limited) = vendor.fault_response(fault, &ctx);
        let shown = if rate_limited { rate.zeroed() } else { rate };
        vendor.rate_headers(&shown, &ctx, resp.headers_mut());
        return resp;
    }
    let rejection = vendor
        .reject_unauthenticated(&ctx)
        .or_else(|| rate.exhausted.then(|| vendor.exhausted_response(&ctx)).flatten());
    if let Some(mut resp) = rejection {
        vendor.rate_headers(&rate, &ctx, resp.headers_mut());
        return resp;
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(ctx.clone());
    let mut resp = next.run(req).await;
    vendor.rate_headers(&rate, &ctx, resp.headers_mut());
    resp
}

/// A JSON response with the given status.
pub(crate) fn json(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Sets header `name` (must be lower-case) to `value`.
pub(crate) fn set_header(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Returns the credential of an `Authorization: <scheme> <credential>` header whose scheme
/// is one of `schemes` (compared case-insensitively, as RFC 9110 §11.1 requires).
pub(crate) fn authorization_credential<'a>(ctx: &'a Ctx, schemes: &[&str]) -> Option<&'a str> {
    let value = ctx.rec.header("authorization")?.trim();
    let (scheme, credential) = value.split_once(' ')?;
    schemes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
        .then(|| credential.trim())
}

/// Parses a query string into percent-decoded pairs (`application/x-www-form-urlencoded`).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    let hex = [h, l];
                    let hex = std::str::from_utf8(&hex).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 2;
                }
                // A stray `%` is kept literally, as browsers and most servers do.
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component, leaving only RFC 3986 unreserved characters bare.
pub(crate) fn percent_encode(s: &str) -> String {
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

/// Builds `a=1&b=2` from pairs, percent-encoding names and values.
pub(crate) fn build_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// 2024-01-01T00:00:00Z: seeded records are dated from here so fixtures are deterministic.
pub(crate) const SEED_EPOCH_SECS: u64 = 1_704_067_200;

pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn now_secs() -> u64 {
    now_millis() / 1000
}

/// (year, month, day, hour, minute, second) of a Unix timestamp, proleptic Gregorian UTC
/// (Howard Hinnant's `civil_from_days`).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2024-01-01T10:00:00.000Z` (HubSpot's timestamp format).
pub(crate) fn iso8601_millis(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms / 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", ms % 1000)
}

/// `2024-01-01T10:00:00Z` (GitHub's timestamp format).
pub(crate) fn iso8601_secs(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `2024-01-01 10:00:00` (Pipedrive's UTC timestamp format).
pub(crate) fn sql_datetime(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

static ID_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh version-4-shaped uuid string, for correlation and request ids.
pub(crate) fn uuid_like() -> String {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = splitmix64(n);
    let b = splitmix64(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Reads `name` as a non-negative integer query parameter; `Err` holds the raw value.
pub(crate) fn query_u64(rec: &RecordedRequest, name: &str) -> Option<Result<u64, String>> {
    rec.query_param(name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(iso8601_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_secs(SEED_EPOCH_SECS), "2024-01-01T00:00:00Z");
        assert_eq!(
            iso8601_millis(SEED_EPOCH_SECS * 1000 + 36_000_123),
            "2024-01-01T10:00:00.123Z"
        );
        // 2024 is a leap year.
        assert_eq!(sql_datetime(SEED_EPOCH_SECS + 59 * 86_400), "2024-02-29 00:00:00");
    }

    #[test]
    fn query_round_trip() {
        let q = build_query([("after", "MTAy=="), ("properties", "a b,c")]);
        assert_eq!(q, "after=MTAy%3D%3D&properties=a%20b%2Cc");
        assert_eq!(
            parse_query(&q),
            vec![
                ("after".to_owned(), "MTAy==".to_owned()),
                ("properties".to_owned(), "a b,c".to_owned())
            ]
        );
        assert_eq!(parse_query("a=1+2&b&c=%zz"), {
            vec![
                ("a".to_owned(), "1 2".to_owned()),
                ("b".to_owned(), String::new()),
                ("c".to_owned(), "%zz".to_owned()),
            ]
        });
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_like();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_ne!(u, uuid_like());
    }
}

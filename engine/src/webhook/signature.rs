//! Signature verification: parsing the signature header, building the signed string from the raw
//! request, checking the timestamp both ways, and comparing MACs in constant time
//! (`Mac::verify_slice`). Every parser here takes untrusted bytes and never panics.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::request::{Rejection, WebhookRequest};
use super::spec::{HmacAlgorithm, MacEncoding, SecretEncoding, SignatureFormat, TimeUnit};
use crate::expr::Expr;

/// A compiled signature scheme.
#[derive(Debug)]
pub struct CompiledSignature {
    pub(super) algorithm: HmacAlgorithm,
    pub(super) encoding: MacEncoding,
    pub(super) header: String,
    pub(super) format: SignatureFormat,
    pub(super) signed: Vec<Piece>,
    pub(super) timestamp: Option<CompiledTimestamp>,
    pub(super) secret: SecretEncoding,
}

#[derive(Debug)]
pub(super) struct CompiledTimestamp {
    pub source: TimestampSource,
    pub unit: TimeUnit,
    pub tolerance_ms: i64,
}

#[derive(Debug)]
pub(super) enum TimestampSource {
    Header(String),
    Signature,
    Body(Expr),
}

/// One part of the signed string.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Lit(String),
    Body,
    Timestamp,
    Method,
    Url,
    FormSorted,
    Header(String),
}

/// Parses a signed-string template (`{timestamp}.{body}`).
pub(super) fn parse_signed(source: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find('{') {
        if start > 0 {
            pieces.push(Piece::Lit(rest[..start].to_owned()));
        }
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("unclosed `{{` in {source:?}"));
        };
        let name = &rest[start + 1..start + len];
        pieces.push(match name {
            "body" => Piece::Body,
            "timestamp" => Piece::Timestamp,
            "method" => Piece::Method,
            "url" => Piece::Url,
            "form_sorted" => Piece::FormSorted,
            _ => match name.strip_prefix("header.") {
                Some(h) if !h.is_empty() => Piece::Header(h.to_ascii_lowercase()),
                _ => {
                    return Err(format!(
                        "unknown placeholder {{{name}}}: use body, timestamp, method, url, form_sorted or header.<name>"
                    ));
                }
            },
        });
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Lit(rest.to_owned()));
    }
    Ok(pieces)
}

/// The HMAC key for a configured secret.
pub fn secret_key(encoding: SecretEncoding, secret: &[u8]) -> Result<Vec<u8>, Rejection> {
    match encoding {
        SecretEncoding::Raw => Ok(secret.to_vec()),
        SecretEncoding::Base64 => decode_base64(secret).ok_or(Rejection::BadSecret),
        SecretEncoding::Whsec => {
            let rest = secret.strip_prefix(b"whsec_").unwrap_or(secret);
            decode_base64(rest).ok_or(Rejection::BadSecret)
        }
    }
}

fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    let text = text.trim_ascii();
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .ok()
}

/// The candidate MACs and the timestamp pair from a signature header value.
pub fn parse_header<'a>(format: &SignatureFormat, value: &'a str) -> (Vec<&'a str>, Option<&'a str>) {
    let value = value.trim();
    match format {
        SignatureFormat::Plain => (vec![value], None),
        SignatureFormat::Prefixed { prefix } => {
            (value.strip_prefix(prefix.as_str()).into_iter().collect(), None)
        }
        SignatureFormat::KeyValue {
            signature_key,
            timestamp_key,
            separator,
        } => {
            let mut sigs = Vec::new();
            let mut ts = None;
            let sep = if separator.is_empty() {
                ","
            } else {
                separator.as_str()
            };
            for pair in value.split(sep) {
                let Some((k, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                if k == signature_key {
                    sigs.push(v);
                } else if timestamp_key.as_deref() == Some(k) && ts.is_none() {
                    ts = Some(v);
                }
            }
            (sigs, ts)
        }
        SignatureFormat::SpaceSeparated { prefix } => (
            value
                .split_ascii_whitespace()
                .filter_map(|entry| entry.strip_prefix(prefix.as_str()))
                .collect(),
            None,
        ),
    }
}

/// A timestamp's value in epoch milliseconds; `None` when it does not parse.
pub fn parse_time(unit: TimeUnit, text: &str) -> Option<i64> {
    let text = text.trim();
    match unit {
        TimeUnit::Seconds => parse_number(text).and_then(|s| s.checked_mul(1000)),
        TimeUnit::Milliseconds => parse_number(text),
        TimeUnit::Rfc3339 => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis()),
    }
}

fn parse_number(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        // Some vendors send fractional seconds (`1531420618.123`).
        let f: f64 = text.parse().ok()?;
        (f.is_finite() && f.abs() < 9.0e15).then_some(f as i64)
    })
}

fn decode_mac(encoding: MacEncoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        MacEncoding::Hex => hex::decode(text.trim()).ok(),
        MacEncoding::Base64 => decode_base64(text.as_bytes()),
    }
}

/// Name+value of each form field, sorted by name then value (Twilio's signed parameters).
pub fn form_sorted(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    pairs.sort();
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

enum AnyMac {
    Sha256(Hmac<Sha256>),
    Sha1(Hmac<Sha1>),
}

impl AnyMac {
    fn new(algorithm: HmacAlgorithm, key: &[u8]) -> Self {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        match algorithm {
            HmacAlgorithm::Sha256 => {
                Self::Sha256(Hmac::new_from_slice(key).expect("HMAC accepts any key length"))
            }
            HmacAlgorithm::Sha1 => {
                Self::Sha1(Hmac::new_from_slice(key).expect("HMAC accepts any key length"))
            }
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(m) => m.update(bytes),
            Self::Sha1(m) => m.update(bytes),
        }
    }
    /// Constant-time comparison.
    fn verify(self, tag: &[u8]) -> bool {
        match self {
            Self::Sha256(m) => m.verify_slice(tag).is_ok(),
            Self::Sha1(m) => m.verify_slice(tag).is_ok(),
        }
    }
}

/// HMAC-SHA256 of `message` under `key` (Zoom's handshake answer, outbound signatures).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl CompiledSignature {
    /// Checks a request against `secret` at `now_ms`.
    pub fn verify(&self, req: &WebhookRequest<'_>, secret: &[u8], now_ms: i64) -> Result<(), Rejection> {
        let value = req.headers.get(&self.header).ok_or(Rejection::MissingSignature)?;
        let (candidates, header_ts) = parse_header(&self.format, value);
        if candidates.is_empty() {
            return Err(Rejection::MalformedSignature);
        }
        let timestamp = match &self.timestamp {
            None => None,
            Some(spec) => {
                let text = match &spec.source {
                    TimestampSource::Header(name) => req.headers.get(name).map(str::to_owned),
                    TimestampSource::Signature => header_ts.map(str::to_owned),
                    TimestampSource::Body(expr) => serde_json::from_slice(req.body)
                        .ok()
                        .and_then(|body| expr.eval(&body).ok())
                        .and_then(|v| match v {
                            serde_json::Value::String(s) => Some(s),
                            serde_json::Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        }),
                };
                let text = text.ok_or(Rejection::MissingTimestamp)?;
                let at = parse_time(spec.unit, &text).ok_or(Rejection::MissingTimestamp)?;
                let skew = now_ms.saturating_sub(at);
                if skew.saturating_abs() > spec.tolerance_ms {
                    return Err(Rejection::StaleTimestamp { skew_ms: skew });
                }
                Some(text)
            }
        };
        let key = secret_key(self.secret, secret)?;
        let mut mac = AnyMac::new(self.algorithm, &key);
        for piece in &self.signed {
            match piece {
                Piece::Lit(s) => mac.update(s.as_bytes()),
                Piece::Body => mac.update(req.body),
                Piece::Timestamp => mac.update(timestamp.as_deref().unwrap_or("").as_bytes()),
                Piece::Method => mac.update(req.method.as_bytes()),
                Piece::Url => mac.update(req.url.as_bytes()),
                Piece::FormSorted => mac.update(&form_sorted(req.body)),
                Piece::Header(name) => mac.update(req.headers.get(name).unwrap_or("").as_bytes()),
            }
        }
        // Each candidate is checked against the same finished MAC (a secret roll sends several).
        let tags: Vec<Vec<u8>> = candidates
            .iter()
            .filter_map(|c| decode_mac(self.encoding, c))
            .collect();
        if tags.is_empty() {
            return Err(Rejection::MalformedSignature);
        }
        let mut ok = false;
        for tag in &tags {
            let m = match &mac {
                AnyMac::Sha256(m) => AnyMac::Sha256(m.clone()),
                AnyMac::Sha1(m) => AnyMac::Sha1(m.clone()),
            };
            ok |= m.verify(tag);
        }
        if ok { Ok(()) } else { Err(Rejection::Mismatch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_templates_parse_and_reject_unknown_placeholders() {
        assert_eq!(
            parse_signed("v0:{timestamp}:{body}").unwrap(),
            vec![
                Piece::Lit("v0:".into()),
                Piece::Timestamp,
                Piece::Lit(":".into()),
                Piece::Body
            ]
        );
        assert_eq!(
            parse_signed("{header.X-Id}").unwrap(),
            vec![Piece::Header("x-id".into())]
        );
        assert!(
            parse_signed("{bogus}")
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(parse_signed("{body").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn header_shapes() {
        let kv = SignatureFormat::KeyValue {
            signature_key: "v1".into(),
            timestamp_key: Some("t".into()),
            separator: ",".into(),
        };
        assert_eq!(
            parse_header(&kv, "t=12,v1=aa,v0=zz,v1=bb"),
            (vec!["aa", "bb"], Some("12"))
        );
        let sp = SignatureFormat::SpaceSeparated { prefix: "v1,".into() };
        assert_eq!(parse_header(&sp, "v1,AAA v1a,BBB v1,CCC").0, vec!["AAA", "CCC"]);
        let pre = SignatureFormat::Prefixed {
            prefix: "sha256=".into(),
        };
        assert_eq!(parse_header(&pre, "sha1=ab").0, Vec::<&str>::new());
        assert_eq!(parse_header(&SignatureFormat::Plain, " x ").0, vec!["x"]);
    }

    #[test]
    fn timestamps_in_every_unit() {
        assert_eq!(
            parse_time(TimeUnit::Seconds, "1614265330"),
            Some(1_614_265_330_000)
        );
        assert_eq!(
            parse_time(TimeUnit::Milliseconds, "1614265330123"),
            Some(1_614_265_330_123)
        );
        assert_eq!(
            parse_time(TimeUnit::Rfc3339, "2021-03-25T05:09:27Z"),
            Some(1_616_648_967_000)
        );
        assert_eq!(parse_time(TimeUnit::Seconds, "99999999999999999999"), None);
        assert_eq!(parse_time(TimeUnit::Seconds, "nan"), None);
        assert_eq!(parse_time(TimeUnit::Seconds, "1e300"), None);
    }

    #[test]
    fn twilio_form_fields_sort_by_name() {
        assert_eq!(form_sorted(b"b=2&a=1&c=%2B3"), b"a1b2c+3".to_vec());
    }
}

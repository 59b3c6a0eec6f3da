//! Rate-limit normalization: reads a vendor's dialect of limit/remaining/reset headers and turns it
//! into IETF `ratelimit-*` values with the reset in delta seconds.

use serde::{Deserialize, Serialize};

use crate::connector::{CompiledRateLimit, default_retry_after};
use crate::http::Headers;
use crate::manifest::{FractionPart, HeaderNumber, HeaderTime, TimeUnit};

/// Normalized rate-limit state of one vendor answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    /// Request budget of the window.
    pub limit: Option<u64>,
    /// Requests left in the window.
    pub remaining: Option<u64>,
    /// Seconds until the window resets.
    pub reset: Option<u64>,
    /// Seconds to wait before retrying (throttled answers).
    pub retry_after: Option<u64>,
}

impl RateLimitInfo {
    /// Whether the vendor sent anything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The IETF headers to send to the caller (`ratelimit-*`, and `retry-after` when `throttled`).
    pub fn headers(&self, throttled: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = self.limit {
            out.push(("ratelimit-limit", v.to_string()));
        }
        if let Some(v) = self.remaining {
            out.push(("ratelimit-remaining", v.to_string()));
        }
        if let Some(v) = self.reset.or(if throttled { self.retry_after } else { None }) {
            out.push(("ratelimit-reset", v.to_string()));
        }
        if throttled && let Some(v) = self.retry_after.or(self.reset) {
            out.push(("retry-after", v.to_string()));
        }
        out
    }
}

/// Reads the dialect's headers; `now_ms` is the current time (the engine has no clock).
pub(crate) fn read(dialect: Option<&CompiledRateLimit>, headers: &Headers, now_ms: i64) -> RateLimitInfo {
    let default_retry = default_retry_after();
    let Some(d) = dialect else {
        return RateLimitInfo {
            retry_after: time(&default_retry, headers, now_ms),
            ..Default::default()
        };
    };
    RateLimitInfo {
        limit: d.limit.as_ref().and_then(|h| number(h, headers)),
        remaining: d.remaining.as_ref().and_then(|h| number(h, headers)),
        reset: d.reset.as_ref().and_then(|h| time(h, headers, now_ms)),
        retry_after: time(&d.retry_after, headers, now_ms),
    }
}

fn number(spec: &HeaderNumber, headers: &Headers) -> Option<u64> {
    let raw = headers.get(&spec.header)?;
    let value = match &spec.key {
        // `api-usage=18/5000; per-app-api-usage=17/250(appName=x)` and `total=100; remaining=99`.
        Some(key) => raw.split([';', ',']).find_map(|item| {
            let (k, v) = item.split_once('=')?;
            (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim())
        })?,
        None => raw.trim(),
    };
    match spec.part {
        Some(part) => {
            let (used, limit) = value.split_once('/')?;
            let used = leading_u64(used)?;
            let limit = leading_u64(limit)?;
            Some(match part {
                FractionPart::Used => used,
                FractionPart::Limit => limit,
                FractionPart::Remaining => limit.saturating_sub(used),
            })
        }
        None => leading_u64(value),
    }
}

/// The integer at the start of `s` (`110;w=10` → 110; `2.0` → 2).
fn leading_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn time(spec: &HeaderTime, headers: &Headers, now_ms: i64) -> Option<u64> {
    let raw = headers.get(&spec.header)?.trim();
    let until = |epoch_ms: i64| -> u64 { ceil_div((epoch_ms - now_ms).max(0), 1000) };
    match spec.unit {
        TimeUnit::EpochSeconds => raw.parse::<f64>().ok().map(|s| until((s * 1000.0) as i64)),
        TimeUnit::EpochMilliseconds => raw.parse::<f64>().ok().map(|ms| until(ms as i64)),
        TimeUnit::DeltaSeconds => match raw.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Some(s.ceil() as u64),
            Ok(_) => None,
            Err(_) => http_date_ms(raw).map(until),
        },
        TimeUnit::DeltaMilliseconds => raw
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .map(|ms| (ms / 1000.0).ceil() as u64),
        TimeUnit::Iso8601 => iso_ms(raw).map(until),
        TimeUnit::HttpDate => http_date_ms(raw).map(until),
    }
}

fn ceil_div(a: i64, b: i64) -> u64 {
    ((a + b - 1) / b) as u64
}

fn http_date_ms(raw: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(raw).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_millis() as i64)
}

fn iso_ms(raw: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp_millis());
    }
    // Jira writes `2024-05-01T10:00Z` (no seconds), which RFC 3339 does not allow.
    for fmt in ["%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M:%S%.fZ"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
        if let Ok(t) = chrono::DateTime::parse_from_str(raw, fmt) {
            return Some(t.timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(json: serde_json::Value) -> CompiledRateLimit {
        let d: crate::manifest::RateLimitDialect = serde_json::from_value(json).unwrap();
        CompiledRateLimit {
            limit: d.limit,
            remaining: d.remaining,
            reset: d.reset,
            retry_after: d.retry_after.unwrap_or_else(default_retry_after),
            throttled: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    const NOW_MS: i64 = 1_700_000_000_000;

    #[test]
    fn epoch_seconds_become_delta() {
        let d = dialect(serde_json::json!({
            "limit": {"header": "x-ratelimit-limit"},
            "remaining": {"header": "x-ratelimit-remaining"},
            "reset": {"header": "x-ratelimit-reset", "unit": "epoch_seconds"}
        }));
        let h = headers(&[
            ("X-RateLimit-Limit", "5000"),
            ("x-ratelimit-remaining", "4999"),
            ("x-ratelimit-reset", "1700000042"),
        ]);
        let info = read(Some(&d), &h, NOW_MS);
        assert_eq!(
            info,
            RateLimitInfo {
                limit: Some(5000),
                remaining: Some(4999),
                reset: Some(42),
                retry_after: None
            }
        );
    }

    #[test]
    fn epoch_milliseconds_round_up() {
        let d = dialect(serde_json::json!({"reset": {"header": "x-reset", "unit": "epoch_milliseconds"}}));
        let info = read(Some(&d), &headers(&[("x-reset", "1700000001500")]), NOW_MS);
        assert_eq!(info.reset, Some(2));
        // A reset in the past is "now", never negative.
        let info = read(Some(&d), &headers(&[("x-reset", "1600000000000")]), NOW_MS);
        assert_eq!(info.reset, Some(0));
    }

    #[test]
    fn delta_units_and_decimal_retry_after() {
        let d = dialect(serde_json::json!({"reset": {"header": "x-window", "unit": "delta_milliseconds"}}));
        let info = read(
            Some(&d),
            &headers(&[("x-window", "10000"), ("retry-after", "2.0")]),
            NOW_MS,
        );
        assert_eq!(info.reset, Some(10));
        assert_eq!(info.retry_after, Some(2));
        let info = read(None, &headers(&[("retry-after", "1.2")]), NOW_MS);
        assert_eq!(info.retry_after, Some(2));
    }

    #[test]
    fn http_date_and_iso() {
        let d = dialect(serde_json::json!({"reset": {"header": "x-reset", "unit": "iso8601"}}));
        // 1700000000 = 2023-11-14T22:13:20Z
        let info = read(
            Some(&d),
            &headers(&[
                ("x-reset", "2023-11-14T22:14Z"),
                ("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"),
            ]),
            NOW_MS,
        );
        assert_eq!(info.reset, Some(40));
        assert_eq!(info.retry_after, Some(30));
        let info = read(
            Some(&d),
            &headers(&[("x-reset", "2023-11-14T22:13:30+00:00")]),
            NOW_MS,
        );
        assert_eq!(info.reset, Some(10));
    }

    #[test]
    fn used_over_limit_forms() {
        let shopify = dialect(serde_json::json!({
            "limit": {"header": "X-Shopify-Shop-Api-Call-Limit", "part": "limit"},
            "remaining": {"header": "X-Shopify-Shop-Api-Call-Limit", "part": "remaining"}
        }));
        let info = read(
            Some(&shopify),
            &headers(&[("x-shopify-shop-api-call-limit", "32/40")]),
            NOW_MS,
        );
        assert_eq!((info.limit, info.remaining), (Some(40), Some(8)));
        let salesforce = dialect(serde_json::json!({
            "limit": {"header": "Sforce-Limit-Info", "key": "api-usage", "part": "limit"},
            "remaining": {"header": "Sforce-Limit-Info", "key": "api-usage", "part": "remaining"}
        }));
        let h = headers(&[("sforce-limit-info", "api-bursts=1/750; api-usage=18/5000")]);
        let info = read(Some(&salesforce), &h, NOW_MS);
        assert_eq!((info.limit, info.remaining), (Some(5000), Some(4982)));
    }

    #[test]
    fn ietf_headers_out() {
        let info = RateLimitInfo {
            limit: Some(10),
            remaining: Some(0),
            reset: Some(5),
            retry_after: Some(7),
        };
        let h = info.headers(true);
        assert!(h.contains(&("ratelimit-reset", "5".into())));
        assert!(h.contains(&("retry-after", "7".into())));
        assert!(!info.headers(false).iter().any(|(k, _)| *k == "retry-after"));
    }
}

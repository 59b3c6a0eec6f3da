//! Interpreting a vendor answer: rate-limit state, error classification, records, next page.

use serde_json::{Value, json};

use crate::call::PageState;
use crate::connector::Connector;
use crate::error_code::RemoteErrorCode;
use crate::expr::type_name;
use crate::http::{Headers, HttpResponse};
use crate::pagination;
use crate::ratelimit::{self, RateLimitInfo};

/// A successful result.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Records of one page, and where the next page is.
    List {
        /// The records, as the vendor sent them.
        records: Vec<Value>,
        /// The next page, if any.
        next: Option<PageState>,
    },
    /// One record (null for empty answers such as 204).
    Single(Value),
}

/// A vendor-side failure, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteFailure {
    /// Normalized code.
    pub code: RemoteErrorCode,
    /// Vendor's message, or a description.
    pub message: String,
    /// Vendor's HTTP status.
    pub status: u16,
    /// Vendor's body (JSON, or the text as a JSON string).
    pub body: Option<Value>,
}

/// Everything the engine concludes from one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Normalized rate-limit state.
    pub rate_limit: RateLimitInfo,
    /// The payload, or the normalized failure.
    pub result: Result<Payload, RemoteFailure>,
}

impl Connector {
    /// The normalized rate-limit state of an answer's headers.
    pub fn rate_limit(&self, headers: &Headers, now_ms: i64) -> RateLimitInfo {
        ratelimit::read(self.rate_limit.as_ref(), headers, now_ms)
    }

    /// The normalized failure code of an answer, without interpreting its records (`None`: the
    /// answer is a success). Cheap for successful answers that no rule reads.
    pub fn failure_code(&self, response: &HttpResponse) -> Option<RemoteErrorCode> {
        self.failure(response).map(|f| f.code)
    }

    /// Interprets the answer to a request built for `resource.method` with page state `page`.
    /// `now_ms` is the current time in epoch milliseconds (for reset timestamps).
    pub fn interpret(
        &self,
        resource: &str,
        method: &str,
        page: Option<&PageState>,
        response: HttpResponse,
        now_ms: i64,
    ) -> Outcome {
        let rate_limit = self.rate_limit(&response.headers, now_ms);
        let result = match self.failure(&response) {
            Some(failure) => Err(failure),
            None => self.read_page(resource, method, page, response),
        };
        Outcome { rate_limit, result }
    }

    /// The normalized failure an answer is, if it is one (throttling in a 2xx body included).
    /// Cheap for successful answers that no rule reads.
    pub fn failure(&self, response: &HttpResponse) -> Option<RemoteFailure> {
        let status = response.status;
        if (200..300).contains(&status) && !self.body_rules_apply(status) {
            return None;
        }
        let body = parse_body(&response.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
        let code = self.error_code(status, &response.headers, &body)?;
        let message = self
            .error_message(&body)
            .unwrap_or_else(|| format!("vendor answered {status}"));
        Some(RemoteFailure {
            code,
            message,
            status,
            body: Some(body),
        })
    }

    /// Reads a successful answer to `resource.method`: the records and next page of a list, or
    /// the one record of anything else.
    pub fn read_page(
        &self,
        resource: &str,
        method: &str,
        page: Option<&PageState>,
        response: HttpResponse,
    ) -> Result<Payload, RemoteFailure> {
        let status = response.status;
        let Some(m) = self.method(resource, method) else {
            return Err(RemoteFailure {
                code: RemoteErrorCode::ConnectorError,
                message: format!("connector {} has no method {resource}.{method}", self.name()),
                status: 0,
                body: None,
            });
        };
        let mapping_error = |message: String| RemoteFailure {
            code: RemoteErrorCode::MappingError,
            message,
            status,
            body: None,
        };
        let body = parse_body(&response.body).map_err(|e| RemoteFailure {
            body: Some(Value::String(
                String::from_utf8_lossy(&response.body).into_owned(),
            )),
            ..mapping_error(format!(
                "vendor answered {status} with a body that is not JSON: {e}"
            ))
        })?;
        match &m.records {
            Some(records_expr) => {
                let count = records_expr.count(&body).map_err(mapping_error)?;
                let next = pagination::next(&m.pagination, &body, &response.headers, status, page, count)
                    .map_err(mapping_error)?
                    .map(|n| pagination::resolve_against(n, response.url.as_deref()));
                let records = match records_expr.eval_owned(body).map_err(mapping_error)? {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    other => {
                        return Err(mapping_error(format!(
                            "records selected {}, not an array",
                            type_name(&other)
                        )));
                    }
                };
                Ok(Payload::List { records, next })
            }
            None => {
                let record = match &m.record {
                    Some(e) => e.eval_owned(body).map_err(mapping_error)?,
                    None => body,
                };
                Ok(Payload::Single(record))
            }
        }
    }

    /// The normalized code when the answer is a failure (throttling in a 2xx body included).
    fn error_code(&self, status: u16, headers: &Headers, body: &Value) -> Option<RemoteErrorCode> {
        let needs_input = self.error_rules.iter().any(|r| r.when.is_some())
            || self.rate_limit.as_ref().is_some_and(|rl| rl.throttled.is_some());
        let input = if needs_input {
            json!({"status": status, "headers": headers.to_json(), "body": body})
        } else {
            Value::Null
        };
        for rule in &self.error_rules {
            let status_ok = rule.rule.status.is_empty() || rule.rule.status.contains(&status);
            // A `when` that fails to evaluate does not match: a rule must not turn data into errors.
            if status_ok
                && rule
                    .when
                    .as_ref()
                    .is_none_or(|w| w.eval_bool(&input).unwrap_or(false))
            {
                return Some(rule.rule.code);
            }
        }
        if let Some(throttled) = self.rate_limit.as_ref().and_then(|rl| rl.throttled.as_ref())
            && throttled.eval_bool(&input).unwrap_or(false)
        {
            return Some(RemoteErrorCode::RateLimited);
        }
        (!(200..300).contains(&status)).then(|| RemoteErrorCode::from_status(status))
    }

    fn error_message(&self, body: &Value) -> Option<String> {
        if let Some(e) = &self.error_message
            && let Ok(v) = e.eval(body)
        {
            return text(&v);
        }
        // Common shapes: {message}, {error: {message}}, {error: "..."}, {errors: [{message}]}, "text".
        [
            &body["message"],
            &body["error"]["message"],
            &body["error"],
            &body["errors"][0]["message"],
            body,
        ]
        .into_iter()
        .find_map(text)
    }
}

/// An answer body as JSON; an empty body is `null`.
fn parse_body(body: &[u8]) -> Result<Value, serde_json::Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(body)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.chars().take(1000).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connector(extra: Value) -> Connector {
        let mut m = json!({
            "name": "acme", "version": "1", "base_url": "https://acme.test", "auth": {"type": "none"},
            "resources": {"items": {"methods": {
                "list": {"method": "GET", "path": "/items", "records": ".data.items"},
                "get": {"method": "GET", "path": "/items/{{id}}", "record": ".data"}
            }}}
        });
        crate::request::merge(&mut m, &extra);
        Connector::from_value(m).unwrap()
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: Headers::new(
                headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            body: body.as_bytes().to_vec(),
            url: None,
        }
    }

    #[test]
    fn records_and_single_records() {
        let c = connector(json!({}));
        let out = c.interpret(
            "items",
            "list",
            None,
            answer(200, &[], r#"{"data": {"items": [{"id": 1}, {"id": 2}]}}"#),
            0,
        );
        assert_eq!(
            out.result,
            Ok(Payload::List {
                records: vec![json!({"id": 1}), json!({"id": 2})],
                next: None
            })
        );
        let out = c.interpret(
            "items",
            "get",
            None,
            answer(200, &[], r#"{"data": {"id": 1}}"#),
            0,
        );
        assert_eq!(out.result, Ok(Payload::Single(json!({"id": 1}))));
        let empty = c.interpret("items", "get", None, answer(204, &[], ""), 0);
        assert_eq!(empty.result, Ok(Payload::Single(Value::Null)));
    }

    #[test]
    fn shape_drift_is_a_mapping_error() {
        let c = connector(json!({}));
        for body in [
            r#"{"data": {"items": "nope"}}"#,
            "<html>oops</html>",
            r#"{"data": 5}"#,
        ] {
            let out = c.interpret("items", "list", None, answer(200, &[], body), 0);
            assert_eq!(
                out.result.unwrap_err().code,
                RemoteErrorCode::MappingError,
                "{body}"
            );
        }
    }

    #[test]
    fn statuses_map_by_default_with_vendor_messages() {
        let c = connector(json!({}));
        let cases = [
            (
                401,
                r#"{"message": "bad token"}"#,
                RemoteErrorCode::RemoteUnauthorized,
                "bad token",
            ),
            (
                404,
                r#"{"error": {"message": "gone"}}"#,
                RemoteErrorCode::RemoteNotFound,
                "gone",
            ),
            (
                422,
                r#"{"errors": [{"message": "title missing"}]}"#,
                RemoteErrorCode::RemoteInvalidRequest,
                "title missing",
            ),
            (
                503,
                "upstream down",
                RemoteErrorCode::RemoteServerError,
                "upstream down",
            ),
            (429, "", RemoteErrorCode::RateLimited, "vendor answered 429"),
        ];
        for (status, body, code, message) in cases {
            let f = c
                .interpret("items", "get", None, answer(status, &[], body), 0)
                .result
                .unwrap_err();
            assert_eq!((f.code, f.message.as_str(), f.status), (code, message, status));
        }
    }

    #[test]
    fn rules_turn_vendor_dialects_into_codes() {
        // Salesforce: 403 REQUEST_LIMIT_EXCEEDED is a rate limit; other 403s are not.
        let sf = connector(json!({"errors": {"message": ".[0].message", "rules": [
            {"status": [403], "when": ".body[0].errorCode == \"REQUEST_LIMIT_EXCEEDED\"", "code": "rate_limited"}
        ]}}));
        let limited =
            r#"[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]"#;
        let f = sf
            .interpret("items", "get", None, answer(403, &[], limited), 0)
            .result
            .unwrap_err();
        assert_eq!(
            (f.code, f.message.as_str()),
            (RemoteErrorCode::RateLimited, "TotalRequests Limit exceeded.")
        );
        let other = r#"[{"message": "no access", "errorCode": "INSUFFICIENT_ACCESS"}]"#;
        let f = sf
            .interpret("items", "get", None, answer(403, &[], other), 0)
            .result
            .unwrap_err();
        assert_eq!(f.code, RemoteErrorCode::RemoteForbidden);
        // GraphQL: errors in a 200 body.
        let gql = connector(
            json!({"errors": {"rules": [{"when": ".body.errors[0].extensions.code == \"FORBIDDEN\"", "code": "remote_forbidden"}]}}),
        );
        let f = gql.interpret(
            "items",
            "get",
            None,
            answer(
                200,
                &[],
                r#"{"errors": [{"message": "no", "extensions": {"code": "FORBIDDEN"}}]}"#,
            ),
            0,
        );
        assert_eq!(f.result.unwrap_err().code, RemoteErrorCode::RemoteForbidden);
    }

    #[test]
    fn throttling_in_a_200_body_is_rate_limited_with_headers() {
        let c = connector(json!({"rate_limit": {
            "remaining": {"header": "x-ratelimit-requests-remaining"},
            "reset": {"header": "x-ratelimit-requests-reset", "unit": "epoch_milliseconds"},
            "throttled": "any(.body.errors[]?; .extensions.code == \"RATELIMITED\")"
        }}));
        let headers = [
            ("X-RateLimit-Requests-Remaining", "0"),
            ("X-RateLimit-Requests-Reset", "1700000030000"),
        ];
        let body =
            r#"{"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]}"#;
        let out = c.interpret(
            "items",
            "get",
            None,
            answer(200, &headers, body),
            1_700_000_000_000,
        );
        let f = out.result.unwrap_err();
        assert_eq!(
            (f.code, f.message.as_str()),
            (RemoteErrorCode::RateLimited, "Rate limit exceeded")
        );
        assert_eq!(
            (out.rate_limit.remaining, out.rate_limit.reset),
            (Some(0), Some(30))
        );
        let fine = c.interpret(
            "items",
            "get",
            None,
            answer(200, &headers, r#"{"data": {"id": 1}}"#),
            0,
        );
        assert!(fine.result.is_ok());
    }
}

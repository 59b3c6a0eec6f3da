//! A successful call's answer: status, JSON body bytes, the vendor's rate-limit state and the
//! connector version that served it. The HTTP edge writes it out with the IETF `ratelimit-*`
//! headers and `patchbay-connector-version`.

use patchbay_engine::RateLimitInfo;
use serde_json::Value;

/// Who a call was for, for the request metrics: the account's connector and tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFor {
    /// The connector.
    pub connector: String,
    /// The account's tenant.
    pub tenant: String,
}

/// A call's answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
    /// The vendor's rate-limit state.
    pub rate_limit: RateLimitInfo,
    /// `name@version#revision`.
    pub served_by: String,
    /// Who it was for.
    pub call_for: Option<CallFor>,
}

impl Answer {
    /// An answer with a JSON value body.
    pub fn json(status: u16, body: &Value, rate_limit: RateLimitInfo, served_by: String) -> Self {
        Self {
            status,
            body: serde_json::to_vec(body).expect("JSON serializes"),
            rate_limit,
            served_by,
            call_for: None,
        }
    }

    /// One record already serialized (`record_json` is a JSON value): `{"result": …}`.
    pub fn record(status: u16, record_json: &str, rate_limit: RateLimitInfo, served_by: String) -> Self {
        let mut body = Vec::with_capacity(record_json.len() + 12);
        body.extend_from_slice(b"{\"result\":");
        body.extend_from_slice(record_json.as_bytes());
        body.push(b'}');
        Self {
            status,
            body,
            rate_limit,
            served_by,
            call_for: None,
        }
    }

    /// A list page whose records are already serialized (`records_json` is a JSON array).
    pub fn page(
        count: usize,
        next_cursor: Option<&str>,
        records_json: &[u8],
        rate_limit: RateLimitInfo,
        served_by: String,
    ) -> Self {
        let mut body = Vec::with_capacity(records_json.len() + 256);
        body.extend_from_slice(format!("{{\"result_count\":{count},\"next_cursor\":").as_bytes());
        serde_json::to_writer(&mut body, &next_cursor).expect("writing to a Vec");
        body.extend_from_slice(b",\"result\":");
        body.extend_from_slice(records_json);
        body.push(b'}');
        Self {
            status: 200,
            body,
            rate_limit,
            served_by,
            call_for: None,
        }
    }
}

impl Answer {
    /// The answer, noted as being for `call_for`.
    pub fn for_call(self, call_for: CallFor) -> Self {
        Self {
            call_for: Some(call_for),
            ..self
        }
    }
}

//! A stored request's events: split a batch, then per event the vendor id (deduplication), the
//! vendor's event time (ingestion lag), the account key (app-level URLs) and the unified event.

use serde_json::{Map, Value, json};

use super::compiled::CompiledWebhooks;
use super::request::WebhookRequest;
use super::signature::parse_time;

/// One vendor event of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    /// The vendor's id of the event, if the manifest says where it is.
    pub id: Option<String>,
    /// When the vendor says it happened (epoch ms).
    pub time_ms: Option<i64>,
    /// The value app-level routing matches against the account context.
    pub account_key: Option<String>,
    /// The unified event, if a rule applies.
    pub unified: Option<UnifiedEvent>,
}

/// A unified event produced from a vendor event.
#[derive(Debug, Clone, PartialEq)]
pub struct UnifiedEvent {
    /// `crm.contact.updated`, …
    pub event_type: String,
    /// The unified record or id.
    pub data: Value,
}

/// The body as JSON: a JSON body, or the fields of a form-encoded one.
pub fn parse_body(req: &WebhookRequest<'_>) -> Result<Value, String> {
    let form = req.headers.get("content-type").is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if form {
        let map: Map<String, Value> = url::form_urlencoded::parse(req.body)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Ok(Value::Object(map));
    }
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(req.body).map_err(|e| format!("the body is not JSON: {e}"))
}

fn scalar_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl CompiledWebhooks {
    /// The events of a request, mapped. An error (unparseable body, failing expression) names
    /// what failed; the host keeps the request as `failed`.
    pub fn events(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, String> {
        let body = parse_body(req)?;
        let items = match &self.events {
            None => vec![body],
            Some(expr) => match expr.eval(&body).map_err(|e| format!("webhooks.events: {e}"))? {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            },
        };
        let headers = req.headers.to_json();
        let query: Map<String, Value> = req
            .query()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let query = Value::Object(query);
        items
            .into_iter()
            .map(|event| {
                let input = json!({"event": event, "headers": headers, "query": query});
                self.event(&input)
            })
            .collect()
    }

    fn event(&self, input: &Value) -> Result<InboundEvent, String> {
        let id = match &self.id {
            Some(e) => scalar_text(e.eval(input).map_err(|e| format!("webhooks.id: {e}"))?),
            None => None,
        };
        let time_ms = match &self.time {
            Some((e, unit)) => scalar_text(e.eval(input).map_err(|e| format!("webhooks.time: {e}"))?)
                .and_then(|t| parse_time(*unit, &t)),
            None => None,
        };
        let account_key = match &self.account {
            Some((e, _)) => scalar_text(e.eval(input).map_err(|e| format!("webhooks.account.key: {e}"))?),
            None => None,
        };
        let mut unified = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let applies = match &rule.when {
                None => true,
                Some(w) => !matches!(
                    w.eval(input)
                        .map_err(|e| format!("webhooks.map[{i}].when: {e}"))?,
                    Value::Null | Value::Bool(false)
                ),
            };
            if applies {
                let data = match &rule.data {
                    Some(d) => d
                        .eval(input)
                        .map_err(|e| format!("webhooks.map[{i}].data: {e}"))?,
                    None => input["event"].clone(),
                };
                unified = Some(UnifiedEvent {
                    event_type: rule.event_type.clone(),
                    data,
                });
                break;
            }
        }
        Ok(InboundEvent {
            id,
            time_ms,
            account_key,
            unified,
        })
    }
}

//! Linear as a Patchbay component connector: Linear's GraphQL API (`POST /graphql`) served as
//! plain REST resources (`issues`, `teams`) and as the unified `ticketing/tickets` model.
//!
//! Hooks (declared in `connectors/linear.json`):
//! - `build_request`: one GraphQL document per resource method, arguments as variables;
//! - `classify`: GraphQL `errors` (in 200 and 400 bodies) to the error taxonomy, `RATELIMITED`
//!   included, and the rate-limit state from `X-RateLimit-Requests-*` and
//!   `X-RateLimit-Complexity-*` (resets are epoch milliseconds);
//! - `read_page`: `nodes` and `pageInfo { hasNextPage endCursor }` (the cursor goes back as the
//!   `after` variable);
//! - `map_records` / `map_back`: issues to and from `ticketing/tickets`.
//!
//! Sources: <https://linear.app/developers/graphql>, <https://linear.app/developers/pagination>,
//! <https://linear.app/developers/rate-limiting>.

use patchbay_sdk::types::{
    Account, Call, Classification, Failure, HttpRequest, HttpResponse, Page, Payload, RateLimit,
};
use patchbay_sdk::{Connector, HookError, header, parse_json, to_json};
use serde_json::{Map, Value, json};

/// Linear's API root.
const BASE_URL: &str = "https://api.linear.app";
/// Default and largest page sizes (Linear: `first` defaults to 50, at most 250).
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 250;

const ISSUE_FIELDS: &str = "id identifier title description priority priorityLabel url createdAt updatedAt \
completedAt canceledAt dueDate state { id name type } assignee { id name email } team { id key name } \
labels { nodes { id name } }";
const TEAM_FIELDS: &str = "id key name";

struct Linear;

/// The GraphQL operation of a resource method, and the JSON path of its answer under `data`.
struct Operation {
    query: String,
    variables: Value,
    root: &'static str,
    /// For mutations: the payload field holding the record.
    record: Option<&'static str>,
}

fn connection(name: &str, fields: &str) -> String {
    format!(
        "query List($first: Int, $after: String) {{ {name}(first: $first, after: $after) \
         {{ nodes {{ {fields} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
}

fn operation(call: &Call) -> Result<Operation, HookError> {
    let id = || {
        call.id
            .clone()
            .ok_or_else(|| HookError::Invalid(format!("{}.{} needs an id", call.resource, call.method)))
    };
    let input = || -> Result<Value, HookError> {
        let body = call.body.as_deref().ok_or_else(|| {
            HookError::Invalid(format!("{}.{} needs a JSON body", call.resource, call.method))
        })?;
        match parse_json::<Value>("body", body)? {
            v @ Value::Object(_) => Ok(v),
            _ => Err(HookError::Invalid("the body must be a JSON object".into())),
        }
    };
    let page_vars = || -> Result<Value, HookError> {
        let first = call.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
        let after = match call.page.as_deref() {
            Some(p) => parse_json::<Value>("page", p)?["body"]["variables"]["after"].clone(),
            None => Value::Null,
        };
        Ok(json!({"first": first, "after": after}))
    };
    Ok(match (call.resource.as_str(), call.method.as_str()) {
        ("issues", "list") => Operation {
            query: connection("issues", ISSUE_FIELDS),
            variables: page_vars()?,
            root: "issues",
            record: None,
        },
        ("teams", "list") => Operation {
            query: connection("teams", TEAM_FIELDS),
            variables: page_vars()?,
            root: "teams",
            record: None,
        },
        ("issues", "get") => Operation {
            query: format!("query Issue($id: String!) {{ issue(id: $id) {{ {ISSUE_FIELDS} }} }}"),
            variables: json!({"id": id()?}),
            root: "issue",
            record: None,
        },
        ("issues", "create") => Operation {
            query: format!(
                "mutation IssueCreate($input: IssueCreateInput!) {{ issueCreate(input: $input) \
                 {{ success issue {{ {ISSUE_FIELDS} }} }} }}"
            ),
            variables: json!({"input": input()?}),
            root: "issueCreate",
            record: Some("issue"),
        },
        ("issues", "update") => Operation {
            query: format!(
                "mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {{ issueUpdate(id: $id, input: $input) \
                 {{ success issue {{ {ISSUE_FIELDS} }} }} }}"
            ),
            variables: json!({"id": id()?, "input": input()?}),
            root: "issueUpdate",
            record: Some("issue"),
        },
        (r, m) => return Err(HookError::Invalid(format!("linear has no method {r}.{m}"))),
    })
}

/// A number header.
fn number(headers: &[(String, String)], name: &str) -> Option<u64> {
    header(headers, name).and_then(|v| v.trim().parse().ok())
}

/// Seconds from `now_ms` until an epoch-milliseconds reset, rounded up.
fn seconds_until(reset_ms: Option<u64>, now_ms: i64) -> Option<u64> {
    reset_ms.map(|r| ((r as i64 - now_ms).max(0) as u64).div_ceil(1000))
}

/// Linear has two budgets (requests and complexity points); the one with the smaller share left
/// is the one that will throttle first, so that one is reported.
fn rate_limit(headers: &[(String, String)], now_ms: i64) -> RateLimit {
    let budget = |kind: &str| {
        let limit = number(headers, &format!("x-ratelimit-{kind}-limit"));
        let remaining = number(headers, &format!("x-ratelimit-{kind}-remaining"));
        let reset = seconds_until(number(headers, &format!("x-ratelimit-{kind}-reset")), now_ms);
        (limit, remaining, reset)
    };
    let share = |(l, r, _): &(Option<u64>, Option<u64>, Option<u64>)| match (l, r) {
        (Some(l), Some(r)) if *l > 0 => *r as f64 / *l as f64,
        _ => f64::INFINITY,
    };
    let requests = budget("requests");
    let complexity = budget("complexity");
    let (limit, remaining, reset) = if share(&complexity) < share(&requests) {
        complexity
    } else {
        requests
    };
    RateLimit {
        limit,
        remaining,
        reset,
        retry_after: None,
    }
}

/// The taxonomy code of a GraphQL error.
fn error_code(status: u16, code: Option<&str>, message: &str) -> &'static str {
    match code {
        Some("RATELIMITED") => "rate_limited",
        Some("AUTHENTICATION_ERROR") => "remote_unauthorized",
        Some("FORBIDDEN") => "remote_forbidden",
        Some("INVALID_INPUT") if message.starts_with("Entity not found") => "remote_not_found",
        Some("INVALID_INPUT" | "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED" | "BAD_REQUEST") => {
            "remote_invalid_request"
        }
        Some("INTERNAL_SERVER_ERROR") => "remote_server_error",
        _ => match status {
            429 => "rate_limited",
            401 => "remote_unauthorized",
            403 => "remote_forbidden",
            404 => "remote_not_found",
            500..=599 => "remote_server_error",
            _ => "remote_invalid_request",
        },
    }
}

fn ticket(issue: &Value) -> Value {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    json!({
        "id": issue["id"],
        "title": text(&issue["title"]),
        "description": text(&issue["description"]),
        "status": text(&issue["state"]["name"]),
        "type": "issue",
        "assignees": issue["assignee"]["name"].as_str().map(|n| vec![n]).unwrap_or_default(),
        "labels": issue["labels"]["nodes"]
            .as_array()
            .map(|ls| ls.iter().filter_map(|l| text(&l["name"])).collect::<Vec<_>>())
            .unwrap_or_default(),
        "url": text(&issue["url"]),
        "created_at": text(&issue["createdAt"]),
        "updated_at": text(&issue["updatedAt"]),
        "closed_at": text(&issue["completedAt"]).or_else(|| text(&issue["canceledAt"])),
    })
}

impl Connector for Linear {
    fn build_request(account: Account, call: Call) -> Result<HttpRequest, HookError> {
        let op = operation(&call)?;
        let base = account
            .base_url
            .as_deref()
            .unwrap_or(BASE_URL)
            .trim_end_matches('/');
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{base}/graphql"),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Accept".into(), "application/json".into()),
            ],
            body: Some(to_json(&json!({"query": op.query, "variables": op.variables}))),
        })
    }

    fn classify(_call: Call, response: HttpResponse, now_ms: i64) -> Result<Classification, HookError> {
        let mut rate_limit = rate_limit(&response.headers, now_ms);
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let first_error = body["errors"].as_array().and_then(|e| e.first());
        // Partial data with errors is still data; errors without data (or any non-2xx) fail.
        let data_missing = body["data"]
            .as_object()
            .is_none_or(|d| d.values().all(Value::is_null));
        let failed = !(200..300).contains(&response.status) || (first_error.is_some() && data_missing);
        let failure = failed.then(|| {
            let message = first_error
                .and_then(|e| e["message"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Linear answered {}", response.status));
            let code = error_code(
                response.status,
                first_error.and_then(|e| e["extensions"]["code"].as_str()),
                &message,
            );
            if code == "rate_limited" {
                rate_limit.retry_after = rate_limit.reset;
            }
            Failure {
                code: code.into(),
                message,
            }
        });
        Ok(Classification { rate_limit, failure })
    }

    fn read_page(call: Call, response: HttpResponse) -> Result<Payload, HookError> {
        let op = operation(&call)?;
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|e| HookError::Mapping(format!("Linear answered a body that is not JSON: {e}")))?;
        let root = &body["data"][op.root];
        if call.method == "list" {
            let nodes = root["nodes"]
                .as_array()
                .ok_or_else(|| HookError::Mapping(format!("data.{}.nodes is not a list", op.root)))?;
            let info = &root["pageInfo"];
            let next = match (info["hasNextPage"].as_bool(), info["endCursor"].as_str()) {
                (Some(true), Some(cursor)) => {
                    Some(to_json(&json!({"body": {"variables": {"after": cursor}}})))
                }
                _ => None,
            };
            return Ok(Payload::List(Page {
                records: to_json(nodes),
                next,
            }));
        }
        let record = match op.record {
            Some(field) => {
                if root["success"] == Value::Bool(false) {
                    return Err(HookError::Mapping(format!(
                        "Linear answered {} without success",
                        op.root
                    )));
                }
                &root[field]
            }
            None => root,
        };
        Ok(Payload::Single(to_json(record)))
    }

    fn map_records(
        model: String,
        resource: String,
        _method: String,
        records: String,
    ) -> Result<String, HookError> {
        if (model.as_str(), resource.as_str()) != ("ticketing", "tickets") {
            return Err(HookError::Invalid(format!(
                "linear does not map {model}/{resource}"
            )));
        }
        let issues: Vec<Value> = parse_json("records", &records)?;
        Ok(to_json(&issues.iter().map(ticket).collect::<Vec<_>>()))
    }

    fn map_back(model: String, resource: String, method: String, body: String) -> Result<String, HookError> {
        if (model.as_str(), resource.as_str()) != ("ticketing", "tickets") {
            return Err(HookError::Invalid(format!(
                "linear does not map {model}/{resource}"
            )));
        }
        let ticket: Map<String, Value> = parse_json("body", &body)?;
        let mut input = Map::new();
        for (from, to) in [
            ("title", "title"),
            ("description", "description"),
            ("team_id", "teamId"),
        ] {
            if let Some(v) = ticket.get(from).filter(|v| !v.is_null()) {
                input.insert(to.into(), v.clone());
            }
        }
        if method == "create" && !input.contains_key("teamId") {
            return Err(HookError::Invalid(
                "Linear files every issue under a team: give team_id (a Linear team id)".into(),
            ));
        }
        Ok(to_json(&Value::Object(input)))
    }
}

patchbay_sdk::export_connector!(Linear);

#[cfg(test)]
mod tests {
    use super::*;

    fn call(resource: &str, method: &str) -> Call {
        Call {
            resource: resource.into(),
            method: method.into(),
            id: None,
            limit: None,
            query: vec![],
            passthrough: vec![],
            body: None,
            page: None,
        }
    }

    #[test]
    fn pages_continue_from_the_end_cursor() {
        let mut c = call("issues", "list");
        c.limit = Some(1000);
        c.page = Some(r#"{"body":{"variables":{"after":"abc"}}}"#.into());
        let op = operation(&c).unwrap();
        assert_eq!(op.variables, json!({"first": 250, "after": "abc"}));
    }

    #[test]
    fn the_tighter_budget_is_reported_with_epoch_ms_resets() {
        let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let headers = vec![
            h("x-ratelimit-requests-limit", "1500"),
            h("x-ratelimit-requests-remaining", "1400"),
            h("x-ratelimit-requests-reset", "1700000060000"),
            h("x-ratelimit-complexity-limit", "250000"),
            h("x-ratelimit-complexity-remaining", "1000"),
            h("x-ratelimit-complexity-reset", "1700000030500"),
        ];
        let rl = rate_limit(&headers, 1_700_000_000_000);
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(250_000), Some(1000), Some(31))
        );
    }

    #[test]
    fn graphql_errors_map_to_the_taxonomy() {
        assert_eq!(error_code(400, Some("RATELIMITED"), "x"), "rate_limited");
        assert_eq!(
            error_code(200, Some("INVALID_INPUT"), "Entity not found: Issue"),
            "remote_not_found"
        );
        assert_eq!(
            error_code(400, Some("AUTHENTICATION_ERROR"), "x"),
            "remote_unauthorized"
        );
        assert_eq!(error_code(502, None, "x"), "remote_server_error");
    }
}

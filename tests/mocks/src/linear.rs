//! Mock of Linear's GraphQL API (`POST /graphql`): the `issues`, `issue` and `teams` queries
//! and the `issueCreate` / `issueUpdate` mutations.
//!
//! Owns the issue store, Linear's Relay-style connections (`nodes` + `pageInfo`, `first`/`after`
//! with opaque cursors, default page size 50), GraphQL error bodies (`errors[].extensions.code`)
//! and Linear's two leaky-bucket budgets (requests and complexity) with their headers.
//!
//! This is not a GraphQL engine: the operation is recognised by its root field (the first field
//! inside the outermost selection, aliases allowed), arguments are read from `variables` only
//! (`first`, `after`, `id`, `input`; `filter`/`orderBy` are ignored) and every object is returned
//! whole, whatever the selection set asks for.
//!
//! Sources: <https://linear.app/developers/graphql> (endpoint, `Authorization: <API_KEY>` for
//! personal keys vs `Authorization: Bearer <ACCESS_TOKEN>` for OAuth),
//! <https://linear.app/developers/pagination> (connections, default 50) and
//! <https://linear.app/developers/rate-limiting> (leaky bucket, `X-RateLimit-Requests-*`,
//! `X-Complexity`, `X-RateLimit-Complexity-*`, resets in UTC epoch milliseconds, `RATELIMITED`).
//! Items marked ⚠ follow client reports rather than Linear's own text:
//!
//! * ⚠ authentication failures and RATELIMITED answers use HTTP 400 (see `ratelimit_status`);
//! * ⚠ "Entity not found" is HTTP 200 with `data: null`; argument errors (`first` > 250, unknown
//!   cursor, missing title) are HTTP 400 `INVALID_INPUT`, with messages of the mock's own;
//! * ⚠ budgets: 1,500 requests/h (personal API key; the docs have also listed 2,500 for keys and
//!   5,000 for OAuth apps) and 250,000 complexity points/h (also reported: 3,000,000). The mock
//!   does not refill: tests drive the windows with `set_rate_limit`/`set_complexity_limit`;
//! * ⚠ complexity is simplified to 1 per request plus `first` for a connection (Linear scores
//!   0.1 per property, 1 per object, children multiplied by `first`);
//! * ⚠ non-POST / non-JSON requests get Apollo Server's `BAD_REQUEST` messages.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::common::{
    self, Ctx, Fault, Harness, RateSnapshot, Vendor, common_knobs, iso8601_millis, set_header,
};

/// Pagination docs: "the first 50 results are returned by default".
const DEFAULT_FIRST: u64 = 50;
/// ⚠ Largest accepted `first`.
const MAX_FIRST: u64 = 250;
const REQUEST_LIMIT: u64 = 1_500;
const COMPLEXITY_LIMIT: u64 = 250_000;
const HOUR_MS: u64 = 3_600_000;

const TEAMS: [(&str, &str); 2] = [("ENG", "Engineering"), ("DES", "Design")];
/// Workflow states as (name, type); shared by both teams in the mock.
const STATES: [(&str, &str); 5] = [
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
];
const USERS: [(&str, &str); 3] = [
    ("Ada Lovelace", "ada@acme.test"),
    ("Grace Hopper", "grace@acme.test"),
    ("Alan Turing", "alan@acme.test"),
];
const LABELS: [&str; 3] = ["Bug", "Feature", "Improvement"];
/// `priorityLabel` for `priority` 0..=4.
const PRIORITIES: [&str; 5] = ["No priority", "Urgent", "High", "Medium", "Low"];
const TOPICS: [&str; 6] = [
    "Crash when saving settings",
    "Add dark mode",
    "Slow sync on large workspaces",
    "Support SAML login",
    "Broken link in onboarding",
    "Improve error messages",
];

/// Deterministic uuid-shaped id: `kind` 1 team, 2 state, 3 user, 4 label, 5 issue.
fn det_id(kind: u64, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

#[derive(Clone, Debug, Default)]
struct Issue {
    id: String,
    team: usize,
    number: u64,
    title: String,
    description: Option<String>,
    priority: u64,
    state: usize,
    assignee: Option<usize>,
    labels: Vec<usize>,
    created_ms: u64,
    updated_ms: u64,
    due: Option<String>,
}

#[derive(Debug)]
struct Store {
    /// In creation order, which is also `createdAt` ascending.
    issues: Vec<Issue>,
    next_seq: u64,
    next_number: [u64; 2],
    seeded: u64,
    last_sync_id: u64,
    complexity_limit: u64,
    complexity_remaining: u64,
}

/// Mock of Linear's GraphQL API.
///
/// Accepts `Authorization: <valid_token>` (personal API key) and
/// `Authorization: Bearer <valid_token>` (OAuth access token). Teams `ENG` (Engineering) and
/// `DES` (Design) always exist; [`LinearMock::seed`] adds issues to `ENG`. Ids are
/// deterministic uuid-shaped strings; `issueCreate` starts issues in "Todo" (⚠ really the
/// team's configured default state).
#[derive(Clone, Debug)]
pub struct LinearMock {
    token: Arc<str>,
    harness: Harness,
    store: Arc<Mutex<Store>>,
    ratelimit_status: Arc<AtomicU16>,
    /// Both budgets report a reset one hour after the mock was created (epoch ms).
    reset_at_ms: u64,
}

common_knobs!(LinearMock);

impl LinearMock {
    /// A mock with no issues that accepts `valid_token` as a raw API key or a Bearer token.
    pub fn new(valid_token: &str) -> LinearMock {
        LinearMock {
            token: Arc::from(valid_token),
            harness: Harness::new(REQUEST_LIMIT),
            store: Arc::new(Mutex::new(Store {
                issues: Vec::new(),
                next_seq: 1,
                next_number: [1, 1],
                seeded: 0,
                last_sync_id: 1000,
                complexity_limit: COMPLEXITY_LIMIT,
                complexity_remaining: COMPLEXITY_LIMIT,
            })),
            ratelimit_status: Arc::new(AtomicU16::new(400)),
            reset_at_ms: common::now_millis() + HOUR_MS,
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` issues to team ENG. The k-th seeded issue (k from 0) is `ENG-<k+1>` on a fresh
    /// mock, created at 2024-01-01T00:00:00Z + k hours and updated 30 minutes later; `priority`
    /// = k % 5, state cycles Backlog/Todo/In Progress/Done/Canceled, assignee cycles the three
    /// users with every fourth unassigned, labels cycle none/Bug/Feature+Improvement, every
    /// fourth has a null description and every third a `dueDate` two weeks after creation.
    pub fn seed(&self, n: usize) {
        let mut store = self.store();
        for _ in 0..n {
            let k = store.seeded;
            store.seeded += 1;
            let i = k as usize;
            let created_ms = (common::SEED_EPOCH_SECS + k * 3600) * 1000;
            let topic = TOPICS[i % TOPICS.len()];
            let mut issue = new_issue(&mut store, 0, format!("{topic} ({})", k + 1), created_ms);
            issue.updated_ms = created_ms + 1_800_000;
            issue.description = (i % 4 != 3).then(|| {
                format!(
                    "## Steps\n\n1. Open the app\n2. {topic}\n\nSeeded issue {}.",
                    k + 1
                )
            });
            issue.priority = k % 5;
            issue.state = i % STATES.len();
            issue.assignee = (i % 4 != 3).then_some(i % USERS.len());
            issue.labels = [vec![], vec![0], vec![1, 2]][i % 3].clone();
            // `dueDate` is a `TimelessDate`: `YYYY-MM-DD`.
            let due = iso8601_millis(created_ms + 14 * 86_400_000)[..10].to_owned();
            issue.due = i.is_multiple_of(3).then_some(due);
            store.issues.push(issue);
        }
    }

    /// Status of RATELIMITED answers (request or complexity budget exhausted); default 400 ⚠,
    /// some clients report 200.
    pub fn ratelimit_status(&self, status: u16) {
        self.ratelimit_status.store(status, Ordering::Relaxed);
    }

    /// Sets the complexity window. Each later request spends its `X-Complexity` (saturating at
    /// 0); a query costing more than what is left is answered RATELIMITED.
    pub fn set_complexity_limit(&self, limit: u64, remaining: u64) {
        let mut s = self.store();
        s.complexity_limit = limit;
        s.complexity_remaining = remaining.min(limit);
    }

    /// The axum router serving `/graphql` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/graphql", any(graphql))
            .fallback(|| async { error(404, "Not found", json!({"code": "NOT_FOUND"})) })
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<LinearMock>,
            ))
    }

    fn ratelimited(&self) -> Response {
        let ext = json!({"code": "RATELIMITED", "type": "ratelimited"});
        error(
            self.ratelimit_status.load(Ordering::Relaxed),
            "Rate limit exceeded",
            ext,
        )
    }
}

fn new_issue(store: &mut Store, team: usize, title: String, now_ms: u64) -> Issue {
    let seq = store.next_seq;
    store.next_seq += 1;
    store.next_number[team] += 1;
    Issue {
        id: det_id(5, seq),
        team,
        number: store.next_number[team] - 1,
        title,
        created_ms: now_ms,
        updated_ms: now_ms,
        ..Issue::default()
    }
}

/// A GraphQL error answered before execution (no `data` member).
fn error(status: u16, message: &str, extensions: Value) -> Response {
    common::json(
        status,
        &json!({"errors": [{"message": message, "extensions": extensions}]}),
    )
}

/// An error raised while executing `field`: `data` is null and the error carries a `path`.
fn exec_error(status: u16, field: &str, message: &str, user_message: &str) -> Response {
    let ext =
        json!({"code": "INVALID_INPUT", "type": "invalid input", "userPresentableMessage": user_message});
    common::json(
        status,
        &json!({"data": null, "errors": [{"message": message, "path": [field], "extensions": ext}]}),
    )
}

/// ⚠ HTTP 200 with `data: null`, as clients report for an unknown id.
fn entity_not_found(field: &str, entity: &str) -> Response {
    let message = format!("Entity not found: {entity}");
    let user = format!("Could not find referenced {entity}.");
    exec_error(200, field, &message, &user)
}

fn invalid_input(field: &str, user_message: &str) -> Response {
    exec_error(400, field, "Argument Validation Error", user_message)
}

fn bad_request(message: &str) -> Response {
    error(400, message, json!({"code": "BAD_REQUEST"}))
}

fn auth_error(status: u16) -> Response {
    error(
        status,
        "Authentication required, not authenticated",
        json!({
            "type": "authentication error",
            "code": "AUTHENTICATION_ERROR",
            "userPresentableMessage": "You need to authenticate to access this operation.",
        }),
    )
}

impl Vendor for LinearMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response> {
        let raw = ctx.rec.header("authorization").map(str::trim);
        let bearer = common::authorization_credential(ctx, &["Bearer"]);
        let ok = raw == Some(&*self.token) || bearer == Some(&*self.token);
        (!ok).then(|| auth_error(400))
    }

    fn fault_response(&self, fault: Fault, _ctx: &Ctx) -> (Response, bool) {
        let status = fault.status();
        // ⚠ Linear documents none of these bodies; 5xx from its edge may not even be JSON.
        let (message, code, kind) = match status {
            401 => return (auth_error(401), false),
            // `fail_next(429)`: a RATELIMITED body with the status the test asked for.
            429 => ("Rate limit exceeded", "RATELIMITED", "ratelimited"),
            400 => ("Bad request", "GRAPHQL_VALIDATION_FAILED", "graphql error"),
            403 => ("Forbidden", "FORBIDDEN", "forbidden"),
            _ => ("Internal server error", "INTERNAL_SERVER_ERROR", "internal error"),
        };
        let ext = json!({"code": code, "type": kind});
        (error(status, message, ext), status == 429)
    }

    fn exhausted_response(&self, _ctx: &Ctx) -> Option<Response> {
        Some(self.ratelimited())
    }

    /// Stamps both budgets. The complexity budget is spent here, once per response: the
    /// handler's `x-complexity` when it set one, otherwise 1.
    fn rate_headers(&self, rate: &RateSnapshot, _ctx: &Ctx, headers: &mut HeaderMap) {
        let cost = headers
            .get("x-complexity")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(1);
        let (limit, remaining) = {
            let mut s = self.store();
            s.complexity_remaining = s.complexity_remaining.saturating_sub(cost);
            (s.complexity_limit, s.complexity_remaining)
        };
        set_header(headers, "x-ratelimit-requests-limit", rate.limit);
        set_header(headers, "x-ratelimit-requests-remaining", rate.remaining);
        set_header(headers, "x-ratelimit-requests-reset", self.reset_at_ms);
        set_header(headers, "x-complexity", cost);
        set_header(headers, "x-ratelimit-complexity-limit", limit);
        set_header(headers, "x-ratelimit-complexity-remaining", remaining);
        set_header(headers, "x-ratelimit-complexity-reset", self.reset_at_ms);
    }
}

/// `(is_mutation, root field)` of a query document, or `None` when it cannot be read.
fn root_field(query: &str) -> Option<(bool, String)> {
    let text: String = query
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    fn is_ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }
    fn keyword<'a>(t: &'a str, kw: &str) -> Option<&'a str> {
        t.strip_prefix(kw).filter(|r| !r.starts_with(is_ident))
    }
    let t = text.trim_start();
    let (mutation, rest) = match (keyword(t, "mutation"), keyword(t, "query")) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        _ if t.starts_with('{') => (false, t),
        _ => return None,
    };
    let mut depth = 0i32;
    let open = rest.char_indices().find_map(|(i, c)| {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '{' if depth == 0 => return Some(i),
            _ => {}
        }
        None
    })?;
    let ident = |s: &str| -> (String, String) {
        let s = s.trim_start();
        let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
        (s[..end].to_owned(), s[end..].trim_start().to_owned())
    };
    let (first, after) = ident(&rest[open + 1..]);
    let name = match after.strip_prefix(':') {
        Some(aliased) => ident(aliased).0,
        None => first,
    };
    (!name.is_empty()).then_some((mutation, name))
}

/// `POST /graphql`.
async fn graphql(State(mock): State<LinearMock>, Extension(ctx): Extension<Ctx>) -> Response {
    if ctx.rec.method != "POST" {
        return bad_request("GET query missing.");
    }
    let is_json = ctx
        .rec
        .header("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let Some(body) = ctx.rec.body.as_ref().filter(|b| is_json && b.is_object()) else {
        return bad_request("POST body missing, invalid Content-Type, or JSON object has no keys.");
    };
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return bad_request("GraphQL operations must contain a non-empty `query`.");
    };
    let empty = Map::new();
    let vars = body.get("variables").and_then(Value::as_object).unwrap_or(&empty);
    let Some((mutation, field)) = root_field(query) else {
        let ext = json!({"code": "GRAPHQL_PARSE_FAILED"});
        return error(400, "Syntax Error: Unexpected token.", ext);
    };
    let known = if mutation {
        ["issueCreate", "issueUpdate"].as_slice()
    } else {
        ["issues", "issue", "teams"].as_slice()
    };
    if !known.contains(&field.as_str()) {
        let ty = if mutation { "Mutation" } else { "Query" };
        let message = format!("Cannot query field \"{field}\" on type \"{ty}\".");
        return error(400, &message, json!({"code": "GRAPHQL_VALIDATION_FAILED"}));
    }
    let first = match vars.get("first") {
        None | Some(Value::Null) => DEFAULT_FIRST,
        Some(v) => match v.as_u64() {
            Some(n) if n <= MAX_FIRST => n,
            _ => return invalid_input(&field, "first must be an integer between 0 and 250."),
        },
    };
    let cost = if matches!(field.as_str(), "issues" | "teams") {
        1 + first
    } else {
        1
    };
    let mut resp = {
        let mut store = mock.store();
        if cost > store.complexity_remaining {
            drop(store);
            return mock.ratelimited();
        }
        execute(&mut store, &field, vars, first)
    };
    set_header(resp.headers_mut(), "x-complexity", cost);
    resp
}

fn execute(store: &mut Store, field: &str, vars: &Map<String, Value>, first: u64) -> Response {
    let after = vars.get("after").and_then(Value::as_str);
    let data = match field {
        "issues" | "teams" => {
            let nodes: Vec<Value> = if field == "issues" {
                store.issues.iter().map(issue_json).collect()
            } else {
                (0..TEAMS.len()).map(team_json).collect()
            };
            match page(&nodes, first, after) {
                Some(conn) => conn,
                None => return invalid_input(field, "Invalid cursor."),
            }
        }
        "issue" => {
            let id = vars.get("id").and_then(Value::as_str).unwrap_or("");
            match find(store, id) {
                Some(i) => issue_json(&store.issues[i]),
                None => return entity_not_found(field, "Issue"),
            }
        }
        "issueCreate" => {
            let input = vars.get("input").and_then(Value::as_object);
            let team_id = input.and_then(|i| i.get("teamId")).and_then(Value::as_str);
            let Some(team_id) = team_id else {
                return invalid_input(field, "teamId must be provided.");
            };
            let Some(team) = (0..TEAMS.len()).find(|&t| det_id(1, t as u64) == team_id) else {
                return entity_not_found(field, "Team");
            };
            let title = input.and_then(|i| i.get("title")).and_then(Value::as_str);
            let Some(title) = title.filter(|t| !t.trim().is_empty()) else {
                return invalid_input(field, "title must be provided.");
            };
            let mut issue = new_issue(store, team, title.to_owned(), common::now_millis());
            issue.state = 1;
            if let Err(msg) = apply_input(&mut issue, input.unwrap_or(&Map::new())) {
                store.next_number[team] -= 1;
                return invalid_input(field, &msg);
            }
            store.issues.push(issue.clone());
            return mutation_payload(store, field, &issue);
        }
        "issueUpdate" => {
            let id = vars.get("id").and_then(Value::as_str).unwrap_or("");
            let Some(i) = find(store, id) else {
                return entity_not_found(field, "Issue");
            };
            let empty = Map::new();
            let input = vars.get("input").and_then(Value::as_object).unwrap_or(&empty);
            let mut issue = store.issues[i].clone();
            if let Err(msg) = apply_input(&mut issue, input) {
                return invalid_input(field, &msg);
            }
            issue.updated_ms = common::now_millis().max(issue.updated_ms + 1);
            store.issues[i] = issue.clone();
            return mutation_payload(store, field, &issue);
        }
        _ => unreachable!("root field checked by the caller"),
    };
    common::json(200, &json!({"data": {field: data}}))
}

fn mutation_payload(store: &mut Store, field: &str, issue: &Issue) -> Response {
    store.last_sync_id += 1;
    let payload = json!({"success": true, "lastSyncId": store.last_sync_id, "issue": issue_json(issue)});
    common::json(200, &json!({"data": {field: payload}}))
}

/// `issue(id:)` accepts the uuid or the identifier (`ENG-12`), as Linear does.
fn find(store: &Store, id: &str) -> Option<usize> {
    store
        .issues
        .iter()
        .position(|i| i.id == id || identifier(i).eq_ignore_ascii_case(id))
}

fn identifier(i: &Issue) -> String {
    format!("{}-{}", TEAMS[i.team].0, i.number)
}

/// Applies the optional `IssueCreateInput`/`IssueUpdateInput` fields the mock models: `title`,
/// `description`, `priority`, `stateId`, `assigneeId`, `dueDate` (others are ignored).
fn apply_input(issue: &mut Issue, input: &Map<String, Value>) -> Result<(), String> {
    let lookup = |key: &str, kind: u64, len: usize| -> Result<Option<usize>, String> {
        match input.get(key) {
            None => Ok(None),
            Some(v) => (0..len)
                .find(|&n| v.as_str() == Some(det_id(kind, n as u64).as_str()))
                .map(Some)
                .ok_or_else(|| format!("{key} does not reference a known entity.")),
        }
    };
    if let Some(v) = input.get("title") {
        match v.as_str().filter(|t| !t.trim().is_empty()) {
            Some(t) => issue.title = t.to_owned(),
            None => return Err("title must not be empty.".into()),
        }
    }
    if let Some(v) = input.get("description") {
        issue.description = v.as_str().map(str::to_owned);
    }
    if let Some(v) = input.get("priority") {
        match v.as_u64().filter(|p| *p <= 4) {
            Some(p) => issue.priority = p,
            None => return Err("priority must be an integer between 0 and 4.".into()),
        }
    }
    if let Some(s) = lookup("stateId", 2, STATES.len())? {
        issue.state = s;
    }
    if input.get("assigneeId").is_some_and(Value::is_null) {
        issue.assignee = None;
    } else if let Some(u) = lookup("assigneeId", 3, USERS.len())? {
        issue.assignee = Some(u);
    }
    if let Some(v) = input.get("dueDate") {
        issue.due = v.as_str().map(str::to_owned);
    }
    Ok(())
}

/// The connection page of `nodes` after cursor `after` (`None` for an unknown cursor).
/// Cursors are base64 of the node's `id`.
fn page(nodes: &[Value], first: u64, after: Option<&str>) -> Option<Value> {
    let start = match after {
        None => 0,
        Some(c) => {
            let id = STANDARD.decode(c).ok().and_then(|b| String::from_utf8(b).ok())?;
            nodes.iter().position(|n| n["id"] == id.as_str())? + 1
        }
    };
    let end = (start + first as usize).min(nodes.len());
    let cursor = |i: usize| Value::String(STANDARD.encode(nodes[i]["id"].as_str().unwrap_or("")));
    let some = end > start;
    Some(json!({
        "nodes": &nodes[start..end],
        "pageInfo": {
            "hasNextPage": end < nodes.len(),
            "hasPreviousPage": start > 0,
            "startCursor": if some { cursor(start) } else { Value::Null },
            "endCursor": if some { cursor(end - 1) } else { Value::Null },
        },
    }))
}

fn team_json(t: usize) -> Value {
    json!({"id": det_id(1, t as u64), "key": TEAMS[t].0, "name": TEAMS[t].1})
}

fn issue_json(i: &Issue) -> Value {
    let ident = identifier(i);
    let slug: String = i
        .title
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("-");
    let (state_name, state_type) = STATES[i.state];
    let labels: Vec<Value> = i
        .labels
        .iter()
        .map(|&l| json!({"id": det_id(4, l as u64), "name": LABELS[l]}))
        .collect();
    json!({
        "id": i.id,
        "identifier": ident,
        "title": i.title,
        "description": i.description,
        "priority": i.priority,
        "priorityLabel": PRIORITIES[i.priority as usize],
        "state": {"id": det_id(2, i.state as u64), "name": state_name, "type": state_type},
        "assignee": i.assignee.map(|u| json!({"id": det_id(3, u as u64), "name": USERS[u].0, "email": USERS[u].1})),
        "team": team_json(i.team),
        "labels": {"nodes": labels},
        "createdAt": iso8601_millis(i.created_ms),
        "updatedAt": iso8601_millis(i.updated_ms),
        "dueDate": i.due,
        "url": format!("https://linear.app/acme/issue/{ident}/{slug}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{Reply, call};

    const KEY: (&str, &str) = ("authorization", "lin_api_test");
    const ISSUES: &str =
        "query Issues($first: Int, $after: String) { issues(first: $first, after: $after) { nodes { id } } }";

    async fn gql(r: &Router, auth: &[(&str, &str)], query: &str, vars: Value) -> Reply {
        let body = json!({"query": query, "variables": vars});
        call(r, "POST", "/graphql", auth, Some(body)).await
    }

    fn mock(n: usize) -> (LinearMock, Router) {
        let m = LinearMock::new("lin_api_test");
        m.seed(n);
        let r = m.router();
        (m, r)
    }

    fn code(r: &Reply) -> &Value {
        &r.body["errors"][0]["extensions"]["code"]
    }

    #[tokio::test]
    async fn auth_and_request_validation() {
        let (m, r) = mock(1);
        for h in [vec![], vec![("authorization", "Bearer nope")]] {
            let resp = gql(&r, &h, ISSUES, json!({})).await;
            assert_eq!((resp.status, code(&resp)), (400, &json!("AUTHENTICATION_ERROR")));
            assert_eq!(resp.header("x-ratelimit-requests-limit"), Some("1500"));
        }
        for h in [KEY, ("authorization", "Bearer lin_api_test")] {
            assert_eq!(gql(&r, &[h], ISSUES, json!({})).await.status, 200);
        }
        assert_eq!(m.requests()[2].header("authorization"), Some("lin_api_test"));
        assert_eq!(m.requests()[3].body.as_ref().unwrap()["query"], ISSUES);
        let resp = call(&r, "GET", "/graphql", &[KEY], None).await;
        assert_eq!((resp.status, code(&resp)), (400, &json!("BAD_REQUEST")));
        let resp = gql(&r, &[KEY], "{ viewer { id } }", json!({})).await;
        let msg = "Cannot query field \"viewer\" on type \"Query\".";
        assert_eq!(
            (resp.status, &resp.body["errors"][0]["message"]),
            (400, &json!(msg))
        );
        let resp = gql(&r, &[KEY], "{ issueCreate { success } }", json!({})).await;
        assert_eq!(code(&resp), "GRAPHQL_VALIDATION_FAILED");
    }

    #[tokio::test]
    async fn issues_paginate_with_opaque_cursors() {
        let (_m, r) = mock(25);
        let (mut ids, mut after, mut pages) = (Vec::new(), Value::Null, 0);
        loop {
            let resp = gql(&r, &[KEY], ISSUES, json!({"first": 10, "after": after})).await;
            assert_eq!(resp.header("x-complexity"), Some("11"));
            pages += 1;
            let conn = &resp.body["data"]["issues"];
            ids.extend(conn["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()));
            if conn["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
        assert_eq!((ids.len(), pages, &ids[0]), (25, 3, &json!(det_id(5, 1))));
        let resp = gql(&r, &[KEY], "{ issues { nodes { id } } }", json!({})).await;
        let n = &resp.body["data"]["issues"]["nodes"];
        assert_eq!(n.as_array().unwrap().len(), 25);
        assert_eq!(n[0]["identifier"], "ENG-1");
        assert_eq!(n[0]["createdAt"], "2024-01-01T00:00:00.000Z");
        assert_eq!(n[0]["dueDate"], "2024-01-15");
        assert_eq!(n[1]["priorityLabel"], "Urgent");
        assert_eq!(n[2]["labels"]["nodes"][1]["name"], "Improvement");
        assert_eq!(n[3]["description"], Value::Null);
        for vars in [json!({"first": 251}), json!({"after": "bm9wZQ=="})] {
            let resp = gql(&r, &[KEY], ISSUES, vars).await;
            assert_eq!((resp.status, code(&resp)), (400, &json!("INVALID_INPUT")));
        }
        let resp = gql(&r, &[KEY], "query { teams { nodes { key } } }", json!({})).await;
        assert_eq!(resp.body["data"]["teams"]["nodes"][1]["key"], "DES");
    }

    #[tokio::test]
    async fn single_issue_and_mutations() {
        let (_m, r) = mock(3);
        let q = "query Issue($id: String!) { issue(id: $id) { id } }";
        let resp = gql(&r, &[KEY], q, json!({"id": "ENG-2"})).await;
        assert_eq!(resp.body["data"]["issue"]["id"], det_id(5, 2));
        let resp = gql(&r, &[KEY], q, json!({"id": "missing"})).await;
        assert_eq!((resp.status, &resp.body["data"]), (200, &Value::Null));
        assert_eq!(resp.body["errors"][0]["message"], "Entity not found: Issue");

        let create =
            "mutation Create($input: IssueCreateInput!) { created: issueCreate(input: $input) { success } }";
        let resp = gql(&r, &[KEY], create, json!({"input": {"teamId": det_id(1, 0)}})).await;
        assert_eq!(code(&resp), "INVALID_INPUT");
        let input = json!({"input": {"teamId": det_id(1, 0), "title": "New bug", "priority": 1}});
        let resp = gql(&r, &[KEY], create, input).await;
        let payload = &resp.body["data"]["issueCreate"];
        assert_eq!(payload["success"], true);
        assert_eq!(payload["issue"]["priorityLabel"], "Urgent");
        assert_eq!(
            payload["issue"]["url"],
            "https://linear.app/acme/issue/ENG-4/new-bug"
        );

        let update = "mutation ($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) { success } }";
        let input = json!({"stateId": det_id(2, 3), "assigneeId": null});
        let resp = gql(&r, &[KEY], update, json!({"id": det_id(5, 1), "input": input})).await;
        let issue = &resp.body["data"]["issueUpdate"]["issue"];
        assert_eq!(
            (&issue["state"]["type"], &issue["assignee"]),
            (&json!("completed"), &Value::Null)
        );
        assert_ne!(issue["updatedAt"], "2024-01-01T00:30:00.000Z");
    }

    #[tokio::test]
    async fn rate_limits_and_faults() {
        let (m, r) = mock(1);
        let resp = gql(&r, &[KEY], ISSUES, json!({})).await;
        assert_eq!(resp.header("x-ratelimit-requests-remaining"), Some("1499"));
        assert_eq!(resp.header("x-ratelimit-complexity-remaining"), Some("249949"));
        let reset: u64 = resp
            .header("x-ratelimit-requests-reset")
            .unwrap()
            .parse()
            .unwrap();
        assert!(reset > common::now_millis());
        m.set_rate_limit(1500, 0);
        let resp = gql(&r, &[KEY], ISSUES, json!({})).await;
        assert_eq!((resp.status, code(&resp)), (400, &json!("RATELIMITED")));
        assert_eq!(resp.header("x-ratelimit-requests-remaining"), Some("0"));
        m.ratelimit_status(200);
        assert_eq!(gql(&r, &[KEY], ISSUES, json!({})).await.status, 200);
        m.set_rate_limit(1500, 1500);
        m.set_complexity_limit(1000, 10);
        assert_eq!(code(&gql(&r, &[KEY], ISSUES, json!({})).await), "RATELIMITED");
        m.fail_next(503, 1);
        m.fail_next(429, 1);
        assert_eq!(gql(&r, &[KEY], ISSUES, json!({"first": 1})).await.status, 503);
        let resp = gql(&r, &[KEY], ISSUES, json!({"first": 1})).await;
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("x-ratelimit-requests-remaining"), Some("0"));
    }
}

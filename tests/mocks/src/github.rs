//! Mock of GitHub's REST issues API (`/repos/{owner}/{repo}/issues[/{number}]`).
//!
//! Owns the per-repository issue store, page-number pagination announced through an
//! RFC 8288 `Link` header, GitHub's error bodies (`message`/`documentation_url`/`status`)
//! and its three different 403s, which a connector must tell apart:
//!
//! * primary rate limit: 403 with `x-ratelimit-remaining: 0` (wait for `x-ratelimit-reset`);
//! * secondary rate limit: 403 (or 429) with `retry-after`, quota *not* exhausted;
//! * plain permission failure: 403 "Resource not accessible by integration", quota left.
//!
//! Sources: GitHub docs "Rate limits for the REST API" and "Using pagination in the REST API"
//! (github/docs `content/rest/using-the-rest-api/*`), and the REST reference for issues.
//! Items marked ⚠ follow commonly observed responses rather than GitHub's own text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Value, json};

use crate::common::{
    self, Ctx, Fault, Harness, RateSnapshot, Vendor, common_knobs, iso8601_secs, set_header,
};

/// "per_page ... Default: 30", maximum 100 (issues list reference).
const DEFAULT_PER_PAGE: u64 = 30;
const MAX_PER_PAGE: u64 = 100;
/// Primary limit for a user token: 5,000 requests per hour.
const DEFAULT_LIMIT: u64 = 5000;
/// Secondary-limit `retry-after` used by `fail_next(429, ..)`.
const DEFAULT_RETRY_AFTER: u64 = 60;
const API_VERSION: &str = "2022-11-28";

const DOCS_REST: &str = "https://docs.github.com/rest";
const DOCS_RATE_LIMITS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
const DOCS_SECONDARY: &str = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const DOCS_GET_ISSUE: &str = "https://docs.github.com/rest/issues/issues#get-an-issue";
const DOCS_CREATE_ISSUE: &str = "https://docs.github.com/rest/issues/issues#create-an-issue";
const DOCS_UPDATE_ISSUE: &str = "https://docs.github.com/rest/issues/issues#update-an-issue";
const DOCS_LIST_ISSUES: &str = "https://docs.github.com/rest/issues/issues#list-repository-issues";

/// The user every valid token belongs to (hence "user ID 1" in rate-limit messages).
const TOKEN_OWNER: (&str, u64) = ("octocat", 1);
const KNOWN_USERS: [(&str, u64); 3] = [("octocat", 1), ("hubot", 2), ("monalisa", 3)];
/// `seed` fills this repository.
const SEED_REPO: &str = "octo/hello";

#[derive(Clone, Debug)]
struct User {
    login: String,
    id: u64,
}

#[derive(Clone, Debug)]
struct Label {
    id: u64,
    name: String,
    color: String,
    description: Option<String>,
}

#[derive(Clone, Debug)]
struct Issue {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    open: bool,
    state_reason: Option<String>,
    user: User,
    labels: Vec<Label>,
    assignees: Vec<User>,
    comments: u64,
    pull_request: bool,
    created: u64,
    updated: u64,
    closed: Option<u64>,
}

#[derive(Debug, Default)]
struct Repo {
    issues: BTreeMap<u64, Issue>,
    next_number: u64,
}

#[derive(Debug)]
struct Store {
    repos: BTreeMap<String, Repo>,
    next_issue_id: u64,
    labels: BTreeMap<String, Label>,
    next_label_id: u64,
    seeded: u64,
}

impl Store {
    fn repo(&mut self, key: &str) -> &mut Repo {
        self.repos.entry(key.to_owned()).or_insert_with(|| Repo {
            issues: BTreeMap::new(),
            next_number: 1,
        })
    }

    /// Labels are created on first use (GitHub does the same when an issue names an
    /// unknown label); seeded ones carry GitHub's default colours.
    fn label(&mut self, name: &str) -> Label {
        if let Some(l) = self.labels.get(name) {
            return l.clone();
        }
        let (color, description) = match name {
            "bug" => ("d73a4a", Some("Something isn't working")),
            "enhancement" => ("a2eeef", Some("New feature or request")),
            "documentation" => ("0075ca", Some("Improvements or additions to documentation")),
            _ => ("ededed", None),
        };
        let label = Label {
            id: self.next_label_id,
            name: name.to_owned(),
            color: color.to_owned(),
            description: description.map(str::to_owned),
        };
        self.next_label_id += 1;
        self.labels.insert(name.to_owned(), label.clone());
        label
    }
}

fn user(login: &str) -> User {
    // Unknown logins get a stable id derived from the name so repeated runs agree.
    let id = KNOWN_USERS
        .iter()
        .find(|(l, _)| *l == login)
        .map(|(_, id)| *id)
        .unwrap_or_else(|| {
            1000 + login
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
                % 1_000_000
        });
    User {
        login: login.to_owned(),
        id,
    }
}

/// Mock of the GitHub REST issues API.
///
/// Auth is `Authorization: Bearer <valid_token>` or `Authorization: token <valid_token>`.
/// Any `owner/repo` works (repositories spring into existence empty); [`GitHubMock::seed`]
/// fills `octo/hello`.
#[derive(Clone, Debug)]
pub struct GitHubMock {
    token: Arc<str>,
    harness: Harness,
    store: Arc<Mutex<Store>>,
    /// `x-ratelimit-reset`: the hourly window ends an hour after the mock is created.
    reset_at: u64,
}

common_knobs!(GitHubMock);

const TOPICS: [&str; 8] = [
    "Crash when saving settings",
    "Add dark mode",
    "Typo in README",
    "Slow startup on large repos",
    "Support OAuth device flow",
    "Broken link in docs",
    "Flaky test in CI",
    "Improve error messages",
];

impl GitHubMock {
    /// A mock with no issues that accepts `valid_token` as a Bearer/`token` credential.
    pub fn new(valid_token: &str) -> GitHubMock {
        GitHubMock {
            token: Arc::from(valid_token),
            harness: Harness::new(DEFAULT_LIMIT),
            store: Arc::new(Mutex::new(Store {
                repos: BTreeMap::new(),
                next_issue_id: 1_000_001,
                labels: BTreeMap::new(),
                next_label_id: 208_045_946,
                seeded: 0,
            })),
            reset_at: common::now_secs() + 3600,
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` issues to `octo/hello`. On a fresh mock issue `i` (1-based) has number `i`,
    /// id `1000000 + i`, title `"<topic> (#i)"`, was created at 2024-01-01T00:00:00Z + i hours
    /// and updated 30 minutes later. Every third issue is closed (`closed_at` = `updated_at`),
    /// every fifth is a pull request (has `pull_request`), labels cycle through
    /// none / `bug` / `enhancement` / `bug`+`documentation`, even numbers are assigned to
    /// `monalisa`, authors cycle octocat/hubot/monalisa.
    pub fn seed(&self, n: usize) {
        let mut store = self.store();
        for _ in 0..n {
            store.seeded += 1;
            let i = store.seeded;
            let labels: Vec<Label> = match i % 4 {
                1 => vec![store.label("bug")],
                2 => vec![store.label("enhancement")],
                3 => vec![store.label("bug"), store.label("documentation")],
                _ => vec![],
            };
            let id = store.next_issue_id;
            store.next_issue_id += 1;
            let repo = store.repo(SEED_REPO);
            let number = repo.next_number;
            repo.next_number += 1;
            let created = common::SEED_EPOCH_SECS + i * 3600;
            let updated = created + 1800;
            let open = !i.is_multiple_of(3);
            let topic = TOPICS[(i as usize) % TOPICS.len()];
            repo.issues.insert(
                number,
                Issue {
                    id,
                    number,
                    title: format!("{topic} (#{i})"),
                    body: Some(format!(
                        "Steps to reproduce:\n\n1. Open the app\n2. {topic}\n\nSeeded issue {i}."
                    )),
                    open,
                    state_reason: (!open).then(|| "completed".to_owned()),
                    user: user(KNOWN_USERS[(i as usize) % KNOWN_USERS.len()].0),
                    labels,
                    assignees: if i.is_multiple_of(2) {
                        vec![user("monalisa")]
                    } else {
                        vec![]
                    },
                    comments: (i * 7) % 5,
                    pull_request: i.is_multiple_of(5),
                    created,
                    updated,
                    closed: (!open).then_some(updated),
                },
            );
        }
    }

    /// Queues `times` secondary-rate-limit responses: 403, `retry-after: <retry_after>`,
    /// the secondary-limit message, rate-limit headers showing the real (non-zero)
    /// remaining quota.
    pub fn secondary_limit_next(&self, times: usize, retry_after: u64) {
        self.harness
            .push_faults(Fault::SecondaryLimit { retry_after }, times);
    }

    /// Queues `times` permission failures: 403 "Resource not accessible by integration"
    /// with the real (non-zero) remaining quota and no `retry-after`.
    pub fn forbid_next(&self, times: usize) {
        self.harness.push_faults(Fault::Forbidden, times);
    }

    /// The axum router serving `/repos/{owner}/{repo}/issues...` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/repos/{owner}/{repo}/issues",
                get(list_issues).post(create_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}",
                get(get_issue).patch(update_issue),
            )
            .fallback(fallback)
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<GitHubMock>,
            ))
    }
}

/// GitHub's error body. The `status` string member was added to REST error bodies in 2024.
fn error(status: u16, message: &str, documentation_url: &str) -> Response {
    common::json(
        status,
        &json!({
            "message": message,
            "documentation_url": documentation_url,
            "status": status.to_string(),
        }),
    )
}

fn request_id() -> String {
    let u = common::uuid_like().to_uppercase();
    format!("{}:{}:{}", &u[..4], &u[9..13], &u[24..])
}

fn primary_limit() -> Response {
    // "If you exceed your primary rate limit, you will receive a 403 or 429 response, and
    // the x-ratelimit-remaining header will be 0" (rate-limits doc).
    error(
        403,
        &format!(
            "API rate limit exceeded for user ID {}. If you reach out to GitHub Support for help, please include the request ID {} and timestamp {} UTC.",
            TOKEN_OWNER.1,
            request_id(),
            common::iso8601_secs(common::now_secs())
                .trim_end_matches('Z')
                .replace('T', " ")
        ),
        DOCS_RATE_LIMITS,
    )
}

fn secondary_limit(status: u16, retry_after: u64) -> Response {
    // "If the retry-after response header is present, you should not retry your request
    // until after that many seconds has elapsed" (rate-limits doc, secondary limits).
    let mut resp = error(
        status,
        &format!(
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID {}.",
            request_id()
        ),
        DOCS_SECONDARY,
    );
    set_header(resp.headers_mut(), "retry-after", retry_after);
    resp
}

fn not_found() -> Response {
    error(404, "Not Found", DOCS_GET_ISSUE)
}

async fn fallback() -> Response {
    error(404, "Not Found", DOCS_REST)
}

fn validation_failed(errors: Value, docs: &str) -> Response {
    common::json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": docs,
            "status": "422",
        }),
    )
}

impl Vendor for GitHubMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response> {
        // No credential at all: "Requires authentication"; a credential GitHub does not
        // recognise: "Bad credentials". Both are 401.
        if ctx.rec.header("authorization").is_none() {
            return Some(error(401, "Requires authentication", DOCS_REST));
        }
        match common::authorization_credential(ctx, &["Bearer", "token"]) {
            Some(t) if t == &*self.token => None,
            _ => Some(error(401, "Bad credentials", DOCS_REST)),
        }
    }

    fn fault_response(&self, fault: Fault, _ctx: &Ctx) -> (Response, bool) {
        match fault {
            Fault::SecondaryLimit { retry_after } => (secondary_limit(403, retry_after), false),
            Fault::Forbidden => (
                error(403, "Resource not accessible by integration", DOCS_REST),
                false,
            ),
            Fault::Status(403) => (primary_limit(), true),
            Fault::Status(429) => (secondary_limit(429, DEFAULT_RETRY_AFTER), false),
            Fault::Status(401) => (error(401, "Bad credentials", DOCS_REST), false),
            Fault::Status(404) => (not_found(), false),
            Fault::Status(410) => (error(410, "Issues are disabled for this repo", DOCS_REST), false),
            Fault::Status(422) => (validation_failed(json!([]), DOCS_REST), false),
            // ⚠ GitHub's 5xx bodies are not documented; these match observed ones.
            Fault::Status(500) => (error(500, "Server Error", DOCS_REST), false),
            Fault::Status(502) => (error(502, "Server Error", DOCS_REST), false),
            Fault::Status(503) => (error(503, "Service Unavailable", DOCS_REST), false),
            Fault::Status(s) => (error(s, "Error", DOCS_REST), false),
        }
    }

    /// GitHub enforces the primary limit: once `remaining` is 0 every request is a 403.
    fn exhausted_response(&self, _ctx: &Ctx) -> Option<Response> {
        Some(primary_limit())
    }

    fn rate_headers(&self, rate: &RateSnapshot, _ctx: &Ctx, headers: &mut HeaderMap) {
        // Names and meanings from the rate-limits doc; reset is UTC epoch seconds.
        set_header(headers, "x-ratelimit-limit", rate.limit);
        set_header(headers, "x-ratelimit-remaining", rate.remaining);
        set_header(
            headers,
            "x-ratelimit-used",
            rate.limit.saturating_sub(rate.remaining),
        );
        set_header(headers, "x-ratelimit-reset", self.reset_at);
        set_header(headers, "x-ratelimit-resource", "core");
        set_header(headers, "x-github-api-version-selected", API_VERSION);
        set_header(headers, "x-github-media-type", "github.v3; format=json");
        if !headers.contains_key("x-github-request-id") {
            set_header(headers, "x-github-request-id", request_id());
        }
    }
}

fn user_json(u: &User, base: &str) -> Value {
    json!({
        "login": u.login,
        "id": u.id,
        "node_id": format!("U_kgDOMOCK{:04}", u.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
        "gravatar_id": "",
        "url": format!("{base}/users/{}", u.login),
        "html_url": format!("https://github.com/{}", u.login),
        "type": "User",
        "site_admin": false,
    })
}

fn issue_json(issue: &Issue, repo: &str, base: &str) -> Value {
    let api = format!("{base}/repos/{repo}");
    let url = format!("{api}/issues/{}", issue.number);
    let html_kind = if issue.pull_request { "pull" } else { "issues" };
    let labels: Vec<Value> = issue
        .labels
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "node_id": format!("LA_kwDOMOCK{}", l.id),
                "url": format!("{api}/labels/{}", common::percent_encode(&l.name)),
                "name": l.name,
                "color": l.color,
                "default": matches!(l.name.as_str(), "bug" | "enhancement" | "documentation"),
                "description": l.description,
            })
        })
        .collect();
    let assignees: Vec<Value> = issue.assignees.iter().map(|u| user_json(u, base)).collect();
    let node_prefix = if issue.pull_request { "PR" } else { "I" };
    let mut v = json!({
        "url": url,
        "repository_url": api,
        "labels_url": format!("{url}/labels{{/name}}"),
        "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": format!("https://github.com/{repo}/{html_kind}/{}", issue.number),
        "id": issue.id,
        "node_id": format!("{node_prefix}_kwDOMOCK{}", issue.id),
        "number": issue.number,
        "title": issue.title,
        "user": user_json(&issue.user, base),
        "labels": labels,
        "state": if issue.open { "open" } else { "closed" },
        "locked": false,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "milestone": null,
        "comments": issue.comments,
        "created_at": iso8601_secs(issue.created),
        "updated_at": iso8601_secs(issue.updated),
        "closed_at": issue.closed.map(iso8601_secs),
        "author_association": if issue.user.id == TOKEN_OWNER.1 { "OWNER" } else { "CONTRIBUTOR" },
        "active_lock_reason": null,
        "body": issue.body,
        "timeline_url": format!("{url}/timeline"),
        "performed_via_github_app": null,
        "state_reason": issue.state_reason,
    });
    if issue.pull_request {
        // Pull requests appear in the issues list; only they carry `pull_request`.
        v["draft"] = Value::Bool(false);
        v["pull_request"] = json!({
            "url": format!("{api}/pulls/{}", issue.number),
            "html_url": format!("https://github.com/{repo}/pull/{}", issue.number),
            "diff_url": format!("https://github.com/{repo}/pull/{}.diff", issue.number),
            "patch_url": format!("https://github.com/{repo}/pull/{}.patch", issue.number),
            "merged_at": null,
        });
    }
    v
}

/// Builds the `Link` header for `page` of `last` pages: prev, next, last, first in GitHub's
/// order, each an absolute URL repeating the request's query with `page` replaced.
fn link_header(ctx: &Ctx, page: u64, last: u64) -> Option<String> {
    if last <= 1 {
        // "If ... all results fit on a single page, the link header will be omitted."
        return None;
    }
    let url = |p: u64| {
        let mut pairs: Vec<(&str, String)> = ctx
            .rec
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("page", p.to_string()));
        format!(
            "{}{}?{}",
            ctx.base_url,
            ctx.rec.path,
            common::build_query(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        )
    };
    let mut parts = Vec::new();
    if page > 1 {
        parts.push(format!("<{}>; rel=\"prev\"", url((page - 1).min(last))));
    }
    if page < last {
        parts.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        parts.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        parts.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    Some(parts.join(", "))
}

async fn list_issues(
    State(mock): State<GitHubMock>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    let key = format!("{owner}/{repo}");
    let state = ctx.rec.query_param("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return validation_failed(
            json!([{"value": state, "resource": "Issue", "field": "state", "code": "invalid"}]),
            DOCS_LIST_ISSUES,
        );
    }
    // GitHub ignores unparsable values and clamps per_page to 100.
    let per_page = match common::query_u64(&ctx.rec, "per_page") {
        Some(Ok(n)) if n > 0 => n.min(MAX_PER_PAGE),
        _ => DEFAULT_PER_PAGE,
    };
    let page = match common::query_u64(&ctx.rec, "page") {
        Some(Ok(n)) if n > 0 => n,
        _ => 1,
    };
    let label_filter: Vec<String> = ctx
        .rec
        .query_param("labels")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let sort = ctx.rec.query_param("sort").unwrap_or("created");
    let ascending = ctx.rec.query_param("direction") == Some("asc");

    let mut store = mock.store();
    let mut issues: Vec<Issue> = store
        .repo(&key)
        .issues
        .values()
        .filter(|i| match state {
            "open" => i.open,
            "closed" => !i.open,
            _ => true,
        })
        .filter(|i| {
            label_filter
                .iter()
                .all(|want| i.labels.iter().any(|l| &l.name == want))
        })
        .cloned()
        .collect();
    drop(store);
    // Default order: newest first (`sort=created`, `direction=desc`); ties by number.
    issues.sort_by_key(|i| {
        let k = match sort {
            "updated" => i.updated,
            "comments" => i.comments,
            _ => i.created,
        };
        (k, i.number)
    });
    if !ascending {
        issues.reverse();
    }
    let total = issues.len() as u64;
    let last = total.div_ceil(per_page);
    let items: Vec<Value> = issues
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|i| issue_json(i, &key, &ctx.base_url))
        .collect();
    let mut resp = common::json(200, &Value::Array(items));
    if let Some(link) = link_header(&ctx, page, last) {
        set_header(resp.headers_mut(), "link", link);
    }
    resp
}

async fn get_issue(
    State(mock): State<GitHubMock>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Response {
    let key = format!("{owner}/{repo}");
    let mut store = mock.store();
    match number
        .parse::<u64>()
        .ok()
        .and_then(|n| store.repo(&key).issues.get(&n))
    {
        Some(issue) => common::json(200, &issue_json(issue, &key, &ctx.base_url)),
        None => not_found(),
    }
}

/// Label names from `["bug", {"name": "x"}]`.
fn label_names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| match l {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assignee_logins(body: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    if let Some(a) = body.get("assignees") {
        return Some(
            a.as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
        );
    }
    // The deprecated singular `assignee` is still accepted.
    body.get("assignee")
        .map(|a| a.as_str().map(|s| vec![s.to_owned()]).unwrap_or_default())
}

/// `title` may be a string or an integer (issues reference: "string or integer").
fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_problem(docs: &str) -> Response {
    common::json(
        400,
        &json!({
            "message": "Problems parsing JSON",
            "documentation_url": docs,
            "status": "400",
        }),
    )
}

async fn create_issue(
    State(mock): State<GitHubMock>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    let key = format!("{owner}/{repo}");
    let Some(Value::Object(body)) = &ctx.rec.body else {
        return parse_problem(DOCS_CREATE_ISSUE);
    };
    let Some(title) = body.get("title").and_then(title_of) else {
        let code = if body.get("title").is_some_and(|t| !t.is_null()) {
            "invalid"
        } else {
            "missing_field"
        };
        return validation_failed(
            json!([{"resource": "Issue", "code": code, "field": "title"}]),
            DOCS_CREATE_ISSUE,
        );
    };
    let now = common::now_secs();
    let mut store = mock.store();
    let labels: Vec<Label> = body
        .get("labels")
        .map(label_names)
        .unwrap_or_default()
        .iter()
        .map(|n| store.label(n))
        .collect();
    let assignees: Vec<User> = assignee_logins(body)
        .unwrap_or_default()
        .iter()
        .map(|l| user(l))
        .collect();
    let id = store.next_issue_id;
    store.next_issue_id += 1;
    let r = store.repo(&key);
    let number = r.next_number;
    r.next_number += 1;
    let issue = Issue {
        id,
        number,
        title,
        body: body.get("body").and_then(Value::as_str).map(str::to_owned),
        open: true,
        state_reason: None,
        user: user(TOKEN_OWNER.0),
        labels,
        assignees,
        comments: 0,
        pull_request: false,
        created: now,
        updated: now,
        closed: None,
    };
    let out = issue_json(&issue, &key, &ctx.base_url);
    r.issues.insert(number, issue);
    let mut resp = common::json(201, &out);
    if let Some(url) = out["url"].as_str() {
        set_header(resp.headers_mut(), "location", url);
    }
    resp
}

async fn update_issue(
    State(mock): State<GitHubMock>,
    Extension(ctx): Extension<Ctx>,
    Path((owner, repo, number)): Path<(String, String, String)>,
) -> Response {
    let key = format!("{owner}/{repo}");
    let Some(Value::Object(body)) = &ctx.rec.body else {
        return parse_problem(DOCS_UPDATE_ISSUE);
    };
    let state = match body.get("state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "open" || s == "closed" => Some(s.as_str()),
        Some(other) => {
            return validation_failed(
                json!([{"value": other, "resource": "Issue", "field": "state", "code": "invalid"}]),
                DOCS_UPDATE_ISSUE,
            );
        }
    };
    let now = common::now_secs();
    let mut store = mock.store();
    let labels: Option<Vec<Label>> = body
        .get("labels")
        .map(|v| label_names(v).iter().map(|n| store.label(n)).collect());
    let Some(issue) = number
        .parse::<u64>()
        .ok()
        .and_then(|n| store.repo(&key).issues.get_mut(&n))
    else {
        return not_found();
    };
    if let Some(t) = body.get("title").and_then(title_of) {
        issue.title = t;
    }
    if let Some(b) = body.get("body") {
        issue.body = b.as_str().map(str::to_owned);
    }
    if let Some(l) = labels {
        issue.labels = l;
    }
    if let Some(a) = assignee_logins(body) {
        issue.assignees = a.iter().map(|l| user(l)).collect();
    }
    match state {
        Some("closed") if issue.open => {
            issue.open = false;
            issue.closed = Some(now);
            issue.state_reason = Some(
                body.get("state_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("completed")
                    .to_owned(),
            );
        }
        Some("open") if !issue.open => {
            issue.open = true;
            issue.closed = None;
            issue.state_reason = Some("reopened".to_owned());
        }
        _ => {}
    }
    issue.updated = now;
    common::json(200, &issue_json(issue, &key, &ctx.base_url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::call;

    const AUTH: (&str, &str) = ("authorization", "Bearer ghp_test");

    fn mock(n: usize) -> (GitHubMock, Router) {
        let m = GitHubMock::new("ghp_test");
        m.seed(n);
        let r = m.router();
        (m, r)
    }

    /// Extracts `rel="<rel>"`'s URL from a Link header.
    fn link_rel(link: &str, rel: &str) -> Option<String> {
        link.split(", ").find_map(|part| {
            let (url, r) = part.split_once("; ")?;
            (r == format!("rel=\"{rel}\""))
                .then(|| url.trim_start_matches('<').trim_end_matches('>').to_owned())
        })
    }

    #[tokio::test]
    async fn pagination_walks_every_issue_once_via_link() {
        let (_m, r) = mock(65);
        let mut uri = "http://api.mock:8080/repos/octo/hello/issues?state=all&per_page=30".to_owned();
        let mut numbers = Vec::new();
        let mut pages = 0;
        loop {
            let resp = call(&r, "GET", &uri, &[AUTH], None).await;
            assert_eq!(resp.status, 200);
            pages += 1;
            numbers.extend(
                resp.body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["number"].as_u64().unwrap()),
            );
            let link = resp.header("link").unwrap_or_default().to_owned();
            if pages == 1 {
                assert_eq!(
                    link,
                    "<http://api.mock:8080/repos/octo/hello/issues?state=all&per_page=30&page=2>; rel=\"next\", \
                     <http://api.mock:8080/repos/octo/hello/issues?state=all&per_page=30&page=3>; rel=\"last\""
                );
            }
            match link_rel(&link, "next") {
                Some(next) => uri = next,
                None => {
                    assert!(link_rel(&link, "prev").is_some());
                    assert!(link_rel(&link, "first").is_some());
                    break;
                }
            }
        }
        assert_eq!(pages, 3);
        let expected: Vec<u64> = (1..=65).rev().collect();
        assert_eq!(numbers, expected, "newest first, each exactly once");

        // Default state=open and per_page=30; everything fits: no Link.
        let resp = call(&r, "GET", "/repos/octo/hello/issues?per_page=100", &[AUTH], None).await;
        let open = resp.body.as_array().unwrap();
        assert_eq!(open.len(), 65 - 21);
        assert!(open.iter().all(|i| i["state"] == "open"));
        assert!(resp.header("link").is_none());
    }

    #[tokio::test]
    async fn issue_shape() {
        let (_m, r) = mock(5);
        let resp = call(&r, "GET", "/repos/octo/hello/issues/3", &[AUTH], None).await;
        let b = &resp.body;
        assert_eq!(b["number"], 3);
        assert_eq!(b["id"], 1_000_003);
        assert_eq!(b["state"], "closed");
        assert_eq!(b["closed_at"], "2024-01-01T03:30:00Z");
        assert_eq!(b["labels"][0]["name"], "bug");
        assert_eq!(b["labels"][1]["color"], "0075ca");
        assert_eq!(b["user"]["login"], "octocat");
        assert_eq!(b["url"], "http://mock.test/repos/octo/hello/issues/3");
        assert!(b.get("pull_request").is_none());
        let pr = call(&r, "GET", "/repos/octo/hello/issues/5", &[AUTH], None).await;
        assert!(pr.body["pull_request"].is_object());
        let missing = call(&r, "GET", "/repos/octo/hello/issues/99", &[AUTH], None).await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body["message"], "Not Found");
        assert_eq!(missing.body["status"], "404");
    }

    #[tokio::test]
    async fn auth_failures() {
        let (_m, r) = mock(1);
        let none = call(&r, "GET", "/repos/octo/hello/issues", &[], None).await;
        assert_eq!(none.status, 401);
        assert_eq!(none.body["message"], "Requires authentication");
        for cred in ["Bearer nope", "token nope", "Basic Z2hwX3Rlc3Q="] {
            let resp = call(
                &r,
                "GET",
                "/repos/octo/hello/issues",
                &[("authorization", cred)],
                None,
            )
            .await;
            assert_eq!(resp.status, 401);
            assert_eq!(
                resp.body,
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})
            );
        }
        let ok = call(
            &r,
            "GET",
            "/repos/octo/hello/issues",
            &[("authorization", "token ghp_test")],
            None,
        )
        .await;
        assert_eq!(ok.status, 200);
    }

    #[tokio::test]
    async fn three_kinds_of_403_and_429() {
        let (m, r) = mock(1);
        m.fail_next(403, 1);
        m.secondary_limit_next(1, 42);
        m.forbid_next(1);
        m.fail_next(429, 1);

        let primary = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(primary.status, 403);
        assert!(
            primary.body["message"]
                .as_str()
                .unwrap()
                .starts_with("API rate limit exceeded for user ID 1.")
        );
        assert_eq!(primary.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(primary.header("x-ratelimit-used"), Some("5000"));
        assert!(primary.header("retry-after").is_none());

        let secondary = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(secondary.status, 403);
        assert!(
            secondary.body["message"]
                .as_str()
                .unwrap()
                .starts_with("You have exceeded a secondary rate limit.")
        );
        assert_eq!(secondary.header("retry-after"), Some("42"));
        assert_eq!(secondary.header("x-ratelimit-remaining"), Some("4998"));

        let forbidden = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(forbidden.status, 403);
        assert_eq!(
            forbidden.body["message"],
            "Resource not accessible by integration"
        );
        assert_eq!(forbidden.header("x-ratelimit-remaining"), Some("4997"));
        assert!(forbidden.header("retry-after").is_none());

        let too_many = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(too_many.status, 429);
        assert_eq!(too_many.header("retry-after"), Some("60"));

        let ok = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(ok.status, 200);
    }

    #[tokio::test]
    async fn rate_limit_arithmetic_and_enforcement() {
        let (m, r) = mock(1);
        m.set_rate_limit(5000, 2);
        let a = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(a.header("x-ratelimit-limit"), Some("5000"));
        assert_eq!(a.header("x-ratelimit-remaining"), Some("1"));
        assert_eq!(a.header("x-ratelimit-used"), Some("4999"));
        assert_eq!(a.header("x-ratelimit-resource"), Some("core"));
        let reset: u64 = a.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let now = common::now_secs();
        assert!(reset > now + 3000 && reset <= now + 3600);
        let b = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(b.status, 200);
        assert_eq!(b.header("x-ratelimit-remaining"), Some("0"));
        let c = call(&r, "GET", "/repos/octo/hello/issues", &[AUTH], None).await;
        assert_eq!(c.status, 403);
        assert_eq!(c.header("x-ratelimit-remaining"), Some("0"));
        assert!(
            c.body["message"]
                .as_str()
                .unwrap()
                .contains("API rate limit exceeded")
        );
    }

    #[tokio::test]
    async fn create_and_update() {
        let (m, r) = mock(2);
        let bad = call(
            &r,
            "POST",
            "/repos/octo/hello/issues",
            &[AUTH],
            Some(json!({"body": "x"})),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert_eq!(
            bad.body["errors"],
            json!([{"resource": "Issue", "code": "missing_field", "field": "title"}])
        );
        let created = call(
            &r,
            "POST",
            "/repos/other/repo/issues",
            &[AUTH],
            Some(json!({"title": "New", "labels": ["triage"], "assignees": ["hubot"]})),
        )
        .await;
        assert_eq!(created.status, 201);
        assert_eq!(created.body["number"], 1);
        assert_eq!(created.body["labels"][0]["name"], "triage");
        assert_eq!(created.body["assignee"]["login"], "hubot");
        assert_eq!(
            created.header("location"),
            Some("http://mock.test/repos/other/repo/issues/1")
        );
        let closed = call(
            &r,
            "PATCH",
            "/repos/other/repo/issues/1",
            &[AUTH],
            Some(json!({"state": "closed"})),
        )
        .await;
        assert_eq!(closed.status, 200);
        assert_eq!(closed.body["state"], "closed");
        assert_eq!(closed.body["state_reason"], "completed");
        assert!(closed.body["closed_at"].is_string());
        assert_eq!(m.requests().last().unwrap().method, "PATCH");
    }
}

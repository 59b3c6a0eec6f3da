//! Mock of Pipedrive's v1 persons API (`/api/v1/persons[/{id}]`).
//!
//! Owns the person/organization store, Pipedrive's offset pagination
//! (`start`/`limit` → `additional_data.pagination`), its `{"success": ..}` envelope and error
//! bodies, and its rate-limit headers (including `x-daily-requests-left` on POST/PUT).
//!
//! Sources: Pipedrive API reference for Persons (developers.pipedrive.com/docs/api/v1/Persons),
//! "Core API concepts": pagination, authentication (`api_token` query parameter or
//! `x-api-token` header) and rate limiting (pipedrive.readme.io/docs/core-api-concepts-*),
//! and the 2019-05-24 changelog "Daily API limit for POST/PUT endpoints". Error bodies for
//! 400/404 are the shapes the live API returns (`error`, `error_info`, `data: null`,
//! `additional_data: null`), as recorded by client libraries' canned responses. Items marked
//! ⚠ could not be confirmed from Pipedrive's own text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use crate::common::{
    self, Ctx, Fault, Harness, RateSnapshot, Vendor, common_knobs, set_header, sql_datetime,
};

/// "If not provided, 100 items will be returned"; "The maximum limit value is 500".
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 500;
/// The rate-limit window is 2 seconds; the docs' example response is an Advanced-plan
/// api_token: `x-ratelimit-limit: 40`, `x-ratelimit-remaining: 39`, `x-ratelimit-reset: 2`.
const WINDOW_SECS: u64 = 2;
const DEFAULT_LIMIT_PER_WINDOW: u64 = 40;
/// Daily fair-usage allowance of POST/PUT requests (2019-05-24 changelog).
const DAILY_WRITES: u64 = 10_000;

const ERROR_INFO: &str = "Please check developers.pipedrive.com for more information about Pipedrive API.";
const COMPANY_ID: u64 = 7_571_105;
const CC_EMAIL: &str = "mockcompany@pipedrivemail.com";
/// The user every valid token belongs to; owner of every person.
const OWNER: (u64, &str, &str) = (13_000_001, "Alex Owner", "alex.owner@example.com");

#[derive(Clone, Debug, PartialEq)]
struct Channel {
    label: String,
    value: String,
    primary: bool,
}

#[derive(Clone, Debug)]
struct Person {
    id: u64,
    name: String,
    emails: Vec<Channel>,
    phones: Vec<Channel>,
    org_id: Option<u64>,
    add_time: u64,
    update_time: u64,
    delete_time: Option<u64>,
    visible_to: String,
}

#[derive(Clone, Debug)]
struct Org {
    id: u64,
    name: String,
    address: String,
}

#[derive(Debug)]
struct Store {
    persons: BTreeMap<u64, Person>,
    next_id: u64,
    orgs: BTreeMap<u64, Org>,
    daily_writes_left: u64,
}

/// Mock of the Pipedrive v1 persons API, served under `/api/v1` (the real base is
/// `https://{companydomain}.pipedrive.com/api/v1`).
///
/// Auth is the `api_token` query parameter or the `x-api-token` header. Person ids are
/// integers from 1; organizations 1 (`Acme Corp`), 2 (`Globex`), 3 (`Initech`) always exist.
#[derive(Clone, Debug)]
pub struct PipedriveMock {
    token: Arc<str>,
    harness: Harness,
    store: Arc<Mutex<Store>>,
}

common_knobs!(PipedriveMock);

const FIRST_NAMES: [&str; 8] = [
    "Will", "Maria", "Kenji", "Aisha", "Lars", "Priya", "Tomás", "Olga",
];
const LAST_NAMES: [&str; 6] = ["Smith", "Garcia", "Tanaka", "Okafor", "Berg", "Novak"];

impl PipedriveMock {
    /// A mock with no persons that accepts `valid_token` as `api_token` / `x-api-token`.
    pub fn new(valid_token: &str) -> PipedriveMock {
        let orgs = [
            (1, "Acme Corp", "1 Main St, Springfield"),
            (2, "Globex", "Mustamäe tee 3a, 10615 Tallinn"),
            (3, "Initech", "4120 Freidrich Ln, Austin"),
        ]
        .into_iter()
        .map(|(id, name, address)| {
            (
                id,
                Org {
                    id,
                    name: name.to_owned(),
                    address: address.to_owned(),
                },
            )
        })
        .collect();
        PipedriveMock {
            token: Arc::from(valid_token),
            harness: Harness::new(DEFAULT_LIMIT_PER_WINDOW),
            store: Arc::new(Mutex::new(Store {
                persons: BTreeMap::new(),
                next_id: 1,
                orgs,
                daily_writes_left: DAILY_WRITES,
            })),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` persons. On a fresh mock person `i` (from 1) has id `i`, name
    /// `"<first> <last>"` from fixed lists, one work email `first.last.<i>@example.com` and
    /// one work phone `+1 555 01<i:04>` (both primary), `add_time` 2024-01-01 00:00:00 + i
    /// hours and `update_time` one day later. Every fourth person has no organization; the
    /// rest cycle through organizations 1, 2, 3.
    pub fn seed(&self, n: usize) {
        let mut store = self.store();
        for _ in 0..n {
            let id = store.next_id;
            store.next_id += 1;
            let i = id as usize;
            let first = FIRST_NAMES[(i - 1) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i - 1) % LAST_NAMES.len()];
            let add_time = common::SEED_EPOCH_SECS + id * 3600;
            let channel = |value: String| Channel {
                label: "work".to_owned(),
                value,
                primary: true,
            };
            let person = Person {
                id,
                name: format!("{first} {last}"),
                emails: vec![channel(format!(
                    "{}.{}.{id}@example.com",
                    ascii_fold(first),
                    ascii_fold(last)
                ))],
                phones: vec![channel(format!("+1 555 01{:04}", id % 10_000))],
                org_id: (!id.is_multiple_of(4)).then(|| (id - 1) % 3 + 1),
                add_time,
                update_time: add_time + 86_400,
                delete_time: None,
                visible_to: "3".to_owned(),
            };
            store.persons.insert(id, person);
        }
    }

    /// The axum router serving `/api/v1/persons...` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/persons", get(list_persons).post(create_person))
            .route(
                "/api/v1/persons/{id}",
                get(get_person).put(update_person).delete(delete_person),
            )
            .fallback(fallback)
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<PipedriveMock>,
            ))
    }
}

fn ascii_fold(s: &str) -> String {
    s.to_lowercase().replace('á', "a")
}

/// `{"success": false, "error": ..., "error_info": ..., "data": null, "additional_data": null}`,
/// the shape of Pipedrive's 400/404 responses.
fn failure(status: u16, error: &str) -> Response {
    common::json(
        status,
        &json!({
            "success": false,
            "error": error,
            "error_info": ERROR_INFO,
            "data": null,
            "additional_data": null,
        }),
    )
}

/// Failures that carry `errorCode`, as Pipedrive's 401 does.
fn coded_failure(status: u16, error: &str) -> Response {
    common::json(
        status,
        &json!({
            "success": false,
            "error": error,
            "errorCode": status,
            "error_info": ERROR_INFO,
        }),
    )
}

fn unauthorized() -> Response {
    coded_failure(401, "unauthorized access")
}

fn person_not_found() -> Response {
    failure(404, "Person not found")
}

async fn fallback() -> Response {
    failure(404, "Not found")
}

impl Vendor for PipedriveMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response> {
        // "The API token must be provided in the x-api-token header" (authentication
        // concepts page); v1 has always accepted the `api_token` query parameter too.
        let presented = ctx
            .rec
            .query_param("api_token")
            .or_else(|| ctx.rec.header("x-api-token"));
        match presented {
            Some(t) if t == &*self.token => None,
            _ => Some(unauthorized()),
        }
    }

    fn fault_response(&self, fault: Fault, ctx: &Ctx) -> (Response, bool) {
        let status = fault.status();
        let resp = match status {
            400 => failure(400, "Bad request"),
            401 => unauthorized(),
            // ⚠ message.
            403 => coded_failure(403, "You do not have permission to access this resource."),
            404 if ctx.rec.path.starts_with("/api/v1/persons") => person_not_found(),
            404 => failure(404, "Not found"),
            429 => {
                // ⚠ Body text; the 429 itself and its `Retry-After` (seconds until the
                // window resets) are documented.
                let mut resp = coded_failure(429, "Request over limit");
                set_header(resp.headers_mut(), "retry-after", WINDOW_SECS);
                return (resp, true);
            }
            500 => coded_failure(
                500,
                "Internal Server Error occurred. Pipedrive staff was notified about this.",
            ),
            // ⚠ gateway errors come from Pipedrive's edge, not the API.
            502 => coded_failure(502, "Bad Gateway"),
            503 => coded_failure(503, "Service Unavailable"),
            s => coded_failure(s, "Error"),
        };
        (resp, false)
    }

    fn rate_headers(&self, rate: &RateSnapshot, _ctx: &Ctx, headers: &mut HeaderMap) {
        set_header(headers, "x-ratelimit-limit", rate.limit);
        set_header(headers, "x-ratelimit-remaining", rate.remaining);
        // "The remaining window before the rate limit resets" — a duration in seconds. The
        // mock does not model the passage of time, so it reports the full 2 s window.
        set_header(headers, "x-ratelimit-reset", WINDOW_SECS);
    }
}

fn channels_json(channels: &[Channel]) -> Value {
    if channels.is_empty() {
        // A person without email/phone still reports one empty primary entry.
        return json!([{"value": "", "primary": true}]);
    }
    Value::Array(
        channels
            .iter()
            .map(|c| json!({"label": c.label, "value": c.value, "primary": c.primary}))
            .collect(),
    )
}

fn owner_json() -> Value {
    json!({
        "id": OWNER.0,
        "name": OWNER.1,
        "email": OWNER.2,
        "has_pic": 0,
        "pic_hash": null,
        "active_flag": true,
        "value": OWNER.0,
    })
}

fn org_json(org: &Org, store: &Store) -> Value {
    let people = store
        .persons
        .values()
        .filter(|p| p.org_id == Some(org.id) && p.delete_time.is_none())
        .count();
    json!({
        "name": org.name,
        "people_count": people,
        "owner_id": OWNER.0,
        "address": org.address,
        "active_flag": true,
        "cc_email": CC_EMAIL,
        "value": org.id,
    })
}

fn person_json(p: &Person, store: &Store) -> Value {
    let org = p.org_id.and_then(|id| store.orgs.get(&id));
    let (first_name, last_name) = match p.name.trim().split_once(char::is_whitespace) {
        Some((f, l)) => (Value::from(f), Value::from(l.trim())),
        None => (Value::from(p.name.trim()), Value::Null),
    };
    let first_char = p.name.chars().next().map(|c| c.to_lowercase().to_string());
    let mut v = Map::new();
    let mut put = |k: &str, val: Value| {
        v.insert(k.to_owned(), val);
    };
    put("id", p.id.into());
    put("company_id", COMPANY_ID.into());
    put("owner_id", owner_json());
    put("org_id", org.map_or(Value::Null, |o| org_json(o, store)));
    put("name", p.name.clone().into());
    put("first_name", first_name);
    put("last_name", last_name);
    for counter in [
        "open_deals_count",
        "related_open_deals_count",
        "closed_deals_count",
        "related_closed_deals_count",
        "participant_open_deals_count",
        "participant_closed_deals_count",
        "email_messages_count",
        "activities_count",
        "done_activities_count",
        "undone_activities_count",
        "files_count",
        "notes_count",
    ] {
        put(counter, 0.into());
    }
    put("followers_count", 1.into());
    for counter in [
        "won_deals_count",
        "related_won_deals_count",
        "lost_deals_count",
        "related_lost_deals_count",
    ] {
        put(counter, 0.into());
    }
    put("active_flag", p.delete_time.is_none().into());
    put("phone", channels_json(&p.phones));
    put("email", channels_json(&p.emails));
    put("first_char", first_char.into());
    put("update_time", sql_datetime(p.update_time).into());
    put("delete_time", p.delete_time.map(sql_datetime).into());
    put("add_time", sql_datetime(p.add_time).into());
    put("visible_to", p.visible_to.clone().into());
    put("picture_id", Value::Null);
    for field in [
        "next_activity_date",
        "next_activity_time",
        "next_activity_id",
        "last_activity_id",
        "last_activity_date",
        "last_incoming_mail_time",
        "last_outgoing_mail_time",
        "label",
    ] {
        put(field, Value::Null);
    }
    put("label_ids", json!([]));
    put("org_name", org.map(|o| o.name.clone()).into());
    put("owner_name", OWNER.1.into());
    put("cc_email", CC_EMAIL.into());
    Value::Object(v)
}

/// `related_objects`: the users and organizations referenced by `persons`.
fn related_objects<'a>(persons: impl IntoIterator<Item = &'a Person>, store: &Store) -> Value {
    let mut orgs = Map::new();
    for p in persons {
        if let Some(o) = p.org_id.and_then(|id| store.orgs.get(&id)) {
            orgs.insert(
                o.id.to_string(),
                json!({
                    "id": o.id,
                    "name": o.name,
                    "people_count": org_json(o, store)["people_count"],
                    "owner_id": OWNER.0,
                    "address": o.address,
                    "active_flag": true,
                    "cc_email": CC_EMAIL,
                }),
            );
        }
    }
    let mut user = owner_json();
    if let Value::Object(u) = &mut user {
        u.remove("value");
    }
    let mut out = json!({ "user": { OWNER.0.to_string(): user } });
    if !orgs.is_empty() {
        out["organization"] = Value::Object(orgs);
    }
    out
}

async fn list_persons(State(mock): State<PipedriveMock>, Extension(ctx): Extension<Ctx>) -> Response {
    let start = match common::query_u64(&ctx.rec, "start") {
        Some(Ok(n)) => n,
        _ => 0,
    };
    // ⚠ Out-of-range limits are clamped rather than rejected.
    let limit = match common::query_u64(&ctx.rec, "limit") {
        Some(Ok(n)) if n > 0 => n.min(MAX_LIMIT),
        _ => DEFAULT_LIMIT,
    };
    let store = mock.store();
    // Deleted persons (active_flag false) are not listed.
    let active: Vec<&Person> = store
        .persons
        .values()
        .filter(|p| p.delete_time.is_none())
        .collect();
    let page: Vec<&Person> = active
        .iter()
        .skip(start as usize)
        .take(limit as usize)
        .copied()
        .collect();
    let more = start + limit < active.len() as u64;
    let mut pagination = json!({
        "start": start,
        "limit": limit,
        "more_items_in_collection": more,
    });
    if more {
        pagination["next_start"] = (start + limit).into();
    }
    // An empty page is `"data": null`, not `[]`.
    let data = if page.is_empty() {
        Value::Null
    } else {
        Value::Array(page.iter().map(|p| person_json(p, &store)).collect())
    };
    let mut body = json!({
        "success": true,
        "data": data,
        "additional_data": { "pagination": pagination },
    });
    if !page.is_empty() {
        body["related_objects"] = related_objects(page.iter().copied(), &store);
    }
    common::json(200, &body)
}

async fn get_person(State(mock): State<PipedriveMock>, Path(raw_id): Path<String>) -> Response {
    let store = mock.store();
    match raw_id.parse::<u64>().ok().and_then(|id| store.persons.get(&id)) {
        // Deleted persons are still readable, with `active_flag: false`.
        Some(p) => common::json(
            200,
            &json!({
                "success": true,
                "data": person_json(p, &store),
                "additional_data": { "dropbox_email": CC_EMAIL },
                "related_objects": related_objects([p], &store),
            }),
        ),
        None => person_not_found(),
    }
}

/// Email/phone input: a string, an array of strings, or an array of
/// `{"value", "primary"?, "label"?}` objects (`primary` may be a bool or `"true"`).
fn parse_channels(v: &Value) -> Vec<Channel> {
    let one = |value: &str, primary: bool, label: &str| Channel {
        label: label.to_owned(),
        value: value.to_owned(),
        primary,
    };
    let mut out: Vec<Channel> = match v {
        Value::String(s) if !s.is_empty() => vec![one(s, true, "")],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(one(s, false, "")),
                Value::Object(o) => {
                    let value = o.get("value")?.as_str()?;
                    let primary = match o.get("primary") {
                        Some(Value::Bool(b)) => *b,
                        Some(Value::String(s)) => s == "true",
                        _ => false,
                    };
                    let label = o.get("label").and_then(Value::as_str).unwrap_or("");
                    Some(one(value, primary, label))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !out.is_empty() && !out.iter().any(|c| c.primary) {
        out[0].primary = true;
    }
    out
}

/// `org_id` input: a number, or `null` to clear. `Err` is the 400 message.
fn parse_org(v: &Value, store: &Store) -> Result<Option<u64>, &'static str> {
    match v {
        Value::Null => Ok(None),
        other => match other.as_u64().or_else(|| other.as_str()?.parse().ok()) {
            Some(id) if store.orgs.contains_key(&id) => Ok(Some(id)),
            // ⚠ message.
            _ => Err("Organization not found."),
        },
    }
}

fn name_of(body: &Map<String, Value>) -> Option<String> {
    body.get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// POST/PUT count against the daily allowance reported in `x-daily-requests-left`.
fn spend_daily_write(store: &mut Store) -> u64 {
    store.daily_writes_left = store.daily_writes_left.saturating_sub(1);
    store.daily_writes_left
}

async fn create_person(State(mock): State<PipedriveMock>, Extension(ctx): Extension<Ctx>) -> Response {
    let mut store = mock.store();
    let daily_left = spend_daily_write(&mut store);
    let empty = Map::new();
    let body = match &ctx.rec.body {
        Some(Value::Object(b)) => b,
        _ => &empty,
    };
    let mut resp = 'resp: {
        let Some(name) = name_of(body) else {
            break 'resp failure(400, "Name must be given.");
        };
        let org_id = match body.get("org_id").map(|v| parse_org(v, &store)) {
            None => None,
            Some(Ok(org)) => org,
            Some(Err(message)) => break 'resp failure(400, message),
        };
        let now = common::now_secs();
        let id = store.next_id;
        store.next_id += 1;
        let person = Person {
            id,
            name,
            emails: body.get("email").map(parse_channels).unwrap_or_default(),
            phones: body.get("phone").map(parse_channels).unwrap_or_default(),
            org_id,
            add_time: now,
            update_time: now,
            delete_time: None,
            visible_to: body
                .get("visible_to")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_else(|| "3".to_owned()),
        };
        store.persons.insert(id, person.clone());
        common::json(
            201,
            &json!({
                "success": true,
                "data": person_json(&person, &store),
                "related_objects": related_objects([&person], &store),
            }),
        )
    };
    set_header(resp.headers_mut(), "x-daily-requests-left", daily_left);
    resp
}

async fn update_person(
    State(mock): State<PipedriveMock>,
    Extension(ctx): Extension<Ctx>,
    Path(raw_id): Path<String>,
) -> Response {
    let mut store = mock.store();
    let daily_left = spend_daily_write(&mut store);
    let empty = Map::new();
    let body = match &ctx.rec.body {
        Some(Value::Object(b)) => b,
        _ => &empty,
    };
    let mut resp = 'resp: {
        let Some(id) = raw_id
            .parse::<u64>()
            .ok()
            .filter(|id| store.persons.contains_key(id))
        else {
            break 'resp person_not_found();
        };
        if body.contains_key("name") && name_of(body).is_none() {
            break 'resp failure(400, "Name must be given.");
        }
        let org_id = match body.get("org_id").map(|v| parse_org(v, &store)) {
            None => None,
            Some(Ok(org)) => Some(org),
            Some(Err(message)) => break 'resp failure(400, message),
        };
        let now = common::now_secs();
        let Some(p) = store.persons.get_mut(&id) else {
            break 'resp person_not_found();
        };
        if let Some(name) = name_of(body) {
            p.name = name;
        }
        if let Some(v) = body.get("email") {
            p.emails = parse_channels(v);
        }
        if let Some(v) = body.get("phone") {
            p.phones = parse_channels(v);
        }
        if let Some(org) = org_id {
            p.org_id = org;
        }
        if let Some(v) = body.get("visible_to") {
            p.visible_to = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        }
        p.update_time = now;
        let p = p.clone();
        common::json(
            200,
            &json!({
                "success": true,
                "data": person_json(&p, &store),
                "related_objects": related_objects([&p], &store),
            }),
        )
    };
    set_header(resp.headers_mut(), "x-daily-requests-left", daily_left);
    resp
}

/// DELETE marks the person deleted (Pipedrive keeps deleted items for 30 days) and answers
/// `{"success": true, "data": {"id": N}}`.
async fn delete_person(State(mock): State<PipedriveMock>, Path(raw_id): Path<String>) -> Response {
    let mut store = mock.store();
    let Some(p) = raw_id
        .parse::<u64>()
        .ok()
        .and_then(|id| store.persons.get_mut(&id))
    else {
        return person_not_found();
    };
    if p.delete_time.is_none() {
        p.delete_time = Some(common::now_secs());
    }
    common::json(200, &json!({"success": true, "data": {"id": p.id}}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::call;

    const TOKEN: &str = "659c9fddb16335e48cc67114694b52074e812e03";

    fn mock(n: usize) -> (PipedriveMock, Router) {
        let m = PipedriveMock::new(TOKEN);
        m.seed(n);
        let r = m.router();
        (m, r)
    }

    fn with_token(path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}api_token={TOKEN}")
    }

    #[tokio::test]
    async fn pagination_walks_every_person_once() {
        let (_m, r) = mock(250);
        let mut start = 0u64;
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let resp = call(
                &r,
                "GET",
                &with_token(&format!("/api/v1/persons?start={start}")),
                &[],
                None,
            )
            .await;
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body["success"], true);
            pages += 1;
            ids.extend(
                resp.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_u64().unwrap()),
            );
            let pg = &resp.body["additional_data"]["pagination"];
            assert_eq!(pg["start"], start);
            assert_eq!(pg["limit"], 100);
            if pg["more_items_in_collection"] == true {
                start = pg["next_start"].as_u64().unwrap();
            } else {
                assert!(pg.get("next_start").is_none());
                break;
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(ids, (1..=250).collect::<Vec<u64>>());

        let past_end = call(
            &r,
            "GET",
            &with_token("/api/v1/persons?start=250&limit=500"),
            &[],
            None,
        )
        .await;
        assert_eq!(past_end.body["data"], Value::Null);
        assert_eq!(
            past_end.body["additional_data"]["pagination"]["more_items_in_collection"],
            false
        );

        let clamped = call(&r, "GET", &with_token("/api/v1/persons?limit=1000"), &[], None).await;
        assert_eq!(clamped.body["data"].as_array().unwrap().len(), 250);
        assert_eq!(clamped.body["additional_data"]["pagination"]["limit"], 500);
    }

    #[tokio::test]
    async fn person_shape() {
        let (_m, r) = mock(4);
        let resp = call(&r, "GET", "/api/v1/persons/1", &[("x-api-token", TOKEN)], None).await;
        assert_eq!(resp.status, 200);
        let p = &resp.body["data"];
        assert_eq!(p["id"], 1);
        assert_eq!(p["name"], "Will Smith");
        assert_eq!(p["first_name"], "Will");
        assert_eq!(p["last_name"], "Smith");
        assert_eq!(
            p["email"],
            json!([{"label": "work", "value": "will.smith.1@example.com", "primary": true}])
        );
        assert_eq!(p["org_id"]["value"], 1);
        assert_eq!(p["org_name"], "Acme Corp");
        assert_eq!(p["owner_id"]["id"], OWNER.0);
        assert_eq!(p["add_time"], "2024-01-01 01:00:00");
        assert_eq!(p["update_time"], "2024-01-02 01:00:00");
        assert_eq!(p["active_flag"], true);
        let no_org = call(&r, "GET", "/api/v1/persons/4", &[("x-api-token", TOKEN)], None).await;
        assert_eq!(no_org.body["data"]["org_id"], Value::Null);

        let missing = call(&r, "GET", &with_token("/api/v1/persons/999"), &[], None).await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.body["success"], false);
        assert_eq!(missing.body["error"], "Person not found");
    }

    #[tokio::test]
    async fn auth_failures() {
        let (m, r) = mock(1);
        for (uri, headers) in [
            ("/api/v1/persons".to_owned(), vec![]),
            ("/api/v1/persons?api_token=wrong".to_owned(), vec![]),
            ("/api/v1/persons".to_owned(), vec![("x-api-token", "wrong")]),
        ] {
            let resp = call(&r, "GET", &uri, &headers, None).await;
            assert_eq!(resp.status, 401);
            assert_eq!(
                resp.body,
                json!({
                    "success": false,
                    "error": "unauthorized access",
                    "errorCode": 401,
                    "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API."
                })
            );
        }
        let recorded = m.requests();
        assert_eq!(recorded.len(), 3);
        assert_eq!(
            recorded[1].query,
            vec![("api_token".to_owned(), "wrong".to_owned())]
        );
    }

    #[tokio::test]
    async fn fail_next_and_rate_limit_headers() {
        let (m, r) = mock(1);
        let uri = with_token("/api/v1/persons");
        let first = call(&r, "GET", &uri, &[], None).await;
        // The documented example: limit 40, remaining 39, reset 2.
        assert_eq!(first.header("x-ratelimit-limit"), Some("40"));
        assert_eq!(first.header("x-ratelimit-remaining"), Some("39"));
        assert_eq!(first.header("x-ratelimit-reset"), Some("2"));
        assert!(first.header("x-daily-requests-left").is_none());

        m.fail_next(429, 1);
        m.fail_next(500, 2);
        let limited = call(&r, "GET", &uri, &[], None).await;
        assert_eq!(limited.status, 429);
        assert_eq!(limited.body["error"], "Request over limit");
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(limited.header("retry-after"), Some("2"));
        for _ in 0..2 {
            let err = call(&r, "GET", &uri, &[], None).await;
            assert_eq!(err.status, 500);
            assert_eq!(err.body["success"], false);
        }
        let ok = call(&r, "GET", &uri, &[], None).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-ratelimit-remaining"), Some("35"));

        m.set_rate_limit(10, 1);
        let a = call(&r, "GET", &uri, &[], None).await;
        let b = call(&r, "GET", &uri, &[], None).await;
        assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(b.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(b.status, 200);
    }

    #[tokio::test]
    async fn set_delay_delays_responses_but_records_first() {
        let (m, r) = mock(1);
        m.set_delay(std::time::Duration::from_millis(150));
        let started = std::time::Instant::now();
        let resp = call(&r, "GET", &with_token("/api/v1/persons"), &[], None).await;
        assert_eq!(resp.status, 200);
        assert!(started.elapsed() >= std::time::Duration::from_millis(150));

        // A client that gives up early still leaves its request in the log.
        m.set_delay(std::time::Duration::from_secs(30));
        let slow = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            call(&r, "GET", &with_token("/api/v1/persons/1"), &[], None),
        )
        .await;
        assert!(slow.is_err());
        assert_eq!(m.requests().last().unwrap().path, "/api/v1/persons/1");
    }

    #[tokio::test]
    async fn create_update_delete() {
        let (_m, r) = mock(2);
        let uri = with_token("/api/v1/persons");
        let bad = call(&r, "POST", &uri, &[], Some(json!({"email": "a@b.c"}))).await;
        assert_eq!(bad.status, 400);
        assert_eq!(bad.body["error"], "Name must be given.");
        assert_eq!(bad.header("x-daily-requests-left"), Some("9999"));

        let created = call(
            &r,
            "POST",
            &uri,
            &[],
            Some(
                json!({"name": "Jane Doe", "email": "jane@example.com", "phone": ["+372 555"], "org_id": 2}),
            ),
        )
        .await;
        assert_eq!(created.status, 201);
        assert_eq!(created.header("x-daily-requests-left"), Some("9998"));
        let d = &created.body["data"];
        assert_eq!(d["id"], 3);
        assert_eq!(
            d["email"],
            json!([{"label": "", "value": "jane@example.com", "primary": true}])
        );
        assert_eq!(d["phone"][0]["value"], "+372 555");
        assert_eq!(d["org_name"], "Globex");

        let updated = call(
            &r,
            "PUT",
            &with_token("/api/v1/persons/3"),
            &[],
            Some(json!({"name": "Jane Roe", "org_id": null})),
        )
        .await;
        assert_eq!(updated.status, 200);
        assert_eq!(updated.body["data"]["last_name"], "Roe");
        assert_eq!(updated.body["data"]["org_id"], Value::Null);

        let deleted = call(&r, "DELETE", &with_token("/api/v1/persons/3"), &[], None).await;
        assert_eq!(deleted.status, 200);
        assert_eq!(deleted.body, json!({"success": true, "data": {"id": 3}}));
        let list = call(&r, "GET", &uri, &[], None).await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
        let gone = call(&r, "GET", &with_token("/api/v1/persons/3"), &[], None).await;
        assert_eq!(gone.body["data"]["active_flag"], false);
    }
}

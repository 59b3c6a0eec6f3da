//! Mock of HubSpot's CRM v3 objects API (`/crm/v3/objects/{contacts|companies}`).
//!
//! Owns the contact/company store, HubSpot's cursor pagination (`limit` + opaque `after`,
//! `paging.next` omitted on the last page), property selection, the error body format
//! (`status`/`message`/`correlationId`/`category`) and HubSpot's rate-limit headers.
//!
//! Sources: HubSpot CRM objects guide and "Handling errors"
//! (<https://developers.hubspot.com/docs/api/error-handling>), the API usage/rate-limit
//! guidelines (<https://developers.hubspot.com/docs/api/usage-details>) and the 2018-11-06
//! changelog that introduced the `X-HubSpot-RateLimit-*` headers. Items marked ⚠ could not be
//! confirmed from HubSpot's own text and follow commonly reported real responses.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use crate::common::{
    self, Ctx, Fault, Harness, RateSnapshot, Vendor, common_knobs, iso8601_millis, set_header,
};

/// Default page size of list endpoints (CRM objects guide: "limit ... default 10").
const DEFAULT_LIMIT: u64 = 10;
/// Largest accepted page size of list endpoints.
const MAX_LIMIT: u64 = 100;
/// Burst window: "X-HubSpot-RateLimit-Interval-Milliseconds ... typically 10000".
const INTERVAL_MS: u64 = 10_000;
/// Private apps on Free/Starter: 100 requests per 10 seconds (usage-details page).
const DEFAULT_BURST: u64 = 100;
/// Private apps on Free/Starter: 250,000 requests per day (usage-details page).
const DAILY_LIMIT: u64 = 250_000;

const AUTH_MESSAGE: &str = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview";

/// The CRM object types this mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ObjectType {
    Contacts,
    Companies,
}

impl ObjectType {
    fn parse(s: &str) -> Option<ObjectType> {
        match s {
            "contacts" | "contact" | "0-1" => Some(ObjectType::Contacts),
            "companies" | "company" | "0-2" => Some(ObjectType::Companies),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
        }
    }

    /// Properties HubSpot returns when the request names none: contacts get
    /// createdate/email/firstname/hs_object_id/lastmodifieddate/lastname, companies get
    /// createdate/domain/hs_lastmodifieddate/hs_object_id/name.
    fn default_properties(self) -> &'static [&'static str] {
        match self {
            ObjectType::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectType::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
        }
    }

    /// Contacts predate HubSpot's `hs_` naming and keep `lastmodifieddate`.
    fn modified_property(self) -> &'static str {
        match self {
            ObjectType::Contacts => "lastmodifieddate",
            ObjectType::Companies => "hs_lastmodifieddate",
        }
    }

    /// First id handed out; real HubSpot ids are opaque numeric strings.
    fn first_id(self) -> u64 {
        match self {
            ObjectType::Contacts => 101,
            ObjectType::Companies => 5001,
        }
    }
}

#[derive(Clone, Debug)]
struct CrmObject {
    id: u64,
    properties: BTreeMap<String, String>,
    created_ms: u64,
    updated_ms: u64,
    archived_ms: Option<u64>,
}

#[derive(Debug)]
struct Table {
    records: BTreeMap<u64, CrmObject>,
    next_id: u64,
    seeded: u64,
}

#[derive(Debug)]
struct Store {
    contacts: Table,
    companies: Table,
}

impl Store {
    fn table(&mut self, t: ObjectType) -> &mut Table {
        match t {
            ObjectType::Contacts => &mut self.contacts,
            ObjectType::Companies => &mut self.companies,
        }
    }
}

/// Mock of the HubSpot CRM v3 objects API for contacts and companies.
///
/// Auth is `Authorization: Bearer <valid_token>` (private-app access token). Ids are numeric
/// strings: contacts from `"101"`, companies from `"5001"`, in creation order.
#[derive(Clone, Debug)]
pub struct HubSpotMock {
    tokens: Tokens,
    harness: Harness,
    store: Arc<Mutex<Store>>,
    numeric_ids: Arc<std::sync::atomic::AtomicBool>,
}

common_knobs!(HubSpotMock);

/// The access tokens the mock accepts: one private-app token, or whatever an authorization
/// server says it issued (OAuth tests).
#[derive(Clone)]
enum Tokens {
    One(Arc<str>),
    Issued(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(_) => f.write_str("Tokens::One(..)"),
            Self::Issued(_) => f.write_str("Tokens::Issued(..)"),
        }
    }
}

const FIRST_NAMES: [&str; 10] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus",
];
const LAST_NAMES: [&str; 10] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman",
    "Torvalds",
];
const COMPANY_NAMES: [&str; 8] = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka Industries",
];
/// Values of HubSpot's built-in `industry` enumeration.
const INDUSTRIES: [&str; 4] = [
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "RETAIL",
    "HOSPITAL_HEALTH_CARE",
];
const CITIES: [&str; 5] = ["Boston", "Dublin", "Berlin", "Singapore", "Sydney"];

impl HubSpotMock {
    /// A mock with no records that accepts `Authorization: Bearer <valid_token>`.
    pub fn new(valid_token: &str) -> HubSpotMock {
        let table = |t: ObjectType| Table {
            records: BTreeMap::new(),
            next_id: t.first_id(),
            seeded: 0,
        };
        HubSpotMock {
            tokens: Tokens::One(Arc::from(valid_token)),
            harness: Harness::new(DEFAULT_BURST),
            store: Arc::new(Mutex::new(Store {
                contacts: table(ObjectType::Contacts),
                companies: table(ObjectType::Companies),
            })),
            numeric_ids: Arc::default(),
        }
    }

    /// A mock with no records that accepts the Bearer tokens `issued` says are live (an OAuth
    /// provider mock's access tokens, which rotate on refresh).
    pub fn accepting(issued: impl Fn(&str) -> bool + Send + Sync + 'static) -> HubSpotMock {
        HubSpotMock {
            tokens: Tokens::Issued(Arc::new(issued)),
            ..HubSpotMock::new("")
        }
    }

    /// Ships a breaking change, as vendors do unannounced: from now on (`true`) record `id`s
    /// are JSON numbers instead of the strings HubSpot documents (for schema-drift tests).
    pub fn ship_numeric_ids(&self, on: bool) {
        self.numeric_ids.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn accepts(&self, token: &str) -> bool {
        match &self.tokens {
            Tokens::One(t) => token == &**t,
            Tokens::Issued(check) => check(token),
        }
    }

    fn render(&self, obj: &CrmObject, props: &[String]) -> Value {
        let mut out = render(obj, props);
        if self.numeric_ids.load(std::sync::atomic::Ordering::Relaxed) {
            out["id"] = json!(obj.id);
        }
        out
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `n` contacts and `n` companies with deterministic ids and fields (on a fresh mock
    /// contacts are `101..101+n`, companies `5001..5001+n`). The k-th seeded record (k from 0)
    /// was created at 2024-01-01T00:00:00Z + k hours and last modified one day later.
    /// Contacts: firstname/lastname from fixed lists, `email` =
    /// `first.last.<id>@example.com`, `phone`, `company`; companies: `name`, `domain`,
    /// `industry` (absent on every fifth), `city`, `phone`.
    pub fn seed(&self, n: usize) {
        let mut store = self.store();
        for t in [ObjectType::Contacts, ObjectType::Companies] {
            let table = store.table(t);
            for _ in 0..n {
                let k = table.seeded;
                let id = table.next_id;
                table.next_id += 1;
                table.seeded += 1;
                let created_ms = (common::SEED_EPOCH_SECS + k * 3600) * 1000;
                let updated_ms = created_ms + 86_400_000;
                let mut p = BTreeMap::new();
                let i = k as usize;
                match t {
                    ObjectType::Contacts => {
                        let first = FIRST_NAMES[i % FIRST_NAMES.len()];
                        let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
                        p.insert("firstname".into(), first.to_owned());
                        p.insert("lastname".into(), last.to_owned());
                        p.insert(
                            "email".into(),
                            format!(
                                "{}.{}.{id}@example.com",
                                first.to_lowercase(),
                                last.to_lowercase()
                            ),
                        );
                        p.insert("phone".into(), format!("+1 555-{:04}", id % 10_000));
                        p.insert(
                            "company".into(),
                            COMPANY_NAMES[i % COMPANY_NAMES.len()].to_owned(),
                        );
                    }
                    ObjectType::Companies => {
                        let base = COMPANY_NAMES[i % COMPANY_NAMES.len()];
                        let round = i / COMPANY_NAMES.len();
                        let name = if round == 0 {
                            base.to_owned()
                        } else {
                            format!("{base} {}", round + 1)
                        };
                        let slug: String = name
                            .to_lowercase()
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .collect();
                        p.insert("name".into(), name);
                        p.insert("domain".into(), format!("{slug}.example.com"));
                        if i % 5 != 4 {
                            p.insert("industry".into(), INDUSTRIES[i % INDUSTRIES.len()].into());
                        }
                        p.insert("city".into(), CITIES[i % CITIES.len()].to_owned());
                        p.insert("phone".into(), format!("+1 617-555-{:04}", id % 10_000));
                    }
                }
                stamp_system_properties(t, id, created_ms, updated_ms, &mut p);
                table.records.insert(
                    id,
                    CrmObject {
                        id,
                        properties: p,
                        created_ms,
                        updated_ms,
                        archived_ms: None,
                    },
                );
            }
        }
    }

    /// The axum router serving `/crm/v3/objects/...` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/crm/v3/objects/{object_type}",
                get(list_objects).post(create_object),
            )
            .route(
                "/crm/v3/objects/{object_type}/{id}",
                get(get_object).patch(update_object).delete(archive_object),
            )
            .route("/account-info/v3/details", get(account_details))
            .fallback(not_found)
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<HubSpotMock>,
            ))
    }
}

/// `GET /account-info/v3/details`: the portal (HubSpot account) behind the token, as the
/// Account Information API documents it.
async fn account_details() -> Response {
    common::json(
        200,
        &serde_json::json!({
            "portalId": 62515,
            "accountType": "STANDARD",
            "timeZone": "US/Eastern",
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1"
        }),
    )
}

/// createdate / hs_object_id / last-modified are system properties HubSpot always maintains.
fn stamp_system_properties(
    t: ObjectType,
    id: u64,
    created_ms: u64,
    updated_ms: u64,
    p: &mut BTreeMap<String, String>,
) {
    p.insert("createdate".into(), iso8601_millis(created_ms));
    p.insert("hs_object_id".into(), id.to_string());
    p.insert(t.modified_property().into(), iso8601_millis(updated_ms));
}

/// HubSpot's error body: `{"status":"error","message",...,"correlationId","category"}`
/// ("Handling errors" page).
fn error(status: u16, message: &str, category: &str) -> Response {
    common::json(
        status,
        &json!({
            "status": "error",
            "message": message,
            "correlationId": common::uuid_like(),
            "category": category,
        }),
    )
}

fn validation_error(message: &str) -> Response {
    error(400, message, "VALIDATION_ERROR")
}

/// ⚠ The CRM API's 404 for an unknown id; HubSpot documents only the generic error shape.
fn object_not_found() -> Response {
    error(404, "resource not found", "OBJECT_NOT_FOUND")
}

fn rate_limit_body() -> Response {
    // Shape of the burst-limit 429 (usage-details page: "errorType": "RATE_LIMIT",
    // "policyName": "TEN_SECONDLY_ROLLING").
    common::json(
        429,
        &json!({
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": common::uuid_like(),
            "policyName": "TEN_SECONDLY_ROLLING",
        }),
    )
}

async fn not_found() -> Response {
    error(404, "resource not found", "OBJECT_NOT_FOUND")
}

impl Vendor for HubSpotMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response> {
        match common::authorization_credential(ctx, &["Bearer"]) {
            Some(t) if !t.is_empty() && self.accepts(t) => None,
            _ => Some(error(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")),
        }
    }

    fn fault_response(&self, fault: Fault, _ctx: &Ctx) -> (Response, bool) {
        let status = fault.status();
        let resp = match status {
            400 => validation_error("Invalid input JSON on line 1, column 1"),
            401 => error(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION"),
            // "403 Forbidden: returned when the authentication provided does not have the
            // proper permissions" (error-handling page); the body names the missing scopes.
            403 => common::json(
                403,
                &json!({
                    "status": "error",
                    "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
                    "correlationId": common::uuid_like(),
                    "errors": [{
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.contacts.read"]},
                    }],
                    "links": {"scopes": "https://developers.hubspot.com/scopes"},
                    "category": "MISSING_SCOPES",
                }),
            ),
            404 => object_not_found(),
            409 => error(409, "Contact already exists.", "CONFLICT"),
            // No `Retry-After`: HubSpot documents it only for 477 Migration in Progress.
            429 => return (rate_limit_body(), true),
            500 => error(500, "internal error", "INTERNAL_ERROR"),
            // "502/504 timeouts: returned when HubSpot's processing limits have been met".
            502 | 504 => error(
                status,
                "The request timed out while being processed. Please pause your requests for a few seconds, then retry.",
                "TIMEOUT",
            ),
            // "503 service temporarily unavailable".
            503 => error(503, "Service temporarily unavailable", "SERVICE_UNAVAILABLE"),
            s => error(s, "error", "ERROR"),
        };
        (resp, false)
    }

    fn rate_headers(&self, rate: &RateSnapshot, _ctx: &Ctx, headers: &mut HeaderMap) {
        // HTTP/1 sends these lower-case; HubSpot spells them X-HubSpot-RateLimit-*.
        set_header(headers, "x-hubspot-ratelimit-max", rate.limit);
        set_header(headers, "x-hubspot-ratelimit-remaining", rate.remaining);
        set_header(headers, "x-hubspot-ratelimit-interval-milliseconds", INTERVAL_MS);
        // The daily pair is sent to private-app (non-OAuth) callers, which this mock models.
        set_header(headers, "x-hubspot-ratelimit-daily", DAILY_LIMIT);
        set_header(
            headers,
            "x-hubspot-ratelimit-daily-remaining",
            DAILY_LIMIT.saturating_sub(rate.served),
        );
    }
}

/// Which properties to render: the type's defaults, or the requested ones (comma-separated
/// and/or repeated `properties=`) plus the system properties HubSpot always includes.
fn selected_properties(t: ObjectType, ctx: &Ctx) -> Vec<String> {
    let requested: Vec<String> = ctx
        .rec
        .query
        .iter()
        .filter(|(k, _)| k == "properties")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut out: Vec<String> = if requested.is_empty() {
        t.default_properties().iter().map(|s| (*s).to_owned()).collect()
    } else {
        let mut r = requested;
        r.extend(
            ["createdate", "hs_object_id", t.modified_property()]
                .iter()
                .map(|s| (*s).to_owned()),
        );
        r
    };
    out.sort();
    out.dedup();
    out
}

fn render(obj: &CrmObject, props: &[String]) -> Value {
    let mut p = Map::new();
    for name in props {
        let v = obj
            .properties
            .get(name)
            .map_or(Value::Null, |s| Value::String(s.clone()));
        p.insert(name.clone(), v);
    }
    let mut out = json!({
        "id": obj.id.to_string(),
        "properties": p,
        "createdAt": iso8601_millis(obj.created_ms),
        "updatedAt": iso8601_millis(obj.updated_ms),
        "archived": obj.archived_ms.is_some(),
    });
    if let Some(ms) = obj.archived_ms {
        out["archivedAt"] = Value::String(iso8601_millis(ms));
    }
    out
}

/// The `after` cursor: HubSpot documents it as an opaque string (examples look like
/// base64, e.g. `MTAyNA%3D%3D` in links). Here it is base64 of the next record's id.
fn encode_cursor(id: u64) -> String {
    base64_encode(id.to_string().as_bytes())
}

fn decode_cursor(s: &str) -> Option<u64> {
    let bytes = base64_decode(s)?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(input: &[u8]) -> String {
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(B64[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Some(out)
}

fn unknown_type(raw: &str) -> Response {
    validation_error(&format!("Unable to infer object type from: {raw}"))
}

/// `archived=true` lists/reads archived records only (HubSpot's recycle bin).
fn wants_archived(ctx: &Ctx) -> bool {
    ctx.rec
        .query_param("archived")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

async fn list_objects(
    State(mock): State<HubSpotMock>,
    Extension(ctx): Extension<Ctx>,
    Path(raw_type): Path<String>,
) -> Response {
    let Some(t) = ObjectType::parse(&raw_type) else {
        return unknown_type(&raw_type);
    };
    let limit = match common::query_u64(&ctx.rec, "limit") {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        // ⚠ HubSpot rejects out-of-range limits with a VALIDATION_ERROR body.
        Some(Ok(n)) => {
            return validation_error(&format!("limit must be between 1 and {MAX_LIMIT}, got {n}"));
        }
        Some(Err(raw)) => return validation_error(&format!("Invalid limit: {raw}")),
    };
    let start_id = match ctx.rec.query_param("after") {
        None | Some("") => 0,
        Some(raw) => match decode_cursor(raw) {
            Some(id) => id,
            None => return validation_error(&format!("Invalid after cursor: {raw}")),
        },
    };
    let archived = wants_archived(&ctx);
    let props = selected_properties(t, &ctx);
    let mut store = mock.store();
    let page: Vec<&CrmObject> = store
        .table(t)
        .records
        .range(start_id..)
        .map(|(_, o)| o)
        .filter(|o| o.archived_ms.is_some() == archived)
        .take(limit as usize + 1)
        .collect();
    let has_more = page.len() > limit as usize;
    let results: Vec<Value> = page
        .iter()
        .take(limit as usize)
        .map(|o| mock.render(o, &props))
        .collect();
    let mut body = json!({ "results": results });
    if has_more {
        let after = encode_cursor(page[limit as usize].id);
        // The link repeats the request's other parameters with the new cursor.
        let mut pairs: Vec<(String, String)> = ctx
            .rec
            .query
            .iter()
            .filter(|(k, _)| k != "after" && k != "limit")
            .cloned()
            .collect();
        pairs.insert(0, ("limit".to_owned(), limit.to_string()));
        pairs.push(("after".to_owned(), after.clone()));
        let link = format!(
            "{}/crm/v3/objects/{}?{}",
            ctx.base_url,
            t.path(),
            common::build_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        );
        body["paging"] = json!({ "next": { "after": after, "link": link } });
    }
    common::json(200, &body)
}

fn parse_id(raw: &str) -> Option<u64> {
    raw.parse().ok()
}

async fn get_object(
    State(mock): State<HubSpotMock>,
    Extension(ctx): Extension<Ctx>,
    Path((raw_type, raw_id)): Path<(String, String)>,
) -> Response {
    let Some(t) = ObjectType::parse(&raw_type) else {
        return unknown_type(&raw_type);
    };
    let archived = wants_archived(&ctx);
    let props = selected_properties(t, &ctx);
    let mut store = mock.store();
    match parse_id(&raw_id).and_then(|id| store.table(t).records.get(&id)) {
        Some(o) if o.archived_ms.is_some() == archived => common::json(200, &mock.render(o, &props)),
        _ => object_not_found(),
    }
}

/// `{"properties": {...}}` → property map with values stringified (HubSpot stores every
/// property value as a string; `null` clears a value). `Err` is the 400 message.
fn input_properties(ctx: &Ctx, what: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(Value::Object(body)) = &ctx.rec.body else {
        return Err(format!(
            "Invalid input JSON on line 1, column 1: Cannot build {what}, some of required attributes are not set [properties]"
        ));
    };
    let Some(Value::Object(props)) = body.get("properties") else {
        return Err(format!(
            "Invalid input JSON on line 1, column 2: Cannot build {what}, some of required attributes are not set [properties]"
        ));
    };
    Ok(props
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect())
}

/// Create/update responses carry the default properties plus every property the request set.
fn echo_properties(t: ObjectType, ctx: &Ctx, set: &BTreeMap<String, String>) -> Vec<String> {
    let mut props = selected_properties(t, ctx);
    props.extend(set.keys().cloned());
    props.sort();
    props.dedup();
    props
}

async fn create_object(
    State(mock): State<HubSpotMock>,
    Extension(ctx): Extension<Ctx>,
    Path(raw_type): Path<String>,
) -> Response {
    let Some(t) = ObjectType::parse(&raw_type) else {
        return unknown_type(&raw_type);
    };
    let input = match input_properties(&ctx, "SimplePublicObjectInputForCreate") {
        Ok(p) => p,
        Err(message) => return validation_error(&message),
    };
    let now = common::now_millis();
    let mut store = mock.store();
    let table = store.table(t);
    let id = table.next_id;
    table.next_id += 1;
    let mut properties = input.clone();
    stamp_system_properties(t, id, now, now, &mut properties);
    let obj = CrmObject {
        id,
        properties,
        created_ms: now,
        updated_ms: now,
        archived_ms: None,
    };
    let body = mock.render(&obj, &echo_properties(t, &ctx, &input));
    table.records.insert(id, obj);
    common::json(201, &body)
}

async fn update_object(
    State(mock): State<HubSpotMock>,
    Extension(ctx): Extension<Ctx>,
    Path((raw_type, raw_id)): Path<(String, String)>,
) -> Response {
    let Some(t) = ObjectType::parse(&raw_type) else {
        return unknown_type(&raw_type);
    };
    let input = match input_properties(&ctx, "SimplePublicObjectInput") {
        Ok(p) => p,
        Err(message) => return validation_error(&message),
    };
    let now = common::now_millis();
    let mut store = mock.store();
    let Some(obj) = parse_id(&raw_id)
        .and_then(|id| store.table(t).records.get_mut(&id))
        .filter(|o| o.archived_ms.is_none())
    else {
        return object_not_found();
    };
    obj.properties.extend(input.clone());
    obj.updated_ms = now;
    let (id, created) = (obj.id, obj.created_ms);
    stamp_system_properties(t, id, created, now, &mut obj.properties);
    common::json(200, &mock.render(obj, &echo_properties(t, &ctx, &input)))
}

/// DELETE moves the record to the recycle bin ("archive"): 204 with no body.
async fn archive_object(
    State(mock): State<HubSpotMock>,
    Path((raw_type, raw_id)): Path<(String, String)>,
) -> Response {
    let Some(t) = ObjectType::parse(&raw_type) else {
        return unknown_type(&raw_type);
    };
    let mut store = mock.store();
    match parse_id(&raw_id)
        .and_then(|id| store.table(t).records.get_mut(&id))
        .filter(|o| o.archived_ms.is_none())
    {
        Some(obj) => {
            obj.archived_ms = Some(common::now_millis());
            StatusCode::NO_CONTENT.into_response()
        }
        None => object_not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::call;

    const TOKEN: &str = "pat-na1-test";
    const AUTH: (&str, &str) = ("authorization", "Bearer pat-na1-test");

    fn mock(n: usize) -> (HubSpotMock, Router) {
        let m = HubSpotMock::new(TOKEN);
        m.seed(n);
        let r = m.router();
        (m, r)
    }

    async fn walk(router: &Router, object: &str, limit: u64) -> (Vec<String>, usize) {
        let mut ids = Vec::new();
        let mut pages = 0;
        let mut uri = format!("/crm/v3/objects/{object}?limit={limit}");
        loop {
            let r = call(router, "GET", &uri, &[AUTH], None).await;
            assert_eq!(r.status, 200, "{}", r.body);
            pages += 1;
            for item in r.body["results"].as_array().unwrap() {
                ids.push(item["id"].as_str().unwrap().to_owned());
            }
            match r.body.get("paging") {
                // Follow the absolute link exactly as a connector would.
                Some(p) => uri = p["next"]["link"].as_str().unwrap().to_owned(),
                None => break,
            }
        }
        (ids, pages)
    }

    #[tokio::test]
    async fn pagination_walks_every_record_once() {
        let (_m, r) = mock(25);
        let (ids, pages) = walk(&r, "contacts", 10).await;
        let expected: Vec<String> = (101..126).map(|i| i.to_string()).collect();
        assert_eq!(ids, expected);
        assert_eq!(pages, 3);

        let (ids, pages) = walk(&r, "companies", 100).await;
        assert_eq!(ids.len(), 25);
        assert_eq!(ids[0], "5001");
        assert_eq!(pages, 1);

        // Default page size is 10; the cursor is opaque (not the bare id) and the link is
        // absolute, built from the Host the request used.
        let first = call(
            &r,
            "GET",
            "http://h.test:9/crm/v3/objects/contacts",
            &[AUTH],
            None,
        )
        .await;
        assert_eq!(first.body["results"].as_array().unwrap().len(), 10);
        let next = &first.body["paging"]["next"];
        assert_eq!(next["after"], "MTEx");
        assert_eq!(
            next["link"],
            "http://h.test:9/crm/v3/objects/contacts?limit=10&after=MTEx"
        );
    }

    #[tokio::test]
    async fn record_shape_and_property_selection() {
        let (_m, r) = mock(3);
        let resp = call(&r, "GET", "/crm/v3/objects/contacts/101", &[AUTH], None).await;
        assert_eq!(resp.status, 200);
        let b = &resp.body;
        assert_eq!(b["id"], "101");
        assert_eq!(b["archived"], false);
        assert_eq!(b["createdAt"], "2024-01-01T00:00:00.000Z");
        assert_eq!(b["updatedAt"], "2024-01-02T00:00:00.000Z");
        let keys: Vec<&String> = b["properties"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname"
            ]
        );
        assert_eq!(b["properties"]["email"], "ada.lovelace.101@example.com");

        let resp = call(
            &r,
            "GET",
            "/crm/v3/objects/contacts/101?properties=phone,company,nope",
            &[AUTH],
            None,
        )
        .await;
        let p = &resp.body["properties"];
        assert_eq!(p["phone"], "+1 555-0101");
        assert_eq!(p["company"], "Acme Corp");
        assert_eq!(p["nope"], Value::Null);
        assert!(p.get("email").is_none());

        let resp = call(&r, "GET", "/crm/v3/objects/companies/5001", &[AUTH], None).await;
        let p = &resp.body["properties"];
        assert_eq!(p["name"], "Acme Corp");
        assert_eq!(p["domain"], "acmecorp.example.com");
        assert!(p.get("hs_lastmodifieddate").is_some());
    }

    #[tokio::test]
    async fn auth_failures_get_hubspot_401() {
        let (m, r) = mock(1);
        for headers in [vec![], vec![("authorization", "Bearer wrong")]] {
            let resp = call(&r, "GET", "/crm/v3/objects/contacts", &headers, None).await;
            assert_eq!(resp.status, 401);
            assert_eq!(resp.body["status"], "error");
            assert_eq!(resp.body["category"], "INVALID_AUTHENTICATION");
            assert!(
                resp.body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Authentication credentials not found.")
            );
            assert_eq!(resp.body["correlationId"].as_str().unwrap().len(), 36);
        }
        assert_eq!(m.requests().len(), 2);
    }

    #[tokio::test]
    async fn fail_next_and_rate_limit_headers() {
        let (m, r) = mock(1);
        m.set_rate_limit(100, 3);
        m.fail_next(429, 1);
        m.fail_next(503, 1);
        let resp = call(&r, "GET", "/crm/v3/objects/contacts", &[AUTH], None).await;
        assert_eq!(resp.status, 429);
        assert_eq!(resp.body["errorType"], "RATE_LIMIT");
        assert_eq!(resp.body["policyName"], "TEN_SECONDLY_ROLLING");
        assert_eq!(resp.header("x-hubspot-ratelimit-remaining"), Some("0"));
        assert_eq!(resp.header("x-hubspot-ratelimit-max"), Some("100"));
        let resp = call(&r, "GET", "/crm/v3/objects/contacts", &[AUTH], None).await;
        assert_eq!(resp.status, 503);
        assert_eq!(resp.header("x-hubspot-ratelimit-remaining"), Some("1"));

        let resp = call(&r, "GET", "/crm/v3/objects/contacts", &[AUTH], None).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-hubspot-ratelimit-remaining"), Some("0"));
        assert_eq!(
            resp.header("x-hubspot-ratelimit-interval-milliseconds"),
            Some("10000")
        );
        assert_eq!(resp.header("x-hubspot-ratelimit-daily"), Some("250000"));
        assert_eq!(resp.header("x-hubspot-ratelimit-daily-remaining"), Some("249997"));
        // Never below zero; HubSpot's short window is not enforced by the mock.
        let resp = call(&r, "GET", "/crm/v3/objects/contacts", &[AUTH], None).await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-hubspot-ratelimit-remaining"), Some("0"));
    }

    #[tokio::test]
    async fn crud_and_validation() {
        let (m, r) = mock(2);
        let resp = call(&r, "GET", "/crm/v3/objects/contacts?limit=101", &[AUTH], None).await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.body["category"], "VALIDATION_ERROR");

        let resp = call(&r, "GET", "/crm/v3/objects/contacts/999", &[AUTH], None).await;
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body["category"], "OBJECT_NOT_FOUND");

        let resp = call(
            &r,
            "POST",
            "/crm/v3/objects/contacts",
            &[AUTH],
            Some(json!({"email": "x@example.com"})),
        )
        .await;
        assert_eq!(resp.status, 400);
        assert_eq!(resp.body["category"], "VALIDATION_ERROR");

        let resp = call(
            &r,
            "POST",
            "/crm/v3/objects/contacts",
            &[AUTH],
            Some(json!({"properties": {"email": "new@example.com", "firstname": "New", "phone": "1"}})),
        )
        .await;
        assert_eq!(resp.status, 201);
        assert_eq!(resp.body["id"], "103");
        assert_eq!(resp.body["properties"]["phone"], "1");
        assert_eq!(resp.body["properties"]["hs_object_id"], "103");

        let resp = call(
            &r,
            "PATCH",
            "/crm/v3/objects/contacts/103",
            &[AUTH],
            Some(json!({"properties": {"lastname": "Person"}})),
        )
        .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body["properties"]["lastname"], "Person");
        assert_eq!(resp.body["properties"]["email"], "new@example.com");

        let resp = call(&r, "DELETE", "/crm/v3/objects/contacts/103", &[AUTH], None).await;
        assert_eq!(resp.status, 204);
        let resp = call(&r, "GET", "/crm/v3/objects/contacts/103", &[AUTH], None).await;
        assert_eq!(resp.status, 404);
        let resp = call(
            &r,
            "GET",
            "/crm/v3/objects/contacts/103?archived=true",
            &[AUTH],
            None,
        )
        .await;
        assert_eq!(resp.body["archived"], true);

        let recorded = m.requests();
        let post = recorded.iter().find(|q| q.method == "POST").unwrap();
        assert_eq!(post.path, "/crm/v3/objects/contacts");
        assert_eq!(post.header("authorization"), Some("Bearer pat-na1-test"));
        assert!(post.headers.iter().all(|(k, _)| *k == k.to_lowercase()));
        assert_eq!(post.body, Some(json!({"email": "x@example.com"})));
        let list = &recorded[0];
        assert_eq!(list.query, vec![("limit".to_owned(), "101".to_owned())]);
    }

    #[test]
    fn base64_round_trip() {
        for s in ["", "1", "12", "123", "1024"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64_encode(b"1024"), "MTAyNA==");
        assert_eq!(common::percent_encode("MTAyNA=="), "MTAyNA%3D%3D");
    }
}

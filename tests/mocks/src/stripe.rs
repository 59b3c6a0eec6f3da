//! Mock of Stripe's Customers API (`/v1/customers`), as the official SDKs talk to it.
//!
//! Owns the customer store, Stripe's list envelope (`object: "list"`, `url`, `has_more`,
//! `data`, newest first) with `limit` (1–100, default 10) and `starting_after`, form-encoded
//! creation (`email`, `name`, `description`, `metadata[key]`), idempotent POSTs
//! (`Idempotency-Key`, replayed with `Idempotent-Replayed: true`), the error envelope
//! (`{"error": {"type", "code", "message", "param"}}`) and `Request-Id` on every answer.
//!
//! Sources: <https://docs.stripe.com/api/customers/list>, <https://docs.stripe.com/api/customers/create>,
//! <https://docs.stripe.com/api/pagination>, <https://docs.stripe.com/api/idempotent_requests>,
//! <https://docs.stripe.com/api/errors>, <https://docs.stripe.com/api/authentication> (a secret
//! key as HTTP Basic user name or Bearer token) and <https://docs.stripe.com/rate-limits>
//! (429, no limit/remaining headers).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::common::{self, Ctx, Fault, Harness, RateSnapshot, Vendor, common_knobs, set_header};

/// "A limit on the number of objects to be returned. Limit can range between 1 and 100, and
/// the default is 10."
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 100;

#[derive(Debug, Default)]
struct Store {
    /// Customers in creation order.
    customers: Vec<Value>,
    /// Idempotency key → the answer first given (status, body).
    idempotent: BTreeMap<String, (u16, Value)>,
    next: u64,
}

/// Mock of the Stripe Customers API accepting one secret key.
#[derive(Clone, Debug)]
pub struct StripeMock {
    key: Arc<str>,
    harness: Harness,
    store: Arc<Mutex<Store>>,
}

common_knobs!(StripeMock);

impl StripeMock {
    /// A mock with no customers that accepts secret key `key`.
    pub fn new(key: &str) -> StripeMock {
        StripeMock {
            key: Arc::from(key),
            harness: Harness::new(u64::MAX),
            store: Arc::default(),
        }
    }

    /// Creates `n` customers (`cus_mock0001`…), oldest first.
    pub fn seed(&self, n: usize) {
        for i in 0..n {
            let mut form = Map::new();
            form.insert("email".into(), json!(format!("customer{i}@example.com")));
            form.insert("name".into(), json!(format!("Customer {i}")));
            self.insert(form, Map::new());
        }
    }

    fn insert(&self, fields: Map<String, Value>, metadata: Map<String, Value>) -> Value {
        let mut s = self.store.lock().expect("stripe mock lock");
        s.next += 1;
        let created = common::now_secs() + s.next; // strictly increasing, newest first below
        let customer = json!({
            "id": format!("cus_mock{:04}", s.next),
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": created,
            "currency": null,
            "default_source": null,
            "delinquent": false,
            "description": fields.get("description").cloned().unwrap_or(Value::Null),
            "email": fields.get("email").cloned().unwrap_or(Value::Null),
            "invoice_prefix": format!("MOCK{:04}", s.next),
            "livemode": false,
            "metadata": metadata,
            "name": fields.get("name").cloned().unwrap_or(Value::Null),
            "phone": fields.get("phone").cloned().unwrap_or(Value::Null),
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null
        });
        s.customers.push(customer.clone());
        customer
    }

    /// The axum router serving `/v1/customers` with this mock's state.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/customers", get(list_customers).post(create_customer))
            .route("/v1/customers/{id}", get(get_customer))
            .route("/v1/account", get(get_account))
            .fallback(|ctx: Extension<Ctx>| async move {
                let path = ctx.rec.path.clone();
                error(
                    404,
                    "invalid_request_error",
                    None,
                    &format!("Unrecognized request URL (GET: {path})."),
                    None,
                )
            })
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                common::gate::<StripeMock>,
            ))
            .layer(axum::middleware::map_response(stamp_request_id))
    }
}

async fn stamp_request_id(mut response: Response) -> Response {
    set_header(
        response.headers_mut(),
        "request-id",
        format!("req_{}", common::uuid_like().replace('-', "")),
    );
    response
}

/// Stripe's error envelope.
fn error(status: u16, kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Response {
    let mut e = json!({"type": kind, "message": message});
    if let Some(code) = code {
        e["code"] = json!(code);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    common::json(status, &json!({ "error": e }))
}

/// A form body's plain fields and its `metadata[k]` entries.
type Form = (Map<String, Value>, Map<String, Value>);

/// The form body (`a=1&metadata[k]=v`) as fields and metadata.
fn form(ctx: &Ctx) -> Result<Form, Box<Response>> {
    let raw = match &ctx.rec.body {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Stripe's v1 API reads form bodies only.
        Some(_) => {
            return Err(Box::new(error(
                400,
                "invalid_request_error",
                None,
                "Invalid request: the body must be application/x-www-form-urlencoded",
                None,
            )));
        }
    };
    let (mut fields, mut metadata) = (Map::new(), Map::new());
    for (k, v) in common::parse_query(&raw) {
        match k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
            Some(key) => metadata.insert(key.to_owned(), json!(v)),
            None => fields.insert(k, json!(v)),
        };
    }
    Ok((fields, metadata))
}

async fn list_customers(State(m): State<StripeMock>, Extension(ctx): Extension<Ctx>) -> Response {
    let limit = match common::query_u64(&ctx.rec, "limit") {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return error(
                400,
                "invalid_request_error",
                Some("parameter_invalid_integer"),
                "This value must be greater than or equal to 1 and less than or equal to 100.",
                Some("limit"),
            );
        }
    };
    let s = m.store.lock().expect("stripe mock lock");
    let newest_first: Vec<&Value> = s.customers.iter().rev().collect();
    let start = match ctx.rec.query_param("starting_after") {
        None => 0,
        Some(after) => match newest_first.iter().position(|c| c["id"] == after) {
            Some(i) => i + 1,
            None => {
                return error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such customer: '{after}'"),
                    Some("starting_after"),
                );
            }
        },
    };
    let page: Vec<&Value> = newest_first
        .iter()
        .skip(start)
        .take(limit as usize)
        .copied()
        .collect();
    let has_more = start + page.len() < newest_first.len();
    common::json(
        200,
        &json!({"object": "list", "url": "/v1/customers", "has_more": has_more, "data": page}),
    )
}

async fn create_customer(
    State(m): State<StripeMock>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(key) = &key
        && let Some((status, body)) = m
            .store
            .lock()
            .expect("stripe mock lock")
            .idempotent
            .get(key)
            .cloned()
    {
        let mut replay = common::json(status, &body);
        set_header(replay.headers_mut(), "idempotent-replayed", "true");
        return replay;
    }
    let (fields, metadata) = match form(&ctx) {
        Ok(f) => f,
        Err(e) => return *e,
    };
    let customer = m.insert(fields, metadata);
    if let Some(key) = key {
        let mut s = m.store.lock().expect("stripe mock lock");
        s.idempotent.insert(key, (200, customer.clone()));
    }
    common::json(200, &customer)
}

async fn get_customer(State(m): State<StripeMock>, Path(id): Path<String>) -> Response {
    let s = m.store.lock().expect("stripe mock lock");
    match s.customers.iter().find(|c| c["id"] == id.as_str()) {
        Some(c) => common::json(200, c),
        None => error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such customer: '{id}'"),
            Some("id"),
        ),
    }
}

/// `GET /v1/account`: the account behind the key (<https://docs.stripe.com/api/accounts/retrieve>).
async fn get_account() -> Response {
    common::json(
        200,
        &json!({"id": "acct_1MockPlatform00", "object": "account", "business_type": "company",
            "charges_enabled": true, "country": "US", "default_currency": "usd", "details_submitted": true,
            "email": "owner@example.com", "payouts_enabled": true, "type": "standard"}),
    )
}

impl Vendor for StripeMock {
    fn harness(&self) -> &Harness {
        &self.harness
    }

    fn reject_unauthenticated(&self, ctx: &Ctx) -> Option<Response> {
        // The key is the Basic user name (no password) or the Bearer token.
        let basic = common::authorization_credential(ctx, &["Basic"]).and_then(|b| {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
            let text = String::from_utf8(raw).ok()?;
            Some(text.split(':').next().unwrap_or_default().to_owned())
        });
        let given = basic.or_else(|| common::authorization_credential(ctx, &["Bearer"]).map(str::to_owned));
        match given {
            Some(k) if k == *self.key => None,
            Some(k) => {
                let shown = format!(
                    "{}{}",
                    &k[..k.len().min(8)],
                    "*".repeat(k.len().saturating_sub(12))
                );
                Some(error(
                    401,
                    "invalid_request_error",
                    None,
                    &format!("Invalid API Key provided: {shown}"),
                    None,
                ))
            }
            None => Some(error(
                401,
                "invalid_request_error",
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                None,
            )),
        }
    }

    fn fault_response(&self, fault: Fault, _ctx: &Ctx) -> (Response, bool) {
        let status = fault.status();
        let resp = match status {
            429 => error(
                429,
                "invalid_request_error",
                Some("rate_limit"),
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                None,
            ),
            401 => error(
                401,
                "invalid_request_error",
                None,
                "Invalid API Key provided: sk_test_****",
                None,
            ),
            s if s >= 500 => error(
                s,
                "api_error",
                None,
                "Something went wrong on Stripe's end.",
                None,
            ),
            s => error(s, "invalid_request_error", None, "Invalid request.", None),
        };
        (resp, status == 429)
    }

    fn rate_headers(&self, _rate: &RateSnapshot, _ctx: &Ctx, _headers: &mut HeaderMap) {
        // Stripe sends no limit/remaining/reset headers.
    }
}

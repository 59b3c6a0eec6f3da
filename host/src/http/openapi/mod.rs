//! The host API's OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]`
//! attributes and [`schemas`], then completed with what every operation shares: the bearer
//! security scheme, the normalized error answers, the `ratelimit-*`, `patchbay-connector-version`
//! and `x-request-id` headers, and the live unified models as their JSON Schemas (each with
//! concrete `/unified/{model}/{resource}` paths). Served at `GET /openapi.json`; `patchbay
//! openapi` prints it, and `docs/openapi.json` is that output for the bundled connectors.

pub mod schemas;

use std::collections::BTreeMap;

use patchbay_engine::ErrorCode;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::routes::{
    accounts, connectors, endpoints, health, monitoring, oauth, passthrough, proxy, unified, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patchbay host API",
        description = "One HTTP API over many vendors' APIs: integrated accounts, proxied and unified calls, webhooks in and out, connectors, monitoring. Every answer that is not 2xx carries the normalized error body (`ErrorBody`), except the vendor's own answers passed through by `/passthrough`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        health::healthz, health::readyz, openapi_json,
        accounts::list, accounts::create, accounts::get_one, accounts::update, accounts::delete,
        accounts::retry, accounts::refresh, accounts::events,
        oauth::put_app, oauth::get_app, oauth::connect, oauth::callback,
        connectors::list, connectors::get, connectors::put, connectors::versions, connectors::rollback,
        webhooks::put_secret, monitoring::drift, monitoring::accept_drift,
        connectors::models, connectors::model,
        proxy::collection, proxy::item, unified::collection, unified::item, passthrough::forward,
        webhooks::app_level, webhooks::per_account, webhooks::list, webhooks::retry,
        endpoints::list, endpoints::create, endpoints::get_one, endpoints::update, endpoints::delete,
        endpoints::test, endpoints::deliveries, endpoints::replay,
        monitoring::metrics, monitoring::summary, monitoring::dashboard,
    ),
    components(schemas(schemas::ErrorBody)),
    tags(
        (name = "health", description = "Open: load balancers call them without a token"),
        (name = "accounts", description = "Integrated accounts and their state machine"),
        (name = "oauth", description = "OAuth apps and the authorization-code connect flow"),
        (name = "connectors", description = "Live connectors and hot reload"),
        (name = "proxy", description = "Vendor resources as they are, through the connector's methods"),
        (name = "unified", description = "Vendor data in the unified models"),
        (name = "passthrough", description = "The caller's own vendor request, with the account's credentials"),
        (name = "webhooks", description = "Vendor webhooks in (open: the signature is the credential) and their log"),
        (name = "endpoints", description = "Where the product receives Patchbay's events (Standard Webhooks)"),
        (name = "monitoring", description = "Metrics, schema drift and the ops page"),
    ),
)]
struct ApiDoc;

/// `GET /openapi.json`: this document, for the connectors live now.
#[utoipa::path(get, path = "/openapi.json", tag = "health", security(("bearer" = [])),
    responses((status = 200, description = "The OpenAPI 3.1 description of this host's API", body = Object)))]
pub async fn openapi_json(
    axum::extract::State(registry): axum::extract::State<std::sync::Arc<crate::connectors::Registry>>,
) -> axum::Json<Value> {
    axum::Json(document(&registry.snapshot().unified_schemas))
}

/// The document for the unified models of a connectors directory (what `patchbay openapi`
/// prints); the files that do not load are the error.
pub fn for_connectors_dir(dir: &std::path::Path) -> Result<Value, String> {
    use crate::connectors::files::{UNIFIED_DIR, load_unified_schemas};
    let mut errors = Vec::new();
    let unified = load_unified_schemas(&dir.join(UNIFIED_DIR), &mut errors);
    match errors.is_empty() {
        true => Ok(document(&unified)),
        false => Err(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// The headers of proxied and unified answers.
const CALL_HEADERS: [(&str, &str); 4] = [
    (
        "ratelimit-limit",
        "The vendor's request quota in the current window (IETF RateLimit)",
    ),
    ("ratelimit-remaining", "Requests left in the window"),
    ("ratelimit-reset", "Seconds until the window resets"),
    (
        "patchbay-connector-version",
        "`<connector>@<version>#<revision>` that served the call",
    ),
];

/// The document for these unified models (`(model, resource)` → JSON Schema).
pub fn document(unified: &BTreeMap<(String, String), Value>) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the description serializes");
    doc["openapi"] = json!("3.1.0");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let components = doc["components"].as_object_mut().expect("components");
    components.insert(
        "securitySchemes".into(),
        json!({"bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`patchbay token create`). Roles in a requirement: `admin` needs an admin token; `metrics` is met by an admin or a metrics token; none: any admin or tenant token (tenant tokens see their tenant's objects only).",
        }}),
    );
    let mut headers = Map::new();
    for (name, description) in CALL_HEADERS {
        let schema = if name == "patchbay-connector-version" {
            json!({"type": "string"})
        } else {
            json!({"type": "integer", "minimum": 0})
        };
        headers.insert(name.into(), json!({"description": description, "schema": schema}));
    }
    headers.insert(
        "x-request-id".into(),
        json!({"description": "The request's id, also in error bodies and log lines", "schema": {"type": "string"}}),
    );
    headers.insert(
        "retry-after".into(),
        json!({"description": "Seconds to wait before retrying (429)", "schema": {"type": "integer", "minimum": 0}}),
    );
    components.insert("headers".into(), Value::Object(headers));
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    components["schemas"]["ErrorCode"] = json!({
        "type": "string",
        "enum": codes,
        "description": "The normalized error taxonomy (docs/ERRORS.md): each code has one HTTP status.",
    });
    let mut paths = std::mem::take(doc["paths"].as_object_mut().expect("paths"));
    name_operations(&mut paths);
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
            fit_to_method(path, method, op);
            complete_operation(path, op);
        }
    }
    add_unified_models(&mut doc, &mut paths, unified);
    doc["paths"] = Value::Object(paths);
    doc
}

/// Unique operation ids: `{tag}_{handler}`, and `_{method}` after it for a handler that serves
/// several methods (utoipa names an operation after its handler alone).
fn name_operations(paths: &mut Map<String, Value>) {
    let id = |op: &Value| {
        format!(
            "{}_{}",
            op["tags"][0].as_str().unwrap_or("host"),
            op["operationId"].as_str().unwrap_or("op")
        )
    };
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for item in paths.values() {
        for op in item.as_object().expect("path item").values() {
            *uses.entry(id(op)).or_default() += 1;
        }
    }
    for item in paths.values_mut() {
        for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
            let base = id(op);
            op["operationId"] = json!(if uses[&base] > 1 {
                format!("{base}_{method}")
            } else {
                base
            });
        }
    }
}

/// One handler's attribute describes all its methods; this keeps what each method takes: no body
/// for `GET` and `DELETE`, a required one for unified writes, paging parameters on lists only,
/// `remote_data` on unified calls only.
fn fit_to_method(path: &str, method: &str, op: &mut Value) {
    let op = op.as_object_mut().expect("operation");
    let tag = op["tags"][0].as_str().unwrap_or_default().to_owned();
    if matches!(method, "get" | "delete") {
        op.remove("requestBody");
    } else if let Some(body) = op.get_mut("requestBody") {
        for (_, media) in body["content"].as_object_mut().expect("content").iter_mut() {
            // `Option<T>` bodies come out nullable; "no body" is `required: false` instead.
            if let Some(Value::Array(types)) = media.pointer_mut("/schema/type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    media["schema"]["type"] = only;
                }
            }
        }
        let required = tag == "unified" || body.get("required") == Some(&json!(true));
        body["required"] = json!(required);
    }
    if let Some(Value::Array(params)) = op.get_mut("parameters") {
        let list = method == "get" && !path.ends_with("{id}");
        params.retain(|p| match p["name"].as_str() {
            Some("limit" | "next_cursor") if matches!(tag.as_str(), "proxy" | "unified") => list,
            Some("remote_data") => tag == "unified",
            _ => true,
        });
    }
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"x-request-id": {"$ref": "#/components/headers/x-request-id"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    })
}

/// What each operation shares: the error answers its security and tag imply, and headers.
fn complete_operation(path: &str, op: &mut Value) {
    let roles: Option<Vec<String>> = op["security"].as_array().map(|reqs| {
        reqs.iter()
            .filter_map(|r| r["bearer"].as_array())
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    });
    let tag = op["tags"][0].as_str().unwrap_or_default().to_owned();
    let call = matches!(tag.as_str(), "proxy" | "unified");
    if tag == "passthrough" {
        // Every status can be the vendor's, with the vendor's body: one answer says so.
        op["responses"] = json!({"default": {
            "description": "The vendor's answer as it is (status, headers, body, streamed); or, when the host refuses the call (token, account, path), a normalized error body",
            "content": {"*/*": {}},
        }});
        return;
    }
    let responses = op["responses"].as_object_mut().expect("responses");
    for (_, r) in responses.iter_mut() {
        let headers = r
            .as_object_mut()
            .expect("response")
            .entry("headers")
            .or_insert_with(|| json!({}));
        headers["x-request-id"] = json!({"$ref": "#/components/headers/x-request-id"});
        if call {
            for (name, _) in CALL_HEADERS {
                headers[name] = json!({"$ref": format!("#/components/headers/{name}")});
            }
        }
    }
    // What the handler's attribute says first; these only where it says nothing.
    let mut shared: Vec<(&str, Value)> = Vec::new();
    if let Some(roles) = &roles {
        shared.push((
            "401",
            error_response("`unauthenticated`: no token, or an unknown, revoked or expired one"),
        ));
        if !roles.is_empty() {
            shared.push((
                "403",
                error_response("`forbidden`: the token's role may not do this"),
            ));
        } else if path.contains('{') {
            shared.push(("403", error_response("`forbidden`: the token may not do this")));
        }
    }
    shared.push(("400", error_response("`invalid_request`: a malformed request")));
    shared.push((
        "404",
        error_response("`not_found`: no such object, or not visible to this token"),
    ));
    shared.push((
        "500",
        error_response(
            "`internal`: a bug or an outage of the host (the cause is logged with the request id)",
        ),
    ));
    shared.push((
        "503",
        error_response("`database_unavailable`: the host's database cannot be reached now; retry later"),
    ));
    if call {
        shared.push((
            "409",
            error_response("`account_not_active`: the account is not `active`"),
        ));
        let mut throttled =
            error_response("`rate_limited`: the vendor's 429, passed through (never retried)");
        for name in [
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        ] {
            throttled["headers"][name] = json!({"$ref": format!("#/components/headers/{name}")});
        }
        shared.push((
            "502",
            error_response("`remote_server_error`, `remote_unreachable` or `mapping_error`"),
        ));
        shared.push((
            "504",
            error_response("`remote_timeout`: the vendor did not answer in time"),
        ));
        shared.push(("429", throttled));
    }
    if call {
        // The vendor's other refusals keep their status: 401, 403, 404, 400 and 409 above.
        shared.push((
            "default",
            error_response("Another normalized failure (the code says which)"),
        ));
    }
    for (status, response) in shared {
        responses.entry(status).or_insert(response);
    }
}

/// Each unified model as a component schema, and concrete paths that list and read it.
fn add_unified_models(
    doc: &mut Value,
    paths: &mut Map<String, Value>,
    unified: &BTreeMap<(String, String), Value>,
) {
    let generic_collection = paths.get("/unified/{model}/{resource}").cloned();
    let generic_item = paths.get("/unified/{model}/{resource}/{id}").cloned();
    for ((model, resource), schema) in unified {
        let name = component_name(model, resource);
        let mut schema = schema.clone();
        if let Some(o) = schema.as_object_mut() {
            // The document is the base; a schema's own `$id` would move its references' base.
            o.remove("$id");
            o.remove("$schema");
        }
        doc["components"]["schemas"][&name] = schema;
        let record = json!({"$ref": format!("#/components/schemas/{name}")});
        let remote = json!({"allOf": [record, {"type": "object", "properties": {"remote_data": {"description": "The vendor's record, unless `remote_data=false`"}}}]});
        let mut item_schema = remote.clone();
        item_schema = json!({"anyOf": [item_schema, {"type": "null"}]});
        for (generic, concrete) in [
            (&generic_collection, format!("/unified/{model}/{resource}")),
            (&generic_item, format!("/unified/{model}/{resource}/{{id}}")),
        ] {
            let Some(mut item) = generic.clone() else { continue };
            for (method, op) in item.as_object_mut().expect("path item").iter_mut() {
                op["operationId"] = json!(format!(
                    "unified_{model}_{resource}_{method}{}",
                    if concrete.ends_with("{id}") { "_one" } else { "" }
                ));
                let params = op["parameters"].as_array_mut().expect("parameters");
                params.retain(|p| !matches!(p["name"].as_str(), Some("model" | "resource")));
                for (status, r) in op["responses"].as_object_mut().expect("responses").iter_mut() {
                    let Some(body) = r.pointer_mut("/content/application~1json/schema") else {
                        continue;
                    };
                    if body.pointer("/$ref") == Some(&json!("#/components/schemas/Page")) {
                        *body = json!({"allOf": [{"$ref": "#/components/schemas/Page"}, {"type": "object", "properties": {"result": {"type": "array", "items": remote}}}]});
                    } else if status.starts_with('2')
                        && body.pointer("/$ref") == Some(&json!("#/components/schemas/Record"))
                    {
                        *body = json!({"type": "object", "required": ["result"], "properties": {"result": item_schema}});
                    }
                }
            }
            paths.insert(concrete, item);
        }
    }
}

/// `crm`, `contacts` → `UnifiedCrmContacts`.
fn component_name(model: &str, resource: &str) -> String {
    let mut name = String::from("Unified");
    for part in model
        .split(['.', '-', '_'])
        .chain(resource.split(['.', '-', '_']))
    {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_answers_errors_with_the_normalized_body() {
        let doc = document(&BTreeMap::new());
        let mut ops = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ops += 1;
                let responses = op["responses"].as_object().unwrap();
                if path.starts_with("/passthrough/") {
                    assert_eq!(
                        responses.keys().collect::<Vec<_>>(),
                        ["default"],
                        "{method} {path}"
                    );
                    continue;
                }
                assert!(
                    responses.contains_key("400") && responses.contains_key("500"),
                    "{method} {path}"
                );
                let secured = op.get("security").is_some();
                // Open routes answer 401 only for a vendor webhook's bad signature.
                let signed = path.starts_with("/webhooks/");
                assert_eq!(
                    responses.contains_key("401"),
                    secured || signed,
                    "{method} {path}"
                );
            }
        }
        assert!(ops > 40, "{ops} operations");
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "operation ids are unique");
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn the_checked_in_copy_is_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let now = for_connectors_dir(&root.join("connectors")).unwrap();
        let text = std::fs::read_to_string(root.join("docs/openapi.json")).unwrap();
        let checked_in: Value = serde_json::from_str(&text).unwrap();
        assert!(
            now == checked_in,
            "docs/openapi.json is stale: run `cargo run -p patchbay -- openapi > docs/openapi.json`"
        );
    }

    #[test]
    fn unified_models_get_their_schema_and_concrete_paths() {
        let mut models = BTreeMap::new();
        models.insert(
            ("crm".to_owned(), "contacts".to_owned()),
            json!({"$id": "x", "type": "object", "properties": {"id": {"type": "string"}}}),
        );
        let doc = document(&models);
        assert_eq!(
            doc["components"]["schemas"]["UnifiedCrmContacts"]["type"],
            "object"
        );
        assert!(
            doc["components"]["schemas"]["UnifiedCrmContacts"]
                .get("$id")
                .is_none()
        );
        let list = &doc["paths"]["/unified/crm/contacts"]["get"];
        assert_eq!(list["operationId"], "unified_crm_contacts_get");
        let items = &list["responses"]["200"]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
            ["result"]["items"]["allOf"][0]["$ref"];
        assert_eq!(items, "#/components/schemas/UnifiedCrmContacts");
        assert!(
            list["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["name"] != "model")
        );
        assert!(doc["paths"]["/unified/crm/contacts/{id}"]["get"].is_object());
    }
}

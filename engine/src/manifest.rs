//! Manifest v1: the declarative description of a connector, as Rust types.
//!
//! These types are the single source of truth for the format: serde reads manifests with them and
//! `schemars` derives `connectors/manifest.schema.json` from them. Strings documented as *templates*
//! use `{{path}}` placeholders (see [`crate::template`]); strings documented as *expressions* are jq
//! programs (see [`crate::expr`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_code::RemoteErrorCode;

/// One connector: a vendor API described as data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Optional pointer to the JSON Schema, for editors.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Connector name, unique in a host: lower-case letters, digits, `_` and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_-]*$"))]
    pub name: String,
    /// Version of this manifest (semver recommended).
    pub version: String,
    /// Human-readable vendor name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Template of the API root, e.g. `https://{{context.subdomain}}.zendesk.com/api/v2`.
    pub base_url: String,
    /// What `/passthrough/{account}/{path}` paths are relative to (default `base_url`; `origin`
    /// for vendors whose SDKs address versioned paths such as `/v1/customers` from the host).
    #[serde(default, skip_serializing_if = "PassthroughRoot::is_default")]
    pub passthrough_root: PassthroughRoot,
    /// Headers sent on every call (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters sent on every call (templates; omitted when a placeholder is missing).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// How credentials are injected into each request: one method, or every method the vendor
    /// offers (an account names the one it uses).
    pub auth: AuthSpec,
    /// Default pagination for methods that return `records`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Where the vendor reports rate-limit state, and in which units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitDialect>,
    /// How vendor failures map onto the normalized error taxonomy.
    #[serde(default)]
    pub errors: ErrorMapping,
    /// Resources (`contacts`, `issues`, …) and their methods.
    pub resources: BTreeMap<String, Resource>,
    /// What runs when an account connects or reconnects: post-install steps, then validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Unified models: `unified.<model>.<resource>.<method>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, BTreeMap<String, BTreeMap<String, UnifiedMethod>>>,
    /// A Wasm component that implements some hooks; the declarative engine serves the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentSpec>,
    /// Inbound webhooks: signature scheme, handshakes, event ids, times, accounts and mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<crate::webhook::WebhooksSpec>,
}

/// The root of passthrough paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PassthroughRoot {
    /// The account's API root (`base_url`, or the account's override), path included.
    #[default]
    BaseUrl,
    /// The scheme, host and port of the account's API root only.
    Origin,
}

impl PassthroughRoot {
    fn is_default(&self) -> bool {
        *self == Self::BaseUrl
    }
}

/// Whether `name` is a valid connector or auth-method name: lower-case letters, digits, `_`, `-`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// One auth method, or several.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AuthSpec {
    /// The connector's only auth method.
    One(Box<AuthMethod>),
    /// Every auth method the vendor offers, the most common first.
    Many(Vec<AuthMethod>),
}

impl AuthSpec {
    /// The methods, in manifest order.
    pub fn methods(&self) -> &[AuthMethod] {
        match self {
            Self::One(m) => std::slice::from_ref(m),
            Self::Many(ms) => ms,
        }
    }

    /// The settings of the first OAuth2 method (tests and single-method connectors).
    pub fn oauth2(&self) -> Option<&OAuth2> {
        self.methods().iter().find_map(|m| m.kind.oauth2())
    }
}

impl<'de> Deserialize<'de> for AuthSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A list is several methods; anything else is one (and reports its own field errors).
        let v = Value::deserialize(d)?;
        let method = |v: Value| AuthMethod::from_value(v).map_err(serde::de::Error::custom);
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    out.push(
                        AuthMethod::from_value(item)
                            .map_err(|e| serde::de::Error::custom(format!("[{i}]: {e}")))?,
                    );
                }
                Ok(Self::Many(out))
            }
            other => Ok(Self::One(Box::new(method(other)?))),
        }
    }
}

/// One way to authenticate: a strategy (`type`) and what a connect form needs to know of it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuthMethod {
    /// The method's id, unique in the manifest (default: its `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Human name for connect forms ("OAuth 2.0 (public app)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The vendor's documentation of this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Template of the API root for accounts of this method, instead of the connector's
    /// (`{{context.instance_url}}/services/data/v60.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Documentation of the inputs the method needs, keyed `credentials.<name>` or
    /// `context.<name>`; the inputs themselves are the placeholders its templates use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldDoc>,
    /// The strategy.
    #[serde(flatten)]
    pub kind: Auth,
}

/// Keys every auth method may have besides its strategy's.
const AUTH_METHOD_KEYS: &[&str] = &["name", "label", "doc", "base_url", "fields", "type"];

impl AuthMethod {
    /// Reads one method, refusing keys neither the common fields nor its `type` knows (`flatten`
    /// cannot deny unknown fields itself).
    fn from_value(mut v: Value) -> Result<Self, String> {
        // `api_key` named its header `name` before methods had ids: without `param`, `name` is
        // still the header (and the method's id defaults to its type).
        if let Value::Object(map) = &mut v
            && map.get("type").and_then(Value::as_str) == Some("api_key")
            && !map.contains_key("param")
            && let Some(name) = map.remove("name")
        {
            map.insert("param".into(), name);
        }
        let method: AuthMethod = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        if let Value::Object(map) = &v {
            let known = method.kind.keys();
            if let Some(k) = map
                .keys()
                .find(|k| !AUTH_METHOD_KEYS.contains(&k.as_str()) && !known.contains(&k.as_str()))
            {
                return Err(format!(
                    "unknown field `{k}` for auth type `{}` (expected one of {})",
                    method.kind.kind(),
                    AUTH_METHOD_KEYS
                        .iter()
                        .chain(known)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(method)
    }

    /// The method's id.
    pub fn id(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.kind())
    }

    /// Whether accounts of this method connect through the browser (`POST /connect`).
    pub fn is_authorization_code(&self) -> bool {
        self.kind
            .oauth2()
            .is_some_and(|o| o.grant == OAuth2Grant::AuthorizationCode)
    }
}

/// Documentation of one input of an auth method.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDoc {
    /// Short name for a form label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Where the user finds it, what it looks like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An example value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// Credential injection strategies, selected by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Auth {
    /// No credentials (public APIs).
    None,
    /// An API key in a header or query parameter.
    ApiKey {
        /// Where the key goes.
        #[serde(rename = "in")]
        location: ParamLocation,
        /// Header or query parameter name (`name` in manifests where it is the only method
        /// and has no id).
        #[serde(rename = "param")]
        name: String,
        /// Template of the value, e.g. `{{credentials.api_key}}` or `Token {{credentials.api_key}}`.
        value: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Template of the token.
        #[serde(default = "default_bearer_token")]
        token: String,
    },
    /// HTTP Basic authentication.
    Basic {
        /// Template of the user name.
        username: String,
        /// Template of the password.
        #[serde(default)]
        password: String,
    },
    /// OAuth2 (authorization code or client credentials). Requests carry
    /// `Authorization: Bearer {{credentials.access_token}}`; the token lifecycle is the host's.
    Oauth2(OAuth2),
}

impl Auth {
    /// The OAuth2 settings, when the connector's accounts hold OAuth2 tokens.
    pub fn oauth2(&self) -> Option<&OAuth2> {
        match self {
            Self::Oauth2(o) => Some(o),
            _ => None,
        }
    }

    /// The fields of this strategy (besides `type`).
    pub fn keys(&self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::ApiKey { .. } => &["in", "param", "value"],
            Self::Bearer { .. } => &["token"],
            Self::Basic { .. } => &["username", "password"],
            Self::Oauth2(_) => &[
                "grant",
                "authorize_url",
                "token_url",
                "scopes",
                "scope_separator",
                "client_auth",
                "default_expires_in",
                "refresh_token_rotates",
                "pkce",
                "authorize_params",
                "token_context",
            ],
        }
    }

    /// The `type` key of this strategy.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ApiKey { .. } => "api_key",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::Oauth2(_) => "oauth2",
        }
    }
}

/// OAuth2 provider endpoints and quirks, as data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Grant used to obtain tokens.
    pub grant: OAuth2Grant,
    /// Authorization endpoint (authorization code grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Token endpoint.
    pub token_url: String,
    /// Default scopes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Separator between scopes in the authorize URL (` ` by default; some vendors use `,`).
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: OAuth2ClientAuth,
    /// Lifetime assumed when the provider sends no `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expires_in: Option<u64>,
    /// Whether each refresh returns a new refresh token that replaces the old one.
    #[serde(default)]
    pub refresh_token_rotates: bool,
    /// Whether the authorize URL carries a PKCE (S256) challenge.
    #[serde(default = "default_true")]
    pub pkce: bool,
    /// Extra query parameters of the authorize URL (Google's `access_type=offline`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorize_params: BTreeMap<String, String>,
    /// Account context taken from the token endpoint's answer, at connect and at every refresh:
    /// context key → expression over the answer (`{"instance_url": ".instance_url"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_context: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// OAuth2 grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuth2Grant {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Client credentials.
    ClientCredentials,
}

/// Client authentication at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuth2ClientAuth {
    /// `client_id`/`client_secret` in the form body.
    #[default]
    Body,
    /// HTTP Basic with the client id and secret.
    Basic,
}

fn default_bearer_token() -> String {
    "{{credentials.access_token}}".to_owned()
}

fn default_scope_separator() -> String {
    " ".to_owned()
}

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    /// An HTTP header.
    Header,
    /// A URL query parameter.
    Query,
}

/// A vendor resource (`contacts`, `issues`, …).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Methods by name: `list`, `get`, `create`, `update`, `delete`, or custom names.
    pub methods: BTreeMap<String, Method>,
    /// A JSON Schema of one vendor record as `records`/`record` select it (`type`, `properties`,
    /// `required`, `items`, `additionalProperties`, `nullable`, `anyOf`/`oneOf` of types). When
    /// declared it is the schema-drift baseline from the first sample on, instead of the first
    /// sampled answers: required fields can go missing, declared types can change, and keys an
    /// object does not declare count as added unless it says `additionalProperties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
}

/// HTTP methods a connector method may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether a request with this method normally carries a body.
    pub fn has_body(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch)
    }
}

/// One callable operation on a resource.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// HTTP method.
    pub method: HttpMethod,
    /// Path template relative to `base_url`, e.g. `/crm/v3/objects/contacts/{{id}}`.
    pub path: String,
    /// Query parameters (templates; a parameter whose placeholder is missing is omitted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Extra headers (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Body template: a JSON value whose strings are templates; a string that is exactly one
    /// placeholder (`"{{body}}"`) is replaced by that JSON value. Without it, methods that send a
    /// body pass the caller's body through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Expression selecting the array of records in a list response, e.g. `.results`. Its
    /// presence makes the method a paginated list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// Expression selecting the record in a single-record response (default `.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// Pagination for this method, overriding the connector default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// Pagination strategies, selected by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// Single page.
    None,
    /// Opaque token from the response body sent back as a request parameter.
    Cursor {
        /// Expression yielding the next cursor (null or empty string: last page).
        cursor: String,
        /// Parameter that carries the cursor.
        param: String,
        /// Where the parameter goes (`query` or `body`).
        #[serde(rename = "in", default = "default_query_location")]
        location: BodyOrQuery,
    },
    /// Page numbers.
    Page {
        /// Query parameter carrying the page number.
        param: String,
        /// Number of the first page.
        #[serde(default = "default_one")]
        start: u64,
        /// Expression telling whether more pages exist; without it, a page with records is
        /// followed by the next one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more: Option<String>,
    },
    /// Record offsets.
    Offset {
        /// Query parameter carrying the offset.
        param: String,
        /// Expression yielding the next offset (null: last page). Without it the offset
        /// advances by the number of records received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_offset: Option<String>,
        /// Expression telling whether more records exist.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        has_more: Option<String>,
    },
    /// RFC 8288 `Link` header.
    LinkHeader {
        /// Relation of the next page.
        #[serde(default = "default_next_rel")]
        rel: String,
    },
    /// Full URL of the next page in the body.
    NextUrl {
        /// Expression yielding the URL (null or empty: last page).
        next_url: String,
    },
    /// GraphQL Relay connection: `pageInfo { hasNextPage endCursor }` into a variable.
    GraphqlCursor {
        /// Expression yielding the `pageInfo` object.
        page_info: String,
        /// Variable receiving `endCursor`.
        variable: String,
    },
    /// Expression-driven: evaluated on `{status, headers, body, records, request: {query, body}}`
    /// (`records`: how many the page held; `request`: the page state that produced it), yields
    /// null (last page) or `{query?: {...}, body?: {...}, variables?: {...}, url?: "..."}`.
    Dynamic {
        /// Expression yielding the next page's changes.
        next: String,
    },
}

/// Parameter location for pagination values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyOrQuery {
    /// URL query parameter.
    Query,
    /// Top-level field of the JSON body.
    Body,
}

fn default_query_location() -> BodyOrQuery {
    BodyOrQuery::Query
}

fn default_one() -> u64 {
    1
}

fn default_next_rel() -> String {
    "next".to_owned()
}

/// Rate-limit dialect: where limit/remaining/reset come from and in which unit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDialect {
    /// Request budget of the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<HeaderNumber>,
    /// Requests left in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<HeaderNumber>,
    /// When the window resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<HeaderTime>,
    /// How long to wait after a rate-limited answer (default: `Retry-After`, seconds or HTTP-date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<HeaderTime>,
    /// Expression over `{status, headers, body}` that is true when the vendor signals throttling
    /// in an otherwise successful answer (GraphQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled: Option<String>,
}

/// A number read from a header.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderNumber {
    /// Header name (case-insensitive).
    pub header: String,
    /// For `key=value` lists (`api-usage=18/5000; api-bursts=1/750`): the key to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// For `used/limit` values (`32/40`): which part to take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<FractionPart>,
}

/// Parts of a `used/limit` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FractionPart {
    /// The left side.
    Used,
    /// The right side.
    Limit,
    /// `limit - used`.
    Remaining,
}

/// A point in time or a duration read from a header.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderTime {
    /// Header name (case-insensitive).
    pub header: String,
    /// How the value is written.
    pub unit: TimeUnit,
}

/// Units of time values in vendor headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// UTC epoch seconds.
    EpochSeconds,
    /// UTC epoch milliseconds.
    EpochMilliseconds,
    /// Seconds from now; decimals allowed (`2.0`); an HTTP-date is accepted too (Retry-After).
    DeltaSeconds,
    /// Milliseconds from now.
    DeltaMilliseconds,
    /// ISO-8601 / RFC 3339 timestamp (`2024-05-01T10:00Z` allowed).
    Iso8601,
    /// RFC 9110 HTTP-date.
    HttpDate,
}

/// Vendor failure → normalized error.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorMapping {
    /// Expression over the response body yielding the vendor's error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Rules checked in order on every response (2xx included, for errors in GraphQL bodies);
    /// the first match decides. Unmatched non-2xx answers map by status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ErrorRule>,
}

/// One error-mapping rule: it matches when the status is listed (or none is listed) and `when`
/// (if given) is true.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Statuses the rule applies to (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
    /// Expression over `{status, headers, body}` (header names lower-case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Normalized code to answer with.
    pub code: RemoteErrorCode,
}

/// Connect-time work, as data: validation first (are the credentials good?), then post-install
/// (they are; set things up), unless `post_install_first`. A step whose answer says the
/// credentials are wrong (`remote_unauthorized`, or a 403 the error rules map to it) ends in
/// `validation_error` in either phase; `post_install_error` means they were accepted and a later
/// step failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Steps run after validation, in order (fetch the workspace id into `context`, register a
    /// webhook, …); a failing step puts the account in `post_install_error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_install: Vec<LifecycleStep>,
    /// Requests that must succeed for the account to become `active`; a failing one puts it in
    /// `validation_error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<LifecycleStep>,
    /// Run post-install before validation (when validation needs context post-install fetches).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub post_install_first: bool,
}

/// One vendor call made while connecting.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleStep {
    /// Name shown on the account when the step fails.
    pub name: String,
    /// Resource called.
    pub resource: String,
    /// Method called.
    pub method: String,
    /// Template of the record id (`{{context.*}}`, `{{credentials.*}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Extra query parameters (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Request body (JSON template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Values stored into the account's `context`: key → expression over the step's result (the
    /// record, or the records array of a list method).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, String>,
}

/// A unified method: which vendor method it calls and how data is mapped.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnifiedMethod {
    /// Vendor resource called.
    pub resource: String,
    /// Vendor method called (default: the unified method's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Vendor query parameters (templates over `query.*`, the caller's unified query).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Expression mapping one vendor record to the unified shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Expression mapping the unified request body to the vendor's (writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
}

/// JSON Schema of the manifest format.
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Manifest)).expect("schema serializes");
    // An `api_key` method without an id still names its header `name` (see `AuthMethod`).
    if let Some(Value::Array(variants)) = schema.pointer_mut("/$defs/AuthMethod/oneOf") {
        for v in variants {
            if v.pointer("/properties/type/const") == Some(&Value::from("api_key"))
                && let Some(Value::Array(required)) = v.get_mut("required")
            {
                required.retain(|r| r != "param");
            }
        }
    }
    schema
}

/// The Wasm component of a connector (`wit/connector.wit`, `patchbay:connector@1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The component file, relative to the manifest (directory loads). Absent when the component
    /// is uploaded with the manifest, or embeds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The hooks the component implements; every other step uses the declarative engine.
    pub hooks: Vec<Hook>,
}

/// A hook of the component contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// Build the vendor request for a resource method.
    BuildRequest,
    /// Classify an answer: failure code and rate-limit state.
    Classify,
    /// Read a successful answer: records and next page, or the record.
    ReadPage,
    /// Map a page of vendor records to unified records.
    MapRecords,
    /// Map a unified write body to the vendor's.
    MapBack,
    /// Verify an inbound webhook's signature.
    VerifyWebhook,
    /// Map an inbound webhook to unified events.
    MapWebhook,
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 7] = [
        Hook::BuildRequest,
        Hook::Classify,
        Hook::ReadPage,
        Hook::MapRecords,
        Hook::MapBack,
        Hook::VerifyWebhook,
        Hook::MapWebhook,
    ];

    /// The hook's name in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::BuildRequest => "build_request",
            Hook::Classify => "classify",
            Hook::ReadPage => "read_page",
            Hook::MapRecords => "map_records",
            Hook::MapBack => "map_back",
            Hook::VerifyWebhook => "verify_webhook",
            Hook::MapWebhook => "map_webhook",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_kind_is_the_type_key() {
        let kinds = [
            serde_json::json!({"type": "none"}),
            serde_json::json!({"type": "api_key", "in": "header", "param": "X-Key", "value": "{{credentials.k}}"}),
            serde_json::json!({"type": "bearer"}),
            serde_json::json!({"type": "basic", "username": "u"}),
            serde_json::json!({"type": "oauth2", "grant": "client_credentials", "token_url": "https://x/token"}),
        ];
        for v in kinds {
            let auth: Auth = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(auth.kind(), v["type"]);
            assert_eq!(auth.oauth2().is_some(), auth.kind() == "oauth2");
        }
    }
}

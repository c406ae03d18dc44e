//! The route table and the OpenAPI 3.1 document built from it.
//!
//! Every route is added through [`Routes`], which registers the handler with actix (when given a
//! `ServiceConfig`) and records its [`Op`]: summary, authentication, parameters, request and
//! response bodies (JSON Schema 2020-12 generated from the `verity-api` types with `schemars`)
//! and the error statuses with their `innererror` codes. `/openapi.json` is that record, so a
//! route cannot be served without being described. A route registered any other way fails the
//! test `no_route_is_registered_outside_the_table`; the integration test `tests/openapi.rs`
//! checks every documented operation is served.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::error::InnerCode;

/// Generates the schema of a type (a `$ref` into `components.schemas` for named types).
type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (wallets, browsers, DID resolvers).
    Public,
    /// The operator's admin token.
    Admin,
    /// A Request Service API caller: an access token of an API client or an API key.
    Api,
    /// An OpenID4VCI access token from the authority's token endpoint.
    WalletToken,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamIn {
    Query,
    Header,
}

#[derive(Debug, Clone)]
struct Param {
    name: &'static str,
    location: ParamIn,
    required: bool,
    description: &'static str,
}

/// A request or response body.
#[derive(Debug, Clone)]
enum Content {
    /// `application/json` of a generated schema.
    Json(SchemaFn),
    /// `application/json` described in words (built by the handler, no type of its own).
    JsonAny(&'static str),
    /// Another media type holding text (a JWT, HTML, a form, metrics).
    Text(&'static str, &'static str),
    /// `application/x-www-form-urlencoded` with these fields (name, required, description).
    Form(&'static [(&'static str, bool, &'static str)]),
    /// A binary body (images, scripts, stylesheets).
    Binary(&'static str),
}

#[derive(Debug, Clone)]
struct Response {
    status: u16,
    description: &'static str,
    content: Option<Content>,
}

/// The error shape an operation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorShape {
    /// The Request Service API's `error.innererror` shape.
    Api,
    /// OAuth 2.0 / OpenID4VC `error` + `error_description`.
    OAuth,
}

/// The description of one operation.
#[derive(Debug, Clone)]
pub struct Op {
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: Option<&'static str>,
    auth: Auth,
    params: Vec<Param>,
    query_type: Option<SchemaFn>,
    body: Option<(Content, &'static str)>,
    responses: Vec<Response>,
    errors: Vec<(u16, Vec<InnerCode>)>,
    error_shape: ErrorShape,
}

impl Op {
    /// An operation with a unique `operationId`, its tag and a one-line summary.
    pub fn new(id: &'static str, tag: &'static str, summary: &'static str) -> Self {
        Self {
            id,
            tag,
            summary,
            description: None,
            auth: Auth::Public,
            params: Vec::new(),
            query_type: None,
            body: None,
            responses: Vec::new(),
            errors: Vec::new(),
            error_shape: ErrorShape::Api,
        }
    }

    /// A longer description (Markdown).
    pub fn describe(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }

    /// Requires the admin token (adds its 401/403 answers).
    pub fn admin(mut self) -> Self {
        self.auth = Auth::Admin;
        self
    }

    /// Requires a Request Service API credential (adds its 401/403 answers).
    pub fn api(mut self) -> Self {
        self.auth = Auth::Api;
        self
    }

    /// Requires an OpenID4VCI access token.
    pub fn wallet_token(mut self) -> Self {
        self.auth = Auth::WalletToken;
        self
    }

    /// Answers errors as OAuth 2.0 does (`error`, `error_description`).
    pub fn oauth_errors(mut self) -> Self {
        self.error_shape = ErrorShape::OAuth;
        self
    }

    /// A query parameter.
    pub fn query(mut self, name: &'static str, required: bool, description: &'static str) -> Self {
        self.params.push(Param {
            name,
            location: ParamIn::Query,
            required,
            description,
        });
        self
    }

    /// Every field of `T` (the handler's `web::Query<T>`) as a query parameter.
    pub fn query_type<T: JsonSchema>(mut self) -> Self {
        self.query_type = Some(schema_of::<T>);
        self
    }

    /// A request header.
    pub fn header(mut self, name: &'static str, required: bool, description: &'static str) -> Self {
        self.params.push(Param {
            name,
            location: ParamIn::Header,
            required,
            description,
        });
        self
    }

    /// A JSON request body of type `T`.
    pub fn body<T: JsonSchema>(mut self, description: &'static str) -> Self {
        self.body = Some((Content::Json(schema_of::<T>), description));
        self
    }

    /// A JSON request body without a type of its own.
    pub fn body_any(mut self, description: &'static str) -> Self {
        self.body = Some((Content::JsonAny(description), description));
        self
    }

    /// A text request body of another media type (a JWT, say).
    pub fn body_text(mut self, media_type: &'static str, description: &'static str) -> Self {
        self.body = Some((Content::Text(media_type, description), description));
        self
    }

    /// A form-encoded request body.
    pub fn body_form(
        mut self,
        fields: &'static [(&'static str, bool, &'static str)],
        description: &'static str,
    ) -> Self {
        self.body = Some((Content::Form(fields), description));
        self
    }

    /// A JSON answer of type `T`.
    pub fn ok<T: JsonSchema>(mut self, status: u16, description: &'static str) -> Self {
        self.responses.push(Response {
            status,
            description,
            content: Some(Content::Json(schema_of::<T>)),
        });
        self
    }

    /// A JSON answer without a type of its own.
    pub fn ok_any(mut self, status: u16, description: &'static str) -> Self {
        self.responses.push(Response {
            status,
            description,
            content: Some(Content::JsonAny(description)),
        });
        self
    }

    /// A text answer of another media type.
    pub fn ok_text(
        mut self,
        status: u16,
        media_type: &'static str,
        description: &'static str,
    ) -> Self {
        self.responses.push(Response {
            status,
            description,
            content: Some(Content::Text(media_type, description)),
        });
        self
    }

    /// A binary answer.
    pub fn ok_binary(mut self, media_type: &'static str, description: &'static str) -> Self {
        self.responses.push(Response {
            status: 200,
            description,
            content: Some(Content::Binary(media_type)),
        });
        self
    }

    /// An answer without a body (204, 303).
    pub fn ok_empty(mut self, status: u16, description: &'static str) -> Self {
        self.responses.push(Response {
            status,
            description,
            content: None,
        });
        self
    }

    /// An error status and the `innererror` codes it carries.
    pub fn error(mut self, status: u16, codes: &[InnerCode]) -> Self {
        match self.errors.iter_mut().find(|(s, _)| *s == status) {
            Some((_, existing)) => existing.extend_from_slice(codes),
            None => self.errors.push((status, codes.to_vec())),
        }
        self
    }

    /// 400 for a body or field that fails its rule.
    pub fn bad_request(self) -> Self {
        self.error(
            400,
            &[InnerCode::BadOrMissingField, InnerCode::InvalidRequestBody],
        )
    }

    /// 404 for an id that names nothing.
    pub fn not_found(self) -> Self {
        self.error(404, &[InnerCode::NotFound])
    }
}

/// One registered route and its description.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// The actix path pattern (`/v1.0/requests/{id}`, `/{path:.+}/did.json`).
    pub pattern: String,
    /// Its description.
    pub op: Op,
}

impl Operation {
    /// The OpenAPI path: the pattern without regular expressions (`{path:.+}` -> `{path}`).
    pub fn openapi_path(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len());
        let mut in_param = false;
        let mut skipping = false;
        for c in self.pattern.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push(c);
                }
                '}' if in_param => {
                    in_param = false;
                    skipping = false;
                    out.push(c);
                }
                ':' if in_param => skipping = true,
                _ if skipping => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// The names of the path parameters, in order.
    pub fn path_params(&self) -> Vec<String> {
        let path = self.openapi_path();
        path.split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }
}

/// Registers routes and records what each one is.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    ops: Vec<Operation>,
}

impl<'a> Routes<'a> {
    /// Registers every route added with actix as well as describing it.
    pub fn register(cfg: &'a mut web::ServiceConfig) -> Self {
        Self {
            cfg: Some(cfg),
            ops: Vec::new(),
        }
    }

    /// Only describes the routes added (for the document and the tests).
    pub fn describe() -> Self {
        Self {
            cfg: None,
            ops: Vec::new(),
        }
    }

    /// The operations added so far, in registration order.
    pub fn operations(&self) -> &[Operation] {
        &self.ops
    }

    /// `GET path`.
    pub fn get<F, Args>(&mut self, path: &str, handler: F, op: Op) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler, op, None)
    }

    /// `POST path`.
    pub fn post<F, Args>(&mut self, path: &str, handler: F, op: Op) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler, op, None)
    }

    /// `PUT path`.
    pub fn put<F, Args>(&mut self, path: &str, handler: F, op: Op) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, handler, op, None)
    }

    /// `DELETE path`.
    pub fn delete<F, Args>(&mut self, path: &str, handler: F, op: Op) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, handler, op, None)
    }

    /// `POST path` whose body may be up to `max_body` bytes (instead of the JSON limit).
    pub fn post_large<F, Args>(
        &mut self,
        path: &str,
        handler: F,
        op: Op,
        max_body: usize,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler, op, Some(max_body))
    }

    #[allow(clippy::disallowed_methods)] // the one place routes are registered
    fn add<F, Args>(
        &mut self,
        method: Method,
        path: &str,
        handler: F,
        op: Op,
        max_body: Option<usize>,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            let route = web::method(method.clone()).to(handler);
            match max_body {
                Some(limit) => {
                    cfg.service(
                        web::resource(path)
                            .app_data(web::PayloadConfig::new(limit))
                            .route(route),
                    );
                }
                None => {
                    cfg.route(path, route);
                }
            }
        }
        self.ops.push(Operation {
            method,
            pattern: path.to_owned(),
            op,
        });
        self
    }
}

/// The methods served on `path` (the route table's patterns, built once per process): empty
/// when no route has that path. A request with another method on such a path is answered 405
/// with these in `Allow`.
pub fn allowed_methods(path: &str) -> Vec<Method> {
    static PATTERNS: OnceLock<Vec<(regex_lite::Regex, Method)>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        table_operations()
            .iter()
            .filter_map(|o| {
                regex_lite::Regex::new(&pattern_regex(&o.pattern))
                    .ok()
                    .map(|re| (re, o.method.clone()))
            })
            .collect()
    });
    let mut methods: Vec<Method> = Vec::new();
    for (re, method) in patterns {
        if re.is_match(path) && !methods.contains(method) {
            methods.push(method.clone());
        }
    }
    methods
}

/// An actix path pattern as an anchored regular expression: `{name}` is one path segment,
/// `{name:re}` is `re`, everything else literal.
fn pattern_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&regex_lite::escape(&rest[..open]));
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let inner = &rest[open + 1..open + close];
        match inner.split_once(':') {
            Some((_, re)) => {
                out.push_str("(?:");
                out.push_str(re);
                out.push(')');
            }
            None => out.push_str("[^/]+"),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(&regex_lite::escape(rest));
    out.push('$');
    out
}

/// The OpenAPI document of every route (built once per process).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| build(table_operations()))
}

/// Every operation of the route table, described once per process (for the document and for
/// the methods a path is served with).
fn table_operations() -> &'static [Operation] {
    static OPS: OnceLock<Vec<Operation>> = OnceLock::new();
    OPS.get_or_init(|| {
        let mut routes = Routes::describe();
        crate::routes::table(&mut routes);
        routes.ops
    })
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".into();
        })
        .into_generator()
}

fn content(c: &Content, g: &mut SchemaGenerator) -> Value {
    match c {
        Content::Json(f) => json!({ "application/json": { "schema": f(g).to_value() } }),
        Content::JsonAny(description) => json!({
            "application/json": { "schema": { "type": "object", "description": description } }
        }),
        Content::Text(media, description) => json!({
            media.to_string(): { "schema": { "type": "string", "description": description } }
        }),
        Content::Form(fields) => {
            let mut props = Map::new();
            let mut required = Vec::new();
            for (name, req, description) in fields.iter() {
                props.insert(
                    (*name).to_owned(),
                    json!({ "type": "string", "description": description }),
                );
                if *req {
                    required.push(json!(name));
                }
            }
            json!({ "application/x-www-form-urlencoded": { "schema": {
                "type": "object", "properties": props, "required": required } } })
        }
        Content::Binary(media) => json!({
            media.to_string(): { "schema": { "type": "string", "contentMediaType": media } }
        }),
    }
}

/// The query parameters of a `web::Query<T>` type: one per property of its schema.
fn query_params(f: SchemaFn) -> Vec<Value> {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = f(&mut g).to_value();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            let mut p = json!({
                "name": name, "in": "query", "required": required.contains(&name.as_str()),
                "schema": prop,
            });
            if !description.is_null() {
                p["description"] = description;
            }
            out.push(p);
        }
    }
    out
}

fn error_schema() -> Value {
    let codes: Vec<&str> = InnerCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "description": "The Request Service API error shape: `error.code` is fixed per HTTP status, `error.innererror.code` says what went wrong and `target` names the field. 5xx answers carry only the correlation id (`mscv`).",
        "required": ["error"],
        "properties": {
            "requestId": { "type": ["string", "null"], "description": "The API request the error belongs to, if any." },
            "date": { "type": "string", "description": "HTTP date of the answer." },
            "mscv": { "type": "string", "description": "Correlation id: look it up in the server's logs." },
            "error": {
                "type": "object",
                "required": ["code", "message", "innererror"],
                "properties": {
                    "code": { "type": "string", "description": "Fixed per status: badRequest, unauthorized, forbidden, notFound, conflict, ..." },
                    "message": { "type": "string" },
                    "innererror": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": { "type": "string", "enum": codes },
                            "message": { "type": "string" },
                            "target": { "type": "string", "description": "The field the error is about (`registration.clientName`)." }
                        }
                    }
                }
            }
        }
    })
}

fn oauth_error_schema() -> Value {
    json!({
        "type": "object",
        "description": "An OAuth 2.0 / OpenID4VC error (RFC 6749 section 5.2).",
        "required": ["error"],
        "properties": {
            "error": { "type": "string", "description": "invalid_request, invalid_client, invalid_grant, invalid_proof, invalid_nonce, ..." },
            "error_description": { "type": "string" },
            "c_nonce": { "type": "string", "description": "A fresh nonce, with invalid_nonce / invalid_proof." }
        }
    })
}

fn error_response(shape: ErrorShape, description: String, codes: &[InnerCode]) -> Value {
    let schema = match shape {
        ErrorShape::Api => "#/components/schemas/ApiError",
        ErrorShape::OAuth => "#/components/schemas/OAuthError",
    };
    let mut r = json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": schema } } }
    });
    if !codes.is_empty() {
        r["x-innererror-codes"] = json!(codes.iter().map(|c| c.as_str()).collect::<Vec<_>>());
    }
    r
}

fn operation(o: &Operation, g: &mut SchemaGenerator) -> Value {
    let op = &o.op;
    let mut params: Vec<Value> = o
        .path_params()
        .into_iter()
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    if let Some(f) = op.query_type {
        params.extend(query_params(f));
    }
    for p in &op.params {
        params.push(json!({
            "name": p.name,
            "in": match p.location { ParamIn::Query => "query", ParamIn::Header => "header" },
            "required": p.required,
            "description": p.description,
            "schema": { "type": "string" },
        }));
    }
    let mut responses = Map::new();
    for r in &op.responses {
        let mut v = json!({ "description": r.description });
        if let Some(c) = &r.content {
            v["content"] = content(c, g);
        }
        responses.insert(r.status.to_string(), v);
    }
    let mut errors = op.errors.clone();
    if matches!(op.auth, Auth::Admin | Auth::Api | Auth::WalletToken) {
        errors.push((401, vec![InnerCode::TokenError]));
        if op.auth != Auth::WalletToken {
            errors.push((403, vec![InnerCode::Forbidden]));
        }
    }
    for (status, codes) in &errors {
        let names: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
        let description = if op.error_shape == ErrorShape::OAuth || names.is_empty() {
            "Refused; the body says why.".to_owned()
        } else {
            format!("Refused with innererror.code {}.", names.join(", "))
        };
        responses.insert(
            status.to_string(),
            error_response(op.error_shape, description, codes),
        );
    }
    responses.insert(
        "default".to_owned(),
        error_response(
            ErrorShape::Api,
            "Any other error: 405 `methodNotAllowed` (with Allow) for another method on a served path, 413 `payloadTooLarge`, 429 `rateLimited` (with Retry-After), 500 `internalError` (correlation id only), 503 `transientError` (retry)."
                .to_owned(),
            &[],
        ),
    );
    let mut v = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "responses": responses,
    });
    if let Some(d) = op.description {
        v["description"] = json!(d);
    }
    if !params.is_empty() {
        v["parameters"] = json!(params);
    }
    if let Some((c, description)) = &op.body {
        v["requestBody"] =
            json!({ "required": true, "description": description, "content": content(c, g) });
    }
    match op.auth {
        Auth::Public => v["security"] = json!([]),
        Auth::Admin => v["security"] = json!([{ "adminToken": [] }]),
        Auth::Api => v["security"] = json!([{ "apiToken": [] }]),
        Auth::WalletToken => v["security"] = json!([{ "walletAccessToken": [] }]),
    }
    v
}

const TAGS: &[(&str, &str)] = &[
    (
        "Request Service API",
        "Relying parties create issuance and presentation requests and read their status; wire-compatible with the hosted Request Service API.",
    ),
    (
        "Wallet",
        "What wallets call during issuance and presentation (the hosted service's protocol).",
    ),
    (
        "OpenID4VCI",
        "OpenID for Verifiable Credential Issuance 1.0 (SD-JWT VC and JWT-VC).",
    ),
    (
        "OpenID4VP",
        "OpenID for Verifiable Presentations 1.0 (DCQL, direct_post).",
    ),
    (
        "Face check",
        "The holder's selfie compared with the photo in the presented credential.",
    ),
    (
        "DID and linked domains",
        "did:web documents, DID Configuration and resolution.",
    ),
    ("Status", "Status lists of issued credentials."),
    (
        "OAuth",
        "Access tokens for API clients (client credentials).",
    ),
    (
        "Admin",
        "Operator API: tenants, authorities, keys, contracts, API clients and keys, credentials, audit. Requires the admin token.",
    ),
    (
        "Service",
        "Health, metrics, this document and the pages a browser opens.",
    ),
    (
        "VC-API",
        "W3C CCG VC-API: issue and verify VCDM 2.0 credentials secured as vc+jwt (VC-JOSE-COSE).",
    ),
    (
        "Console",
        "The operator console: HTML pages and forms for people (a session cookie from logging in with the admin token, and a CSRF token in every form).",
    ),
];

/// Builds the document from the operations.
pub fn build(ops: &[Operation]) -> Value {
    let mut g = generator();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for o in ops {
        let item = operation(o, &mut g);
        paths
            .entry(o.openapi_path())
            .or_default()
            .insert(o.method.as_str().to_ascii_lowercase(), item);
    }
    let mut schemas = g.take_definitions(true);
    schemas.insert("ApiError".to_owned(), error_schema());
    schemas.insert("OAuthError".to_owned(), oauth_error_schema());
    let tags: Vec<Value> = TAGS
        .iter()
        .map(|(name, description)| json!({ "name": name, "description": description }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Verity",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Self-hosted verifiable-credential issuer and verifier.",
            "description": "The Request Service API (wire-compatible with the hosted service), the wallet endpoints (the hosted protocol, OpenID4VCI and OpenID4VP 1.0), did:web and linked domains, status lists and the admin API. Errors have one shape (`ApiError`) whose `innererror.code` says what went wrong; OAuth and OpenID4VC endpoints answer OAuth errors.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "adminToken": { "type": "http", "scheme": "bearer", "description": "The operator's admin token (`keys.admin_token` / `VERITY_ADMIN_TOKEN`)." },
                "apiToken": { "type": "http", "scheme": "bearer", "description": "An access token from `POST /oauth2/token` (client credentials of an API client) or an API key (`vk_...`)." },
                "walletAccessToken": { "type": "http", "scheme": "bearer", "description": "An access token from the authority's OpenID4VCI token endpoint." }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_anchored_regexes() {
        assert_eq!(
            pattern_regex("/v1.0/status/{list}"),
            r"^/v1\.0/status/[^/]+$"
        );
        assert_eq!(pattern_regex("/{path:.+}/did.json"), r"^/(?:.+)/did\.json$");
        assert_eq!(
            allowed_methods("/v1.0/status/1234"),
            vec![Method::GET],
            "one segment"
        );
        assert!(allowed_methods("/v1.0/status/1234/other").is_empty());
        assert_eq!(allowed_methods("/tenants/acme/did.json"), vec![Method::GET]);
        let contracts = allowed_methods("/admin/v1/contracts");
        assert!(contracts.contains(&Method::GET) && contracts.contains(&Method::POST));
        assert!(allowed_methods("/v1.0/notARoute").is_empty());
    }

    fn op(pattern: &str) -> Operation {
        Operation {
            method: Method::GET,
            pattern: pattern.to_owned(),
            op: Op::new("x", "Service", "x"),
        }
    }

    #[test]
    fn patterns_become_openapi_paths() {
        assert_eq!(op("/{path:.+}/did.json").openapi_path(), "/{path}/did.json");
        assert_eq!(op("/a/{id}/b/{c}").openapi_path(), "/a/{id}/b/{c}");
        assert_eq!(op("/a/{id}/b/{c}").path_params(), vec!["id", "c"]);
        assert_eq!(op("/").path_params(), Vec::<String>::new());
    }

    #[test]
    fn every_inner_code_is_listed_once_with_its_wire_name() {
        let names: std::collections::BTreeSet<&str> =
            InnerCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), InnerCode::ALL.len());
        for c in InnerCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
    }

    #[test]
    fn no_route_is_registered_outside_the_table() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 20, "the sources were not found");
        let needles = [
            ".route(",
            ".service(",
            "web::resource(",
            "web::scope(",
            "web::get()",
            "web::post()",
            "web::put()",
            "web::delete()",
        ];
        for file in files.iter().filter(|f| !f.ends_with("openapi.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            for needle in needles {
                assert!(
                    !text.contains(needle),
                    "{} registers a route with `{needle}` outside `openapi::Routes`: it would be missing from /openapi.json",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn every_inner_code_is_in_all() {
        // A new variant fails to compile here until it is added to `InnerCode::ALL`.
        fn listed(c: InnerCode) -> bool {
            match c {
                InnerCode::BadOrMissingField
                | InnerCode::InvalidRequestBody
                | InnerCode::NotFound
                | InnerCode::TokenError
                | InnerCode::Forbidden
                | InnerCode::Conflict
                | InnerCode::PayloadTooLarge
                | InnerCode::RateLimited
                | InnerCode::MethodNotAllowed
                | InnerCode::TransientError
                | InnerCode::Internal
                | InnerCode::InvalidDid
                | InnerCode::UnsupportedDidMethod
                | InnerCode::DidNotFound
                | InnerCode::DidResolutionFailed
                | InnerCode::ContractDisabled
                | InnerCode::RequestExpired
                | InnerCode::CallbackUrlRefused
                | InnerCode::HolderRequestInvalid
                | InnerCode::Replay
                | InnerCode::WrongPin
                | InnerCode::PinLocked
                | InnerCode::AttestationInvalid
                | InnerCode::PresentationInvalid
                | InnerCode::FaceCheckNotConfigured => InnerCode::ALL.contains(&c),
            }
        }
        assert!(InnerCode::ALL.into_iter().all(listed));
    }

    #[test]
    fn operation_ids_are_unique_and_every_operation_answers_something() {
        let mut routes = Routes::describe();
        crate::routes::table(&mut routes);
        let mut ids = std::collections::BTreeSet::new();
        for o in routes.operations() {
            assert!(ids.insert(o.op.id), "operationId {} twice", o.op.id);
            assert!(
                !o.op.responses.is_empty(),
                "{} {} documents no answer",
                o.method,
                o.pattern
            );
            assert!(
                TAGS.iter().any(|(t, _)| *t == o.op.tag),
                "unknown tag {}",
                o.op.tag
            );
        }
    }
}

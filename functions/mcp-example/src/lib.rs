//! The example MCP server: a product's bookings as MCP tools, protected by Portcullis through
//! `portcullis-resource` alone.
//!
//! Transport: MCP streamable HTTP, stateless, one JSON response per POST (no SSE, no session):
//! what one Lambda invocation can do. It speaks MCP 2026-07-28 (every request carries its
//! version in `_meta`, `server/discover`, the `Mcp-Method` / `Mcp-Name` headers checked against
//! the body) and, for clients of the handshake era, `initialize` at 2025-11-25, 2025-06-18 or
//! 2025-03-26 ("dual-era", basic/versioning): the official Python SDK probes `server/discover`
//! and falls back to `initialize`.
//!
//! Why no SDK: the official Rust SDK (`rmcp` 3.11, features `server` and
//! `transport-streamable-http-server`) is built around a tower service with hyper bodies and SSE
//! streams, and brings a second `syn` (3.x), `schemars` and its derive, `darling`, `chrono`, and
//! second copies of `rand`, `sha2` and `base64` (about 30 s for rmcp itself and 90 s in all of a
//! debug build at -j1 here); this server needs six methods, and its authorization must look at
//! the JSON-RPC call before dispatching it anyway (the scope a tool needs).
//!
//! Authorization (MCP basic/authorization): every call needs an access token issued for this
//! server (RFC 8707 audience, [`Authenticator::for_resource`]); a `tools/call` needs the scopes
//! of its tool, decided here by peeking at the body before dispatch, so a token without them
//! gets HTTP 403 `insufficient_scope` naming them (step-up) and never reaches the tool.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use base64::Engine as _;
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use list_bookings::Booking;
use portcullis_resource::{
    Authenticator, Principal, ProtectedResourceMetadata, ResourceSettings, SettingsError, Subject,
};
use serde_json::{json, Map, Value};
use std::future::Future;

/// The MCP endpoint's path when `PORTCULLIS_RESOURCE_URI` is not set: the resource is then
/// `{PORTCULLIS_ISSUER}/mcp` (the local stack, where every function shares one environment).
pub const DEFAULT_PATH: &str = "/mcp";

/// The revision of the per-request era this server speaks.
pub const MODERN: &str = "2026-07-28";
/// The handshake-era revisions `initialize` may agree on, newest first.
pub const LEGACY: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

/// The `_meta` keys of 2026-07-28 (basic/index).
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// JSON-RPC and MCP error codes.
mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// 2026-07-28 streamable HTTP "Server validation".
    pub const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28 basic/versioning.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A tool, and the scopes a call of it needs.
#[derive(Debug)]
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub scopes: &'static [&'static str],
}

/// The tools, in the order `tools/list` gives them (deterministic, as 2026-07-28 asks).
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "list_bookings",
        title: "List my bookings",
        description: "The signed-in user's bookings: id, title, start and end time.",
        scopes: &["READ_BOOKING"],
    },
    Tool {
        name: "get_profile",
        title: "My profile",
        description: "The signed-in user's name, username and email address.",
        scopes: &["READ_PROFILE"],
    },
];

/// The scopes a client should ask for first (RFC 9728 `scopes_supported`, MCP: the minimal set
/// for basic functionality); `get_profile` needs more, asked for by step-up.
pub const BASIC_SCOPES: &[&str] = &["READ_BOOKING"];

/// Where the bookings come from (the product's table; a fake in tests).
pub trait BookingStore: Send + Sync {
    fn bookings_of(
        &self,
        sub: &Subject,
    ) -> impl Future<Output = Result<Vec<Booking>, Box<dyn std::error::Error + Send + Sync>>> + Send;
}

impl BookingStore for list_bookings::Bookings {
    async fn bookings_of(
        &self,
        sub: &Subject,
    ) -> Result<Vec<Booking>, Box<dyn std::error::Error + Send + Sync>> {
        self.of(sub).await
    }
}

/// The server: its authenticator (bound to its resource URI), its metadata and its bookings.
pub struct McpServer<T = portcullis_resource::DynamoTokens, B = list_bookings::Bookings> {
    auth: Authenticator<T>,
    metadata: ProtectedResourceMetadata,
    bookings: B,
    path: String,
    origin: String,
}

impl McpServer {
    /// Cold start: `portcullis-resource`'s settings (the resource URI defaults to
    /// `{PORTCULLIS_ISSUER}/mcp`), and the bookings table.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let settings = settings(portcullis_resource::process_env)?;
        let auth = Authenticator::from_settings(&settings).await?;
        Ok(Self::new(
            auth,
            ProtectedResourceMetadata::from_settings(&settings)?,
            list_bookings::Bookings::from_env().await?,
        )?)
    }
}

/// The resource's settings, with the default resource URI when none is set.
pub fn settings(get: impl Fn(&str) -> Option<String>) -> Result<ResourceSettings, SettingsError> {
    use portcullis_resource::FromEnv;
    let mut s = ResourceSettings::from_lookup(get)?;
    if s.resource_uri.is_none() {
        let Some(issuer) = &s.issuer else {
            return Err(SettingsError(
                "mcp-example needs PORTCULLIS_RESOURCE_URI or PORTCULLIS_ISSUER".into(),
            ));
        };
        s.resource_uri = Some(format!("{issuer}{DEFAULT_PATH}"));
    }
    Ok(s)
}

impl<T, B> McpServer<T, B>
where
    T: portcullis_resource::GrantRead + portcullis_resource::ApiKeyLookup,
    B: BookingStore,
{
    /// Over an authenticator and metadata for the same resource; the metadata lists
    /// [`BASIC_SCOPES`] and a name.
    pub fn new(
        auth: Authenticator<T>,
        metadata: ProtectedResourceMetadata,
        bookings: B,
    ) -> Result<Self, SettingsError> {
        let metadata = metadata
            .with_scopes(BASIC_SCOPES.iter().copied())
            .with_name("Portcullis example MCP server");
        let (origin, path) = split_origin(&metadata.resource);
        let path = if path.is_empty() { "/" } else { path };
        // One audience everywhere: the metadata's resource.
        let auth = match auth.resource() {
            Some(r) if r == metadata.resource => auth,
            Some(r) => {
                return Err(SettingsError(format!(
                    "the authenticator protects {r}, the metadata describes {}",
                    metadata.resource
                )))
            }
            None => auth.for_resource(&metadata.resource)?,
        };
        Ok(Self {
            path: path.to_string(),
            origin: origin.to_string(),
            auth,
            metadata,
            bookings,
        })
    }

    /// One HTTP request: the metadata, or a JSON-RPC message at the MCP endpoint.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        if let Some(r) = self.metadata.serve(&req) {
            return r;
        }
        if req.uri().path() != self.path {
            return plain(404, json!({"error": "not_found"}));
        }
        // 2026-07-28: POST only; GET and DELETE (the older revisions' stream and session end)
        // are 405.
        if req.method() != Method::POST {
            let mut r = plain(405, json!({"error": "method_not_allowed"}));
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("POST"));
            return r;
        }
        // Streamable HTTP "Security": an Origin other than the server's own is 403 (DNS
        // rebinding), with a JSON-RPC error that has no id.
        if let Some(origin) = header(req.headers(), "origin") {
            if origin != self.origin {
                return rpc_response(
                    403,
                    error(
                        Value::Null,
                        code::INVALID_REQUEST,
                        "Origin not allowed",
                        None,
                    ),
                );
            }
        }
        let message: Option<Value> = serde_json::from_slice(req.body().as_ref()).ok();
        let scopes = message.as_ref().map_or(&[][..], scopes_of);
        // The token first, for every message: an unauthenticated caller learns nothing more.
        let who = match self.auth.authenticate(&req, scopes).await {
            Ok(who) => who,
            Err(e) => return e.into_response(),
        };
        let Some(message) = message else {
            return rpc_response(
                400,
                error(Value::Null, code::PARSE_ERROR, "Parse error", None),
            );
        };
        let call = match Call::parse(&message, req.headers()) {
            Ok(Parsed::Call(call)) => call,
            // A notification or a response: accepted, no body.
            Ok(Parsed::Accepted) => return accepted(),
            Err((status, body)) => return rpc_response(status, body),
        };
        let (status, body) = self.dispatch(&call, &who).await;
        rpc_response(status, body)
    }

    async fn dispatch(&self, call: &Call<'_>, who: &Principal) -> (u16, Value) {
        let id = call.id.clone();
        let result = match call.method {
            "initialize" if !call.modern => {
                let requested = call.params.get("protocolVersion").and_then(Value::as_str);
                let version = requested
                    .filter(|v| LEGACY.contains(v))
                    .unwrap_or(LEGACY[0]);
                json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {}},
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                })
            }
            "server/discover" => json!({
                "supportedVersions": supported_versions(),
                "capabilities": {"tools": {}},
                "instructions": INSTRUCTIONS,
                "ttlMs": 3_600_000,
                "cacheScope": "public",
            }),
            "ping" => json!({}),
            "tools/list" => json!({
                "tools": TOOLS.iter().map(tool_json).collect::<Vec<_>>(),
                "ttlMs": 3_600_000,
                "cacheScope": "public",
            }),
            "tools/call" => match self.call_tool(call, who).await {
                Ok(result) => result,
                Err(e) => return (200, e.with_id(id)),
            },
            other => {
                let e = error(
                    id,
                    code::METHOD_NOT_FOUND,
                    format!("Method not found: {}", truncate(other)),
                    None,
                );
                // 2026-07-28: an unknown method is HTTP 404 with -32601.
                return (if call.modern { 404 } else { 200 }, e);
            }
        };
        (200, ok(id, result, call.modern))
    }

    /// A `tools/call` whose scopes the authenticator has already checked.
    async fn call_tool(&self, call: &Call<'_>, who: &Principal) -> Result<Value, RpcError> {
        let name = call
            .params
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let tool = find_tool(name).ok_or_else(|| {
            RpcError(
                code::INVALID_PARAMS,
                format!("Unknown tool: {}", truncate(name)),
            )
        })?;
        // A client's own token (client credentials) names no user: the tools act for one. A
        // tool error (not an HTTP 401): the token is valid, and re-authorizing cannot help.
        let Ok(user) = who.require_user() else {
            return Ok(tool_error(
                "this tool acts for a signed-in user; a client's own token (client_credentials) has none",
            ));
        };
        match tool.name {
            "list_bookings" => match self.bookings.bookings_of(&user.sub).await {
                Ok(bookings) => Ok(tool_result(json!({ "bookings": bookings }))),
                Err(e) => {
                    eprintln!("listing bookings failed: {e}");
                    Err(RpcError(
                        code::INTERNAL_ERROR,
                        "the bookings are unavailable; try again".into(),
                    ))
                }
            },
            _ => Ok(tool_result(json!({
                "sub": user.sub,
                "username": user.username,
                "name": user.name,
                "email": user.email,
            }))),
        }
    }
}

const INSTRUCTIONS: &str =
    "Reads the signed-in user's bookings (list_bookings) and profile (get_profile).";

fn server_info() -> Value {
    json!({"name": "portcullis-mcp-example", "version": env!("CARGO_PKG_VERSION")})
}

fn supported_versions() -> Vec<&'static str> {
    std::iter::once(MODERN)
        .chain(LEGACY.iter().copied())
        .collect()
}

fn find_tool(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The scopes a message needs: a `tools/call`'s tool's; nothing more for any other (a valid
/// token for this resource is always needed).
pub fn scopes_of(message: &Value) -> &'static [&'static str] {
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return &[];
    }
    message
        .pointer("/params/name")
        .and_then(Value::as_str)
        .and_then(find_tool)
        .map_or(&[], |t| t.scopes)
}

fn tool_json(t: &Tool) -> Value {
    json!({
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
    })
}

fn tool_result(structured: Value) -> Value {
    json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
        "isError": false,
    })
}

fn tool_error(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

/// A JSON-RPC request, checked against the transport's headers.
#[derive(Debug)]
struct Call<'a> {
    id: Value,
    method: &'a str,
    params: &'a Map<String, Value>,
    /// Whether it is a 2026-07-28 request (its version in `_meta`).
    modern: bool,
}

enum Parsed<'a> {
    Call(Call<'a>),
    Accepted,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Call<'a> {
    /// JSON-RPC 2.0 and MCP streamable HTTP: one request or notification per POST; the
    /// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers match the body.
    fn parse(message: &'a Value, headers: &HeaderMap) -> Result<Parsed<'a>, (u16, Value)> {
        let invalid = |why: &str| {
            (
                400,
                error(
                    Value::Null,
                    code::INVALID_REQUEST,
                    format!("Invalid Request: {why}"),
                    None,
                ),
            )
        };
        let Some(obj) = message.as_object() else {
            return Err(invalid("one JSON-RPC object per POST (no batches)"));
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("jsonrpc must be \"2.0\""));
        }
        let Some(method) = obj.get("method") else {
            // A response from the client (the older revisions allowed them): nothing to do.
            return if obj.contains_key("result") || obj.contains_key("error") {
                Ok(Parsed::Accepted)
            } else {
                Err(invalid("no method"))
            };
        };
        let Some(method) = method.as_str() else {
            return Err(invalid("method must be a string"));
        };
        let Some(id) = obj.get("id") else {
            return Ok(Parsed::Accepted);
        };
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return Err(invalid("id must be a string or an integer"));
        }
        let id = id.clone();
        let params = match obj.get("params") {
            None => &*EMPTY,
            Some(Value::Object(p)) => p,
            Some(_) => {
                return Err((
                    400,
                    error(id, code::INVALID_PARAMS, "params must be an object", None),
                ))
            }
        };
        let meta_version = params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .and_then(Value::as_str);
        let header_version = header(headers, "mcp-protocol-version");
        let mismatch = |why: String| {
            Err((
                400,
                error(
                    id.clone(),
                    code::HEADER_MISMATCH,
                    format!("Header mismatch: {why}"),
                    None,
                ),
            ))
        };
        let unsupported = |requested: &str| {
            Err((
                400,
                error(
                    id.clone(),
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    "Unsupported protocol version",
                    Some(
                        json!({"supported": supported_versions(), "requested": truncate(requested)}),
                    ),
                ),
            ))
        };
        let modern = match meta_version {
            Some(v) => {
                if header_version != Some(v) {
                    return mismatch(format!(
                        "MCP-Protocol-Version must be the body's {META_VERSION}"
                    ));
                }
                if v != MODERN {
                    return unsupported(v);
                }
                if header(headers, "mcp-method") != Some(method) {
                    return mismatch("Mcp-Method must be the body's method".into());
                }
                if method == "tools/call" {
                    let name = params.get("name").and_then(Value::as_str);
                    let sent = header(headers, "mcp-name").map(decode_header_value);
                    if name.is_none() || sent.as_deref() != name {
                        return mismatch("Mcp-Name must be the body's params.name".into());
                    }
                }
                true
            }
            None => {
                match header_version {
                    // Before 2025-06-18 there was no header: taken as 2025-03-26.
                    None => {}
                    Some(v) if LEGACY.contains(&v) => {}
                    Some(MODERN) => {
                        return mismatch(format!(
                            "a {MODERN} request carries {META_VERSION} in params._meta"
                        ))
                    }
                    Some(v) if method != "initialize" => return unsupported(v),
                    Some(_) => {}
                }
                false
            }
        };
        Ok(Parsed::Call(Call {
            id,
            method,
            params,
            modern,
        }))
    }
}

/// Streamable HTTP "Value encoding": `=?base64?…?=` carries a value that is not plain ASCII.
fn decode_header_value(v: &str) -> String {
    v.strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| v.to_string())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A JSON-RPC error of a tool call, its id added by the caller.
struct RpcError(i64, String);

impl RpcError {
    fn with_id(self, id: Value) -> Value {
        error(id, self.0, self.1, None)
    }
}

fn error(id: Value, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message.into()});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

/// A result; at 2026-07-28 with `resultType` and the server's identity in `_meta`.
fn ok(id: Value, mut result: Value, modern: bool) -> Value {
    if modern {
        result["resultType"] = json!("complete");
        result["_meta"] = json!({ META_SERVER_INFO: server_info() });
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_response(status: u16, body: Value) -> Response<Body> {
    plain(status, body)
}

fn plain(status: u16, body: Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn accepted() -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

/// `scheme://authority` and the path.
fn split_origin(uri: &str) -> (&str, &str) {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri[after_scheme..].find('/') {
        Some(i) => uri.split_at(after_scheme + i),
        None => (uri, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::clock::FixedClock;
    use portcullis_core::ports::{GrantStart, MemoryStore};
    use portcullis_core::testkit;

    const RESOURCE: &str = "https://api.example.com/mcp";

    struct Fake;
    impl BookingStore for Fake {
        async fn bookings_of(
            &self,
            sub: &Subject,
        ) -> Result<Vec<Booking>, Box<dyn std::error::Error + Send + Sync>> {
            Ok(vec![Booking {
                booking_id: "b-1".into(),
                title: format!("Intro call for {sub}"),
                start_time: "2026-12-01T09:00:00Z".into(),
                end_time: "2026-12-01T09:30:00Z".into(),
            }])
        }
    }

    /// A server over a store holding a grant bound to `resource` with `scopes`; its token.
    async fn server(resource: &str, scopes: &[&str]) -> (McpServer<MemoryStore, Fake>, String) {
        let store = MemoryStore::new();
        store.upsert_client(testkit::client("c1").build());
        let (mut g, access, _) = testkit::minted_grant(&testkit::test_keys(), "c1", "u1", 10_000);
        g.resource = Some(resource.into());
        g.scopes = scopes.iter().map(|s| s.to_string()).collect();
        assert!(store.start_grant(&g).await.unwrap());
        let auth = Authenticator::new(store, testkit::test_keys().access_tag)
            .with_clock(Box::new(FixedClock::at(10_000)));
        let metadata =
            ProtectedResourceMetadata::new(RESOURCE, "https://auth.example.com", ["READ_BOOKING"])
                .unwrap();
        (
            McpServer::new(auth, metadata, Fake).unwrap(),
            access.secret().to_string(),
        )
    }

    fn post(token: Option<&str>, body: Value, headers: &[(&str, &str)]) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method("POST")
            .uri(RESOURCE);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Text(body.to_string())).unwrap()
    }

    fn modern(method: &str, name: Option<&str>) -> (Value, Vec<(&'static str, String)>) {
        let mut params = json!({"_meta": {META_VERSION: MODERN}});
        let mut headers = vec![
            ("mcp-protocol-version", MODERN.to_string()),
            ("mcp-method", method.to_string()),
        ];
        if let Some(n) = name {
            params["name"] = json!(n);
            params["arguments"] = json!({});
            headers.push(("mcp-name", n.to_string()));
        }
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
            headers,
        )
    }

    async fn send(s: &McpServer<MemoryStore, Fake>, req: Request) -> (u16, String, Value) {
        let r = s.handle(req).await;
        let h = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = serde_json::from_slice(r.body().as_ref()).unwrap_or(Value::Null);
        (r.status().as_u16(), h, body)
    }

    async fn call(
        s: &McpServer<MemoryStore, Fake>,
        token: &str,
        method: &str,
        name: Option<&str>,
    ) -> (u16, String, Value) {
        let (body, headers) = modern(method, name);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        send(s, post(Some(token), body, &headers)).await
    }

    /// MCP authorization: a call without a token is 401 naming the metadata (RFC 9728 §5.1).
    #[tokio::test]
    async fn a_call_without_a_token_is_401_with_resource_metadata() {
        let (s, _) = server(RESOURCE, &["READ_BOOKING"]).await;
        let (body, _) = modern("tools/list", None);
        let (status, h, _) = send(&s, post(None, body, &[])).await;
        assert_eq!(status, 401);
        assert!(h.contains("resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""), "{h}");
    }

    #[tokio::test]
    async fn the_metadata_lists_the_basic_scopes_only() {
        let (s, _) = server(RESOURCE, &[]).await;
        let req = lambda_http::http::Request::builder()
            .uri("https://api.example.com/.well-known/oauth-protected-resource/mcp")
            .body(Body::Empty)
            .unwrap();
        let (status, _, body) = send(&s, req).await;
        assert_eq!(status, 200);
        assert_eq!(body["resource"], RESOURCE);
        assert_eq!(body["scopes_supported"], json!(["READ_BOOKING"]));
    }

    /// 2026-07-28: tools/list and tools/call carry resultType and the server's identity.
    #[tokio::test]
    async fn a_bound_token_lists_tools_and_lists_the_users_bookings() {
        let (s, token) = server(RESOURCE, &["READ_BOOKING"]).await;
        let (status, _, body) = call(&s, &token, "tools/list", None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["resultType"], "complete");
        assert_eq!(body["result"]["tools"][0]["name"], "list_bookings");
        assert!(body["result"]["ttlMs"].is_number());
        let (status, _, body) = call(&s, &token, "tools/call", Some("list_bookings")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["structuredContent"]["bookings"][0]["title"],
            "Intro call for u1"
        );
    }

    /// MCP step-up: a tool needing a scope the token lacks is HTTP 403 insufficient_scope
    /// naming it, before the tool runs.
    #[tokio::test]
    async fn a_tool_needing_a_missing_scope_is_403_naming_it() {
        let (s, token) = server(RESOURCE, &["READ_BOOKING"]).await;
        let (status, h, _) = call(&s, &token, "tools/call", Some("get_profile")).await;
        assert_eq!(status, 403);
        assert!(
            h.contains("error=\"insufficient_scope\"") && h.contains("scope=\"READ_PROFILE\""),
            "{h}"
        );
        assert!(h.contains("resource_metadata="), "{h}");
    }

    /// RFC 8707: a token issued for another resource is 401 invalid_token.
    #[tokio::test]
    async fn a_token_for_another_resource_is_401_invalid_token() {
        let (s, token) = server("https://other.example.com/api", &["READ_BOOKING"]).await;
        let (status, h, _) = call(&s, &token, "tools/list", None).await;
        assert_eq!(status, 401);
        assert!(h.contains("error=\"invalid_token\""), "{h}");
    }

    /// Streamable HTTP "Server validation": headers that disagree with the body are 400 -32020;
    /// an unsupported version is 400 -32022 listing the supported ones.
    #[tokio::test]
    async fn headers_must_match_the_body_and_the_version_must_be_supported() {
        let (s, token) = server(RESOURCE, &["READ_BOOKING"]).await;
        let (body, _) = modern("tools/list", None);
        let (status, _, r) = send(
            &s,
            post(
                Some(&token),
                body.clone(),
                &[
                    ("mcp-protocol-version", MODERN),
                    ("mcp-method", "tools/call"),
                ],
            ),
        )
        .await;
        assert_eq!((status, r["error"]["code"].clone()), (400, json!(-32020)));
        let mut old = body;
        old["params"]["_meta"][META_VERSION] = json!("1900-01-01");
        let (status, _, r) = send(
            &s,
            post(
                Some(&token),
                old,
                &[
                    ("mcp-protocol-version", "1900-01-01"),
                    ("mcp-method", "tools/list"),
                ],
            ),
        )
        .await;
        assert_eq!((status, r["error"]["code"].clone()), (400, json!(-32022)));
        assert_eq!(r["error"]["data"]["supported"][0], MODERN);
        let (status, _, r) = call(&s, &token, "resources/list", None).await;
        assert_eq!((status, r["error"]["code"].clone()), (404, json!(-32601)));
    }

    /// Dual era: `initialize` agrees on a handshake-era version (the newest for an unknown one);
    /// a notification is 202; GET is 405.
    #[tokio::test]
    async fn legacy_clients_initialize_and_notifications_are_accepted() {
        let (s, token) = server(RESOURCE, &["READ_BOOKING"]).await;
        for (asked, agreed) in [("2025-06-18", "2025-06-18"), ("2099-01-01", "2025-11-25")] {
            let init = json!({"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
            let (status, _, r) = send(&s, post(Some(&token), init, &[])).await;
            assert_eq!(status, 200, "{r}");
            assert_eq!(r["result"]["protocolVersion"], agreed);
            assert_eq!(r["result"]["capabilities"], json!({"tools": {}}));
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let r = s
            .handle(post(
                Some(&token),
                note,
                &[("mcp-protocol-version", "2025-11-25")],
            ))
            .await;
        assert_eq!(r.status(), 202);
        let get = lambda_http::http::Request::builder()
            .uri(RESOURCE)
            .body(Body::Empty)
            .unwrap();
        assert_eq!(s.handle(get).await.status(), 405);
    }

    /// Streamable HTTP "Security": another Origin is 403.
    #[tokio::test]
    async fn another_origin_is_403() {
        let (s, token) = server(RESOURCE, &["READ_BOOKING"]).await;
        let (body, _) = modern("tools/list", None);
        let (status, _, _) = send(
            &s,
            post(Some(&token), body, &[("origin", "https://evil.example")]),
        )
        .await;
        assert_eq!(status, 403);
    }

    #[test]
    fn an_encoded_mcp_name_is_decoded() {
        assert_eq!(
            decode_header_value("=?base64?bGlzdF9ib29raW5ncw==?="),
            "list_bookings"
        );
        assert_eq!(decode_header_value("list_bookings"), "list_bookings");
    }
}

//! The example MCP server (`functions/mcp-example`, `POST /mcp`) through the local stack: its
//! 401 points to its protected-resource metadata (RFC 9728), a token bound to it (RFC 8707)
//! lists and calls tools, a token for another resource or for none is refused, a tool needing a
//! scope the token lacks is 403 naming it (MCP step-up), and the official Python SDK's client
//! lists and calls tools with a bearer token.
use crate::bookings::seed;
use crate::common::{register, stored_grant};
use portcullis_e2e::browser::no_redirect_client;
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn mcp_url(stack: &Stack) -> String {
    format!("{}/mcp", stack.base_url)
}

/// An access token of a fresh grant for `sub` with `scopes`, bound to `resource` (written
/// directly: the authorization endpoint's `resource` is the lead's part of issue 18).
async fn token(stack: &Stack, sub: &str, scopes: &[&str], resource: Option<String>) -> String {
    let c = register(stack, &[]);
    let (_, access, _) = stored_grant(&c.id, sub, |g| {
        g.scopes = scopes.iter().map(|s| s.to_string()).collect();
        g.resource = resource;
    })
    .await;
    access.secret().to_string()
}

/// A 2026-07-28 request: its version in `_meta` and the headers that mirror the body.
async fn call(
    stack: &Stack,
    token: Option<&str>,
    method: &str,
    name: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut params = json!({"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }});
    let mut req = no_redirect_client()
        .post(mcp_url(stack))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        params["name"] = json!(n);
        params["arguments"] = json!({});
        req = req.header("mcp-name", n);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

/// The `resource_metadata` URL of a challenge.
fn resource_metadata(challenge: &str) -> String {
    challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"))
        .to_string()
}

/// MCP authorization: 401 → the metadata at the URL the challenge names (RFC 9728 §3.1,
/// path-inserted) → the issuer as authorization server, the basic scope, the header only.
#[tokio::test]
async fn mcp_without_a_token_is_401_pointing_to_the_protected_resource_metadata() {
    let stack = Stack::get();
    let (status, challenge, _) = call(stack, None, "tools/list", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let url = resource_metadata(&challenge);
    assert_eq!(
        url,
        format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            stack.base_url
        )
    );
    let r = no_redirect_client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["resource"], mcp_url(stack), "{doc}");
    assert_eq!(doc["authorization_servers"], json!([stack.base_url]));
    assert_eq!(doc["scopes_supported"], json!(["READ_BOOKING"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
}

/// RFC 8707: a token bound to the MCP server discovers, lists its tools and reads the user's
/// bookings (as `list-bookings` would); a handshake-era client initializes.
#[tokio::test]
async fn a_token_bound_to_the_mcp_server_lists_tools_and_reads_the_users_bookings() {
    let stack = Stack::get();
    seed(stack, "u-mcp").await;
    let t = token(stack, "u-mcp", &["READ_BOOKING"], Some(mcp_url(stack))).await;
    let (status, _, body) = call(stack, Some(&t), "server/discover", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["supportedVersions"][0], "2026-07-28");
    let (status, _, body) = call(stack, Some(&t), "tools/list", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list_bookings", "get_profile"]);
    let (status, _, body) = call(stack, Some(&t), "tools/call", Some("list_bookings")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");
    let titles: Vec<&str> = body["result"]["structuredContent"]["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Intro call for u-mcp", "Review for u-mcp"]);

    let r = no_redirect_client()
        .post(mcp_url(stack))
        .bearer_auth(&t)
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25", "{body}");
}

/// RFC 8707 §2: a token issued for another resource, or for none, is 401 invalid_token.
#[tokio::test]
async fn a_token_for_another_resource_or_for_none_is_401_invalid_token() {
    let stack = Stack::get();
    let other = token(
        stack,
        "u-mcp-other",
        &["READ_BOOKING"],
        Some(format!("{}/api/bookings", stack.base_url)),
    )
    .await;
    let unbound = token(stack, "u-mcp-unbound", &["READ_BOOKING"], None).await;
    for (t, says) in [
        (other, "another resource"),
        (unbound, "no particular resource"),
    ] {
        let (status, challenge, body) =
            call(stack, Some(&t), "tools/call", Some("list_bookings")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains("resource_metadata="), "{challenge}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
}

/// MCP step-up: a tool needing a scope the token lacks is HTTP 403 insufficient_scope naming
/// that scope and the metadata, before the tool runs.
#[tokio::test]
async fn a_tool_needing_a_scope_the_token_lacks_is_403_insufficient_scope() {
    let stack = Stack::get();
    let t = token(stack, "u-mcp-step", &["READ_BOOKING"], Some(mcp_url(stack))).await;
    let (status, challenge, _) = call(stack, Some(&t), "tools/call", Some("get_profile")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"READ_PROFILE\""), "{challenge}");
    assert_eq!(
        resource_metadata(&challenge),
        format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            stack.base_url
        )
    );
    let both = token(
        stack,
        "u-mcp-step",
        &["READ_BOOKING", "READ_PROFILE"],
        Some(mcp_url(stack)),
    )
    .await;
    let (status, _, body) = call(stack, Some(&both), "tools/call", Some("get_profile")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["structuredContent"]["sub"], "u-mcp-step");
}

/// The official MCP Python SDK's client (tests/interop/python_mcp.py), in its auto mode
/// (server/discover at 2026-07-28) and its legacy mode (initialize), lists the tools and calls
/// list_bookings with a bearer token bound to the server.
#[tokio::test]
async fn the_python_mcp_sdk_client_lists_and_calls_tools() {
    let stack = Stack::get();
    seed(stack, "u-mcp-py").await;
    let t = token(stack, "u-mcp-py", &["READ_BOOKING"], Some(mcp_url(stack))).await;
    let root = portcullis_e2e::root();
    let out = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/python_mcp.py"))
        .args(["tools", &mcp_url(stack), &t])
        .output()
        .await
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 2, "{stdout}");
    for (run, version) in runs.iter().zip(["2026-07-28", "2025-11-25"]) {
        assert_eq!(run["protocol_version"], version, "{run}");
        assert_eq!(
            run["tools"],
            json!(["list_bookings", "get_profile"]),
            "{run}"
        );
        assert_eq!(run["is_error"], false, "{run}");
        assert_eq!(
            run["structured"]["bookings"][0]["title"], "Intro call for u-mcp-py",
            "{run}"
        );
    }
}

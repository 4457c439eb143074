//! AI agents that nobody registered (issue 18, MCP 2026-07-28 authorization): the official MCP
//! Python SDK's client and its `OAuthClientProvider` (tests/interop/python_mcp_agent.py) connect
//! to the example MCP server through the local stack, once by dynamic registration and once by a
//! Client ID Metadata Document: 401 → protected-resource metadata → server metadata →
//! registration or document → authorize with PKCE and `resource` (the script plays the user on
//! the consent page) → token → `tools/list` and a tool call → a refresh → the token refused at
//! another resource.
use crate::bookings::seed;
use crate::common::{session, REDIRECT};
use crate::documents::DocumentServer;
use crate::introspect::{introspect, resource_server};
use portcullis_e2e::browser::no_redirect_client;
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn mcp_url(stack: &Stack) -> String {
    format!("{}/mcp", stack.base_url)
}

/// The operator registers the MCP server as a resource (RFC 8707), once per stack.
fn mcp_resource(stack: &Stack) -> String {
    static ONCE: OnceLock<()> = OnceLock::new();
    let uri = mcp_url(stack);
    ONCE.get_or_init(|| {
        stack.cli_json(&[
            "resource",
            "create",
            "--uri",
            &uri,
            "--scopes",
            "READ_BOOKING,READ_PROFILE",
            "--name",
            "Example MCP server",
        ]);
    });
    uri
}

/// Runs the agent; `metadata_url` makes it present a metadata document instead of registering.
async fn agent(stack: &Stack, sub: &str, metadata_url: Option<&str>) -> Value {
    let root = portcullis_e2e::root();
    let mut cmd = tokio::process::Command::new(root.join(".venv/bin/python"));
    cmd.arg(root.join("tests/interop/python_mcp_agent.py"))
        .args([&mcp_url(stack), "session", &session(stack, sub)]);
    if let Some(u) = metadata_url {
        cmd.arg(u);
    }
    let out = cmd.output().await.expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// What both paths must show: the authorization request carried PKCE and the MCP server as
/// `resource`, the consent page marked the agent unverified, both sessions listed the tools and
/// read the user's bookings, the second after a refresh, and the tokens are bound to the MCP
/// server: introspection says so (`aud`), and the product's other APIs refuse them.
async fn check(stack: &Stack, run: &Value, sub: &str) {
    let seen = &run["seen"];
    assert_eq!(seen["resource"], mcp_url(stack).as_str(), "{run}");
    for p in [
        "code_challenge",
        "code_challenge_method",
        "state",
        "resource",
    ] {
        assert!(
            seen["authorize_params"]
                .as_array()
                .unwrap()
                .contains(&json!(p)),
            "{p}: {run}"
        );
    }
    assert_eq!(seen["unverified_notice"], true, "{run}");
    for session in [&run["first"], &run["second"]] {
        assert_eq!(
            session["tools"],
            json!(["list_bookings", "get_profile"]),
            "{run}"
        );
        assert_eq!(session["is_error"], false, "{run}");
        assert_eq!(
            session["structured"]["bookings"][0]["title"],
            format!("Intro call for {sub}").as_str(),
            "{run}"
        );
    }
    assert_eq!(run["refreshed"], true, "{run}");
    let token = run["access_token"].as_str().unwrap();
    let rs = resource_server(stack).await;
    let (_, i) = introspect(&rs, token).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["aud"], mcp_url(stack).as_str(), "{i}");
    assert_eq!(i["client_id"], run["client_id"], "{i}");
    // RFC 8707 §1: a token for the MCP server is no good at the product's other API.
    let r = no_redirect_client()
        .get(format!("{}/api/bookings", stack.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{:?}", r.headers());
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// Dynamic registration (RFC 7591): the agent registers itself at the advertised
/// `registration_endpoint` (the local stack runs it `open`), then connects.
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_agent_registers_itself_and_connects() {
    let stack = Stack::get();
    mcp_resource(stack);
    seed(stack, "u-agent-dcr").await;
    let run = agent(stack, "u-agent-dcr", None).await;
    assert!(
        run["client_id"].as_str().unwrap().starts_with("dcr_"),
        "{run}"
    );
    check(stack, &run, "u-agent-dcr").await;
}

/// A Client ID Metadata Document: the agent's `client_id` is its document's https URL (served
/// here on `https://localhost` with the test CA); the server fetches it, nothing registers.
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_agent_presents_a_metadata_document_and_connects() {
    let stack = Stack::get();
    mcp_resource(stack);
    seed(stack, "u-agent-cimd").await;
    let docs = DocumentServer::start().await;
    let url = docs.url("/python-agent/client.json");
    docs.serve(
        "/python-agent/client.json",
        &json!({
            "client_id": url,
            "client_name": "Python MCP agent",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    );
    let run = agent(stack, "u-agent-cimd", Some(&url)).await;
    assert_eq!(run["client_id"], url.as_str(), "{run}");
    assert_eq!(run["seen"]["client_id"], url.as_str(), "{run}");
    assert_eq!(docs.hits(), 1, "fetched once, consent and all");
    check(stack, &run, "u-agent-cimd").await;
}

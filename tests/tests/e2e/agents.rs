//! AI agents that nobody registered (issue 18, MCP 2026-07-28 authorization): the official MCP
//! SDKs' clients, Python's `OAuthClientProvider` (tests/interop/python_mcp_agent.py) and
//! TypeScript's `StreamableHTTPClientTransport` with an `OAuthClientProvider`
//! (tests/interop/ts-mcp-agent/agent.mjs), connect to the example MCP server through the local
//! stack, each once by dynamic registration and once by a Client ID Metadata Document: 401 → protected-resource metadata → server metadata →
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

/// Which official MCP SDK plays the agent.
#[derive(Clone, Copy)]
enum Sdk {
    /// `mcp` on PyPI (tools/requirements.txt), in the repo's venv.
    Python,
    /// `@modelcontextprotocol/sdk` on npm (tests/interop/ts-mcp-agent/package.json), installed
    /// by scripts/bootstrap.sh with `npm ci`.
    TypeScript,
}

/// Runs the agent; `metadata_url` makes it present a metadata document instead of registering.
async fn agent(stack: &Stack, sdk: Sdk, sub: &str, metadata_url: Option<&str>) -> Value {
    let root = portcullis_e2e::root();
    let mut cmd = match sdk {
        Sdk::Python => {
            let mut c = tokio::process::Command::new(root.join(".venv/bin/python"));
            c.arg(root.join("tests/interop/python_mcp_agent.py"));
            c
        }
        Sdk::TypeScript => {
            let mut c = tokio::process::Command::new("node");
            c.arg(root.join("tests/interop/ts-mcp-agent/agent.mjs"));
            c
        }
    };
    cmd.args([&mcp_url(stack), "session", &session(stack, sub)]);
    if let Some(u) = metadata_url {
        cmd.arg(u);
    }
    let out = cmd.output().await.unwrap_or_else(|e| {
        panic!("could not start the agent ({e}): scripts/bootstrap.sh installs python, node and both SDKs")
    });
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
async fn registers_itself_and_connects(sdk: Sdk, sub: &str) {
    let stack = Stack::get();
    mcp_resource(stack);
    seed(stack, sub).await;
    let run = agent(stack, sdk, sub, None).await;
    assert!(
        run["client_id"].as_str().unwrap().starts_with("dcr_"),
        "{run}"
    );
    check(stack, &run, sub).await;
}

/// A Client ID Metadata Document: the agent's `client_id` is its document's https URL (served
/// here on `https://localhost` with the test CA); the server fetches it, nothing registers.
async fn presents_a_metadata_document_and_connects(sdk: Sdk, sub: &str, redirect: &str) {
    let stack = Stack::get();
    mcp_resource(stack);
    seed(stack, sub).await;
    let docs = DocumentServer::start().await;
    let url = docs.url("/agent/client.json");
    docs.serve(
        "/agent/client.json",
        &json!({
            "client_id": url,
            "client_name": "MCP agent",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }),
    );
    let run = agent(stack, sdk, sub, Some(&url)).await;
    assert_eq!(run["client_id"], url.as_str(), "{run}");
    assert_eq!(run["seen"]["client_id"], url.as_str(), "{run}");
    assert_eq!(docs.hits(), 1, "fetched once, consent and all");
    check(stack, &run, sub).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_agent_registers_itself_and_connects() {
    registers_itself_and_connects(Sdk::Python, "u-agent-dcr").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_agent_presents_a_metadata_document_and_connects() {
    presents_a_metadata_document_and_connects(Sdk::Python, "u-agent-cimd", REDIRECT).await;
}

/// The TypeScript SDK (1.32.2) speaks the handshake era (`initialize` at 2025-11-25), so this
/// also shows a 2025-11-25 client through the same authorization.
#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_mcp_agent_registers_itself_and_connects() {
    registers_itself_and_connects(Sdk::TypeScript, "u-ts-agent-dcr").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typescript_mcp_agent_presents_a_metadata_document_and_connects() {
    presents_a_metadata_document_and_connects(
        Sdk::TypeScript,
        "u-ts-agent-cimd",
        "http://127.0.0.1:8766/callback",
    )
    .await;
}

//! Other languages' OAuth client libraries against the running stack.
use crate::common::{register, session, REDIRECT};
use portcullis_e2e::Stack;
use serde_json::Value;

/// Python's Authlib (Basic and body auth, PKCE) and requests-oauthlib complete the flow, call
/// /me, and refresh with their own refresh support (and Cal.com's `/refreshToken` call with
/// plain requests), the refresh token rotating each time (tests/interop/python_clients.py).
#[tokio::test]
async fn python_oauth_libraries_complete_the_flow_and_read_me() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let token = session(stack, "py-user");
    let root = portcullis_e2e::root();
    let out = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/python_clients.py"))
        .args([
            &stack.base_url,
            &c.id,
            c.secret.as_deref().unwrap(),
            REDIRECT,
            &token,
        ])
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
    assert_eq!(runs.len(), 3, "{stdout}");
    for run in runs {
        assert_eq!(run["me"]["id"], "py-user", "{run}");
        assert_eq!(run["refreshed_me"]["id"], "py-user", "{run}");
    }
}

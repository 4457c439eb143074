//! OAuth 2.1 §2.4.1, brute force: failed client authentications are counted per `client_id` on
//! the client item (written only on failure); past the limit (`PORTCULLIS_AUTH_FAILURE_LIMIT`,
//! 10 in the local stack) every authentication of that client gets 429 with `Retry-After`,
//! whatever secret it presents, until the window ends.
use crate::common::{register, Registered};
use crate::revoke::{post_as, revoke_url};
use portcullis_core::ids::ClientId;
use portcullis_core::ports::ClientLookup;
use portcullis_e2e::Stack;

#[tokio::test]
async fn repeated_wrong_secrets_lock_the_client_with_429_and_retry_after() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let wrong = Registered {
        id: c.id.clone(),
        secret: Some(format!("pc_cs_{}", "w".repeat(43))),
    };
    for attempt in 1..=10 {
        let r = post_as(&revoke_url(stack), &wrong, &[("token", "x")]).await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
    let stored = stack
        .stores()
        .await
        .clients
        .client(&ClientId::new(c.id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert!(stored.locked_until.is_some(), "the tenth failure locked it");
    // Locked: the right secret is refused like a wrong one, at every endpoint that
    // authenticates clients, and says when to come back.
    for url in [
        revoke_url(stack),
        format!("{}/api/auth/oauth/introspect", stack.base_url),
        stack.token_url(),
    ] {
        let r = post_as(
            &url,
            &c,
            &[
                ("token", "x"),
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
            ],
        )
        .await;
        assert_eq!(r.status(), 429, "{url}");
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 0 && wait <= 300, "{wait}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    // Another client is not affected.
    let other = register(stack, &[]);
    let r = post_as(&revoke_url(stack), &other, &[("token", "x")]).await;
    assert_eq!(r.status(), 200);
}

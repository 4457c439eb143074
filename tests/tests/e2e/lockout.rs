//! OAuth 2.1 §2.4.1, brute force, built so it cannot be used against a client (review finding 1):
//! failed client authentications are counted per `client_id` in each function's memory (no
//! storage write); past the limit (`PORTCULLIS_AUTH_FAILURE_LIMIT`, 10 in the local stack)
//! further *failures* get 429 with `Retry-After`, while the client's correct secret keeps
//! working everywhere, and public clients are never counted.
use crate::common::{register, Registered};
use crate::revoke::{post_as, revoke_url};
use portcullis_e2e::Stack;

/// Review finding 1: an attacker who knows only a `client_id` sends wrong secrets past the
/// limit; the failures turn into 429 + `Retry-After`, and the client's correct secret still
/// gets 200 at the same endpoint and is not refused at the others.
#[tokio::test]
async fn wrong_secrets_past_the_limit_get_429_while_the_correct_secret_keeps_working() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    // A token this server issued (of another client's grant): a forged one costs nothing and is
    // answered without authenticating anyone, so it could not show the limit.
    let (_, genuine, _) = crate::common::stored_grant("lockout-other", "u-lockout", |_| {}).await;
    let token = genuine.secret();
    let wrong = Registered {
        id: c.id.clone(),
        secret: Some(format!("pc_cs_{}", "w".repeat(43))),
    };
    for attempt in 1..=10 {
        let r = post_as(&revoke_url(stack), &wrong, &[("token", token)]).await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
    for _ in 0..3 {
        let r = post_as(&revoke_url(stack), &wrong, &[("token", token)]).await;
        assert_eq!(r.status(), 429);
        let wait: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(wait > 0 && wait <= 300, "{wait}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    // The correct secret during the attack: accepted at revoke (200), and at introspection and
    // the token endpoint it is the request that is judged (200 / 400), never a 401 or a 429.
    let r = post_as(&revoke_url(stack), &c, &[("token", token)]).await;
    assert_eq!(r.status(), 200);
    let r = post_as(
        &format!("{}/api/auth/oauth/introspect", stack.base_url),
        &c,
        &[("token", token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post_as(
        &stack.token_url(),
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(r.status(), 400);
}

/// Review finding 1: a public client has no secret to guess, so it is never counted: a flood of
/// requests presenting a secret for it stays 401, never 429.
#[tokio::test]
async fn a_public_client_is_never_counted() {
    let stack = Stack::get();
    let c = register(stack, &["--public"]);
    let (_, genuine, _) =
        crate::common::stored_grant("lockout-other", "u-lockout-pub", |_| {}).await;
    let token = genuine.secret();
    let with_secret = Registered {
        id: c.id.clone(),
        secret: Some(format!("pc_cs_{}", "w".repeat(43))),
    };
    for attempt in 1..=15 {
        let r = post_as(&revoke_url(stack), &with_secret, &[("token", token)]).await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
    }
}

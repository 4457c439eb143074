//! Token introspection (RFC 7662) at `POST /api/auth/oauth/introspect`, through the real binary,
//! with plain HTTP (the way a service in any language calls it).
use crate::common::{now, register, Registered};
use crate::revoke::{connected, post_as, revoke_url};
use oauth2::TokenResponse;
use portcullis_core::clock::OsEntropy;
use portcullis_core::ids::ClientId;
use portcullis_core::ports::ClientRegistry;
use portcullis_core::secret::ClientSecret;
use portcullis_core::testkit;
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn introspect_url(stack: &Stack) -> String {
    format!("{}/api/auth/oauth/introspect", stack.base_url)
}

/// Introspects `token` as `c`; the status and body.
pub async fn introspect(c: &Registered, token: &str) -> (StatusCode, Value) {
    let r = post_as(&introspect_url(Stack::get()), c, &[("token", token)]).await;
    let status = r.status();
    if status == StatusCode::OK {
        assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    }
    (status, r.json().await.unwrap())
}

fn inactive() -> Value {
    json!({ "active": false })
}

/// A confidential client registered as a resource server, written directly to the clients table
/// (the CLI's `client create --resource-server` sets the same field).
pub async fn resource_server(stack: &Stack) -> Registered {
    let id = format!(
        "rs-{}",
        ClientSecret::generate(&OsEntropy).secret()[6..18].to_lowercase()
    );
    let secret = ClientSecret::generate(&OsEntropy);
    let client = testkit::client(&id)
        .secrets(&[secret.secret()])
        .resource_server()
        .build();
    stack
        .stores()
        .await
        .clients
        .create_client(&client)
        .await
        .unwrap();
    Registered {
        id,
        secret: Some(secret.secret().to_string()),
    }
}

/// RFC 7662 §2.2: an active access token is described: scope, client, user, type, times, issuer.
#[tokio::test]
async fn an_active_access_token_is_described() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-introspect").await;
    let (status, body) = introspect(&c, t.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "READ_PROFILE READ_BOOKING");
    assert_eq!(body["client_id"], c.id.as_str());
    assert_eq!(body["username"], "ada");
    assert_eq!(body["sub"], "u-introspect");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], stack.base_url.as_str());
    let (iat, exp) = (body["iat"].as_u64().unwrap(), body["exp"].as_u64().unwrap());
    assert!(iat <= now() && iat + 60 > now(), "{iat}");
    assert_eq!(exp, iat + 1800);
    let (_, body) = introspect(&c, t.refresh_token().unwrap().secret()).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
}

/// RFC 7662 §2.2: a revoked token is inactive, and so are the grant's other tokens.
#[tokio::test]
async fn a_revoked_token_is_inactive() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-introspect-revoked").await;
    let refresh = t.refresh_token().unwrap().secret();
    let r = post_as(&revoke_url(stack), &c, &[("token", refresh)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(introspect(&c, refresh).await.1, inactive());
    assert_eq!(
        introspect(&c, t.access_token().secret()).await.1,
        inactive()
    );
}

/// RFC 7662 §2.2: a token past its end is inactive even while the table's TTL keeps it.
#[tokio::test]
async fn an_expired_token_is_inactive() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let t = now();
    let (_, access, refresh) = crate::common::stored_grant(&c.id, "u-expired", |g| {
        g.created_at = t - 100_000;
        g.access_expires_at = t - 10;
        g.refresh_expires_at = t - 10;
    })
    .await;
    assert_eq!(introspect(&c, access.secret()).await.1, inactive());
    assert_eq!(introspect(&c, refresh.secret()).await.1, inactive());
}

/// RFC 7662 §4: another client sees a token as inactive; a client registered as a resource
/// server sees it as it is.
#[tokio::test]
async fn a_foreign_token_is_inactive_except_for_a_resource_server() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-introspect-foreign").await;
    let other = register(stack, &[]);
    let access = t.access_token().secret();
    assert_eq!(introspect(&other, access).await.1, inactive());
    let rs = resource_server(stack).await;
    let (status, body) = introspect(&rs, access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], c.id.as_str());
    assert_eq!(body["sub"], "u-introspect-foreign");
}

/// RFC 7662 §2.2: garbage and unknown tokens are inactive, nothing more.
#[tokio::test]
async fn garbage_and_unknown_tokens_are_inactive() {
    let (c, _) = connected(&[], "u-introspect-garbage").await;
    // Genuine in shape and tag, for a grant that does not exist.
    let unknown = portcullis_core::codec::mint_access(
        crate::common::stack_keys().await.issuing(),
        &ClientId::new(c.id.clone()),
        &portcullis_core::model::grant_id_for_code(&portcullis_core::secret::SecretHash::of("x")),
        0,
    );
    for token in [
        "garbage",
        "pc_at_0000000000000000000000000000000000000000000",
        unknown.secret(),
    ] {
        assert_eq!(introspect(&c, token).await, (StatusCode::OK, inactive()));
    }
}

/// RFC 7662 §2.1: the caller must authenticate: a wrong secret is `401 invalid_client`, and a
/// public client (which cannot authenticate) is refused the same way.
#[tokio::test]
async fn only_authenticated_confidential_clients_may_introspect() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-introspect-auth").await;
    let wrong = Registered {
        id: c.id.clone(),
        secret: Some("pc_cs_wrong".into()),
    };
    let access = t.access_token().secret();
    let (status, body) = introspect(&wrong, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let public = register(stack, &["--public"]);
    let (status, body) = introspect(&public, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
}

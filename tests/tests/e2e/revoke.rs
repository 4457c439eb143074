//! Token revocation (RFC 7009) at `POST /api/auth/oauth/revoke`, through the real binary: plain
//! HTTP, as the `oauth2` crate refuses a revocation URL that is not https.
use crate::common::{app, authorize, exchange, me, register, session, Registered};
use oauth2::basic::BasicTokenResponse;
use oauth2::{AuthType, TokenResponse};
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;

/// A registered client (with `flags`), user `user` signed in and a first pair of tokens.
pub async fn connected(flags: &[&str], user: &str) -> (Registered, BasicTokenResponse) {
    let stack = Stack::get();
    let c = register(stack, flags);
    let app = app(stack, &c, AuthType::BasicAuth);
    let browser = Browser::signed_in(&session(stack, user));
    let public = flags.contains(&"--public");
    let (code, verifier) = authorize(stack, &app, &browser, public).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    (c, tokens)
}

pub fn revoke_url(stack: &Stack) -> String {
    format!("{}/api/auth/oauth/revoke", stack.base_url)
}

/// POSTs `form` to `url` as client `c` (HTTP Basic for a confidential client, `client_id` in
/// the body for a public one); the response.
pub async fn post_as(url: &str, c: &Registered, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let req = no_redirect_client().post(url);
    let req = match &c.secret {
        Some(s) => req.basic_auth(&c.id, Some(s)),
        None => {
            form.push(("client_id", &c.id));
            req
        }
    };
    req.form(&form).send().await.unwrap()
}

/// Revokes `token` as `c`; the status, after checking the success shape of RFC 7009 §2.2.
async fn revoke(c: &Registered, token: &str, hint: Option<&str>) -> StatusCode {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let r = post_as(&revoke_url(Stack::get()), c, &form).await;
    let status = r.status();
    if status == StatusCode::OK {
        assert_eq!(
            r.headers().get("cache-control").unwrap(),
            "no-store",
            "RFC 7009 §2.2 answer is not cached"
        );
        assert!(r.text().await.unwrap().is_empty());
    }
    status
}

/// RFC 7009 §2.1: a revoked access token is refused at `/me` at once; the grant's refresh
/// token was not touched.
#[tokio::test]
async fn revoked_access_token_is_refused_at_me() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-revoke-at").await;
    let access = t.access_token().secret();
    assert_eq!(me(stack, access).await.0, StatusCode::OK);
    assert_eq!(
        revoke(&c, access, Some("access_token")).await,
        StatusCode::OK
    );
    let (status, challenge, _) = me(stack, access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// RFC 7009 §2.1: revoking a refresh token revokes its grant, so the access token issued with
/// it dies too. The wrong hint does not matter (§2.1: it is only a hint).
#[tokio::test]
async fn revoked_refresh_token_takes_the_grants_access_tokens_with_it() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-revoke-rt").await;
    let refresh = t.refresh_token().unwrap().secret();
    assert_eq!(
        revoke(&c, refresh, Some("access_token")).await,
        StatusCode::OK
    );
    assert_eq!(
        me(stack, t.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = post_as(
        &stack.token_url(),
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Review finding 3 (RFC 7009 §2.1): revoking a refresh token that was already used (say by a
/// thief, first) ends its grant, so the tokens that use issued stop working at once.
#[tokio::test]
async fn revoking_a_retired_refresh_token_ends_the_grant_and_the_thiefs_tokens() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-revoke-retired").await;
    let stolen = t.refresh_token().unwrap().secret();
    let r = post_as(
        &stack.token_url(),
        &c,
        &[("grant_type", "refresh_token"), ("refresh_token", stolen)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let thief: serde_json::Value = r.json().await.unwrap();
    let thief_access = thief["access_token"].as_str().unwrap();
    assert_eq!(me(stack, thief_access).await.0, StatusCode::OK);
    assert_eq!(revoke(&c, stolen, None).await, StatusCode::OK);
    assert_eq!(me(stack, thief_access).await.0, StatusCode::UNAUTHORIZED);
    let r = post_as(
        &stack.token_url(),
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", thief["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// RFC 7009 §2.1: the server checks that the token was issued to the requesting client; another
/// client's request changes nothing and gets the same `200` (§2.2).
#[tokio::test]
async fn revocation_by_another_client_is_200_and_the_token_still_works() {
    let stack = Stack::get();
    let (_, t) = connected(&[], "u-revoke-foreign").await;
    let other = register(stack, &[]);
    for token in [
        t.access_token().secret(),
        t.refresh_token().unwrap().secret(),
    ] {
        assert_eq!(revoke(&other, token, None).await, StatusCode::OK);
    }
    assert_eq!(me(stack, t.access_token().secret()).await.0, StatusCode::OK);
}

/// RFC 7009 §2.2: unknown, malformed and already revoked tokens get `200`.
#[tokio::test]
async fn unknown_garbage_and_already_revoked_tokens_get_200() {
    let (c, t) = connected(&[], "u-revoke-garbage").await;
    for token in [
        "garbage",
        "pc_at_0000000000000000000000000000000000000000000",
        "pc_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(revoke(&c, token, Some("nonsense")).await, StatusCode::OK);
    }
    let access = t.access_token().secret();
    assert_eq!(revoke(&c, access, None).await, StatusCode::OK);
    assert_eq!(revoke(&c, access, None).await, StatusCode::OK);
}

/// RFC 7009 §2.1 (client authentication as at the token endpoint): a wrong secret is `401
/// invalid_client` with a Basic challenge, and the token is not revoked.
#[tokio::test]
async fn wrong_client_secret_is_401_and_revokes_nothing() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-revoke-wrong").await;
    let wrong = Registered {
        id: c.id.clone(),
        secret: Some("pc_cs_wrong".into()),
    };
    let r = post_as(
        &revoke_url(stack),
        &wrong,
        &[("token", t.access_token().secret())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(me(stack, t.access_token().secret()).await.0, StatusCode::OK);
    // No token at all is invalid_request (RFC 7009 §2.1: `token` is required).
    let r = post_as(&revoke_url(stack), &c, &[]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// RFC 7009 §2.1: a public client authenticates by `client_id` alone and revokes its grant.
#[tokio::test]
async fn a_public_client_revokes_with_its_client_id() {
    let stack = Stack::get();
    let (c, t) = connected(&["--public"], "u-revoke-public").await;
    assert!(c.secret.is_none());
    let refresh = t.refresh_token().unwrap().secret();
    assert_eq!(revoke(&c, refresh, None).await, StatusCode::OK);
    assert_eq!(
        me(stack, t.access_token().secret()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Issue 16: revoking a grant is one write, after which no token of it works anywhere: with no
/// index in the way, the very next requests (the current and the previous access token at
/// `/me`, the refresh token at both refresh paths, both at introspection) are all refused.
#[tokio::test]
async fn after_a_revocation_every_token_of_the_grant_is_refused_in_the_next_request() {
    let stack = Stack::get();
    let (c, t) = connected(&[], "u-revoke-at-once").await;
    let r = post_as(
        &stack.token_url(),
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let next: serde_json::Value = r.json().await.unwrap();
    let (previous, current) = (
        t.access_token().secret().as_str(),
        next["access_token"].as_str().unwrap(),
    );
    let refresh = next["refresh_token"].as_str().unwrap();
    assert_eq!(
        me(stack, previous).await.0,
        StatusCode::OK,
        "both access tokens work"
    );
    assert_eq!(me(stack, current).await.0, StatusCode::OK);
    assert_eq!(revoke(&c, refresh, None).await, StatusCode::OK);
    for token in [previous, current] {
        assert_eq!(me(stack, token).await.0, StatusCode::UNAUTHORIZED);
    }
    for url in [
        stack.token_url(),
        format!("{}/api/auth/oauth/refreshToken", stack.base_url),
    ] {
        let r = post_as(
            &url,
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{url}");
    }
    let introspect = format!("{}/api/auth/oauth/introspect", stack.base_url);
    for token in [current, refresh] {
        let r = post_as(&introspect, &c, &[("token", token)]).await;
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v, serde_json::json!({"active": false}));
    }
}

//! `GET /api/auth/oauth/me`: the resource endpoint (RFC 6750).
use crate::common::{app, authorization_url, exchange, me, register, session};
use oauth2::{AuthType, TokenResponse};
use portcullis_e2e::browser::{no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;

/// RFC 6750 §3.1 and Cal.com's weakness 3: a refresh token is not an access token; a token
/// without READ_PROFILE gets 403 insufficient_scope.
#[tokio::test]
async fn me_refuses_refresh_tokens_unknown_tokens_and_tokens_without_read_profile() {
    let stack = Stack::get();
    let c = register(stack, &["--scopes", "READ_BOOKING"]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let (url, _) = authorization_url(stack, &c, "READ_BOOKING");
    let user = Browser::signed_in(&session(stack, "u-scope"));
    let location = user.consent(url.as_str(), "allow").await;
    let tokens = exchange(&app, &query_param(&location, "code").unwrap(), None)
        .await
        .unwrap();

    let (status, challenge, _) = me(stack, tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    let (status, challenge, _) = me(stack, tokens.refresh_token().unwrap().secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let (status, _, _) = me(stack, "pc_at_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let r = no_redirect_client()
        .get(stack.me_url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // RFC 6750 §3.1: no credentials at all, so no error code in the challenge.
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
}

/// Hostile input gets a clear 4xx, never a 5xx (the resource endpoint's part; see also
/// `token::` and `authorize::malformed_requests_get_clear_errors_not_server_errors`).
#[tokio::test]
async fn malformed_requests_get_clear_errors_not_server_errors() {
    let stack = Stack::get();
    let http = no_redirect_client();
    for h in [
        "Bearer a\tb",
        "Bearer <script>",
        "Bearer",
        "Basic abc",
        "Bearer pc_rt_x",
    ] {
        let r = http
            .get(stack.me_url())
            .header("authorization", h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{h}");
    }
}

//! `POST /api/auth/oauth/token`, and the whole flow with each kind of client.
use crate::common::{app, authorize, exchange, me, now, register, session, REDIRECT};
use oauth2::basic::{BasicErrorResponseType, BasicTokenType};
use oauth2::{AuthType, PkceCodeVerifier, RedirectUrl, TokenResponse};
use portcullis_core::ids::{ClientId, RedirectUri, Subject};
use portcullis_core::model::{CodeRecord, UserInfo};
use portcullis_core::ports::CodeIssue;
use portcullis_core::secret::SecretHash;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

async fn full_flow(auth: AuthType, public: bool) {
    let stack = Stack::get();
    let c = register(stack, if public { &["--public"] } else { &[] });
    let app = app(stack, &c, auth);
    let user = Browser::signed_in(&session(stack, "user-42"));
    let (code, verifier) = authorize(stack, &app, &user, public).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    assert_eq!(*tokens.token_type(), BasicTokenType::Bearer);
    assert_eq!(tokens.expires_in().map(|d| d.as_secs()), Some(1800));
    assert!(tokens.refresh_token().is_some());
    let scopes: Vec<String> = tokens
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["READ_PROFILE", "READ_BOOKING"]);
    let (status, _, body) = me(stack, tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "user-42");
    assert_eq!(body["username"], "ada");
    assert_eq!(body["email"], "ada@example.test");
    assert_eq!(body["name"], "Ada Lovelace");
}

#[tokio::test]
async fn confidential_client_with_http_basic_gets_tokens_and_reads_me() {
    full_flow(AuthType::BasicAuth, false).await;
}

#[tokio::test]
async fn confidential_client_with_body_credentials_gets_tokens_and_reads_me() {
    full_flow(AuthType::RequestBody, false).await;
}

/// RFC 7636, OAuth 2.1 §4.1: a public client with PKCE S256.
#[tokio::test]
async fn public_client_with_pkce_gets_tokens_and_reads_me() {
    full_flow(AuthType::RequestBody, true).await;
}

/// RFC 6749 §4.1.2: a code is single use; its replay revokes the tokens it bought. Issue 16: a
/// second use by its own client inside the retry window, while the grant is unused, is a retry
/// whose first answer was lost and gets the very same tokens; once the grant has been used (a
/// refresh), the code's next use is a replay and ends the grant.
#[tokio::test]
async fn code_is_rejected_on_second_use_and_its_tokens_are_revoked() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "replay-user"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let tokens = exchange(&app, &code, None).await.unwrap();
    assert_eq!(
        me(stack, tokens.access_token().secret()).await.0,
        StatusCode::OK
    );
    let retry = exchange(&app, &code, None).await.unwrap();
    assert_eq!(
        retry.access_token().secret(),
        tokens.access_token().secret()
    );
    assert_eq!(
        retry.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );
    let refreshed = app
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&portcullis_e2e::browser::no_redirect_client())
        .await
        .unwrap();
    let again = exchange(&app, &code, None).await;
    assert_eq!(
        again.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
    for access in [tokens.access_token(), refreshed.access_token()] {
        let (status, challenge, _) = me(stack, access.secret()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
}

/// RFC 6749 §4.1.3: redirect_uri must match the authorization request's.
#[tokio::test]
async fn wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let stack = Stack::get();
    let c = register(stack, &["--redirect-uri", "http://127.0.0.1:8765/other"]);
    let user = Browser::signed_in(&session(stack, "u-redirect"));
    let (code, _) = authorize(stack, &app(stack, &c, AuthType::BasicAuth), &user, false).await;
    let other = app(stack, &c, AuthType::BasicAuth)
        .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:8765/other".into()).unwrap());
    assert_eq!(
        exchange(&other, &code, None).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

/// RFC 7636 §4.6.
#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    let stack = Stack::get();
    let c = register(stack, &["--public"]);
    let app = app(stack, &c, AuthType::RequestBody);
    let user = Browser::signed_in(&session(stack, "u-pkce"));
    let (code, _) = authorize(stack, &app, &user, true).await;
    let wrong = PkceCodeVerifier::new("x".repeat(64));
    assert_eq!(
        exchange(&app, &code, Some(wrong)).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

/// Expiry is enforced in code: DynamoDB's TTL deletes expired items late, so an expired code
/// still in the table must be refused.
#[tokio::test]
async fn expired_code_still_in_the_table_is_invalid_grant() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    // Well formed (prefix and 43 characters), so it reaches the table.
    let code = "pc_ac_expired-code-for-the-e2e-test-00000000";
    let now = now();
    let record = CodeRecord {
        pk: SecretHash::of(code),
        client_id: ClientId::new(c.id.clone()),
        client_public: false,
        client_secret_hashes: vec![SecretHash::of(c.secret.as_deref().unwrap())],
        redirect_uri: RedirectUri::new(REDIRECT),
        redirect_uri_explicit: true,
        scopes: vec!["READ_PROFILE".into()],
        resource: None,
        user: UserInfo {
            sub: Subject::new("u-expired"),
            ..Default::default()
        },
        code_challenge: None,
        client_refresh_rotation: true,
        created_at: now - 700,
        expires_at: now - 100,
        consumed_at: None,
    };
    stack.stores().await.codes.put_code(&record).await.unwrap();
    let app = app(stack, &c, AuthType::BasicAuth);
    assert_eq!(
        exchange(&app, code, None).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_a_challenge() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let user = Browser::signed_in(&session(stack, "u-secret"));
    let (code, _) = authorize(stack, &app(stack, &c, AuthType::BasicAuth), &user, false).await;
    let r = no_redirect_client()
        .post(stack.token_url())
        .basic_auth(&c.id, Some("pc_cs_wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].as_str().is_some());
}

/// RFC 6749 §3.2.1, §4.1.3: the client is authenticated before the code is looked at; a wrong
/// secret changes nothing, so the code still works with the right one.
#[tokio::test]
async fn wrong_secret_with_a_valid_code_is_401_and_the_code_still_works() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-secret-first"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let r = no_redirect_client()
        .post(stack.token_url())
        .basic_auth(&c.id, Some("pc_cs_wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    let tokens = exchange(&app, &code, None)
        .await
        .expect("the code survived");
    assert_eq!(
        me(stack, tokens.access_token().secret()).await.0,
        StatusCode::OK
    );
}

/// Anyone holding an old code (browser history, a proxy log) cannot revoke the user's grant:
/// without the code's client's credentials a replay is `invalid_grant` and changes nothing.
#[tokio::test]
async fn an_old_code_replayed_without_credentials_is_invalid_grant_and_the_grant_still_works() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let other = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-old-code"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let tokens = exchange(&app, &code, None).await.unwrap();
    let http = no_redirect_client();
    // No credentials at all: the client cannot be authenticated.
    let r = http
        .post(stack.token_url())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", c.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Another, genuine client: invalid_grant.
    let r = http
        .post(stack.token_url())
        .basic_auth(&other.id, other.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        me(stack, tokens.access_token().secret()).await.0,
        StatusCode::OK
    );
}

/// Cal.com's first version took JSON token requests; apps built then still send them.
#[tokio::test]
async fn json_token_request_with_body_credentials_is_accepted() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let user = Browser::signed_in(&session(stack, "u-json"));
    let (code, _) = authorize(stack, &app(stack, &c, AuthType::RequestBody), &user, false).await;
    let r = no_redirect_client()
        .post(stack.token_url())
        .json(&serde_json::json!({
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": c.id, "client_secret": c.secret,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

/// Hostile input gets a clear 4xx, never a 5xx (the token endpoint's part; see also
/// `authorize::` and `me::malformed_requests_get_clear_errors_not_server_errors`).
#[tokio::test]
async fn malformed_requests_get_clear_errors_not_server_errors() {
    let stack = Stack::get();
    let http = no_redirect_client();
    let bodies: [(&str, &str); 6] = [
        ("application/json", "{not json"),
        ("application/json", "[]"),
        (
            "application/x-www-form-urlencoded",
            "grant_type=authorization_code&code=%FF%FE",
        ),
        ("application/x-www-form-urlencoded", "grant_type=implicit"),
        ("text/xml", "<x/>"),
        (
            "application/x-www-form-urlencoded",
            "grant_type=authorization_code&code=a&code=b",
        ),
    ];
    for (ct, body) in bodies {
        let r = http
            .post(stack.token_url())
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{ct} {body}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"].is_string() && v["error_description"].is_string(),
            "{v}"
        );
    }
    let r = http
        .post(stack.token_url())
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): the token endpoint's
//! `grant_type=refresh_token` (driven by the `oauth2` crate's `exchange_refresh_token`) and
//! Cal.com's `POST /api/auth/oauth/refreshToken` (plain HTTP, as Cal.com's apps call it).
use crate::common::{app, authorize, exchange, me, now, register, session, App, Registered};
use oauth2::basic::{BasicErrorResponseType, BasicTokenResponse};
use oauth2::{AuthType, RefreshToken, RequestTokenError, Scope, TokenResponse};
use portcullis_core::clock::OsEntropy;

use portcullis_core::model::Grant;
use portcullis_core::ports::{ClientRegistry, GrantLookup, GrantStart};
use portcullis_core::rings::StaticRing;
use portcullis_core::secret::{AccessToken, ClientSecret, RefreshToken as Rt};
use portcullis_core::settings::{FromEnv, Lifetimes, RefreshSettings};
use portcullis_core::testkit;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::{SerialMoto, Stack, Stores};
use portcullis_lambda::endpoints::refresh::RefreshEndpoint;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;

/// A registered client, a signed-in user and a first pair of tokens.
async fn connected(
    flags: &[&str],
    auth: AuthType,
    user: &str,
) -> (Registered, App, BasicTokenResponse) {
    let stack = Stack::get();
    let c = register(stack, flags);
    let app = app(stack, &c, auth);
    let browser = Browser::signed_in(&session(stack, user));
    let public = flags.contains(&"--public");
    let (code, verifier) = authorize(stack, &app, &browser, public).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    (c, app, tokens)
}

/// The oauth2 crate's refresh; the error code when the server refuses.
async fn refresh(
    app: &App,
    token: &RefreshToken,
    scopes: &[&str],
) -> Result<BasicTokenResponse, Option<BasicErrorResponseType>> {
    let mut req = app.exchange_refresh_token(token);
    for s in scopes {
        req = req.add_scope(Scope::new(s.to_string()));
    }
    req.request_async(&no_redirect_client())
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => Some(r.error().clone()),
            other => panic!("unexpected token error: {other:?}"),
        })
}

fn refresh_of(t: &BasicTokenResponse) -> RefreshToken {
    t.refresh_token().expect("a refresh token").clone()
}

/// RFC 6749 §6 at the token endpoint, with the oauth2 crate, both client authentications: a
/// new pair, the new access token works, the old refresh token no longer does.
async fn token_endpoint_refresh(auth: AuthType) {
    let stack = Stack::get();
    let (_, app, first) = connected(&[], auth, "u-refresh").await;
    let second = refresh(&app, &refresh_of(&first), &[]).await.unwrap();
    assert_ne!(
        refresh_of(&second).secret(),
        refresh_of(&first).secret(),
        "rotated"
    );
    assert_eq!(second.expires_in().map(|d| d.as_secs()), Some(1800));
    let (status, _, body) = me(stack, second.access_token().secret()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], "u-refresh");
    let third = refresh(&app, &refresh_of(&second), &[]).await.unwrap();
    assert_eq!(
        me(stack, third.access_token().secret()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_endpoint_refresh_with_http_basic_rotates_the_refresh_token() {
    token_endpoint_refresh(AuthType::BasicAuth).await;
}

#[tokio::test]
async fn token_endpoint_refresh_with_body_credentials_rotates_the_refresh_token() {
    token_endpoint_refresh(AuthType::RequestBody).await;
}

/// RFC 9700 §4.14.2: reuse of a replaced refresh token revokes the grant: the newest access
/// token of it is refused at /me at once, and the newest refresh token too. (The token just
/// replaced is a retry inside the retry window; the one before it is reuse whenever it comes.)
#[tokio::test]
async fn reuse_after_rotation_is_invalid_grant_and_the_newest_access_token_is_refused() {
    let stack = Stack::get();
    let (_, app, first) = connected(&[], AuthType::BasicAuth, "u-reuse").await;
    let middle = refresh(&app, &refresh_of(&first), &[]).await.unwrap();
    let second = refresh(&app, &refresh_of(&middle), &[]).await.unwrap();
    assert_eq!(
        me(stack, second.access_token().secret()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, &refresh_of(&first), &[]).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
    let (status, challenge, _) = me(stack, second.access_token().secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(
        refresh(&app, &refresh_of(&second), &[]).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

/// A public client refreshes with its client_id alone and always rotates.
#[tokio::test]
async fn public_client_refreshes_with_its_client_id() {
    let stack = Stack::get();
    let (_, app, first) = connected(&["--public"], AuthType::RequestBody, "u-pub-refresh").await;
    let second = refresh(&app, &refresh_of(&first), &[]).await.unwrap();
    assert_ne!(refresh_of(&second).secret(), refresh_of(&first).secret());
    assert_eq!(
        me(stack, second.access_token().secret()).await.0,
        StatusCode::OK
    );
}

/// POST to Cal.com's path; the status and the JSON body.
async fn post_refresh(
    req: reqwest::RequestBuilder,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

/// Cal.com's contract: the refresh token in `Authorization: Bearer`, client credentials in the
/// body; the answer is the token endpoint's, with `Cache-Control: no-store`.
#[tokio::test]
async fn calcom_path_with_the_refresh_token_as_bearer_and_body_credentials() {
    let stack = Stack::get();
    let (c, _, first) = connected(&[], AuthType::RequestBody, "u-calcom").await;
    let (status, headers, body) = post_refresh(
        no_redirect_client()
            .post(stack.refresh_url())
            .bearer_auth(refresh_of(&first).secret())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_deref().unwrap()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["scope"], "READ_PROFILE READ_BOOKING");
    let rt = body["refresh_token"].as_str().unwrap();
    assert!(rt.starts_with("pc_rt_") && rt != refresh_of(&first).secret());
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(me(stack, at).await.0, StatusCode::OK);
}

/// The same path with the refresh token in the body and the client in HTTP Basic; a
/// `code_verifier` (sent again by Cal.com's later clients) and unknown parameters are ignored.
#[tokio::test]
async fn calcom_path_with_the_refresh_token_in_the_body_and_basic_credentials() {
    let stack = Stack::get();
    let (c, _, first) = connected(&[], AuthType::BasicAuth, "u-calcom-basic").await;
    let (status, _, body) = post_refresh(
        no_redirect_client()
            .post(stack.refresh_url())
            .basic_auth(&c.id, c.secret.as_deref())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_of(&first).secret().as_str()),
                ("code_verifier", &"v".repeat(50)),
                ("unknown_param", "x"),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        me(stack, body["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_token_sent_both_as_bearer_and_in_the_body_is_invalid_request() {
    let stack = Stack::get();
    let (c, _, first) = connected(&[], AuthType::RequestBody, "u-both").await;
    let rt = refresh_of(&first).secret().clone();
    let (status, _, body) = post_refresh(
        no_redirect_client()
            .post(stack.refresh_url())
            .bearer_auth(&rt)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_deref().unwrap()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

/// RFC 6749 §6: the scope may narrow, never widen.
#[tokio::test]
async fn scope_may_narrow_on_refresh_but_not_widen() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-scope"));
    let (url, _) = app
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(Scope::new("READ_PROFILE".into()))
        .url();
    let location = user.consent(url.as_str(), "allow").await;
    let code = portcullis_e2e::browser::query_param(&location, "code").unwrap();
    let first = exchange(&app, &code, None).await.unwrap();
    assert_eq!(
        refresh(&app, &refresh_of(&first), &["READ_PROFILE", "READ_BOOKING"])
            .await
            .err(),
        Some(Some(BasicErrorResponseType::InvalidScope))
    );
    // Both tokens are still good: a refused widening changes nothing.
    let narrowed = refresh(&app, &refresh_of(&first), &["READ_PROFILE"])
        .await
        .unwrap();
    let scopes: Vec<String> = narrowed
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["READ_PROFILE"]);
}

/// A grant with an expired refresh token still in the table (TTL deletes late), written
/// directly, for client `c`.
async fn seed_expired(c: &Registered) -> Rt {
    let t = now();
    let (_, _, refresh) = crate::common::stored_grant(&c.id, "u-expired", |g| {
        g.created_at = t - 100_000;
        g.access_expires_at = t - 10;
        g.refresh_expires_at = t - 10;
        g.expires_at = t + 600;
    })
    .await;
    refresh
}

/// Expiry is checked in code: an expired refresh token still in the table is `invalid_grant`.
#[tokio::test]
async fn expired_refresh_token_is_invalid_grant() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let rt = seed_expired(&c).await;
    let app = app(stack, &c, AuthType::BasicAuth);
    assert_eq!(
        refresh(&app, &RefreshToken::new(rt.secret().to_string()), &[])
            .await
            .err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

/// A refresh token belongs to its client: another client gets `invalid_grant`, and the token
/// still works for its owner.
#[tokio::test]
async fn another_clients_refresh_token_is_invalid_grant_and_changes_nothing() {
    let stack = Stack::get();
    let (_, app, first) = connected(&[], AuthType::BasicAuth, "u-other").await;
    let other = register(stack, &[]);
    let thief = crate::common::app(stack, &other, AuthType::BasicAuth);
    assert_eq!(
        refresh(&thief, &refresh_of(&first), &[]).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
    assert!(refresh(&app, &refresh_of(&first), &[]).await.is_ok());
}

/// RFC 6749 §3.2.1: a wrong secret is 401 with a challenge and nothing rotates.
#[tokio::test]
async fn wrong_secret_on_refresh_is_401_and_nothing_rotates() {
    let stack = Stack::get();
    let (c, app, first) = connected(&[], AuthType::BasicAuth, "u-refresh-secret").await;
    let (status, headers, body) = post_refresh(
        no_redirect_client()
            .post(stack.refresh_url())
            .basic_auth(&c.id, Some("pc_cs_wrong"))
            .form(&[("refresh_token", refresh_of(&first).secret().as_str())]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("www-authenticate").is_some());
    assert_eq!(body["error"], "invalid_client");
    assert!(refresh(&app, &refresh_of(&first), &[]).await.is_ok());
}

/// Cal.com's weakness 3: a refresh token is not an access token.
#[tokio::test]
async fn a_refresh_token_presented_at_me_is_401() {
    let stack = Stack::get();
    let (_, _, first) = connected(&[], AuthType::BasicAuth, "u-rt-me").await;
    let (status, challenge, _) = me(stack, refresh_of(&first).secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

#[tokio::test]
async fn an_access_token_presented_as_a_refresh_token_is_invalid_grant() {
    let (_, app, first) = connected(&[], AuthType::BasicAuth, "u-at-rt").await;
    let fake = RefreshToken::new(first.access_token().secret().clone());
    assert_eq!(
        refresh(&app, &fake, &[]).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

/// Legacy mode (`--no-refresh-rotation`): the same refresh token comes back each time.
#[tokio::test]
async fn legacy_client_keeps_its_refresh_token() {
    let stack = Stack::get();
    let (_, app, first) = connected(
        &["--no-refresh-rotation"],
        AuthType::RequestBody,
        "u-legacy",
    )
    .await;
    let second = refresh(&app, &refresh_of(&first), &[]).await.unwrap();
    assert_eq!(refresh_of(&second).secret(), refresh_of(&first).secret());
    let third = refresh(&app, &refresh_of(&first), &[]).await.unwrap();
    assert_eq!(refresh_of(&third).secret(), refresh_of(&first).secret());
    assert_eq!(
        me(stack, third.access_token().secret()).await.0,
        StatusCode::OK
    );
}

/// The refresh function in process (with the test keys), over tables of its own or over a
/// moto of its own that serves one request at a time (see `Stack::serial_stores`), with the
/// given retry window, and a client with one grant.
struct Private {
    endpoint: Arc<RefreshEndpoint<portcullis_aws::DynamoTokens>>,
    stores: Stores,
    client_id: String,
    secret: String,
    _moto: Option<SerialMoto>,
}

fn copy(stores: &Stores) -> Stores {
    Stores {
        clients: stores.clients.clone(),
        codes: stores.codes.clone(),
        tokens: stores.tokens.clone(),
    }
}

/// A grant of `client_id` as the code exchange writes it (tokens minted with the test keys):
/// the grant item and its access and refresh tokens.
fn one_grant(client_id: &str) -> (Grant, AccessToken, Rt) {
    let (mut g, access, refresh) =
        testkit::minted_grant(&testkit::test_keys(), client_id, "u-private", now());
    g.scopes = vec!["READ_PROFILE".into()];
    (g, access, refresh)
}

/// Issue 16: a refresh is one UpdateItem of the grant and names no client item (the client is
/// read with the grant), so a popular client's users refreshing at the same moment do not
/// conflict on it. On real DynamoDB concurrent transactions naming one item are cancelled; moto
/// cannot show that, so the template test `a_refresh_never_writes_or_checks_a_client_item`
/// holds the rule. Here 50 grants of one client refresh at once through the refresh function
/// (in process, real SDK) on a moto of its own that serves one request at a time: 50 successes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_grants_of_one_client_refresh_at_once_without_an_error() {
    let (p, first, _) = private("fifty", 0, true).await;
    let mut tokens = vec![first.secret().to_string()];
    for _ in 1..50 {
        let (g, _, refresh) = one_grant(&p.client_id);
        assert!(p.stores.tokens.start_grant(&g).await.unwrap());
        tokens.push(refresh.secret().to_string());
    }
    let p = Arc::new(p);
    let mut tasks = tokio::task::JoinSet::new();
    for rt in tokens {
        let p = p.clone();
        tasks.spawn(async move { p.refresh(&rt).await });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!(status, 200, "{body}");
        ok += 1;
    }
    assert_eq!(ok, 50);
}

async fn private(name: &str, grace: u64, serial: bool) -> (Private, Rt, AccessToken) {
    let stack = Stack::get();
    let (stores, moto) = if serial {
        let moto = stack.serial_stores().await;
        (copy(moto.stores()), Some(moto))
    } else {
        (stack.private_stores(name).await, None)
    };
    let secret = ClientSecret::generate(&OsEntropy);
    let client_id = format!("c-{name}");
    let mut client = testkit::client(&client_id)
        .secrets(&[secret.secret()])
        .build();
    client.created_at = now();
    stores.clients.create_client(&client).await.unwrap();
    let (g, access, refresh) = one_grant(&client_id);
    assert!(stores.tokens.start_grant(&g).await.unwrap());
    let mut settings = RefreshSettings::from_lookup(|k| {
        use portcullis_core::settings::env;
        // The adapters below are built on the stores' tables, the keys are the test keys;
        // these names are not used.
        if k == env::ISSUER {
            return Some("http://127.0.0.1".to_string());
        }
        matches!(
            k,
            env::CLIENTS_TABLE
                | env::CODES_TABLE
                | env::TOKENS_TABLE
                | env::MINT_SECRET_ID
                | env::TAG_SECRET_ID
                | env::ACCESS_TAG_SECRET_ID
        )
        .then(|| "unused".to_string())
    })
    .unwrap();
    settings.lifetimes = Lifetimes {
        refresh_grace: grace,
        ..Lifetimes::default()
    };
    let k = testkit::test_keys();
    let endpoint = RefreshEndpoint {
        tokens: stores.tokens.clone(),
        client_auth: portcullis_aws::DynamoClientAuth {
            clients: stores.clients.clone(),
            codes: stores.codes.clone(),
        },
        settings,
        clock: Box::new(portcullis_core::clock::SystemClock),
        entropy: Box::new(OsEntropy),
        mint: StaticRing::boxed(k.mint),
        tag: StaticRing::boxed(k.tag),
        access_tag: StaticRing::boxed(k.access_tag),
    };
    (
        Private {
            endpoint: Arc::new(endpoint),
            stores,
            client_id,
            secret: secret.secret().to_string(),
            _moto: moto,
        },
        refresh,
        access,
    )
}

impl Private {
    /// Cal.com's call: the refresh token as Bearer, the client in the body.
    async fn refresh(&self, token: &str) -> (u16, Value) {
        let req = lambda_http::http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1/api/auth/oauth/refreshToken")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Bearer {token}"))
            .body(lambda_http::Body::Text(format!(
                "grant_type=refresh_token&client_id={}&client_secret={}",
                self.client_id, self.secret
            )))
            .unwrap();
        let resp = portcullis_lambda::respond(&*self.endpoint, req).await;
        let body = match resp.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (resp.status().as_u16(), body)
    }

    /// Whether an access token is accepted (its grant and client read together).
    async fn live(&self, access: &str) -> bool {
        portcullis_core::bearer::authenticate(
            &self.stores.tokens,
            &testkit::test_keys().access_tag,
            portcullis_core::bearer::Presented::AccessToken(AccessToken::new(access)),
            now(),
        )
        .await
        .is_ok()
    }
}

/// RFC 9700 §4.14.2: 20 concurrent refreshes of one token (a client retrying a slow request)
/// move the grant exactly once (one conditional write on its generation wins). The successors
/// are derived from the grant and generation, so the requests that lost the write find it
/// landed with the very tokens they computed, and those that read after it are retries inside
/// the window: all are answered with the same pair. One successor, no second branch, nothing
/// revoked. On a moto that serves one request at a time (see `Stack::serial_stores`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refreshes_of_one_token_move_the_grant_once_to_one_successor() {
    let (p, rt, _) = private("concurrent", 30, true).await;
    let p = Arc::new(p);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let p = p.clone();
        let rt = rt.secret().to_string();
        tasks.spawn(async move { p.refresh(&rt).await });
    }
    let mut successors = std::collections::BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        assert_eq!(status, 200, "{body}");
        successors.insert(body["refresh_token"].as_str().unwrap().to_string());
    }
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    let parts = portcullis_core::codec::parse_refresh(
        &Rt::new(successors.first().unwrap().as_str()),
        &testkit::test_keys().tag,
    )
    .unwrap();
    let g = p
        .stores
        .tokens
        .grant(&parts.grant_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.generation, 1, "the grant moved once");
    assert!(g.revoked_at.is_none(), "nothing was mistaken for reuse");
}

/// Issue 16, "a retry after a lost answer gets the same answer": inside the retry window the
/// refresh token of the generation before gets the very tokens the refresh that replaced it
/// issued, so one live branch exists. Review finding 2: a later use of an earlier token (once
/// the pair has moved on, or after the window) is reuse and ends the grant.
#[tokio::test]
async fn a_retry_in_the_window_gets_the_same_pair_and_a_later_use_of_an_old_token_ends_the_grant() {
    let (p, rt, _) = private("grace", 60, false).await;
    let (status, first) = p.refresh(rt.secret()).await;
    assert_eq!(status, 200, "{first}");
    let (status, retry) = p.refresh(rt.secret()).await;
    assert_eq!(status, 200, "{retry}");
    // The same answer (`expires_in` counts down between the two).
    assert_eq!(first["access_token"], retry["access_token"]);
    assert_eq!(first["refresh_token"], retry["refresh_token"]);
    assert_eq!(first["scope"], retry["scope"]);
    assert!(p.live(first["access_token"].as_str().unwrap()).await);
    let (status, next) = p.refresh(first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{next}");
    let (status, body) = p.refresh(rt.secret()).await;
    assert_eq!(status, 400, "two generations back: reuse");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        !p.live(next["access_token"].as_str().unwrap()).await,
        "the grant ended"
    );
    let (status, _) = p.refresh(next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

/// Hostile input at Cal.com's path gets a clear 4xx RFC error, never a 5xx.
#[tokio::test]
async fn malformed_refresh_requests_get_clear_errors_not_server_errors() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let http = no_redirect_client();
    let secret = c.secret.clone().unwrap();
    let creds = format!("client_id={}&client_secret={}", c.id, secret);
    let cases: [(Option<&str>, String, StatusCode, &str); 6] = [
        (
            None,
            format!("grant_type=refresh_token&{creds}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some("Bearer"),
            format!("grant_type=refresh_token&{creds}"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some("Bearer pc_rt_short"),
            format!("grant_type=refresh_token&{creds}"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            Some("Bearer pc_rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            format!("grant_type=password&{creds}"),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some("Bearer pc_rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "grant_type=refresh_token".to_string(),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            Some("Bearer pc_rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            format!("grant_type=refresh_token&{creds}"),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (auth, body, status, error) in cases {
        let mut req = http
            .post(stack.refresh_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (got, _, v) = post_refresh(req).await;
        assert_eq!(got, status, "{auth:?} {body}: {v}");
        assert_eq!(v["error"], error, "{auth:?} {body}: {v}");
        assert!(v["error_description"].is_string(), "{v}");
    }
    let r = http.get(stack.refresh_url()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

//! End-to-end: the real function binaries under `cargo lambda watch`, on the real AWS SDK path
//! against moto, driven by the `oauth2` crate as the app and a scripted browser as the user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use portcullis::model::{CodeRecord, UserInfo};
use portcullis::secret::SecretHash;
use portcullis::store::CodeIssue;
use portcullis_e2e::browser::{hidden_fields, no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

const REDIRECT: &str = "http://127.0.0.1:8765/callback";

type App = oauth2::Client<
    oauth2::StandardErrorResponse<BasicErrorResponseType>,
    oauth2::StandardTokenResponse<oauth2::EmptyExtraTokenFields, BasicTokenType>,
    oauth2::StandardTokenIntrospectionResponse<oauth2::EmptyExtraTokenFields, BasicTokenType>,
    oauth2::StandardRevocableToken,
    oauth2::StandardErrorResponse<oauth2::RevocationErrorResponseType>,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

struct Registered {
    id: String,
    secret: Option<String>,
}

fn register(stack: &Stack, extra: &[&str]) -> Registered {
    let mut args = vec![
        "client",
        "create",
        "--name",
        "Zap App",
        "--redirect-uri",
        REDIRECT,
    ];
    args.extend_from_slice(extra);
    let v = stack.cli_json(&args);
    Registered {
        id: v["client_id"].as_str().unwrap().to_string(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

fn session(stack: &Stack, sub: &str) -> String {
    let v = stack.cli_json(&[
        "session",
        "--sub",
        sub,
        "--username",
        "ada",
        "--email",
        "ada@example.test",
        "--name",
        "Ada Lovelace",
    ]);
    v["session"].as_str().unwrap().to_string()
}

fn app(stack: &Stack, c: &Registered, auth: AuthType) -> App {
    let client = BasicClient::new(ClientId::new(c.id.clone()))
        .set_auth_uri(AuthUrl::new(stack.authorize_url()).unwrap())
        .set_token_uri(TokenUrl::new(stack.token_url()).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
        .set_auth_type(auth);
    match &c.secret {
        Some(s) => client.set_client_secret(ClientSecret::new(s.clone())),
        None => client,
    }
}

/// The authorization URL a confidential app builds for one scope, and its state.
fn authorization_url(stack: &Stack, c: &Registered, scope: &str) -> (url::Url, CsrfToken) {
    app(stack, c, AuthType::BasicAuth)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .url()
}

/// The app builds the authorization URL (with PKCE when asked), the user allows; returns the
/// code and the PKCE verifier.
async fn authorize(
    stack: &Stack,
    app: &App,
    user: &Browser,
    pkce: bool,
) -> (String, Option<PkceCodeVerifier>) {
    let mut req = app
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("READ_PROFILE".into()))
        .add_scope(Scope::new("READ_BOOKING".into()));
    let mut verifier = None;
    if pkce {
        let (challenge, v) = PkceCodeChallenge::new_random_sha256();
        req = req.set_pkce_challenge(challenge);
        verifier = Some(v);
    }
    let (url, state) = req.url();
    let location = user.consent(url.as_str(), "allow").await;
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(stack.base_url.as_str()),
        "RFC 9207 iss"
    );
    (query_param(&location, "code").expect("code"), verifier)
}

async fn exchange(
    app: &App,
    code: &str,
    verifier: Option<PkceCodeVerifier>,
) -> Result<oauth2::basic::BasicTokenResponse, Option<BasicErrorResponseType>> {
    let mut req = app.exchange_code(AuthorizationCode::new(code.to_string()));
    if let Some(v) = verifier {
        req = req.set_pkce_verifier(v);
    }
    req.request_async(&no_redirect_client())
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => Some(r.error().clone()),
            other => panic!("unexpected token error: {other:?}"),
        })
}

async fn me(stack: &Stack, token: &str) -> (StatusCode, String, Value) {
    let r = no_redirect_client()
        .get(stack.me_url())
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

async fn full_flow(auth: AuthType, public: bool) {
    let stack = Stack::full();
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

/// RFC 6749 §4.1.2: a code is single use; its replay revokes the tokens it bought.
#[tokio::test]
async fn code_is_rejected_on_second_use_and_its_tokens_are_revoked() {
    let stack = Stack::full();
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "replay-user"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let tokens = exchange(&app, &code, None).await.unwrap();
    assert_eq!(
        me(stack, tokens.access_token().secret()).await.0,
        StatusCode::OK
    );
    let again = exchange(&app, &code, None).await;
    assert_eq!(
        again.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
    let (status, challenge, _) = me(stack, tokens.access_token().secret()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// RFC 6749 §4.1.3: redirect_uri must match the authorization request's.
#[tokio::test]
async fn wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let stack = Stack::full();
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
    let stack = Stack::full();
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
    let stack = Stack::full();
    let c = register(stack, &[]);
    let code = "pc_ac_expired-code-for-the-e2e-test-0000000000000";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let record = CodeRecord {
        pk: SecretHash::of(code),
        client_id: c.id.clone(),
        client_public: false,
        client_secret_hashes: vec![SecretHash::of(c.secret.as_deref().unwrap())],
        redirect_uri: REDIRECT.into(),
        redirect_uri_explicit: true,
        scopes: vec!["READ_PROFILE".into()],
        user: UserInfo {
            sub: "u-expired".into(),
            ..Default::default()
        },
        code_challenge: None,
        created_at: now - 700,
        expires_at: now - 100,
    };
    stack.store().await.put_code(&record).await.unwrap();
    let app = app(stack, &c, AuthType::BasicAuth);
    assert_eq!(
        exchange(&app, code, None).await.err(),
        Some(Some(BasicErrorResponseType::InvalidGrant))
    );
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_a_challenge() {
    let stack = Stack::full();
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

/// Cal.com's first version took JSON token requests; apps built then still send them.
#[tokio::test]
async fn json_token_request_with_body_credentials_is_accepted() {
    let stack = Stack::full();
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

#[tokio::test]
async fn missing_session_redirects_to_login_and_dev_login_returns_to_the_request() {
    let stack = Stack::full();
    let c = register(stack, &[]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let mut browser = Browser::new();
    let first = browser.get(url.as_str()).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let login = first.location.unwrap();
    assert!(
        login.starts_with(&format!("{}/auth/dev-login?", stack.base_url)),
        "{login}"
    );
    assert_eq!(
        query_param(&login, "return_to").as_deref(),
        Some(url.as_str())
    );

    // The dev login form, then its POST: a session cookie and a way back.
    let form = browser.get(&login).await;
    assert_eq!(form.status, StatusCode::OK);
    let mut fields = hidden_fields(&form.body);
    fields.push(("username".into(), "grace".into()));
    let signed = browser.post_form(&login, &fields).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some(url.as_str()));
    let set_cookie = signed.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    browser.set_cookie(set_cookie.split(';').next().unwrap().to_string());
    let location = browser.consent(url.as_str(), "allow").await;
    assert!(query_param(&location, "code").is_some(), "{location}");
}

/// RFC 6749 §10.12: the consent POST needs the CSRF token issued with the page.
#[tokio::test]
async fn tampered_csrf_token_is_refused_with_a_page_and_no_code() {
    let stack = Stack::full();
    let c = register(stack, &[]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let user = Browser::signed_in(&session(stack, "u-csrf"));
    let page = user.get(url.as_str()).await;
    let mut fields = hidden_fields(&page.body);
    for (k, v) in fields.iter_mut() {
        if k == "csrf_token" {
            let last = v.pop().unwrap();
            v.push(if last == 'A' { 'B' } else { 'A' });
        }
    }
    fields.push(("decision".into(), "allow".into()));
    let r = user.post_form(&stack.authorize_url(), &fields).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
    assert!(
        r.body.contains("expired or was not sent from this site"),
        "{}",
        r.body
    );

    // The same form from another user's session is refused too.
    let other = Browser::signed_in(&session(stack, "u-other"));
    let mut fields = hidden_fields(&page.body);
    fields.push(("decision".into(), "allow".into()));
    assert_eq!(
        other
            .post_form(&stack.authorize_url(), &fields)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

/// RFC 6749 §4.1.2.1, RFC 9700 §4.11: never redirect for an unknown client or URI.
#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_get_a_page_not_a_redirect() {
    let stack = Stack::full();
    let user = Browser::signed_in(&session(stack, "u-unknown"));
    let r = user
        .get(&format!(
            "{}?client_id=nope&redirect_uri=https%3A%2F%2Fevil.example%2F&state=s",
            stack.authorize_url()
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["referrer-policy"], "no-referrer");
    assert_eq!(r.headers["cache-control"], "no-store");

    let c = register(stack, &[]);
    let r = user
        .get(&format!(
            "{}?client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2F",
            stack.authorize_url(),
            c.id
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.location.is_none());
}

#[tokio::test]
async fn deny_redirects_with_access_denied_state_and_iss() {
    let stack = Stack::full();
    let c = register(stack, &[]);
    let (url, state) = authorization_url(stack, &c, "READ_PROFILE");
    let user = Browser::signed_in(&session(stack, "u-deny"));
    let location = user.consent(url.as_str(), "deny").await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(stack.base_url.as_str())
    );
    assert!(query_param(&location, "code").is_none());
}

#[tokio::test]
async fn consent_page_names_the_client_and_each_requested_scope_in_plain_words() {
    let stack = Stack::full();
    let c = register(stack, &["--logo", "https://cdn.example/logo.png"]);
    let (url, _) = authorization_url(stack, &c, "READ_BOOKING");
    let page = Browser::signed_in(&session(stack, "u-page"))
        .get(url.as_str())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Zap App"));
    assert!(page.body.contains("https://cdn.example/logo.png"));
    assert!(page.body.contains("See your bookings"));
    assert!(
        !page.body.contains("See your profile"),
        "only the requested scopes are listed"
    );
    assert!(page
        .body
        .contains(r#"<button type="submit" name="decision" value="allow""#));
    assert!(page
        .body
        .contains(r#"<button type="submit" name="decision" value="deny""#));
}

/// Cal.com split scopes on commas; both separators are accepted.
#[tokio::test]
async fn comma_separated_scopes_and_absent_response_type_are_accepted() {
    let stack = Stack::full();
    let c = register(stack, &[]);
    let url = format!(
        "{}?client_id={}&redirect_uri={}&scope=READ_BOOKING,READ_PROFILE&state=abc",
        stack.authorize_url(),
        c.id,
        urlencode(REDIRECT)
    );
    let user = Browser::signed_in(&session(stack, "u-comma"));
    let page = user.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("See your bookings") && page.body.contains("See your profile"));
}

#[tokio::test]
async fn trusted_client_skips_the_consent_page() {
    let stack = Stack::full();
    let c = register(stack, &["--trusted"]);
    let (url, _) = authorization_url(stack, &c, "READ_PROFILE");
    let r = Browser::signed_in(&session(stack, "u-trusted"))
        .get(url.as_str())
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(query_param(r.location.as_deref().unwrap(), "code").is_some());
}

/// RFC 6750 §3.1 and Cal.com's weakness 3: a refresh token is not an access token; a token
/// without READ_PROFILE gets 403 insufficient_scope.
#[tokio::test]
async fn me_refuses_refresh_tokens_unknown_tokens_and_tokens_without_read_profile() {
    let stack = Stack::full();
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
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
}

/// Hostile input gets a clear 4xx, never a 5xx.
#[tokio::test]
async fn malformed_requests_get_clear_errors_not_server_errors() {
    let stack = Stack::full();
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
    for q in [
        "",
        "?client_id=%FF",
        "?client_id=a&client_id=b",
        &format!("?{}", "x=y&".repeat(500)),
    ] {
        let r = http
            .get(format!("{}{q}", stack.authorize_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
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

/// Other languages' client libraries: Python's Authlib (Basic and body auth, PKCE) and
/// requests-oauthlib complete the flow and call /me (tests/interop/python_clients.py).
#[tokio::test]
async fn python_oauth_libraries_complete_the_flow_and_read_me() {
    let stack = Stack::full();
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
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

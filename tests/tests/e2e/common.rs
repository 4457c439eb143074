//! The app (the `oauth2` crate) and the user (a scripted browser with a host session), as the
//! endpoint modules use them.
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    TokenUrl,
};
use portcullis_e2e::browser::{no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

pub const REDIRECT: &str = "http://127.0.0.1:8765/callback";

pub type App = oauth2::Client<
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

/// A client registered through the CLI.
pub struct Registered {
    pub id: String,
    pub secret: Option<String>,
}

/// `portcullis client create` for "Zap App" with [`REDIRECT`], plus `extra` flags: the
/// Cal.com-contract app most tests play, a confidential client that may omit PKCE
/// (`--pkce-optional`), unless `extra` has `--public`. [`register_strict`] keeps the CLI's
/// default (PKCE required).
pub fn register(stack: &Stack, extra: &[&str]) -> Registered {
    let mut flags = extra.to_vec();
    if !extra.contains(&"--public") {
        flags.push("--pkce-optional");
    }
    register_strict(stack, &flags)
}

/// `portcullis client create` with the CLI's defaults plus `extra` flags.
pub fn register_strict(stack: &Stack, extra: &[&str]) -> Registered {
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

/// A host session token for user `sub` ("ada", Ada Lovelace), minted by the CLI.
pub fn session(stack: &Stack, sub: &str) -> String {
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

pub fn app(stack: &Stack, c: &Registered, auth: AuthType) -> App {
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
pub fn authorization_url(stack: &Stack, c: &Registered, scope: &str) -> (url::Url, CsrfToken) {
    app(stack, c, AuthType::BasicAuth)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .url()
}

/// The app builds the authorization URL (with PKCE when asked), the user allows; returns the
/// code and the PKCE verifier.
pub async fn authorize(
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

/// The token request; the error code when the server refuses.
pub async fn exchange(
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

/// `GET /me` with a bearer token: the status, the `WWW-Authenticate` challenge and the body.
pub async fn me(stack: &Stack, token: &str) -> (StatusCode, String, Value) {
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

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The key rings the stack's functions use, read from its Secrets Manager (moto) as the
/// functions read them: for tests that write a grant directly and then present its tokens to
/// the real functions.
pub async fn stack_keys() -> portcullis_core::testkit::TestKeys {
    use portcullis_core::keys::KeySource;
    use portcullis_core::settings::env;
    let stack = portcullis_e2e::Stack::get();
    let sdk = stack.sdk().await;
    let read =
        |var: &str| portcullis_aws::secrets::SecretsManagerKeyRing::new(&sdk, stack.env_var(var));
    portcullis_core::testkit::TestKeys {
        mint: read(env::MINT_SECRET_ID).fetch().await.unwrap(),
        tag: read(env::TAG_SECRET_ID).fetch().await.unwrap(),
        access_tag: read(env::ACCESS_TAG_SECRET_ID).fetch().await.unwrap(),
    }
}

/// A grant of `client_id` for `sub`, written directly with its generation-0 tokens minted with
/// the stack's keys (so the real functions accept them), changed by `edit` first.
pub async fn stored_grant(
    client_id: &str,
    sub: &str,
    edit: impl FnOnce(&mut portcullis_core::model::Grant),
) -> (
    portcullis_core::model::Grant,
    portcullis_core::secret::AccessToken,
    portcullis_core::secret::RefreshToken,
) {
    use portcullis_core::ports::GrantStart;
    let (mut g, access, refresh) =
        portcullis_core::testkit::minted_grant(&stack_keys().await, client_id, sub, now());
    edit(&mut g);
    let stores = portcullis_e2e::Stack::get().stores().await;
    assert!(stores.tokens.start_grant(&g).await.unwrap());
    (g, access, refresh)
}

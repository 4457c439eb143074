//! The resource-server side: API keys (`portcullis apikey …`), `portcullis-resource` through the
//! example function `list-bookings` (`GET /api/bookings`, needs READ_BOOKING), API keys refused
//! at the OAuth endpoints, and `portcullis client disable`.
use crate::common::{app, authorize, exchange, me, register, session};
use aws_sdk_dynamodb::types::AttributeValue;
use oauth2::{AuthType, TokenResponse};
use portcullis_aws::DynamoTokens;
use portcullis_core::ids::{GrantId, Subject};
use portcullis_core::ports::{ApiKeyLookup, ApiKeyRegistry, GrantLookup};
use portcullis_core::secret::ApiKey;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

fn bookings_url(stack: &Stack) -> String {
    format!("{}/api/bookings", stack.base_url)
}

/// Two bookings for `sub` in the example table.
pub(crate) async fn seed(stack: &Stack, sub: &str) {
    let db = portcullis_aws::sdk::dynamodb(&stack.sdk().await);
    let table = stack
        .tables()
        .bookings
        .expect("the local stack names the bookings table");
    for (id, title) in [("b-1", "Intro call"), ("b-2", "Review")] {
        db.put_item()
            .table_name(&table)
            .item("user_sub", AttributeValue::S(sub.into()))
            .item("booking_id", AttributeValue::S(id.into()))
            .item("title", AttributeValue::S(format!("{title} for {sub}")))
            .item(
                "start_time",
                AttributeValue::S("2026-12-01T09:00:00Z".into()),
            )
            .item("end_time", AttributeValue::S("2026-12-01T09:30:00Z".into()))
            .send()
            .await
            .unwrap();
    }
}

/// `portcullis apikey create`, as JSON.
fn create_key(stack: &Stack, sub: &str, scopes: &str, extra: &[&str]) -> Value {
    let mut args = vec!["apikey", "create", "--sub", sub, "--scopes", scopes];
    args.extend_from_slice(extra);
    stack.cli_json(&args)
}

/// A request to `/api/bookings`: status, `WWW-Authenticate`, body.
async fn get(
    stack: &Stack,
    query: Option<&str>,
    authorization: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut url = bookings_url(stack);
    if let Some(q) = query {
        url = format!("{url}?{q}");
    }
    let mut req = no_redirect_client().get(url);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

fn titles(body: &Value) -> Vec<String> {
    body["bookings"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|b| b["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_bookings_accepts_an_oauth_access_token_and_returns_the_users_own_bookings() {
    let stack = Stack::get();
    seed(stack, "u-bookings-oauth").await;
    seed(stack, "u-bookings-other").await;
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-bookings-oauth"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let tokens = exchange(&app, &code, None).await.unwrap();
    let bearer = format!("Bearer {}", tokens.access_token().secret());
    let (status, _, body) = get(stack, None, Some(&bearer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        titles(&body),
        [
            "Intro call for u-bookings-oauth",
            "Review for u-bookings-oauth"
        ]
    );
}

#[tokio::test]
async fn list_bookings_accepts_an_api_key_in_the_header_and_in_the_query() {
    let stack = Stack::get();
    seed(stack, "u-bookings-key").await;
    let key = create_key(stack, "u-bookings-key", "READ_BOOKING", &["--name", "zap"]);
    let key = key["api_key"].as_str().unwrap();
    assert!(key.starts_with("pc_ak_"));

    let (status, _, body) = get(stack, None, Some(&format!("Bearer {key}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(titles(&body).len(), 2);
    let (status, _, body) = get(stack, Some(&format!("apiKey={key}")), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(titles(&body)[0], "Intro call for u-bookings-key");
}

/// RFC 6750 §3.1: 403 insufficient_scope, naming the scope.
#[tokio::test]
async fn list_bookings_refuses_a_credential_without_read_booking_with_403() {
    let stack = Stack::get();
    let key = create_key(stack, "u-bookings-scope", "READ_PROFILE", &[]);
    let key = key["api_key"].as_str().unwrap();
    let (status, challenge, body) = get(stack, None, Some(&format!("Bearer {key}"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("READ_BOOKING"), "{challenge}");
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_with_401_invalid_token() {
    let stack = Stack::get();
    let created = create_key(stack, "u-bookings-revoked", "READ_BOOKING", &[]);
    let key = created["api_key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, _, _) = get(stack, Some(&format!("apiKey={key}")), None).await;
    assert_eq!(status, StatusCode::OK);

    let listed = stack.cli_json(&["apikey", "list", "--sub", "u-bookings-revoked"]);
    let text = listed.to_string();
    assert!(text.contains(id) && !text.contains(key), "{text}");
    assert!(!text.contains(ApiKey::new(key).hash().as_str()), "{text}");

    let revoked = stack.cli_json(&["apikey", "revoke", id]);
    assert_eq!(revoked["revoked"], id);
    let (status, challenge, _) = get(stack, Some(&format!("apiKey={key}")), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let listed = stack.cli_json(&["apikey", "list", "--sub", "u-bookings-revoked"]);
    assert_eq!(listed["api_keys"], serde_json::json!([]));
}

#[tokio::test]
async fn an_expired_api_key_is_refused_with_401_invalid_token() {
    let stack = Stack::get();
    let created = create_key(
        stack,
        "u-bookings-expired",
        "READ_BOOKING",
        &["--expires-in", "1"],
    );
    let key = created["api_key"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, challenge, _) = get(stack, None, Some(&format!("Bearer {key}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// RFC 6750 §3.1: "If the request lacks any authentication information ..., the resource server
/// SHOULD NOT include an error code": the challenge names the realm only.
#[tokio::test]
async fn a_request_without_credentials_gets_401_and_a_challenge_without_an_error_code() {
    let stack = Stack::get();
    let (status, challenge, _) = get(stack, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, "Bearer realm=\"portcullis\"");
}

/// RFC 6750 §2: one method per request.
#[tokio::test]
async fn credentials_in_both_the_header_and_the_query_are_400_invalid_request() {
    let stack = Stack::get();
    let created = create_key(stack, "u-bookings-twice", "READ_BOOKING", &[]);
    let key = created["api_key"].as_str().unwrap();
    let (status, challenge, body) = get(
        stack,
        Some(&format!("apiKey={key}")),
        Some(&format!("Bearer {key}")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_request");
}

/// API keys are for the product's own APIs: never a code, a refresh token, or a token at `/me`.
#[tokio::test]
async fn api_keys_never_work_at_the_oauth_endpoints() {
    let stack = Stack::get();
    let created = create_key(
        stack,
        "u-bookings-oauth-ep",
        "READ_BOOKING,READ_PROFILE",
        &[],
    );
    let key = created["api_key"].as_str().unwrap();
    let c = register(stack, &[]);
    let secret = c.secret.clone().unwrap();
    let http = no_redirect_client();
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", key),
            ("redirect_uri", crate::common::REDIRECT),
        ],
        vec![("grant_type", "refresh_token"), ("refresh_token", key)],
    ] {
        let r = http
            .post(stack.token_url())
            .basic_auth(&c.id, Some(&secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{form:?}");
    }
    let r = http
        .post(stack.refresh_url())
        .bearer_auth(key)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // `/me` is the OAuth userinfo for apps: OAuth access tokens only.
    let (status, challenge, _) = me(stack, key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// `portcullis client disable`: the client's tokens stop working at once, at no cost to
/// `authenticate` (they are revoked, so its one GetItem finds nothing).
#[tokio::test]
async fn disabling_a_client_revokes_its_tokens() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let app = app(stack, &c, AuthType::BasicAuth);
    let user = Browser::signed_in(&session(stack, "u-bookings-disabled"));
    let (code, _) = authorize(stack, &app, &user, false).await;
    let tokens = exchange(&app, &code, None).await.unwrap();
    let bearer = format!("Bearer {}", tokens.access_token().secret());
    assert_eq!(get(stack, None, Some(&bearer)).await.0, StatusCode::OK);

    let done = stack.cli_json(&["client", "disable", &c.id]);
    assert_eq!(done["grants_revoked"], 1, "{done}");
    let (status, _, _) = get(stack, None, Some(&bearer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = app
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&no_redirect_client())
        .await;
    assert!(r.is_err());
}

/// The adapter on the real SDK path: one GetItem finds a key and not a token (and a token's
/// lookup does not choke on a key's item); listing and revoking by id.
#[tokio::test]
async fn api_key_adapter_stores_lists_and_revokes_keys_in_the_tokens_table() {
    let stack = Stack::get();
    let stores = stack.stores().await;
    let tokens: &DynamoTokens = &stores.tokens;
    let k = portcullis_core::api_keys::new_api_key(
        portcullis_core::api_keys::ApiKeyRequest {
            sub: "u-adapter-keys".into(),
            scopes: vec!["READ_BOOKING".into()],
            name: Some("one".into()),
            expires_in: None,
        },
        &portcullis_core::scope::ScopeCatalog::default(),
        &portcullis_core::clock::OsEntropy,
        crate::common::now(),
    )
    .unwrap();
    tokens.create_api_key(&k.record).await.unwrap();
    assert!(
        tokens.create_api_key(&k.record).await.is_err(),
        "conditional put"
    );
    let now = crate::common::now();
    let found = tokens.api_key(&k.key.hash(), now).await.unwrap().unwrap();
    assert_eq!(found, k.record);
    // An API key's item is never mistaken for a grant.
    assert_eq!(
        tokens
            .grant(&GrantId::new(k.key.hash().as_str()))
            .await
            .unwrap(),
        None
    );
    let listed = tokens
        .api_keys_of(&Subject::from("u-adapter-keys"))
        .await
        .unwrap();
    assert_eq!(listed, vec![k.record.clone()]);
    assert!(!tokens
        .revoke_api_key(&GrantId::from("ak_AAAAAAAAAAAAAAAA"))
        .await
        .unwrap());
    assert!(tokens.revoke_api_key(k.record.id()).await.unwrap());
    assert_eq!(tokens.api_key(&k.key.hash(), now).await.unwrap(), None);
}

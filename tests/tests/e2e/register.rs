//! Dynamic client registration (RFC 7591) at `POST /api/auth/oauth/register`, against the real
//! binary and moto (the local stack runs with `PORTCULLIS_DYNAMIC_REGISTRATION=open`): what the
//! MCP SDKs and Claude Code send, idempotency, refusals, initial access tokens, the hourly cap,
//! and a full authorization with a registered public client.
use crate::common::{app, authorize, exchange, session, Registered, REDIRECT};
use oauth2::AuthType;
use portcullis_core::ports::{ClientLookup, RegistrationWindow};
use portcullis_core::registration::RegistrationRequest;
use portcullis_core::scope::ScopeCatalog;
use portcullis_e2e::browser::{no_redirect_client, Browser};
use portcullis_e2e::Stack;
use serde_json::{json, Value};

/// The cap test fills the hour's counter for a moment: the other tests here wait for it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn url(stack: &Stack) -> String {
    format!("{}/api/auth/oauth/register", stack.base_url)
}

async fn post(stack: &Stack, body: &Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = no_redirect_client().post(url(stack)).json(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

/// A distinct loopback redirect per test, so the tests' registrations are distinct clients.
fn python_sdk(port: u16) -> Value {
    json!({
        "redirect_uris": [format!("http://localhost:{port}/callback")],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "READ_BOOKING",
        "client_name": "MCP Python SDK client",
        "application_type": "native"
    })
}

/// reference §1.7: the Python MCP SDK's registration; the response echoes it (redirect URIs as an
/// array, the scope, `none`), with no secret.
#[tokio::test]
async fn a_python_sdk_registration_is_a_public_client() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let (status, v) = post(stack, &python_sdk(41001), None).await;
    assert_eq!(status, 201, "{v}");
    assert!(v["client_id"].as_str().unwrap().starts_with("dcr_"));
    assert_eq!(
        v["redirect_uris"],
        json!(["http://localhost:41001/callback"])
    );
    assert_eq!(v["token_endpoint_auth_method"], "none");
    assert_eq!(v["scope"], "READ_BOOKING");
    assert!(v.get("client_secret").is_none());
    let stored = stack
        .stores()
        .await
        .clients
        .client(&v["client_id"].as_str().unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.public && !stored.trusted && stored.expires_at.is_some());
    // `client list --origin registration` shows it.
    let listed = stack.cli_json(&["client", "list", "--origin", "registration"]);
    assert!(listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["client_id"] == v["client_id"] && c["origin"] == "registration"));
}

/// Claude Code sends no scope: every catalogue scope. Sent again, the same client (same id and
/// issue time).
#[tokio::test]
async fn claude_codes_registration_gets_every_scope_and_an_identical_one_the_same_client() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let body = json!({
        "client_name": "Claude Code (portcullis)",
        "redirect_uris": ["http://localhost:41002/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    });
    let (status, first) = post(stack, &body, None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["scope"], "READ_BOOKING READ_PROFILE");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, again) = post(stack, &body, None).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["client_id"], first["client_id"]);
    assert_eq!(again["client_id_issued_at"], first["client_id_issued_at"]);
}

/// RFC 7591 §3.2.2: refused metadata is a clear 400 (or 413), never a 5xx, nothing stored.
#[tokio::test]
async fn hostile_registrations_get_rfc_errors_and_store_nothing() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let (status, v) = post(
        stack,
        &json!({"redirect_uris": ["javascript:alert(1)"]}),
        None,
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_redirect_uri")),
        "{v}"
    );
    let mut long = python_sdk(41003);
    long["client_name"] = Value::String("n".repeat(10 * 1024));
    let (status, v) = post(stack, &long, None).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{v}"
    );
    let id = RegistrationRequest::parse(
        python_sdk(41003).to_string().as_bytes(),
        &ScopeCatalog::default(),
    )
    .unwrap()
    .client_id();
    assert!(stack
        .stores()
        .await
        .clients
        .client(&id)
        .await
        .unwrap()
        .is_none());
    let mut huge = python_sdk(41003);
    huge["padding"] = Value::String("x".repeat(20 * 1024));
    let (status, v) = post(stack, &huge, None).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (413, Some("invalid_client_metadata")),
        "{v}"
    );
}

/// RFC 7591 §3: a confidential registration needs an initial access token; with one from
/// `portcullis registration-token create` it gets a secret that works at the token endpoint.
#[tokio::test]
async fn a_confidential_registration_with_an_initial_access_token_gets_a_working_secret() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let body = json!({
        "redirect_uris": [REDIRECT],
        "client_name": "Partner web app",
        "token_endpoint_auth_method": "client_secret_basic",
        "application_type": "web"
    });
    let (status, v) = post(stack, &body, None).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{v}"
    );
    let token = stack.cli_json(&[
        "registration-token",
        "create",
        "--expires-in",
        "1h",
        "--uses",
        "1",
    ]);
    let token = token["registration_token"].as_str().unwrap().to_string();
    let (status, v) = post(stack, &body, Some(&token)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["client_secret_expires_at"], 0);
    let client = Registered {
        id: v["client_id"].as_str().unwrap().into(),
        secret: Some(v["client_secret"].as_str().unwrap().into()),
    };
    let user = Browser::signed_in(&session(stack, "dcr|partner"));
    let app = app(stack, &client, AuthType::BasicAuth);
    let (code, verifier) = authorize(stack, &app, &user, true).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    assert!(oauth2::TokenResponse::refresh_token(&tokens).is_some());
    // RFC 6750 §3.1: the token's one use is spent.
    let (status, v) = post(stack, &body, Some(&token)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("invalid_token")),
        "{v}"
    );
}

/// A registered public client goes through the whole flow: consent, code, PKCE exchange.
#[tokio::test]
async fn a_registered_public_client_authorizes_and_exchanges_with_pkce() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let body = json!({
        "redirect_uris": [REDIRECT],
        "client_name": "Registered MCP agent",
        "token_endpoint_auth_method": "none",
        "application_type": "native"
    });
    let (status, v) = post(stack, &body, None).await;
    assert_eq!(status, 201, "{v}");
    let client = Registered {
        id: v["client_id"].as_str().unwrap().into(),
        secret: None,
    };
    let user = Browser::signed_in(&session(stack, "dcr|agent-user"));
    let app = app(stack, &client, AuthType::RequestBody);
    let (code, verifier) = authorize(stack, &app, &user, true).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    let (status, _, me) =
        crate::common::me(stack, oauth2::TokenResponse::access_token(&tokens).secret()).await;
    assert_eq!(status, 200, "{me}");
}

/// The per-hour cap: past it, 429 with Retry-After and nothing stored. (The hour's counter is
/// filled to the stack's cap for the one request, then removed.)
#[tokio::test]
async fn past_the_hourly_cap_a_registration_is_429_and_stores_nothing() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let now = crate::common::now();
    let key = RegistrationWindow::Hour.key(RegistrationWindow::Hour.start(now));
    let db = aws_sdk_dynamodb::Client::new(&stack.sdk().await);
    let table = stack.tables().codes;
    let cap = portcullis_core::settings::ENV_VARS
        .iter()
        .find(|v| v.name == portcullis_core::settings::env::REGISTRATIONS_PER_HOUR)
        .and_then(|v| v.default)
        .unwrap()
        .to_string();
    let put = |n: &str| {
        db.update_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(key.clone()),
            )
            .update_expression("SET n = :n, expires_at = :e")
            .expression_attribute_values(":n", aws_sdk_dynamodb::types::AttributeValue::N(n.into()))
            .expression_attribute_values(
                ":e",
                aws_sdk_dynamodb::types::AttributeValue::N((now + 7200).to_string()),
            )
            .send()
    };
    put(&cap).await.unwrap();
    let r = no_redirect_client()
        .post(url(stack))
        .json(&python_sdk(41009))
        .send()
        .await
        .unwrap();
    let (status, retry) = (
        r.status().as_u16(),
        r.headers()
            .get("retry-after")
            .map(|h| h.to_str().unwrap().to_string()),
    );
    let v: Value = r.json().await.unwrap();
    db.delete_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.clone()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        (status, v["error"].as_str()),
        (429, Some("temporarily_unavailable")),
        "{v}"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let id = RegistrationRequest::parse(
        python_sdk(41009).to_string().as_bytes(),
        &ScopeCatalog::default(),
    )
    .unwrap()
    .client_id();
    assert!(stack
        .stores()
        .await
        .clients
        .client(&id)
        .await
        .unwrap()
        .is_none());
}

/// The clients table's `expires_at` of `client_id`, and a way to set it (as if the client had
/// not been used for a while).
async fn client_expiry(stack: &Stack, client_id: &str, set: Option<u64>) -> Option<u64> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let db = aws_sdk_dynamodb::Client::new(&stack.sdk().await);
    let table = stack.tables().clients;
    if let Some(at) = set {
        db.update_item()
            .table_name(&table)
            .key("client_id", AttributeValue::S(client_id.into()))
            .update_expression("SET expires_at = :e")
            .expression_attribute_values(":e", AttributeValue::N(at.to_string()))
            .send()
            .await
            .unwrap();
    }
    let item = db
        .get_item()
        .table_name(&table)
        .key("client_id", AttributeValue::S(client_id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .map(|n| n.parse().unwrap())
}

/// Issue 18 (RFC 7591 abuse controls, "TTL refreshed at use"): a registered client that only
/// refreshes lives on. With less than half its idle period left, a refresh at the token
/// endpoint, and one at Cal.com's `/refreshToken`, each push its `expires_at` a full period
/// (`PORTCULLIS_REGISTRATION_IDLE_DAYS`, 30 days) ahead.
#[tokio::test]
async fn a_refresh_pushes_a_registered_clients_expiry_forward() {
    let _g = SERIAL.lock().await;
    let stack = Stack::get();
    let body = json!({
        "redirect_uris": [REDIRECT],
        "client_name": "Refreshing MCP agent",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "application_type": "native"
    });
    let (status, v) = post(stack, &body, None).await;
    assert_eq!(status, 201, "{v}");
    let id = v["client_id"].as_str().unwrap().to_string();
    let client = Registered {
        id: id.clone(),
        secret: None,
    };
    let user = Browser::signed_in(&session(stack, "dcr|refreshing-user"));
    let app = app(stack, &client, AuthType::RequestBody);
    let (code, verifier) = authorize(stack, &app, &user, true).await;
    let tokens = exchange(&app, &code, verifier).await.expect("tokens");
    let idle = 30 * 86_400;

    // The token endpoint's grant_type=refresh_token.
    let soon = crate::common::now() + 86_400;
    client_expiry(stack, &id, Some(soon)).await;
    let next = app
        .exchange_refresh_token(oauth2::TokenResponse::refresh_token(&tokens).unwrap())
        .request_async(&no_redirect_client())
        .await
        .expect("refreshed");
    let after = client_expiry(stack, &id, None).await.unwrap();
    assert!(
        after >= crate::common::now() + idle - 120,
        "pushed a full period ahead: {after}"
    );

    // Cal.com's /refreshToken.
    client_expiry(stack, &id, Some(soon)).await;
    let r = no_redirect_client()
        .post(format!("{}/api/auth/oauth/refreshToken", stack.base_url))
        .form(&[
            ("client_id", id.as_str()),
            (
                "refresh_token",
                oauth2::TokenResponse::refresh_token(&next)
                    .unwrap()
                    .secret(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let after = client_expiry(stack, &id, None).await.unwrap();
    assert!(after >= crate::common::now() + idle - 120, "{after}");
}

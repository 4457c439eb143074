//! Authorization server metadata (RFC 8414) at `GET /.well-known/oauth-authorization-server`:
//! fetched over HTTP, then its URLs, and nothing else, drive the whole flow with the `oauth2`
//! crate (authorization, token, introspection) and revocation, and by Authlib's metadata support.
use crate::common::{register, session, REDIRECT};
use crate::revoke::post_as;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl,
    RedirectUrl, Scope, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use portcullis_e2e::browser::{no_redirect_client, query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

async fn metadata(stack: &Stack) -> Value {
    let r = no_redirect_client()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            stack.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cache = r.headers().get("cache-control").unwrap().to_str().unwrap();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    r.json().await.unwrap()
}

fn url(m: &Value, name: &str) -> String {
    m[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {m}"))
        .to_string()
}

/// RFC 8414 §2: the members a client needs, with the values this server supports.
#[tokio::test]
async fn metadata_lists_every_endpoint_and_capability() {
    let stack = Stack::get();
    let m = metadata(stack).await;
    assert_eq!(m["issuer"], stack.base_url.as_str(), "RFC 8414 §3.3");
    for name in [
        "authorization_endpoint",
        "token_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "refresh_token_endpoint",
        "userinfo_endpoint",
    ] {
        assert!(url(&m, name).starts_with(&stack.base_url), "{name}");
    }
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(m["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"READ_PROFILE".into()));
    // GET and HEAD only.
    let r = no_redirect_client()
        .post(format!(
            "{}/.well-known/oauth-authorization-server",
            stack.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Issue 18, RFC 8414 §2 and the CIMD draft: the local stack opens dynamic registration, so
/// `registration_endpoint` is advertised (and answers) and accepts metadata documents
/// (`client_id_metadata_document_supported: true`); `none` is among the token endpoint's methods, S256 is the PKCE method, and `resource` is
/// honoured.
#[tokio::test]
async fn metadata_advertises_what_an_mcp_client_needs() {
    let stack = Stack::get();
    let m = metadata(stack).await;
    assert_eq!(
        m["registration_endpoint"],
        format!("{}/api/auth/oauth/register", stack.base_url).as_str()
    );
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["resource_indicators_supported"], true);
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(m["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&"none".into()));
    assert!(m["scopes_supported"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
}

/// RFC 8414 §3: a client configured from the metadata alone runs the flow with the `oauth2`
/// crate; the authorization response's `iss` is the metadata's `issuer` (RFC 9207 §2.4); the
/// discovered introspection and revocation endpoints work.
#[tokio::test]
async fn a_client_configured_from_metadata_runs_the_flow() {
    let stack = Stack::get();
    let m = metadata(stack).await;
    let c = register(stack, &[]);
    let app = BasicClient::new(ClientId::new(c.id.clone()))
        .set_client_secret(ClientSecret::new(c.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(url(&m, "authorization_endpoint")).unwrap())
        .set_token_uri(TokenUrl::new(url(&m, "token_endpoint")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(url(&m, "introspection_endpoint")).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
        .set_auth_type(AuthType::BasicAuth);
    let (auth_url, state) = app
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("READ_PROFILE".into()))
        .url();
    let browser = Browser::signed_in(&session(stack, "u-discovery"));
    let location = browser.consent(auth_url.as_str(), "allow").await;
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        m["issuer"].as_str(),
        "the iss the authorization endpoint sends is the metadata's issuer"
    );
    let code = query_param(&location, "code").unwrap();
    let tokens = app
        .exchange_code(AuthorizationCode::new(code))
        .request_async(&no_redirect_client())
        .await
        .unwrap();
    let info = app
        .introspect(tokens.access_token())
        .request_async(&no_redirect_client())
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("u-discovery"));
    assert_eq!(info.iss(), m["issuer"].as_str());
    // Userinfo (Cal.com's /me) from the metadata.
    let r = no_redirect_client()
        .get(url(&m, "userinfo_endpoint"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Revocation from the metadata (plain HTTP: the oauth2 crate wants https for it).
    let r = post_as(
        &url(&m, "revocation_endpoint"),
        &c,
        &[("token", tokens.refresh_token().unwrap().secret())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let info = app
        .introspect(tokens.access_token())
        .request_async(&no_redirect_client())
        .await
        .unwrap();
    assert!(!info.active());
}

/// RFC 8414 with Python's Authlib: its metadata support loads the document, and the discovered
/// URLs alone run the flow, introspection and revocation (tests/interop/python_discovery.py).
#[tokio::test]
async fn authlib_discovers_the_endpoints_and_uses_them() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let token = session(stack, "py-discovery");
    let root = portcullis_e2e::root();
    let out = tokio::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/interop/python_discovery.py"))
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
    let run: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(run["introspected"]["sub"], "py-discovery", "{run}");
}

/// CORS for browser-based public clients (Fetch standard), through the real functions: the
/// allowed origin (`PORTCULLIS_CORS_ORIGINS`, the demo app's in the local stack) gets a preflight
/// answer and `Access-Control-Allow-Origin` at each JSON endpoint; any other origin gets
/// neither; the authorization endpoint never answers with CORS headers (RFC 9700 §2.6).
#[tokio::test]
async fn cors_is_answered_for_the_allowed_origin_at_json_endpoints_and_never_at_authorize() {
    use portcullis_core::settings::LOCAL_CORS_ORIGIN;
    let stack = Stack::get();
    let client = portcullis_e2e::browser::no_redirect_client();
    let json_paths = [
        "/api/auth/oauth/token",
        "/api/auth/oauth/refreshToken",
        "/api/auth/oauth/revoke",
        "/api/auth/oauth/introspect",
        "/api/auth/oauth/me",
        "/.well-known/oauth-authorization-server",
    ];
    for path in json_paths {
        let url = format!("{}{path}", stack.base_url);
        let pre = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", LOCAL_CORS_ORIGIN)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(pre.status(), 204, "{path}");
        assert_eq!(
            pre.headers()["access-control-allow-origin"],
            LOCAL_CORS_ORIGIN,
            "{path}"
        );
        assert!(
            pre.headers().contains_key("access-control-allow-methods"),
            "{path}"
        );
        let other = client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(
            !other.headers().contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    let discovery = client
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            stack.base_url
        ))
        .header("origin", LOCAL_CORS_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    assert_eq!(
        discovery.headers()["access-control-allow-origin"],
        LOCAL_CORS_ORIGIN
    );
    let error = client
        .post(stack.token_url())
        .header("origin", LOCAL_CORS_ORIGIN)
        .form(&[("grant_type", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 400);
    assert_eq!(
        error.headers()["access-control-allow-origin"],
        LOCAL_CORS_ORIGIN,
        "errors too"
    );
    for method in [reqwest::Method::OPTIONS, reqwest::Method::GET] {
        let r = client
            .request(method.clone(), stack.authorize_url())
            .header("origin", LOCAL_CORS_ORIGIN)
            .send()
            .await
            .unwrap();
        assert!(
            !r.headers().contains_key("access-control-allow-origin"),
            "authorize {method} must not answer with CORS"
        );
    }
}

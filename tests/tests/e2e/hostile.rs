//! Hostile input through the real binaries (`cargo lambda watch`, so API Gateway's event shape,
//! base64 bodies included): a table of cases per endpoint, each asserting the status and the
//! error's shape. The same inputs drive the handlers in-process in
//! `shared/lambda/tests/props.rs`; here they cross the real HTTP edge.
use crate::common::{register, session, REDIRECT};
use portcullis_e2e::browser::no_redirect_client;
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use serde_json::Value;

/// 64 KiB, `portcullis_lambda::http::MAX_BODY`.
const MAX_BODY: usize = 64 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";

/// One hostile request and what it must get.
struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
}

fn case(
    name: &'static str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
    error: &'static str,
) -> Case {
    Case {
        name,
        content_type,
        body: body.into(),
        status,
        error,
    }
}

/// The cases every token-style endpoint (token, refresh, revoke, introspect) shares: none of
/// them reaches client authentication.
fn body_cases() -> Vec<Case> {
    vec![
        // RFC 9110 §15.5.14: over the limit is 413, with an RFC 6749 §5.2 body (not 400).
        case(
            "oversized form",
            Some(FORM),
            format!("token={}", "a".repeat(MAX_BODY)),
            413,
            "invalid_request",
        ),
        case(
            "oversized JSON",
            Some("application/json"),
            format!("{{\"token\":\"{}\"}}", "a".repeat(MAX_BODY)),
            413,
            "invalid_request",
        ),
        case(
            "wrong content type",
            Some("text/plain"),
            "token=a",
            400,
            "invalid_request",
        ),
        case(
            "invalid UTF-8",
            Some(FORM),
            b"token=\xff\xfe".to_vec(),
            400,
            "invalid_request",
        ),
        case(
            "malformed percent-encoding",
            Some(FORM),
            "token=%zz",
            400,
            "invalid_request",
        ),
        case(
            "NUL in a value",
            Some(FORM),
            "token=a%00b",
            400,
            "invalid_request",
        ),
        case(
            "control character in a name",
            Some(FORM),
            "tok%0Aen=a",
            400,
            "invalid_request",
        ),
        case(
            "JSON that is not an object",
            Some("application/json"),
            "[\"token\"]",
            400,
            "invalid_request",
        ),
        case(
            "JSON with a number",
            Some("application/json"),
            "{\"token\":1}",
            400,
            "invalid_request",
        ),
        case(
            "JSON with a nested object",
            Some("application/json"),
            "{\"token\":{\"a\":\"b\"}}",
            400,
            "invalid_request",
        ),
    ]
}

async fn send(
    url: &str,
    c: &Case,
    auth: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut r = no_redirect_client().post(url).body(c.body.clone());
    if let Some(ct) = c.content_type {
        r = r.header("content-type", ct);
    }
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

/// The status, `error` and a short `error_description` of each case.
async fn check(url: &str, cases: &[Case], auth: Option<&str>) {
    for c in cases {
        let (status, _, body) = send(url, c, auth).await;
        assert_eq!(status.as_u16(), c.status, "{url} {}: {body}", c.name);
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{url} {}: not JSON ({e}): {body}", c.name));
        assert_eq!(v["error"], c.error, "{url} {}: {body}", c.name);
        let d = v["error_description"].as_str().unwrap_or("");
        assert!(
            d.len() < 300,
            "{url} {}: description of {}",
            c.name,
            d.len()
        );
    }
}

#[tokio::test]
async fn hostile_bodies_at_the_token_endpoint_get_rfc_errors() {
    let stack = Stack::get();
    let mut cases = body_cases();
    let c = register(stack, &[]);
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("{}:{}", c.id, c.secret.as_deref().unwrap()))
    );
    // RFC 6749 §5.2: an unknown grant type from an authenticated client.
    cases.push(case(
        "unknown grant_type",
        Some(FORM),
        "grant_type=urn:example:nope",
        400,
        "unsupported_grant_type",
    ));
    // RFC 6749 §3.2: a repeated parameter, in a form and in JSON alike.
    cases.push(case(
        "repeated form parameter",
        Some(FORM),
        "grant_type=authorization_code&code=a&code=b",
        400,
        "invalid_request",
    ));
    cases.push(case(
        "repeated JSON key",
        Some("application/json"),
        "{\"grant_type\":\"authorization_code\",\"code\":\"a\",\"code\":\"b\"}",
        400,
        "invalid_request",
    ));
    check(&stack.token_url(), &cases, Some(&basic)).await;
}

#[tokio::test]
async fn hostile_bodies_at_refresh_revoke_and_introspect_get_rfc_errors() {
    let stack = Stack::get();
    for path in [
        "/api/auth/oauth/refreshToken",
        "/api/auth/oauth/revoke",
        "/api/auth/oauth/introspect",
    ] {
        check(&format!("{}{path}", stack.base_url), &body_cases(), None).await;
    }
}

/// An absurdly long parameter name is refused with a description that does not grow with it.
#[tokio::test]
async fn an_absurdly_long_parameter_name_is_echoed_capped() {
    let stack = Stack::get();
    let name = "n".repeat(60 * 1024);
    let c = case(
        "long name, repeated",
        Some(FORM),
        format!("{name}=a&{name}=b&grant_type=authorization_code"),
        400,
        "invalid_request",
    );
    let (status, _, body) = send(&stack.token_url(), &c, None).await;
    assert!(status.is_client_error(), "{status}: {body}");
    assert!(body.len() < 600, "answer of {} bytes", body.len());
}

/// RFC 6750 §3.1: no credentials at all is 401 with a Bearer challenge and no error code.
#[tokio::test]
async fn me_without_credentials_is_a_bare_bearer_challenge() {
    let stack = Stack::get();
    let r = no_redirect_client()
        .get(stack.me_url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer realm=") && !challenge.contains("error="),
        "{challenge}"
    );
}

/// Hostile queries and bodies at the authorization endpoint: an error page, never a redirect.
#[tokio::test]
async fn hostile_authorization_requests_get_an_error_page_never_a_redirect() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let cookie = format!("session={}", session(stack, "user-hostile"));
    let http = no_redirect_client();
    let base = format!(
        "{}?client_id={}&response_type=code&scope=READ_PROFILE",
        stack.authorize_url(),
        c.id
    );
    for (name, query) in [
        ("malformed percent-encoding", format!("{base}&state=%zz")),
        ("NUL", format!("{base}&state=a%00b")),
        ("invalid UTF-8", format!("{base}&state=%ff%fe")),
    ] {
        let r = http
            .get(&query)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}");
        assert!(r.headers().get("location").is_none(), "{name}");
        let body = r.text().await.unwrap();
        assert!(body.contains("state"), "{name}: {body}");
    }
    let r = http
        .post(stack.authorize_url())
        .header("cookie", &cookie)
        .header("content-type", FORM)
        .body(format!("client_id={}&state={}", c.id, "a".repeat(MAX_BODY)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.headers().get("location").is_none());
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

/// RFC 6749 §3.1.2.2, §10.6, RFC 9700 §4.1.3: the redirect URI must match a registered one
/// exactly (but for a loopback URI's port, RFC 8252 §7.3); every near miss gets the error page (400), never a redirect to it.
#[tokio::test]
async fn redirect_uri_tricks_are_refused_on_the_authorize_page_never_redirected() {
    let stack = Stack::get();
    let c = register(stack, &[]);
    let cookie = format!("session={}", session(stack, "user-hostile"));
    let http = no_redirect_client();
    let (host, path) = REDIRECT
        .trim_start_matches("http://")
        .split_once('/')
        .unwrap();
    let tricks = [
        (
            "case",
            format!("HTTP://{}/{}", host.to_uppercase(), path.to_uppercase()),
        ),
        ("trailing slash", format!("{REDIRECT}/")),
        ("extra path", format!("{REDIRECT}/evil")),
        ("userinfo", format!("http://user:pw@{host}/{path}")),
        ("IDN", format!("http://xn--80ak6aa92e.com/{path}")),
        ("unicode host", format!("http://аpple.com/{path}")),
        ("dot-dot", format!("{REDIRECT}/../{path}")),
        ("encoded dot-dot", format!("{REDIRECT}/%2e%2e/{path}")),
        ("fragment", format!("{REDIRECT}#frag")),
        // RFC 8252 §7.3: any port is allowed on a loopback URI, but not another host or a port
        // that is not one.
        (
            "other loopback host",
            format!("http://{}/{path}", host.replace("127.0.0.1", "localhost")),
        ),
        ("bad port", format!("http://127.0.0.1:99999/{path}")),
        ("port with a sign", format!("http://127.0.0.1:+1/{path}")),
        (
            "query added",
            format!("{REDIRECT}?next=https://evil.example"),
        ),
    ];
    for (name, uri) in tricks {
        let url = format!(
            "{}?client_id={}&response_type=code&scope=READ_PROFILE&redirect_uri={}",
            stack.authorize_url(),
            c.id,
            url::form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        let r = http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{name}: {uri}");
        assert!(r.headers().get("location").is_none(), "{name}: {uri}");
    }
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

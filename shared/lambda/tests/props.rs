//! Property-based tests of every endpoint handler, over the in-memory store: arbitrary methods,
//! headers, query strings and bodies (bytes, JSON, forms with odd keys, bodies over the limit),
//! sometimes with a storage fault injected. Whatever comes in:
//!
//! - no panic, and no 5xx but a 503 with `Retry-After` when a fault was injected;
//! - the JSON endpoints answer a 4xx with a JSON object holding `error` (RFC 6749 §5.2, RFC 6750
//!   §3), except RFC 6750 §3.1's challenge without an error code; descriptions stay short;
//! - the authorization endpoint answers with a page or a redirect, and redirects only to the
//!   registered redirect URI or the login page (RFC 6749 §4.1.2.1, RFC 9700 §4.1).
//!
//! `make test` runs a few cases of each (`PROPTEST_CASES`, default 32); `make fuzz` many more.
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::http::Request;
use lambda_http::{Body, Response};
use portcullis_core::clock::{OsEntropy, SystemClock};
use portcullis_core::error::ECHO_LIMIT;
use portcullis_core::keys::{KeyCache, Keys, StaticKeys};
use portcullis_core::ports::{MemoryStore, Op};
use portcullis_core::rings::StaticRing;
use portcullis_core::session::{sign_session, Session};
use portcullis_core::settings::{
    local_stack, AuthorizeSettings, FromEnv, IntrospectSettings, MetadataSettings, RefreshSettings,
    RevokeSettings, TokenSettings,
};
use portcullis_core::testkit;
use portcullis_lambda::endpoints::authorize::AuthorizeEndpoint;
use portcullis_lambda::endpoints::introspect::IntrospectEndpoint;
use portcullis_lambda::endpoints::me::MeEndpoint;
use portcullis_lambda::endpoints::metadata::MetadataEndpoint;
use portcullis_lambda::endpoints::refresh::RefreshEndpoint;
use portcullis_lambda::endpoints::revoke::RevokeEndpoint;
use portcullis_lambda::endpoints::token::TokenEndpoint;
use portcullis_lambda::http::MAX_BODY;
use portcullis_lambda::{respond, Endpoint};
use portcullis_resource::Authenticator;
use proptest::prelude::*;

const ISSUER: &str = "https://auth.example";
const REDIRECT: &str = "https://app.example/cb";
const SECRET: &str = "prop-client-secret";
const SESSION_KEY: &str = "prop-session-key-with-at-least-32-bytes";
/// The longest `error_description`: fixed words and one capped echo.
const MAX_DESCRIPTION: usize = 200 + ECHO_LIMIT;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn lookup(k: &str) -> Option<String> {
    if k == portcullis_core::settings::env::ISSUER {
        return Some(ISSUER.into());
    }
    local_stack(9000, 5000)
        .into_iter()
        .find(|(name, _)| *name == k)
        .map(|(_, v)| v)
}

/// Every endpoint, over one fresh in-memory store.
struct World {
    store: MemoryStore,
    authorize: AuthorizeEndpoint<MemoryStore, MemoryStore, StaticKeys>,
    token: TokenEndpoint<MemoryStore, MemoryStore, MemoryStore>,
    refresh: RefreshEndpoint<MemoryStore, MemoryStore>,
    revoke: RevokeEndpoint<MemoryStore, MemoryStore>,
    introspect: IntrospectEndpoint<MemoryStore, MemoryStore>,
    me: MeEndpoint<MemoryStore>,
    metadata: MetadataEndpoint,
    login_url: String,
}

fn keys() -> Keys {
    Keys::from_secret_json(&format!(r#"{{"session_key":"{SESSION_KEY}"}}"#)).unwrap()
}

fn world() -> World {
    let store = MemoryStore::new();
    store.upsert_client(
        testkit::client("c1")
            .name("Prop App")
            .redirect_uris(&[REDIRECT])
            .secrets(&[SECRET])
            .build(),
    );
    store.upsert_client(
        testkit::client("p1")
            .public()
            .redirect_uris(&[REDIRECT])
            .build(),
    );
    let settings = AuthorizeSettings::from_lookup(lookup).unwrap();
    let login_url = settings.login_url.clone();
    let k = testkit::test_keys();
    let ring = |r: &portcullis_core::keyring::KeyRing| StaticRing::boxed(r.clone());
    World {
        authorize: AuthorizeEndpoint {
            settings,
            clients: store.clone(),
            codes: store.clone(),
            keys: KeyCache::new(StaticKeys(keys()), 300),
            tag: ring(&k.tag),
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
            documents: None,
        },
        token: TokenEndpoint {
            settings: TokenSettings::from_lookup(lookup).unwrap(),
            clients: store.clone(),
            codes: store.clone(),
            tokens: store.clone(),
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
            mint: ring(&k.mint),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        refresh: RefreshEndpoint {
            settings: RefreshSettings::from_lookup(lookup).unwrap(),
            tokens: store.clone(),
            client_auth: store.clone(),
            clock: Box::new(SystemClock),
            entropy: Box::new(OsEntropy),
            mint: ring(&k.mint),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        revoke: RevokeEndpoint {
            settings: RevokeSettings::from_lookup(lookup).expect("settings"),
            tokens: store.clone(),
            client_auth: store.clone(),
            clock: Box::new(SystemClock),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        introspect: IntrospectEndpoint {
            settings: IntrospectSettings::from_lookup(lookup).unwrap(),
            tokens: store.clone(),
            client_auth: store.clone(),
            clock: Box::new(SystemClock),
            tag: ring(&k.tag),
            access_tag: ring(&k.access_tag),
        },
        me: MeEndpoint {
            auth: Authenticator::new(store.clone(), k.access_tag.clone()).oauth_only(),
        },
        metadata: MetadataEndpoint::new(&MetadataSettings::from_lookup(lookup).unwrap()),
        store,
        login_url,
    }
}

fn session_cookie() -> String {
    let t = sign_session(
        &Session {
            user: testkit::user("user-1"),
            exp: u64::MAX / 4,
        },
        &keys().session,
    );
    t.secret().to_string()
}

fn run<E: Endpoint>(e: &E, req: Request<Body>) -> Response<Body> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(respond(e, req))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Authorize,
    Token,
    Refresh,
    Revoke,
    Introspect,
    Me,
    Metadata,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Self::Authorize => "/auth/oauth2/authorize",
            Self::Token => "/api/auth/oauth/token",
            Self::Refresh => "/api/auth/oauth/refreshToken",
            Self::Revoke => "/api/auth/oauth/revoke",
            Self::Introspect => "/api/auth/oauth/introspect",
            Self::Me => "/api/auth/oauth/me",
            Self::Metadata => "/.well-known/oauth-authorization-server",
        }
    }
}

/// One hostile request, as the strategies build it.
#[derive(Debug, Clone)]
struct Hostile {
    method: &'static str,
    query: String,
    content_type: Option<String>,
    authorization: Option<String>,
    cookie: Option<String>,
    body: Vec<u8>,
    fault: Option<Op>,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Authorize),
        Just(Target::Token),
        Just(Target::Refresh),
        Just(Target::Revoke),
        Just(Target::Introspect),
        Just(Target::Me),
        Just(Target::Metadata),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "grant_type", "code", "client_id", "client_secret", "redirect_uri", "code_verifier",
            "refresh_token", "token", "token_type_hint", "scope", "state", "response_type",
            "code_challenge", "code_challenge_method", "csrf_token", "decision", "apiKey",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,10}",
        1 => (100usize..4000).prop_map(|n| "n".repeat(n)),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "c1", "p1", "authorization_code", "refresh_token", "code", "allow", "deny",
            REDIRECT, "https://app.example/cb/", "HTTPS://APP.EXAMPLE/cb", "https://app.example/cb/../x",
            "https://user@app.example/cb", "https://app.example/cb#frag", "https://xn--pp-6la.example/cb",
            "https://evil.example/cb", "READ_PROFILE", "READ_PROFILE READ_BOOKING", "S256", "plain",
            "pc_ac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "pc_rt_x", "pc_at_x",
        ])
        .prop_map(str::to_string),
        2 => "\\PC{0,30}",
        1 => (100usize..5000).prop_map(|n| "v".repeat(n)),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name(), value()), 0..9)
}

fn form(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn json_body(pairs: &[(String, String)], odd: u8) -> String {
    let mut m = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            m.push(',');
        }
        m.push_str(&serde_json::to_string(k).unwrap());
        m.push(':');
        match (odd, i) {
            (1, 0) => m.push_str("42"),
            (2, 0) => m.push_str("{\"a\":\"b\"}"),
            (3, 0) => m.push_str("[\"a\"]"),
            _ => m.push_str(&serde_json::to_string(v).unwrap()),
        }
    }
    m.push('}');
    m
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => pairs().prop_map(|p| form(&p).into_bytes()),
        2 => (pairs(), 0u8..5).prop_map(|(p, odd)| json_body(&p, odd).into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => "[a-z=&%0-9+]{0,200}".prop_map(String::into_bytes),
        1 => Just(vec![b'a'; MAX_BODY + 1]),
        1 => Just(Vec::new()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => pairs().prop_map(|p| form(&p)),
        1 => "[A-Za-z0-9%&=+._~-]{0,300}",
        1 => Just(String::new()),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        prop::sample::select(vec![
            "GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS",
        ]),
        query(),
        prop::option::of(prop_oneof![
            Just("application/x-www-form-urlencoded".to_string()),
            Just("application/x-www-form-urlencoded; charset=UTF-8".to_string()),
            Just("application/json".to_string()),
            Just("text/plain".to_string()),
            Just("multipart/form-data; boundary=x".to_string()),
            "[a-z/;= -]{0,40}",
        ]),
        prop::option::of(prop_oneof![
            Just(format!("Basic {}", STANDARD.encode(format!("c1:{SECRET}")))),
            Just(format!("Basic {}", STANDARD.encode("c1:wrong"))),
            Just("Basic !!!".to_string()),
            Just("Bearer pc_at_x".to_string()),
            Just("Bearer".to_string()),
            "[ -~]{0,80}",
        ]),
        prop::option::of(prop_oneof![
            Just(format!("session={}", session_cookie())),
            Just(format!("session={}; session=other", session_cookie())),
            Just("session=a.b.c".to_string()),
            "[ -~]{0,80}",
        ]),
        body(),
        prop::option::of(prop::sample::select(vec![
            Op::Client,
            Op::PutCode,
            Op::ConsumeCode,
            Op::StartGrant,
            Op::ReadGrant,
            Op::Advance,
            Op::RevokeGrant,
            Op::Grant,
            Op::RevokeAccess,
        ])),
    )
        .prop_map(
            |(method, query, content_type, authorization, cookie, body, fault)| Hostile {
                method,
                query,
                content_type,
                authorization,
                cookie,
                body,
                fault,
            },
        )
}

fn request(t: Target, h: &Hostile) -> Option<Request<Body>> {
    let uri = if h.query.is_empty() {
        format!("{ISSUER}{}", t.path())
    } else {
        format!("{ISSUER}{}?{}", t.path(), h.query)
    };
    let mut b = Request::builder().method(h.method).uri(uri);
    if let Some(ct) = &h.content_type {
        b = b.header("content-type", ct.as_str());
    }
    if let Some(a) = &h.authorization {
        b = b.header("authorization", a.as_str());
    }
    if let Some(c) = &h.cookie {
        b = b.header("cookie", c.as_str());
    }
    let body = match String::from_utf8(h.body.clone()) {
        Ok(s) => Body::Text(s),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    b.body(body).ok()
}

fn header<'a>(r: &'a Response<Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The properties every response must have.
fn check(w: &World, t: Target, h: &Hostile, r: &Response<Body>) -> Result<(), TestCaseError> {
    let status = r.status().as_u16();
    prop_assert!(
        status < 500 || (status == 503 && h.fault.is_some()),
        "{t:?} answered {status}"
    );
    if status == 503 {
        prop_assert!(
            header(r, "retry-after").is_some(),
            "503 without Retry-After"
        );
    }
    let body: &[u8] = r.body().as_ref();
    if t == Target::Authorize {
        if status == 303 {
            let location = header(r, "location").unwrap_or("");
            let to = |base: &str| location == base || location.starts_with(&format!("{base}?"));
            prop_assert!(to(REDIRECT) || to(&w.login_url), "redirected to {location}");
        } else {
            prop_assert!(
                header(r, "content-type").is_some_and(|c| c.starts_with("text/html")),
                "{status} without a page"
            );
            if status >= 400 {
                prop_assert!(body.len() < 16 * 1024, "error page of {} bytes", body.len());
            }
        }
        return Ok(());
    }
    if status >= 400 {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| TestCaseError::fail(format!("{t:?} {status}: body is not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| TestCaseError::fail("error body is not an object"))?;
        match obj.get("error").and_then(|e| e.as_str()) {
            Some(code) => {
                prop_assert!(!code.is_empty());
                let d = obj
                    .get("error_description")
                    .and_then(|d| d.as_str())
                    .unwrap_or("");
                prop_assert!(
                    d.len() <= MAX_DESCRIPTION,
                    "description of {} bytes",
                    d.len()
                );
            }
            // RFC 6750 §3.1: a request with no credentials gets the challenge, no error code.
            None => {
                prop_assert_eq!(status, 401);
                prop_assert!(header(r, "www-authenticate").is_some_and(|c| c.starts_with("Bearer")));
            }
        }
    }
    Ok(())
}

fn drive(t: Target, h: &Hostile) -> Result<(), TestCaseError> {
    let w = world();
    let Some(req) = request(t, h) else {
        return Ok(());
    };
    if let Some(op) = h.fault {
        w.store.fail_next(op);
    }
    let r = match t {
        Target::Authorize => run(&w.authorize, req),
        Target::Token => run(&w.token, req),
        Target::Refresh => run(&w.refresh, req),
        Target::Revoke => run(&w.revoke, req),
        Target::Introspect => run(&w.introspect, req),
        Target::Me => run(&w.me, req),
        Target::Metadata => run(&w.metadata, req),
    };
    check(&w, t, h, &r)
}

proptest! {
    #![proptest_config(config())]

    /// Every endpoint, any request: no panic, no 500, a well-formed answer.
    #[test]
    fn every_endpoint_answers_any_request_well_formed(t in target(), h in hostile()) {
        drive(t, &h)?;
    }

    /// The authorization endpoint, with a valid session and structured parameters: never a
    /// redirect anywhere but the registered URI or the login page.
    #[test]
    fn authorize_redirects_only_to_the_registered_uri_or_login(p in pairs(), post in any::<bool>()) {
        let h = Hostile {
            method: if post { "POST" } else { "GET" },
            query: if post { String::new() } else { form(&p) },
            content_type: post.then(|| "application/x-www-form-urlencoded".to_string()),
            authorization: None,
            cookie: Some(format!("session={}", session_cookie())),
            body: if post { form(&p).into_bytes() } else { Vec::new() },
            fault: None,
        };
        drive(Target::Authorize, &h)?;
    }
}

/// RFC 6750 §3.1: no credentials at all is 401 with a Bearer challenge naming the realm, and no
/// error code.
#[test]
fn me_without_credentials_is_401_with_a_bearer_realm_and_no_error_code() {
    let w = world();
    let req = Request::builder()
        .uri(format!("{ISSUER}/api/auth/oauth/me"))
        .body(Body::Empty)
        .unwrap();
    let r = run(&w.me, req);
    assert_eq!(r.status(), 401);
    let challenge = header(&r, "www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=") && !challenge.contains("error"),
        "{challenge}"
    );
    let v: serde_json::Value = serde_json::from_slice(r.body().as_ref()).unwrap();
    assert!(v.get("error").is_none(), "{v}");
}

/// RFC 9110 §15.5.14: over the limit is 413 with an RFC 6749 §5.2 body at every token-style
/// endpoint, and an error page at the authorization endpoint.
#[test]
fn a_body_over_the_limit_is_413_at_every_endpoint_that_reads_one() {
    let w = world();
    let big = || {
        Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/x"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text("a".repeat(MAX_BODY + 1)))
            .unwrap()
    };
    for r in [
        run(&w.token, big()),
        run(&w.refresh, big()),
        run(&w.revoke, big()),
        run(&w.introspect, big()),
    ] {
        assert_eq!(r.status(), 413);
        let v: serde_json::Value = serde_json::from_slice(r.body().as_ref()).unwrap();
        assert_eq!(v["error"], "invalid_request");
    }
    let r = run(&w.authorize, big());
    assert_eq!(r.status(), 413);
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
}

/// RFC 6265 §8.6: two session cookies are no session: the login redirect, not the first one.
#[test]
fn two_session_cookies_send_the_user_to_log_in() {
    let w = world();
    let query = form(&[
        ("client_id".into(), "c1".into()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "READ_PROFILE".into()),
    ]);
    let get = |cookie: String| {
        Request::builder()
            .uri(format!("{ISSUER}/auth/oauth2/authorize?{query}"))
            .header("cookie", cookie)
            .body(Body::Empty)
            .unwrap()
    };
    let one = run(&w.authorize, get(format!("session={}", session_cookie())));
    assert_eq!(
        one.status(),
        200,
        "one valid session shows the consent page"
    );
    let two = run(
        &w.authorize,
        get(format!("session={0}; session={0}", session_cookie())),
    );
    assert_eq!(two.status(), 303);
    assert!(header(&two, "location").unwrap().starts_with(&w.login_url));
}

/// Every 503 from a page carries `Retry-After` (RFC 9110 §10.2.3).
#[test]
fn a_storage_fault_behind_the_authorize_page_is_a_503_page_with_retry_after() {
    let w = world();
    w.store.fail_next(Op::Client);
    let req = Request::builder()
        .uri(format!(
            "{ISSUER}/auth/oauth2/authorize?client_id=c1&response_type=code"
        ))
        .body(Body::Empty)
        .unwrap();
    let r = run(&w.authorize, req);
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), Some("1"));
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
}

/// RFC 6749 §3.2, OAuth 2.1 §3.2: the token endpoint (and its siblings) take POST only; any
/// other method is 405 with `Allow: POST` and an RFC 6749 §5.2 body.
#[test]
fn token_style_endpoints_answer_anything_but_post_with_405() {
    let w = world();
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let req = || {
            Request::builder()
                .method(method)
                .uri(format!("{ISSUER}/x?grant_type=authorization_code&code=x"))
                .body(Body::Empty)
                .unwrap()
        };
        for r in [
            run(&w.token, req()),
            run(&w.refresh, req()),
            run(&w.revoke, req()),
            run(&w.introspect, req()),
        ] {
            assert_eq!(r.status(), 405, "{method}");
            assert_eq!(header(&r, "allow"), Some("POST"));
            let v: serde_json::Value = serde_json::from_slice(r.body().as_ref()).unwrap();
            assert_eq!(v["error"], "invalid_request");
        }
    }
}

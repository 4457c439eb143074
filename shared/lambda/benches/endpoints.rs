//! `make bench`: what one request of each endpoint costs, measured on the in-memory store (which
//! counts the round trips the DynamoDB adapter makes: one per storage call) with the real
//! handlers, keys, templates and hashing. No network: this is the code's own cost, the floor
//! under what a Lambda adds.
use lambda_http::http::Request;
use lambda_http::{Body, Response};
use portcullis_core::clock::{OsEntropy, SystemClock};
use portcullis_core::keys::{KeyCache, Keys, StaticKeys};
use portcullis_core::metadata_document::DocumentSource;
use portcullis_core::ports::MemoryStore;
use portcullis_core::secret::ClientSecret;
use portcullis_core::session::{sign_session, Session};
use portcullis_core::settings::{
    local_stack, AuthorizeSettings, FromEnv, IntrospectSettings, MetadataSettings, RefreshSettings,
    RegisterSettings, RevokeSettings, TokenSettings,
};
use portcullis_core::testkit;
use portcullis_lambda::endpoints::authorize::AuthorizeEndpoint;
use portcullis_lambda::endpoints::introspect::IntrospectEndpoint;
use portcullis_lambda::endpoints::me::MeEndpoint;
use portcullis_lambda::endpoints::metadata::MetadataEndpoint;
use portcullis_lambda::endpoints::refresh::RefreshEndpoint;
use portcullis_lambda::endpoints::register::RegisterEndpoint;
use portcullis_lambda::endpoints::revoke::RevokeEndpoint;
use portcullis_lambda::endpoints::token::TokenEndpoint;
use portcullis_lambda::{respond, Endpoint};
use portcullis_resource::Authenticator;
use std::time::{Duration, Instant};

const ISSUER: &str = "https://auth.example";
const REDIRECT: &str = "https://app.example/cb";
/// The example MCP server's resource (RFC 8707), registered in the bench's store.
const MCP: &str = "https://auth.example/mcp";

#[derive(Default)]
struct Series {
    times: Vec<Duration>,
    calls: Vec<usize>,
}

impl Series {
    fn row(&mut self, name: &str) {
        self.times.sort();
        let pct =
            |p: f64| self.times[((self.times.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
        let (min, max) = (
            self.calls.iter().min().copied().unwrap_or(0),
            self.calls.iter().max().copied().unwrap_or(0),
        );
        let calls = if min == max {
            min.to_string()
        } else {
            format!("{min}-{max}")
        };
        println!(
            "| {name:<28} | {calls:>13} | {:>8.1} | {:>8.1} | {:>8.1} |",
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }
}

/// The local stack's settings, with this bench's issuer.
fn lookup(k: &str) -> Option<String> {
    if k == portcullis_core::settings::env::ISSUER {
        return Some(ISSUER.into());
    }
    local_stack(9000, 5000)
        .into_iter()
        .find(|(name, _)| *name == k)
        .map(|(_, v)| v)
}

/// The bench's settings, with open registration and caps no bench run reaches (each flow
/// registers a new client).
fn register_lookup(k: &str) -> Option<String> {
    use portcullis_core::settings::env;
    match k {
        env::DYNAMIC_REGISTRATION => Some("open".into()),
        env::REGISTRATIONS_PER_HOUR | env::REGISTRATIONS_PER_DAY => Some("1000000000".into()),
        _ => lookup(k),
    }
}

fn location(r: &Response<Body>) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default()
}

fn body(r: &Response<Body>) -> String {
    String::from_utf8_lossy(r.body().as_ref()).into_owned()
}

async fn timed<E: Endpoint>(
    store: &MemoryStore,
    series: &mut Series,
    endpoint: &E,
    req: Request<Body>,
) -> Response<Body> {
    store.reset_calls();
    let t = Instant::now();
    let r = respond(endpoint, req).await;
    series.times.push(t.elapsed());
    series.calls.push(store.calls());
    r
}

/// A product API over `portcullis-resource`: authenticate with READ_BOOKING, answer 200.
struct ProductApi {
    auth: Authenticator<MemoryStore>,
}

impl Endpoint for ProductApi {
    type Error = portcullis_resource::ResourceError;

    async fn handle(&self, req: Request<Body>) -> Result<Response<Body>, Self::Error> {
        let who = self.auth.authenticate(&req, &["READ_BOOKING"]).await?;
        Ok(portcullis_resource::json(
            200,
            &serde_json::json!({ "user": who.sub(), "bookings": [] }),
        ))
    }
}

/// The example MCP server (functions/mcp-example) over the memory store, with no bookings: its
/// authentication, JSON-RPC and tool dispatch (its own table's Query is not Portcullis's).
struct McpApi(mcp_example::McpServer<MemoryStore, NoBookings>);

struct NoBookings;

impl mcp_example::BookingStore for NoBookings {
    async fn bookings_of(
        &self,
        _: &portcullis_resource::Subject,
    ) -> Result<Vec<list_bookings::Booking>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Vec::new())
    }
}

impl Endpoint for McpApi {
    type Error = portcullis_resource::ResourceError;

    async fn handle(&self, req: Request<Body>) -> Result<Response<Body>, Self::Error> {
        Ok(self.0.handle(req).await)
    }
}

/// Client ID Metadata Documents without the network: each URL's document, valid for it, with
/// the `Cache-Control` a well-behaved client host sends. The fetch itself (TLS, DNS, the host's
/// latency) is what `scripts/cost.py` measures against a real https server.
struct BenchDocuments;

#[async_trait::async_trait]
impl DocumentSource for BenchDocuments {
    async fn fetch_document(
        &self,
        url: &portcullis_core::metadata_document::ClientIdUrl,
    ) -> Result<
        portcullis_core::metadata_document::FetchedDocument,
        portcullis_core::metadata_document::DocumentError,
    > {
        let doc = serde_json::json!({
            "client_id": url.as_str(),
            "client_name": "Bench agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "READ_BOOKING",
        });
        Ok(portcullis_core::metadata_document::FetchedDocument {
            status: 200,
            body: doc.to_string().into_bytes(),
            cache_control: Some("max-age=3600".into()),
        })
    }
}

/// GET authorize for a metadata-document client (public, so with PKCE, RFC 7636).
fn document_authorize(client_id: &str, cookie: &str) -> Request<Body> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    Request::builder()
        .uri(format!(
            "{ISSUER}/auth/oauth2/authorize?client_id={}&redirect_uri={}&response_type=code&scope=READ_BOOKING&state=xyz\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            enc(client_id),
            enc("http://127.0.0.1:53682/callback"),
        ))
        .header("cookie", cookie)
        .body(Body::Empty)
        .expect("request")
}

/// A 2026-07-28 `tools/call` of `list_bookings`, as the e2e suite sends it.
fn mcp_tool_call(access: &str) -> Request<Body> {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "list_bookings",
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    }});
    Request::builder()
        .method("POST")
        .uri(MCP)
        .header("authorization", format!("Bearer {access}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_bookings")
        .body(Body::Text(body.to_string()))
        .expect("request")
}

/// An API key for user `bench-user` with READ_BOOKING, stored in `store`.
async fn bench_api_key(store: &MemoryStore) -> String {
    use portcullis_core::api_keys::{new_api_key, ApiKeyRequest};
    use portcullis_core::clock::Clock;
    use portcullis_core::ports::ApiKeyRegistry;
    let k = new_api_key(
        ApiKeyRequest {
            sub: "bench-user".into(),
            scopes: vec!["READ_BOOKING".into()],
            name: None,
            expires_in: None,
        },
        &portcullis_core::scope::ScopeCatalog::default(),
        &OsEntropy,
        SystemClock.now(),
    )
    .expect("api key");
    store
        .create_api_key(&k.record)
        .await
        .expect("store api key");
    k.key.secret().to_string()
}

fn main() {
    let iterations: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(iterations));
}

async fn run(iterations: usize) {
    let store = MemoryStore::new();
    let secret = ClientSecret::generate(&OsEntropy);
    store.upsert_client(
        testkit::client("bench-client")
            .name("Bench App")
            .redirect_uris(&[REDIRECT])
            .secrets(&[secret.secret()])
            .build(),
    );
    store.upsert_client(
        testkit::client("bench-machine")
            .machine()
            .secrets(&[secret.secret()])
            .build(),
    );
    let keys =
        Keys::from_secret_json(r#"{"session_key":"bench-session-key-with-at-least-32-bytes"}"#)
            .expect("keys");
    let session = sign_session(
        &Session {
            user: testkit::user("user-1"),
            exp: u64::MAX / 2,
        },
        &keys.session,
    );
    let k = testkit::test_keys();
    let ring = |r: &portcullis_core::keyring::KeyRing| {
        portcullis_core::rings::StaticRing::boxed(r.clone())
    };
    // The authorize function, and (issue 18) the same with Client ID Metadata Documents on.
    let authorize_with = |documents: Option<Box<dyn DocumentSource>>| AuthorizeEndpoint {
        settings: AuthorizeSettings::from_lookup(lookup).expect("bench settings"),
        clients: store.clone(),
        codes: store.clone(),
        keys: KeyCache::new(StaticKeys(keys.clone()), 300),
        tag: ring(&k.tag),
        clock: Box::new(SystemClock),
        entropy: Box::new(OsEntropy),
        documents,
    };
    let authorize = authorize_with(None);
    let authorize_documents = authorize_with(Some(Box::new(BenchDocuments)));
    let token = TokenEndpoint {
        settings: TokenSettings::from_lookup(lookup).expect("bench settings"),
        clients: store.clone(),
        codes: store.clone(),
        tokens: store.clone(),
        clock: Box::new(SystemClock),
        entropy: Box::new(OsEntropy),
        mint: ring(&k.mint),
        tag: ring(&k.tag),
        access_tag: ring(&k.access_tag),
    };
    let refresh = RefreshEndpoint {
        settings: RefreshSettings::from_lookup(lookup).expect("bench settings"),
        tokens: store.clone(),
        client_auth: store.clone(),
        clock: Box::new(SystemClock),
        entropy: Box::new(OsEntropy),
        mint: ring(&k.mint),
        tag: ring(&k.tag),
        access_tag: ring(&k.access_tag),
    };
    let me = MeEndpoint {
        auth: Authenticator::new(store.clone(), k.access_tag.clone()).oauth_only(),
    };
    // The authentication half of `list-bookings` (its own table's Query is not Portcullis's).
    let bookings = ProductApi {
        auth: Authenticator::new(store.clone(), k.access_tag.clone()),
    };
    let api_key = bench_api_key(&store).await;
    let (mut by_key, mut by_token) = (Series::default(), Series::default());
    let introspect = IntrospectEndpoint {
        settings: IntrospectSettings::from_lookup(lookup).expect("bench settings"),
        tokens: store.clone(),
        client_auth: store.clone(),
        clock: Box::new(SystemClock),
        tag: ring(&k.tag),
        access_tag: ring(&k.access_tag),
    };
    let revoke = RevokeEndpoint {
        settings: RevokeSettings::from_lookup(lookup).expect("settings"),
        tokens: store.clone(),
        client_auth: store.clone(),
        clock: Box::new(SystemClock),
        tag: ring(&k.tag),
        access_tag: ring(&k.access_tag),
    };
    let metadata = MetadataEndpoint::new(&MetadataSettings::from_lookup(lookup).expect("settings"));
    // Issue 18: open registration, a resource (RFC 8707) and the example MCP server on it.
    let register = RegisterEndpoint {
        settings: RegisterSettings::from_lookup(register_lookup).expect("bench settings"),
        clients: store.clone(),
        codes: store.clone(),
        clock: Box::new(SystemClock),
        entropy: Box::new(OsEntropy),
    };
    store.upsert_resource(
        portcullis_core::resource::Resource::new(
            MCP,
            Some("Bench MCP".into()),
            vec!["READ_BOOKING".into()],
            &portcullis_core::scope::ScopeCatalog::default(),
            0,
        )
        .expect("resource"),
    );
    let mcp = McpApi(
        mcp_example::McpServer::new(
            Authenticator::new(store.clone(), k.access_tag.clone()),
            portcullis_resource::ProtectedResourceMetadata::new(MCP, ISSUER, ["READ_BOOKING"])
                .expect("metadata"),
            NoBookings,
        )
        .expect("mcp server"),
    );
    let resource_query = format!(
        "client_id=bench-client&redirect_uri={}&response_type=code&scope=READ_BOOKING&state=xyz&resource={}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(MCP.as_bytes()).collect::<String>()
    );
    let (mut registration, mut get_resource, mut post_resource, mut tool_call) =
        <(Series, Series, Series, Series)>::default();
    let (mut inspect, mut revoke_access, mut revoke_refresh, mut discover) = Default::default();
    let (mut document_cached, mut document_fetched) = <(Series, Series)>::default();
    const DOCUMENT: &str = "https://agent.example/oauth/client.json";
    let query = format!(
        "client_id=bench-client&redirect_uri={}&response_type=code&scope=READ_PROFILE%20READ_BOOKING&state=xyz",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let cookie = format!("session={}", session.secret());
    let (mut get, mut post, mut exchange, mut renew, mut profile) = Default::default();
    let mut machine = Series::default();

    for i in 0..iterations {
        let req = Request::builder()
            .uri(format!("{ISSUER}/auth/oauth2/authorize?{query}"))
            .header("cookie", &cookie)
            .body(Body::Empty)
            .expect("request");
        let page = timed(&store, &mut get, &authorize, req).await;
        let html = body(&page);
        let csrf = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();

        let form = format!("{query}&csrf_token={csrf}&decision=allow");
        let req = Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/auth/oauth2/authorize"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text(form))
            .expect("request");
        let r = timed(&store, &mut post, &authorize, req).await;
        let code = param(&location(&r), "code");
        assert!(!code.is_empty(), "no code: {}", location(&r));

        let form = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&client_id=bench-client&client_secret={}",
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            secret.secret()
        );
        let req = Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/api/auth/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text(form))
            .expect("request");
        let r = timed(&store, &mut exchange, &token, req).await;
        let v: serde_json::Value = serde_json::from_str(&body(&r)).expect("token json");
        let refresh_token = v["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string();

        // Cal.com's refresh path: the refresh token as Bearer, client credentials in the body.
        let form = format!(
            "grant_type=refresh_token&client_id=bench-client&client_secret={}",
            secret.secret()
        );
        let req = Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/api/auth/oauth/refreshToken"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Bearer {refresh_token}"))
            .body(Body::Text(form))
            .expect("request");
        let r = timed(&store, &mut renew, &refresh, req).await;
        assert_eq!(r.status(), 200, "{}", body(&r));
        let v: serde_json::Value = serde_json::from_str(&body(&r)).expect("refresh json");
        let access = v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();

        let req = Request::builder()
            .uri(format!("{ISSUER}/api/auth/oauth/me"))
            .header("authorization", format!("Bearer {access}"))
            .body(Body::Empty)
            .expect("request");
        let r = timed(&store, &mut profile, &me, req).await;
        assert_eq!(r.status(), 200);

        for (credential, series) in [(&access, &mut by_token), (&api_key, &mut by_key)] {
            let req = Request::builder()
                .uri(format!("{ISSUER}/api/bookings"))
                .header("authorization", format!("Bearer {credential}"))
                .body(Body::Empty)
                .expect("request");
            let r = timed(&store, series, &bookings, req).await;
            assert_eq!(r.status(), 200);
        }

        let client_form = |token: &str| {
            format!(
                "token={token}&client_id=bench-client&client_secret={}",
                secret.secret()
            )
        };
        let post_form = |path: &str, form: String| {
            Request::builder()
                .method("POST")
                .uri(format!("{ISSUER}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::Text(form))
                .expect("request")
        };
        let req = post_form("/api/auth/oauth/introspect", client_form(&access));
        let r = timed(&store, &mut inspect, &introspect, req).await;
        assert!(body(&r).contains("\"active\":true"), "{}", body(&r));
        let req = post_form("/api/auth/oauth/revoke", client_form(&access));
        let r = timed(&store, &mut revoke_access, &revoke, req).await;
        assert_eq!(r.status(), 200);
        let new_refresh = v["refresh_token"].as_str().expect("refresh_token");
        let req = post_form("/api/auth/oauth/revoke", client_form(new_refresh));
        let r = timed(&store, &mut revoke_refresh, &revoke, req).await;
        assert_eq!(r.status(), 200);
        let req = Request::builder()
            .uri(format!("{ISSUER}/.well-known/oauth-authorization-server"))
            .body(Body::Empty)
            .expect("request");
        let r = timed(&store, &mut discover, &metadata, req).await;
        assert_eq!(r.status(), 200);
        let req = post_form(
            "/api/auth/oauth/token",
            format!(
                "grant_type=client_credentials&client_id=bench-machine&client_secret={}",
                secret.secret()
            ),
        );
        let r = timed(&store, &mut machine, &token, req).await;
        assert_eq!(r.status(), 200, "{}", body(&r));

        // RFC 7591: a new public client each time (a distinct loopback redirect).
        let req = Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/api/auth/oauth/register"))
            .header("content-type", "application/json")
            .body(Body::Text(
                serde_json::json!({
                    "redirect_uris": [format!("http://127.0.0.1:{}/callback", 1024 + i)],
                    "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "client_name": "Bench agent",
                })
                .to_string(),
            ))
            .expect("request");
        let r = timed(&store, &mut registration, &register, req).await;
        assert_eq!(r.status(), 201, "{}", body(&r));

        // RFC 8707: the consent and the code for a registered resource, then (untimed) the
        // exchange, and the MCP server's tool call with the bound token.
        let req = Request::builder()
            .uri(format!("{ISSUER}/auth/oauth2/authorize?{resource_query}"))
            .header("cookie", &cookie)
            .body(Body::Empty)
            .expect("request");
        let page = timed(&store, &mut get_resource, &authorize, req).await;
        let html = body(&page);
        assert_eq!(page.status(), 200, "{html}");
        let csrf = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        let req = Request::builder()
            .method("POST")
            .uri(format!("{ISSUER}/auth/oauth2/authorize"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text(format!(
                "{resource_query}&csrf_token={csrf}&decision=allow"
            )))
            .expect("request");
        let r = timed(&store, &mut post_resource, &authorize, req).await;
        let code = param(&location(&r), "code");
        assert!(!code.is_empty(), "no code: {}", location(&r));
        let req = post_form(
            "/api/auth/oauth/token",
            format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&client_id=bench-client&client_secret={}",
                url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                secret.secret()
            ),
        );
        let r = respond(&token, req).await;
        let v: serde_json::Value = serde_json::from_str(&body(&r)).expect("token json");
        let bound = v["access_token"].as_str().expect("access_token");
        let r = timed(&store, &mut tool_call, &mcp, mcp_tool_call(bound)).await;
        assert_eq!(r.status(), 200, "{}", body(&r));

        // Draft Client ID Metadata Documents: one URL the whole run (stored by the first flow,
        // which is left out, then read fresh from the client's item), and a new URL each flow
        // (not stored yet: fetched, validated and written).
        let r = if i == 0 {
            respond(&authorize_documents, document_authorize(DOCUMENT, &cookie)).await
        } else {
            let req = document_authorize(DOCUMENT, &cookie);
            timed(&store, &mut document_cached, &authorize_documents, req).await
        };
        assert_eq!(r.status(), 200, "{}", body(&r));
        let fresh = format!("https://agent.example/oauth/{i}/client.json");
        let req = document_authorize(&fresh, &cookie);
        let r = timed(&store, &mut document_fetched, &authorize_documents, req).await;
        assert_eq!(r.status(), 200, "{}", body(&r));
    }

    println!("\nPortcullis endpoints, in process, {iterations} flows (times in microseconds)\n");
    println!("| endpoint                     | storage calls |      p50 |      p99 |      max |");
    println!("|------------------------------|---------------|----------|----------|----------|");
    get.row("GET authorize (consent)");
    post.row("POST authorize (allow)");
    exchange.row("POST token (code)");
    renew.row("POST refreshToken");
    profile.row("GET me");
    by_token.row("GET /api/bookings (token)");
    by_key.row("GET /api/bookings (API key)");
    inspect.row("POST introspect");
    revoke_access.row("POST revoke (access token)");
    revoke_refresh.row("POST revoke (refresh token)");
    discover.row("GET metadata");
    machine.row("POST token (client creds)");
    registration.row("POST register (open)");
    get_resource.row("GET authorize (resource)");
    post_resource.row("POST authorize (resource)");
    tool_call.row("POST mcp (tools/call)");
    document_cached.row("GET authorize (doc, cached)");
    document_fetched.row("GET authorize (doc, fetched)");
    println!(
        "\nTargets for DynamoDB calls per request: authorize GET <= 1, POST <= 2, token <= 2, refresh <= 2,\n\
         introspect <= 2 (client + token), revoke of an access token <= 2, metadata 0,\n\
         client credentials <= 2 (the client, the token), register <= 3 (the client, two counters),\n\
         authorize with a resource as without (client and resource in one read), mcp tools/call 1,\n\
         authorize for a metadata-document client 1 while its copy is fresh, 2 when it is fetched\n\
         (the read, then the copy written; the fetch itself is not in these times: see cost.py)."
    );
}

//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2026-07-28
//! client registration) through the real binaries: a document server on `https://localhost`
//! with the test CA (the stack allows that host and CA in test mode only), the authorization
//! endpoint fetching, validating and storing the document, the consent page marking the client
//! unverified, and the token, refresh and introspection endpoints knowing the client by its URL.
use crate::common::{session, REDIRECT};
use crate::introspect::{introspect, resource_server};
use crate::resources::token;
use portcullis_core::metadata_document::wire_client_id;
use portcullis_core::ports::ClientLookup;
use portcullis_e2e::browser::{query_param, Browser};
use portcullis_e2e::Stack;
use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CERT: &[u8] = include_bytes!("../../../shared/aws/tests/fixtures/localhost.pem");
const KEY: &[u8] = include_bytes!("../../../shared/aws/tests/fixtures/localhost-key.pem");
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An https server on `localhost` (the fixtures' certificate): each path answers a whole HTTP
/// response as set, and every request is counted. Stopped when dropped.
pub struct DocumentServer {
    pub port: u16,
    replies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DocumentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DocumentServer {
    pub async fn start() -> Self {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT)
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let replies: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (r, h) = (replies.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, replies, hits) = (acceptor.clone(), r.clone(), h.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let reply = replies.lock().unwrap().get(&path).cloned().unwrap_or_else(|| {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
                    });
                    let _write = tls.write_all(&reply).await;
                    let _close = tls.shutdown().await;
                });
            }
        });
        Self {
            port,
            replies,
            hits,
            task,
        }
    }

    /// The client id URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// `path` answers `status` with `body` and the extra header lines.
    pub fn answer(&self, path: &str, status: &str, headers: &[&str], body: &[u8]) {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for h in headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        bytes.extend_from_slice(body);
        self.replies.lock().unwrap().insert(path.to_string(), bytes);
    }

    /// `path` serves `doc` (200, `Cache-Control: max-age=3600`).
    pub fn serve(&self, path: &str, doc: &Value) {
        self.answer(
            path,
            "200 OK",
            &["Cache-Control: max-age=3600"],
            doc.to_string().as_bytes(),
        );
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A public agent's document, as MCP clients publish it.
fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Agent Smith",
        "client_uri": "https://agent.example",
        "logo_uri": "https://tracker.example/pixel.png",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

fn authorize_url(stack: &Stack, client_id: &str) -> String {
    let mut u = url::Url::parse(&stack.authorize_url()).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "READ_BOOKING")
        .append_pair("state", "s1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

/// The code exchange of a metadata-document client: its URL as `client_id`, PKCE.
async fn exchange(stack: &Stack, code: &str, url: &str) -> (StatusCode, Value) {
    token(
        stack,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", url),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn stored(stack: &Stack, url: &str) -> Option<portcullis_core::model::Client> {
    stack
        .stores()
        .await
        .clients
        .client(&wire_client_id(url))
        .await
        .unwrap()
}

/// Draft §4 and MCP client registration: an unregistered agent presents its document's URL; the
/// server fetches it once (the consent page's POST uses the stored copy), shows the client as
/// unverified with the document's host and without its logo, and the code exchange, the refresh
/// and introspection all know the client by its URL.
#[tokio::test]
async fn a_metadata_document_client_connects_with_no_registration() {
    let stack = Stack::get();
    let docs = DocumentServer::start().await;
    let url = docs.url("/agent/client.json");
    docs.serve("/agent/client.json", &document(&url));

    let browser = Browser::signed_in(&session(stack, "u-cimd"));
    let page = browser.get(&authorize_url(stack, &url)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("has not verified this application"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("<strong>localhost:{}</strong>", docs.port)),
        "the document's host is shown: {}",
        page.body
    );
    assert!(
        !page.body.contains("tracker.example"),
        "no hot-linked logo: {}",
        page.body
    );
    let location = browser.consent(&authorize_url(stack, &url), "allow").await;
    assert_eq!(docs.hits(), 1, "fetched once, then the stored copy is used");
    let code = query_param(&location, "code").expect(&location);

    let c = stored(stack, &url)
        .await
        .expect("the document's copy is stored");
    assert_eq!(
        c.origin,
        portcullis_core::model::ClientOrigin::MetadataDocument
    );
    assert_eq!(
        c.document.as_ref().map(|d| d.url.as_str()),
        Some(url.as_str())
    );
    assert!(c.public && !c.trusted && c.expires_at.is_some());

    let (status, t) = exchange(stack, &code, &url).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    let (status, r) = token(
        stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &url),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let rs = resource_server(stack).await;
    let (_, i) = introspect(&rs, r["access_token"].as_str().unwrap()).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["client_id"], url.as_str(), "{i}");
    let (_, first) = introspect(&rs, &access).await;
    assert_eq!(first["client_id"], url.as_str(), "{first}");

    let listed = stack.cli_json(&["client", "list", "--origin", "metadata-document"]);
    assert!(
        listed["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["document_url"] == url.as_str()),
        "{listed}"
    );
}

/// The operator keeps a document client out by its URL: `client disable` holds against a
/// refetch (no fetch happens), and its tokens stop refreshing.
#[tokio::test]
async fn a_disabled_metadata_document_client_stays_out() {
    let stack = Stack::get();
    let docs = DocumentServer::start().await;
    let url = docs.url("/disabled/client.json");
    docs.serve("/disabled/client.json", &document(&url));
    let browser = Browser::signed_in(&session(stack, "u-cimd-off"));
    let location = browser.consent(&authorize_url(stack, &url), "allow").await;
    let code = query_param(&location, "code").expect(&location);
    let (_, t) = exchange(stack, &code, &url).await;
    stack.cli(&["client", "disable", &url]);
    let page = browser.get(&authorize_url(stack, &url)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("disabled"), "{}", page.body);
    assert_eq!(
        docs.hits(),
        1,
        "a disabled client's document is not fetched"
    );
    let (status, e) = token(
        stack,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", &url),
        ],
    )
    .await;
    assert!(status.is_client_error(), "{status} {e}");
    assert_eq!(e["error"], "invalid_client", "{e}");
}

/// Issue 18's hostile documents: one that names another client, redirects, is too large, or
/// carries a `javascript:` or mismatched redirect URI, and URLs that are not fetched at all
/// (a private address, a query). Each is a 400 page that says what is wrong, never a 5xx or a
/// redirect, and nothing is stored.
#[tokio::test]
async fn hostile_metadata_documents_get_a_page_and_nothing_is_stored() {
    let stack = Stack::get();
    let docs = DocumentServer::start().await;
    let browser = Browser::signed_in(&session(stack, "u-cimd-hostile"));
    let mut cases: Vec<(String, &str)> = Vec::new();

    let other = docs.url("/other/client.json");
    docs.serve(
        "/other/client.json",
        &document("https://victim.example/client.json"),
    );
    cases.push((other, "is not the URL it was fetched from"));

    let moved = docs.url("/moved/client.json");
    docs.answer(
        "/moved/client.json",
        "302 Found",
        &["Location: https://localhost/elsewhere.json"],
        b"",
    );
    cases.push((moved, "redirects are not followed"));

    let big = docs.url("/big/client.json");
    let mut doc = document(&big);
    doc["padding"] = json!("x".repeat(6 * 1024));
    docs.serve("/big/client.json", &doc);
    cases.push((big, "larger than"));

    let script = docs.url("/script/client.json");
    let mut doc = document(&script);
    doc["redirect_uris"] = json!(["javascript:alert(1)"]);
    docs.serve("/script/client.json", &doc);
    cases.push((script, "redirect URI"));

    let elsewhere = docs.url("/elsewhere/client.json");
    let mut doc = document(&elsewhere);
    doc["redirect_uris"] = json!(["https://evil.example/cb"]);
    docs.serve("/elsewhere/client.json", &doc);
    cases.push((elsewhere, "not one the application has registered"));

    cases.push(("https://10.0.0.1/client.json".into(), "special-use"));
    cases.push((docs.url("/q/client.json?x=1"), "must not contain a query"));

    for (url, says) in &cases {
        let page = browser.get(&authorize_url(stack, url)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}: {}", page.body);
        assert!(page.location.is_none(), "{url}: never a redirect");
        assert!(
            page.body.contains(says),
            "{url}: expected `{says}` in {}",
            page.body
        );
        if !url.ends_with("/elsewhere/client.json") {
            assert!(stored(stack, url).await.is_none(), "{url}: nothing stored");
        }
    }
}

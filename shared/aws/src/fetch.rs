//! The hardened fetch of Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document
//! §4, §6.5, §6.6): one HTTP/1.1 GET over TLS, for the authorize function to call when a
//! `client_id` is an https URL and no valid cached document is at hand.
//!
//! - https only (a [`ClientIdUrl`] is https by construction), `GET` with `Accept:
//!   application/json`; no redirect followed (a 3xx is an error), any status but 200 an error;
//! - at most [`FetchPolicy::max_bytes`] read (draft §6.6: 5 KB): a longer `Content-Length` is
//!   refused before the body, and reading stops at the cap;
//! - one time cap over everything, resolution, connection, TLS, headers and body
//!   ([`FetchPolicy::timeout`], 3 s), well inside the authorize function's timeout;
//! - SSRF (draft §6.5, RFC 6890): the host is resolved here, and if ANY address it resolves to
//!   is special-use ([`is_special_use`]: private, loopback, link-local, the instance metadata
//!   services 169.254.169.254 and fd00:ec2::254, the Lambda runtime API on 127.0.0.1, ...) the
//!   fetch is refused before any connection; the connection then goes to a checked address, with
//!   the name only as TLS server name and `Host`, so a DNS answer that changes between the check
//!   and the connection (rebinding) cannot move it.
//!
//! The development exception ([`FetchPolicy::allow_loopback_hosts`]): hosts named there may
//! resolve to loopback addresses (and nothing else special-use); with
//! [`FetchPolicy::extra_root_ca_pem`] a test CA is trusted too. Both are for a loopback issuer
//! only (the settings refuse them otherwise, like `DEV_LOGIN`).
//!
//! The stack is the AWS SDK's own: hyper 1's HTTP/1.1 client connection, rustls on aws-lc-rs,
//! the system's trust roots (rustls-native-certs: `/etc/pki` on Lambda's provided.al2023, and
//! `SSL_CERT_FILE` if set), loaded on the first fetch so a cold start that fetches nothing pays
//! nothing.
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use portcullis_core::metadata_document::{
    is_loopback_address, is_special_use, ClientIdUrl, DocumentError, DocumentSource,
    FetchedDocument, MAX_DOCUMENT_BYTES,
};
use portcullis_core::settings::MetadataDocumentDev;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// The whole fetch's time cap by default (the issue's 3 s: the authorize function's timeout
/// keeps room for its own work and DynamoDB).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// A document as fetched (the core type; the name the fetcher's callers know it by).
pub type Fetched = FetchedDocument;

/// What the fetcher may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Development only: hosts, as a client id URL writes them (`127.0.0.1`, `localhost`,
    /// `[::1]` or `::1`), that may resolve to loopback addresses. Empty in production.
    pub allow_loopback_hosts: Vec<String>,
    /// Development only: a PEM certificate (or several) trusted as a root besides the system's,
    /// for a local https document server with a test certificate.
    pub extra_root_ca_pem: Option<Vec<u8>>,
    /// The cap on the whole fetch: resolution, connection, TLS, response head and body.
    pub timeout: Duration,
    /// The most body bytes read.
    pub max_bytes: usize,
}

impl Default for FetchPolicy {
    /// Production: no loopback host, the system's roots, [`DEFAULT_TIMEOUT`] and
    /// [`MAX_DOCUMENT_BYTES`].
    fn default() -> Self {
        Self {
            allow_loopback_hosts: Vec::new(),
            extra_root_ca_pem: None,
            timeout: DEFAULT_TIMEOUT,
            max_bytes: MAX_DOCUMENT_BYTES,
        }
    }
}

impl FetchPolicy {
    /// The policy for the settings' development exception
    /// (`portcullis_core::settings::metadata_document_dev`, already checked against the issuer):
    /// production's caps, its loopback hosts, and its CA file read now (cold start).
    pub fn with_development(dev: &MetadataDocumentDev) -> Result<Self, FetchSetupError> {
        let extra_root_ca_pem = match &dev.ca_file {
            None => None,
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| FetchSetupError::BadRootCa(format!("{path}: {e}")))?,
            ),
        };
        Ok(Self {
            allow_loopback_hosts: dev.loopback_hosts.clone(),
            extra_root_ca_pem,
            ..Self::default()
        })
    }
}

/// Why a fetcher could not be built: its configuration is wrong (a cold-start failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchSetupError {
    #[error("the extra root CA is not a PEM certificate: {0}")]
    BadRootCa(String),
}

/// Why a fetch failed. The messages are `error_description`s as they stand (no resolved
/// address or network detail in them: the caller logs the `Debug` form).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("its host could not be resolved")]
    Resolve(String),
    /// Draft §6.5: a special-use address among the host's addresses; nothing was connected to.
    #[error("its host resolves to a private, loopback, link-local or other special-use address")]
    SpecialUseAddress(IpAddr),
    #[error("its host could not be connected to")]
    Connect(String),
    #[error("the TLS handshake with its host failed")]
    Tls(String),
    #[error("its host did not answer with valid HTTP/1.1")]
    Http(String),
    /// No redirect is followed.
    #[error("it answered with a redirect ({0}); redirects are not followed")]
    Redirect(u16),
    #[error("it answered with HTTP status {0}, not 200")]
    Status(u16),
    #[error("it is larger than {0} bytes")]
    TooLarge(usize),
    #[error("it took longer than {0} ms")]
    Timeout(u128),
    /// The trust roots could not be loaded (no system roots and no extra CA).
    #[error("the server has no TLS trust roots")]
    NoTrustRoots(String),
}

impl From<FetchError> for DocumentError {
    fn from(e: FetchError) -> Self {
        DocumentError::Fetch(e.to_string())
    }
}

/// The metadata document fetcher: one per function instance (cold start), shared by requests.
pub struct DocumentFetcher {
    policy: FetchPolicy,
    extra_roots: Vec<CertificateDer<'static>>,
    tls: OnceLock<Result<TlsConnector, String>>,
}

impl std::fmt::Debug for DocumentFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentFetcher")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// Aborts the HTTP connection's task when the fetch ends, however it ends (a timeout included),
/// so no connection outlives its fetch.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl DocumentFetcher {
    /// Builds a fetcher. The extra root CA, if any, is parsed now (a bad file fails the cold
    /// start); the system's roots are loaded on the first fetch.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchSetupError> {
        let extra_roots = match &policy.extra_root_ca_pem {
            None => Vec::new(),
            Some(pem) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| FetchSetupError::BadRootCa(e.to_string()))?;
                if certs.is_empty() {
                    return Err(FetchSetupError::BadRootCa("no CERTIFICATE in it".into()));
                }
                let mut store = RootCertStore::empty();
                for c in &certs {
                    store
                        .add(c.clone())
                        .map_err(|e| FetchSetupError::BadRootCa(e.to_string()))?;
                }
                certs
            }
        };
        Ok(Self {
            policy,
            extra_roots,
            tls: OnceLock::new(),
        })
    }

    /// The policy it applies.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Fetches a client metadata document: the 200 response's body and `Cache-Control`, or why
    /// not. Nothing is cached here (the caller caches a document only once it is valid).
    pub async fn fetch(&self, url: &ClientIdUrl) -> Result<Fetched, FetchError> {
        let cap = self.policy.timeout;
        match tokio::time::timeout(cap, self.fetch_uncapped(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(cap.as_millis())),
        }
    }

    /// The addresses a fetch of `url` would connect to, all checked: any special-use address
    /// among the host's refuses the host (an attacker's name that resolves to a public and a
    /// private address must not get a second chance at the private one).
    pub async fn checked_addresses(
        &self,
        url: &ClientIdUrl,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        let port = url.port();
        let addrs: Vec<SocketAddr> = match url.ip_literal() {
            Some(ip) => vec![SocketAddr::new(ip, port)],
            None => tokio::net::lookup_host((url.host(), port))
                .await
                .map_err(|e| FetchError::Resolve(e.to_string()))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(FetchError::Resolve("no address".into()));
        }
        let loopback_allowed = self.loopback_allowed(url.host());
        if let Some(bad) = addrs
            .iter()
            .map(SocketAddr::ip)
            .find(|ip| is_special_use(*ip) && !(loopback_allowed && is_loopback_address(*ip)))
        {
            return Err(FetchError::SpecialUseAddress(bad));
        }
        Ok(addrs)
    }

    fn loopback_allowed(&self, host: &str) -> bool {
        let bare = |h: &str| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        };
        self.policy
            .allow_loopback_hosts
            .iter()
            .any(|h| bare(h) == bare(host))
    }

    fn connector(&self) -> Result<TlsConnector, FetchError> {
        self.tls
            .get_or_init(|| self.build_connector())
            .clone()
            .map_err(FetchError::NoTrustRoots)
    }

    fn build_connector(&self) -> Result<TlsConnector, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        for c in &self.extra_roots {
            roots.add(c.clone()).map_err(|e| e.to_string())?;
        }
        if added == 0 && self.extra_roots.is_empty() {
            return Err(format!(
                "no system root certificates could be loaded ({} errors)",
                native.errors.len()
            ));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConnector::from(Arc::new(config)))
    }

    async fn fetch_uncapped(&self, url: &ClientIdUrl) -> Result<Fetched, FetchError> {
        let addrs = self.checked_addresses(url).await?;
        let connector = self.connector()?;
        let tcp = connect_any(&addrs).await?;
        let server_name = match url.ip_literal() {
            Some(ip) => ServerName::IpAddress(ip.into()),
            None => ServerName::try_from(url.host().to_string())
                .map_err(|e| FetchError::Tls(e.to_string()))?,
        };
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let _connection = AbortOnDrop(tokio::spawn(async move {
            let _closed = connection.await;
        }));

        let (path, authority) = url.request_parts();
        let request = hyper::Request::get(path)
            .header(HOST, authority)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, "Portcullis")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;

        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect(status.as_u16()));
        }
        if status != hyper::StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let max = self.policy.max_bytes;
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let cache_control = {
            let values: Vec<&str> = response
                .headers()
                .get_all(CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| values.join(", "))
        };
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| FetchError::Http(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > max {
                    return Err(FetchError::TooLarge(max));
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(Fetched {
            status: status.as_u16(),
            body: bytes,
            cache_control,
        })
    }
}

/// Connects to the first of the checked addresses that answers, in the resolver's order.
async fn connect_any(addrs: &[SocketAddr]) -> Result<TcpStream, FetchError> {
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(FetchError::Connect(last))
}

#[async_trait::async_trait]
impl DocumentSource for DocumentFetcher {
    async fn fetch_document(&self, url: &ClientIdUrl) -> Result<FetchedDocument, DocumentError> {
        self.fetch(url).await.map_err(DocumentError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivateKeyDer;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const CA: &[u8] = include_bytes!("../tests/fixtures/ca.pem");
    const CERT: &[u8] = include_bytes!("../tests/fixtures/localhost.pem");
    const KEY: &[u8] = include_bytes!("../tests/fixtures/localhost-key.pem");

    const DOC: &str =
        r#"{"client_id":"X","client_name":"Test","redirect_uris":["http://127.0.0.1/cb"]}"#;

    /// What the test server does with each connection.
    #[derive(Clone)]
    enum Reply {
        /// Writes these bytes (a whole HTTP response) and closes.
        Raw(Vec<u8>),
        /// Sleeps, then answers 200.
        Slow(Duration),
        /// Sends a 200 head, then body bytes one at a time, slowly.
        Trickle,
    }

    fn ok(body: &str, extra_headers: &str) -> Reply {
        Reply::Raw(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    /// A TLS server on 127.0.0.1 with the test certificate; counts connections.
    struct Server {
        port: u16,
        connections: Arc<AtomicUsize>,
        task: JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(reply: Reply) -> Server {
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
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let reply = reply.clone();
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
                    match reply {
                        Reply::Raw(bytes) => {
                            let _write = tls.write_all(&bytes).await;
                        }
                        Reply::Slow(d) => {
                            tokio::time::sleep(d).await;
                            let _write = tls
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                                .await;
                        }
                        Reply::Trickle => {
                            let _write = tls
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                                .await;
                            for _ in 0..100 {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                if tls.write_all(b" ").await.is_err() {
                                    return;
                                }
                                let _flush = tls.flush().await;
                            }
                        }
                    }
                    let _close = tls.shutdown().await;
                });
            }
        });
        Server {
            port,
            connections,
            task,
        }
    }

    fn dev_policy(hosts: &[&str]) -> FetchPolicy {
        FetchPolicy {
            allow_loopback_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            extra_root_ca_pem: Some(CA.to_vec()),
            timeout: Duration::from_millis(1500),
            ..FetchPolicy::default()
        }
    }

    fn fetcher(hosts: &[&str]) -> DocumentFetcher {
        DocumentFetcher::new(dev_policy(hosts)).unwrap()
    }

    /// A client id URL on the test server, parsed as a development deployment would.
    fn url_on(host: &str, port: u16) -> ClientIdUrl {
        ClientIdUrl::parse_allowing(
            &format!("https://{host}:{port}/oauth/client.json"),
            &[host.to_string()],
        )
        .unwrap()
    }

    /// A 200 document within the cap is returned with its Cache-Control (several lines joined).
    #[tokio::test]
    async fn small_document_is_fetched_with_its_cache_control() {
        let server = serve(ok(
            DOC,
            "Cache-Control: public\r\nCache-Control: max-age=600\r\n",
        ))
        .await;
        let got = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(got.body, DOC.as_bytes());
        assert_eq!(got.cache_control.as_deref(), Some("public, max-age=600"));
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    /// The development exception also works by name: `localhost` resolves to loopback.
    #[tokio::test]
    async fn allowed_loopback_name_is_fetched() {
        let server = serve(ok(DOC, "")).await;
        let got = fetcher(&["localhost"])
            .fetch(&url_on("localhost", server.port))
            .await
            .unwrap();
        assert_eq!(got.body, DOC.as_bytes());
    }

    /// The editor's copy of the draft: the AS "MUST NOT follow redirects".
    #[tokio::test]
    async fn redirect_is_refused_and_not_followed() {
        let server = serve(Reply::Raw(
            b"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ))
        .await;
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::Redirect(302));
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    /// Any status but 200 is an error.
    #[tokio::test]
    async fn non_200_status_is_refused() {
        let server = serve(Reply::Raw(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".to_vec(),
        ))
        .await;
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::Status(404));
        let server = serve(Reply::Raw(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())).await;
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::Status(204));
    }

    /// Draft §6.6: a body over the cap is refused, whether its length is declared or not, and
    /// reading stops at the cap (the server's megabyte is not read).
    #[tokio::test]
    async fn body_over_5_kb_is_refused() {
        let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        let server = serve(ok(&big, "")).await;
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::TooLarge(MAX_DOCUMENT_BYTES));

        let mut undeclared = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        undeclared.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        let server = serve(Reply::Raw(undeclared)).await;
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::TooLarge(MAX_DOCUMENT_BYTES));

        let exact = "x".repeat(MAX_DOCUMENT_BYTES);
        let server = serve(ok(&exact, "")).await;
        let got = fetcher(&["127.0.0.1"])
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap();
        assert_eq!(got.body.len(), MAX_DOCUMENT_BYTES);
    }

    /// The time cap covers the whole fetch: a server slow to answer, or slow to send its body,
    /// is given up on at the cap.
    #[tokio::test]
    async fn slow_server_is_refused_within_the_time_cap() {
        let policy = FetchPolicy {
            timeout: Duration::from_millis(300),
            ..dev_policy(&["127.0.0.1"])
        };
        let f = DocumentFetcher::new(policy).unwrap();
        for reply in [Reply::Slow(Duration::from_secs(10)), Reply::Trickle] {
            let server = serve(reply).await;
            let start = Instant::now();
            let err = f
                .fetch(&url_on("127.0.0.1", server.port))
                .await
                .unwrap_err();
            assert_eq!(err, FetchError::Timeout(300));
            assert!(
                start.elapsed() < Duration::from_millis(1000),
                "{:?}",
                start.elapsed()
            );
        }
    }

    /// Draft §6.5: a host that resolves to a special-use address is refused after resolution
    /// and BEFORE any connection, when it is not named as a development loopback host.
    #[tokio::test]
    async fn host_resolving_to_loopback_is_refused_before_any_connection() {
        let server = serve(ok(DOC, "")).await;
        let production_like = fetcher(&[]);
        for host in ["localhost", "127.0.0.1"] {
            let err = production_like
                .fetch(&url_on(host, server.port))
                .await
                .unwrap_err();
            assert!(
                matches!(err, FetchError::SpecialUseAddress(ip) if ip.is_loopback()),
                "{host}: {err:?}"
            );
        }
        // Naming one loopback host does not allow another.
        let err = fetcher(&["127.0.0.1"])
            .fetch(&url_on("localhost", server.port))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::SpecialUseAddress(_)), "{err:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    }

    /// IPv6 loopback literals, plain and IPv4-mapped, are refused by the fetcher too (a URL
    /// parsed with a development allowance, fetched by a fetcher without it).
    #[tokio::test]
    async fn ipv6_loopback_literals_are_refused_by_the_fetcher() {
        for host in ["[::1]", "[::ffff:127.0.0.1]"] {
            let url =
                ClientIdUrl::parse_allowing(&format!("https://{host}/c"), &[host.to_string()])
                    .unwrap_or_else(|e| panic!("{host}: {e}"));
            let err = fetcher(&[]).fetch(&url).await.unwrap_err();
            assert!(
                matches!(err, FetchError::SpecialUseAddress(_)),
                "{host}: {err:?}"
            );
        }
    }

    /// Special-use literals never become a client id URL in production, so they are never
    /// fetched; `http://` neither (draft §3: https only).
    #[test]
    fn special_use_literals_and_http_are_refused_before_the_fetcher() {
        for bad in [
            "https://10.0.0.1/c",
            "https://169.254.169.254/c",
            "https://[::1]/c",
            "https://[::ffff:127.0.0.1]/c",
            "https://[fd00:ec2::254]/latest/meta-data",
            "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        ] {
            assert!(
                matches!(
                    ClientIdUrl::parse(bad),
                    Err(DocumentError::UrlSpecialUseHost(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            ClientIdUrl::parse("http://client.example/c"),
            Err(DocumentError::NotHttps)
        );
    }

    /// Only trusted certificates: without the test CA the test server's certificate is refused.
    #[tokio::test]
    async fn untrusted_certificate_is_refused() {
        let server = serve(ok(DOC, "")).await;
        let policy = FetchPolicy {
            extra_root_ca_pem: None,
            ..dev_policy(&["127.0.0.1"])
        };
        let err = DocumentFetcher::new(policy)
            .unwrap()
            .fetch(&url_on("127.0.0.1", server.port))
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::Tls(_) | FetchError::NoTrustRoots(_)),
            "{err:?}"
        );
    }

    /// The settings' development exception becomes the policy, its CA file read at cold start.
    #[test]
    fn development_settings_become_the_policy() {
        let dev = MetadataDocumentDev {
            loopback_hosts: vec!["127.0.0.1".into()],
            ca_file: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ca.pem").into()),
        };
        let policy = FetchPolicy::with_development(&dev).unwrap();
        assert_eq!(policy.extra_root_ca_pem.as_deref(), Some(CA));
        assert_eq!(policy.allow_loopback_hosts, vec!["127.0.0.1".to_string()]);
        assert_eq!(policy.timeout, DEFAULT_TIMEOUT);
        assert!(DocumentFetcher::new(policy).is_ok());
        let missing = MetadataDocumentDev {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..dev
        };
        assert!(matches!(
            FetchPolicy::with_development(&missing),
            Err(FetchSetupError::BadRootCa(_))
        ));
        assert_eq!(
            FetchPolicy::with_development(&MetadataDocumentDev::default()).unwrap(),
            FetchPolicy::default()
        );
    }

    #[test]
    fn a_bad_extra_root_ca_fails_at_construction() {
        for pem in [b"not a pem".to_vec(), KEY.to_vec()] {
            let policy = FetchPolicy {
                extra_root_ca_pem: Some(pem),
                ..FetchPolicy::default()
            };
            assert!(matches!(
                DocumentFetcher::new(policy),
                Err(FetchSetupError::BadRootCa(_))
            ));
        }
    }

    /// A fetch failure reaches the authorize endpoint as a document error with a clear
    /// description and no network detail.
    #[test]
    fn fetch_errors_become_document_errors_without_addresses() {
        let e: DocumentError = FetchError::SpecialUseAddress("10.1.2.3".parse().unwrap()).into();
        let m = e.to_string();
        assert!(m.contains("special-use"), "{m}");
        assert!(!m.contains("10.1.2.3"), "{m}");
    }
}

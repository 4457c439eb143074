//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, "CIMD"; the MCP
//! 2026-07-28 client registration's preferred mechanism): a client whose `client_id` is an https
//! URL publishes its registration as a JSON document at that URL.
//!
//! Pure rules only, no I/O: the fetch is `portcullis_aws::fetch::DocumentFetcher`.
//! - [`ClientIdUrl`]: the URL as a client id (draft §3), checked before anything is fetched;
//!   [`ClientIdUrl::internal_id`] is the fixed-length [`ClientId`] tokens embed instead of it.
//! - [`ClientDocument::validate`]: the fetched document (draft §4.1, §6.2; MCP "Client ID
//!   Metadata Documents") becomes a [`DocumentClient`], what a `model::Client` needs.
//! - [`cache_lifetime`]: how long a valid document may be used (draft §4.4, RFC 9111).
//! - [`is_special_use`]: the address classifier the fetcher applies to every resolved address
//!   (draft §6.5, RFC 6890 and the IANA special-purpose registries).
//!
//! Section numbers are those of the editor's copy of the draft (-03 history): §3 Client
//! Identifier, §4.1 Client Metadata, §4.3 Metadata Discovery Errors, §4.4 Metadata Caching, §4.5
//! Redirect URL Registration, §6.2 Client Authentication, §6.5 SSRF, §6.6 Maximum Response Size.
use crate::assertion::{ClientKeys, KeysError};
use crate::error::echo;
use crate::ids::{ClientId, RedirectUri};
use crate::model::GrantType;
use crate::scope::{is_scope_token, parse_scope};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Longest client id URL accepted, in bytes. The draft RECOMMENDS a short URL (§3); 200 bytes is
/// also the budget other URIs have in a grant (`MAX_RESOURCE_URI`).
pub const MAX_URL_LEN: usize = 200;

/// Most bytes of a document read (draft §6.6: "The recommended maximum response size for client
/// metadata documents is 5 kilobytes").
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// Longest `client_name`, in characters (what the consent page shows).
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// Most `redirect_uris` one document may list.
pub const MAX_REDIRECT_URIS: usize = 10;

/// Longest `logo_uri` or `client_uri`, in bytes.
pub const MAX_LINK_LEN: usize = 512;

/// Shortest time a valid document is used before it is fetched again, seconds (draft §4.4: the AS
/// "MAY define its own upper and/or lower bounds on an acceptable cache lifetime").
pub const CACHE_FLOOR: u64 = 300;

/// Longest time a valid document is used before it is fetched again, seconds (one day): a client
/// that changes its redirect URIs or keys is seen within a day whatever its headers say.
pub const CACHE_CEILING: u64 = 86_400;

/// The prefix of every [`ClientIdUrl::internal_id`]: an operator-issued id is hex, a registered
/// one has its own prefix, so the origin of a client id is visible in it.
pub const INTERNAL_ID_PREFIX: &str = "cimd_";

/// Whether a `client_id` is meant as a metadata document URL: it starts with `https://`. A cheap
/// test that tells a URL client id from an ordinary one (draft §3; AS-generated ids SHOULD NOT
/// start with `https://`, and Portcullis's never do: they are `[A-Za-z0-9_-]`). Whether it is a
/// valid one is [`ClientIdUrl::parse`]'s question.
pub fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

/// Why a client id URL, a document or its fetch was refused. Each message is an
/// `error_description` as it stands (RFC 6749 §5.2's character set: values from the document go
/// through [`echo`]); the authorization endpoint shows it on its error page with
/// [`DocumentError::OAUTH_ERROR`] and never redirects (the redirect URIs are what is in doubt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    // The URL (draft §3).
    #[error("the client_id URL must use https")]
    NotHttps,
    #[error("the client_id URL is longer than {MAX_URL_LEN} bytes")]
    UrlTooLong,
    #[error("the client_id URL may contain only printable ASCII, with no spaces or backslashes")]
    UrlCharacters,
    #[error("the client_id URL is not a valid URL: {0}")]
    UrlInvalid(String),
    #[error("the client_id URL must not contain a user name or password")]
    UrlUserinfo,
    #[error("the client_id URL must contain a path other than /")]
    UrlNoPath,
    #[error("the client_id URL must not contain . or .. path segments")]
    UrlDotSegment,
    #[error("the client_id URL must not contain a fragment")]
    UrlFragment,
    #[error("the client_id URL must not contain a query")]
    UrlQuery,
    #[error("the client_id URL's host {0} is a special-use address or name; it is not fetched")]
    UrlSpecialUseHost(String),

    // The document (draft §4.1, §6.2, §6.6; MCP client registration).
    #[error("the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the client metadata document is not JSON: {0}")]
    NotJson(String),
    #[error("the client metadata document must be a JSON object")]
    NotAnObject,
    #[error("the client metadata document has no {0}")]
    Missing(&'static str),
    #[error("the client metadata document's client_id {found} is not the URL it was fetched from")]
    ClientIdMismatch { found: String },
    #[error("the client metadata document's {member} is invalid: {problem}")]
    Invalid {
        member: &'static str,
        problem: String,
    },
    #[error("the client metadata document must list 1 to {MAX_REDIRECT_URIS} redirect_uris; it lists {0}")]
    RedirectUriCount(usize),
    #[error("the client metadata document's redirect URI {uri} is refused: {problem}")]
    RedirectUri { uri: String, problem: String },
    #[error("the client metadata document must not use a shared secret ({0}): there is no way to establish one")]
    SharedSecret(String),
    #[error("the client metadata document's token_endpoint_auth_method {0} is not supported (none or private_key_jwt)")]
    UnsupportedAuthMethod(String),
    #[error("the client metadata document declares private_key_jwt but gives no jwks")]
    MissingKeys,
    #[error("the client metadata document gives its keys by jwks_uri, which is not supported: put them in jwks, or also accept none in token_endpoint_auth_methods_supported")]
    JwksUriUnsupported,
    #[error("the client metadata document's jwks is refused: {0}")]
    Keys(String),

    // The fetch (draft §4.3: "If fetching the metadata document fails, the authorization server
    // SHOULD abort the authorization request"). The fetcher's errors map to this one.
    #[error("the client metadata document could not be fetched: {0}")]
    Fetch(String),
}

impl DocumentError {
    /// The OAuth error every one of these is shown with (MCP client registration: "error=
    /// invalid_client or invalid_request"; RFC 6749 §4.1.2.1: a client that cannot be
    /// identified gets an error page, not a redirect).
    pub const OAUTH_ERROR: &'static str = "invalid_client";
}

impl From<KeysError> for DocumentError {
    fn from(e: KeysError) -> Self {
        Self::Keys(echo(&e.to_string().replace('"', "`")))
    }
}

/// A client id that is a metadata document URL (draft §3), as the client sent it.
///
/// Compared and stored as the exact string: the draft compares by simple string comparison
/// (RFC 3986 §6.2.1) and the AS does not normalise, so `https://example.com:443/c`,
/// `https://example.com/c` and `https://example.com/c/` are three clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdUrl {
    raw: String,
    host: String,
    port: u16,
    ip: Option<IpAddr>,
}

impl ClientIdUrl {
    /// Parses a client id URL for production: [`Self::parse_allowing`] with no loopback host.
    pub fn parse(raw: &str) -> Result<Self, DocumentError> {
        Self::parse_allowing(raw, &[])
    }

    /// Parses a client id URL (draft §3): "MUST have an https scheme, MUST contain a path
    /// component, MUST NOT contain single-dot or double-dot path segments, MUST NOT contain a
    /// fragment component and MUST NOT contain a username or password"; a query, which it
    /// SHOULD NOT contain, is refused too, and so is the path `/` (NOT RECOMMENDED by MCP's
    /// copy). A port is allowed. At most [`MAX_URL_LEN`] bytes of printable ASCII.
    ///
    /// Draft §6.5 (SSRF): a host that is an IP literal in a special-use range
    /// ([`is_special_use`], however the URL spells it: `https://0x7f.1/` is 127.0.0.1), or the
    /// special-use name `localhost` or a `*.localhost` name (RFC 6761 §6.3), is refused before
    /// anything is fetched. `loopback_hosts` is the development exception (the draft lets an AS
    /// that itself runs on loopback fetch from loopback): a host named there, as the URL writes
    /// it (`127.0.0.1`, `[::1]`, `localhost`), may be a loopback address or name, and nothing
    /// else special-use.
    pub fn parse_allowing(raw: &str, loopback_hosts: &[String]) -> Result<Self, DocumentError> {
        if raw.len() > MAX_URL_LEN {
            return Err(DocumentError::UrlTooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return Err(DocumentError::UrlCharacters);
        }
        let rest = raw
            .strip_prefix("https://")
            .ok_or(DocumentError::NotHttps)?;
        if raw.contains('#') {
            return Err(DocumentError::UrlFragment);
        }
        if raw.contains('?') {
            return Err(DocumentError::UrlQuery);
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(DocumentError::UrlUserinfo);
        }
        if path.is_empty() || path == "/" {
            return Err(DocumentError::UrlNoPath);
        }
        if path.split('/').any(is_dot_segment) {
            return Err(DocumentError::UrlDotSegment);
        }
        let url = Url::parse(raw).map_err(|e| DocumentError::UrlInvalid(e.to_string()))?;
        let allowed = |host: &str| {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            loopback_hosts.iter().any(|h| {
                h.eq_ignore_ascii_case(host)
                    || h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .eq_ignore_ascii_case(bare)
            })
        };
        let (host, ip) = match url.host() {
            Some(Host::Domain(d)) => {
                let d = d.to_ascii_lowercase();
                let name = d.trim_end_matches('.');
                let special = name == "localhost" || name.ends_with(".localhost");
                if special && !allowed(&d) {
                    return Err(DocumentError::UrlSpecialUseHost(echo(&d)));
                }
                (d, None)
            }
            Some(Host::Ipv4(ip)) => (ip.to_string(), Some(IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => (format!("[{ip}]"), Some(IpAddr::V6(ip))),
            None => return Err(DocumentError::UrlInvalid("it has no host".into())),
        };
        if let Some(ip) = ip {
            if is_special_use(ip) && !(allowed(&host) && is_loopback_address(ip)) {
                return Err(DocumentError::UrlSpecialUseHost(host));
            }
        }
        let port = url.port_or_known_default().unwrap_or(443);
        // What is fetched must be what was written: the host (but for case), the port and the
        // path as the URL parser reads them, so no spelling (`https:///c`, `0x7f.1`, `%41`, an
        // empty port) reaches another place than the one the client id names.
        let (written_host, written_port) = split_authority(authority);
        let canonical = written_host.eq_ignore_ascii_case(&host)
            && written_port.is_none_or(|p| p.parse::<u16>().ok() == Some(port))
            && url.path() == path;
        if !canonical {
            return Err(DocumentError::UrlInvalid(
                "it is not written as a URL parser reads it (host, port and path as they are fetched)".into(),
            ));
        }
        Ok(Self {
            raw: raw.to_string(),
            host,
            port,
            ip,
        })
    }

    /// The URL exactly as the client sent it: the client id the document must repeat.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The host, lower-case, as a URL writes it (`example.com`, `192.0.2.1`, `[2001:db8::1]`):
    /// what the consent page shows (draft §6.4: "SHOULD display the hostname of the
    /// `client_id`"), and, without brackets, the TLS server name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port connected to (443 unless the URL names one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host's address when the URL names an IP literal rather than a name.
    pub fn ip_literal(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The request target and `Host` header of the GET: the path as sent, and the authority as
    /// sent (host and any port, as written, minus nothing: the URL has no userinfo).
    pub fn request_parts(&self) -> (&str, &str) {
        let rest = &self.raw[8..];
        let i = rest.find('/').unwrap_or(rest.len());
        (&rest[i..], &rest[..i])
    }

    /// The fixed-length client id that stands for this URL in tokens, codes, grants and the
    /// clients table: `cimd_` and the unpadded base64url of the URL's SHA-256 (48 characters of
    /// `[A-Za-z0-9_-]`, so [`ClientId::is_well_formed`]). Tokens embed this, never the URL: a
    /// 200-byte URL would not fit, and `.` separates a token's parts.
    pub fn internal_id(&self) -> ClientId {
        internal_id_of(&self.raw)
    }
}

fn internal_id_of(raw: &str) -> ClientId {
    let digest = Sha256::digest(raw.as_bytes());
    ClientId::new(format!(
        "{INTERNAL_ID_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(digest)
    ))
}

/// The stored id of a `client_id` as a client sends it (token, revocation and introspection
/// requests, a client assertion's `iss` and `sub`): an https URL is a metadata-document client,
/// stored under [`ClientIdUrl::internal_id`]; anything else is itself. The URL is not checked
/// here: only the authorization endpoint writes `cimd_` items, after fetching and validating the
/// document at exactly that URL, so a URL that was never valid names no item.
pub fn wire_client_id(raw: &str) -> ClientId {
    if is_metadata_url(raw) {
        internal_id_of(raw)
    } else {
        ClientId::from(raw)
    }
}

/// Whether a path segment is `.` or `..`, also percent-encoded (`%2e`, `.%2E`, ...), which URL
/// parsers treat as the same.
fn is_dot_segment(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase().replace("%2e", ".");
    s == "." || s == ".."
}

/// Splits an authority without userinfo into its host as written (with brackets for IPv6) and
/// its port digits, if any (`None` also for a bare `:`, which then fails the comparison).
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, rest) = authority.split_at(host_end);
    match rest.strip_prefix(':') {
        Some(digits) => (host, Some(digits)),
        None if rest.is_empty() => (host, None),
        None => (authority, None),
    }
}

/// Whether an address may be fetched from in a development set-up that allows loopback: a
/// loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). Nothing else special-use.
pub fn is_loopback_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Draft §6.5: the AS "MUST NOT" (MCP: SHOULD avoid) fetching from "private or loopback
/// addresses". Whether an address is special-use: any range of RFC 6890 and the IANA IPv4 and
/// IPv6 Special-Purpose Address Registries that is not globally reachable, and anything that
/// reaches one of those in disguise. Applied to every resolved address before connecting.
///
/// IPv4: 0.0.0.0/8, 10/8, 100.64/10 (shared CGN), 127/8, 169.254/16 (link-local, and the
/// 169.254.169.254 instance metadata service), 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24
/// (6to4 relay), 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4
/// (reserved, with 255.255.255.255).
///
/// IPv6: default deny outside 2000::/3 (global unicast: everything else IANA has assigned is
/// special-use: ::, ::1, ::/96 IPv4-compatible, 64:ff9b:1::/48, 100::/64, fc00::/7 (with the AWS
/// metadata service's fd00:ec2::254), fe80::/10, fec0::/10, ff00::/8, 5f00::/16); inside it,
/// 2001::/23 (IETF protocol assignments, whole: Teredo, ORCHID, benchmarking, ...),
/// 2001:db8::/32 and 3fff::/20 (documentation), 2002::/16 (6to4, which embeds an IPv4 address).
/// ::ffff:0:0/96 (IPv4-mapped) and 64:ff9b::/96 (NAT64) are judged by the IPv4 address they
/// embed, which is where a connection to them goes.
pub fn is_special_use(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_use_v4(v4),
        IpAddr::V6(v6) => is_special_use_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn is_special_use_v4(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 88, 99, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    RANGES.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix))
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn is_special_use_v6(ip: Ipv6Addr) -> bool {
    let embedded_v4 = |ip: Ipv6Addr| Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32);
    // ::ffff:0:0/96 and 64:ff9b::/96: the connection goes to the embedded IPv4 address.
    if in_v6(ip, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        return is_special_use_v4(embedded_v4(ip));
    }
    if !in_v6(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return true;
    }
    const GLOBAL_UNICAST_SPECIAL: &[(Ipv6Addr, u32)] = &[
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
        (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),
        (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
    ];
    GLOBAL_UNICAST_SPECIAL
        .iter()
        .any(|(net, prefix)| in_v6(ip, *net, *prefix))
}

/// How the client authenticates at the token endpoint (draft §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentAuth {
    /// A public client (`none`): PKCE, no client authentication.
    None,
    /// A confidential client (`private_key_jwt`, RFC 7523 §2.2) with the document's `jwks`:
    /// "any communication with the authorization server MUST include client authentication of
    /// the registered type" (draft §6.2).
    PrivateKeyJwt(ClientKeys),
}

/// A validated metadata document: what a `model::Client` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentClient {
    /// The URL, the `client_id` the client sends.
    pub url: ClientIdUrl,
    /// [`ClientIdUrl::internal_id`]: the id tokens and storage use.
    pub client_id: ClientId,
    /// `client_name`, 1 to [`MAX_CLIENT_NAME_CHARS`] characters.
    pub name: String,
    /// `redirect_uris`, 1 to [`MAX_REDIRECT_URIS`], the only ones the client may use (draft
    /// §4.5); loopback ones match with any port (`redirect::redirect_uri_matches`).
    pub redirect_uris: Vec<RedirectUri>,
    pub auth: DocumentAuth,
    /// `grant_types`: `authorization_code`, with `refresh_token` if listed (both when absent).
    pub grant_types: Vec<GrantType>,
    /// `scope`, split: what the client says it may ask for (RFC 7591 §2). Not checked against
    /// the catalogue here.
    pub scope: Option<Vec<String>>,
    /// `logo_uri`, https, at most [`MAX_LINK_LEN`] bytes.
    pub logo_uri: Option<String>,
    /// `client_uri`, https, at most [`MAX_LINK_LEN`] bytes.
    pub client_uri: Option<String>,
}

impl DocumentClient {
    /// Whether the client is public (no client authentication, PKCE required).
    pub fn public(&self) -> bool {
        matches!(self.auth, DocumentAuth::None)
    }

    /// Whether every redirect URI is a loopback one (`http` on `127.0.0.1`, `[::1]` or
    /// `localhost`): MCP's security considerations ("Localhost Redirect URI Risks": the AS
    /// "SHOULD display additional warnings for localhost-only redirect URIs"), since a document
    /// cannot stop another local program from impersonating such a client.
    pub fn redirects_only_to_loopback(&self) -> bool {
        redirects_only_to_loopback(&self.redirect_uris)
    }

    /// The client to store (the cache of draft §4.4): never trusted, never PKCE-optional, always
    /// rotating refresh tokens, with the document's URL and until when this copy is used
    /// (`fresh_until`). Its scopes are those of the catalogue the document's `scope` names
    /// (all of them when it has none): one document serves many servers, so a scope this one
    /// does not define is ignored, not an error. `previous`, the copy it replaces, keeps its
    /// `created_at`. The item lives `idle` seconds unless used (`Client::needs_touch`).
    pub fn into_client(
        self,
        catalog: &crate::scope::ScopeCatalog,
        previous: Option<&crate::model::Client>,
        fresh_until: u64,
        now: u64,
        idle: u64,
    ) -> crate::model::Client {
        use crate::model::{Client, ClientOrigin, DocumentCopy, SoftwareMetadata};
        let scopes = catalog
            .names()
            .filter(|n| self.scope.as_ref().is_none_or(|s| s.iter().any(|a| a == n)))
            .map(str::to_string)
            .collect();
        let public = self.public();
        let method = if public { "none" } else { "private_key_jwt" };
        Client {
            client_id: self.client_id,
            name: self.name,
            logo_uri: self.logo_uri,
            redirect_uris: self.redirect_uris,
            scopes,
            public,
            trusted: false,
            pkce_optional: false,
            disabled: false,
            disabled_at: None,
            secret_hashes: Vec::new(),
            secret_retiring: None,
            refresh_rotation: true,
            resource_server: false,
            grant_types: self.grant_types,
            jwks: match self.auth {
                DocumentAuth::PrivateKeyJwt(k) => Some(k),
                DocumentAuth::None => None,
            },
            jwks_retiring: None,
            token_rate: None,
            created_at: previous.map_or(now, |p| p.created_at),
            origin: ClientOrigin::MetadataDocument,
            expires_at: Some(now.saturating_add(idle)),
            software: Some(SoftwareMetadata {
                client_uri: self.client_uri,
                token_endpoint_auth_method: Some(method.to_string()),
                ..SoftwareMetadata::default()
            }),
            document: Some(DocumentCopy {
                url: self.url.as_str().to_string(),
                fresh_until,
            }),
        }
    }

    /// The document's keys, for a `private_key_jwt` client.
    pub fn keys(&self) -> Option<&ClientKeys> {
        match &self.auth {
            DocumentAuth::PrivateKeyJwt(k) => Some(k),
            DocumentAuth::None => None,
        }
    }
}

/// Whether every one of `uris` (at least one) is a loopback redirect: `http` on `127.0.0.1`,
/// `[::1]` or `localhost` (a program on the user's own computer).
pub fn redirects_only_to_loopback(uris: &[RedirectUri]) -> bool {
    !uris.is_empty()
        && uris.iter().all(|u| {
            Url::parse(u).is_ok_and(|u| {
                u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
            })
        })
}

/// The shared-secret authentication methods a document must not use (draft §4.1: "MUST NOT
/// include `client_secret_post`, `client_secret_basic`, `client_secret_jwt`, or any other method
/// based around a shared symmetric secret").
const SHARED_SECRET_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
];

/// Redirect URI schemes refused by name, whatever else would allow them: they run code or
/// carry content in the browser rather than reach a client.
const SCRIPT_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "filesystem",
];

/// A client metadata document as fetched (draft §4.1).
pub struct ClientDocument;

impl ClientDocument {
    /// Validates a fetched document against the URL it was fetched from.
    ///
    /// - At most [`MAX_DOCUMENT_BYTES`] (draft §6.6), a JSON object (draft §4.1); members not
    ///   listed here are ignored (RFC 7591 §2: "the authorization server MUST ignore any client
    ///   metadata sent by the client that it does not understand").
    /// - `client_id` equals the URL by simple string comparison (draft §4.1; MCP: "MUST validate
    ///   that the fetched document's `client_id` matches the URL exactly").
    /// - `client_name` and `redirect_uris` are required (MCP: "MUST include at least ...
    ///   `client_id`, `client_name`, `redirect_uris`").
    /// - Each redirect URI passes `redirect::validate_registration` (https, loopback http, or a
    ///   reverse-domain private-use scheme; no fragment), is printable ASCII, and is not a
    ///   script or content scheme (`javascript:`, `data:`, ...).
    /// - No shared secret: no `client_secret`, no `client_secret_expires_at`, no shared-secret
    ///   `token_endpoint_auth_method` (draft §4.1).
    /// - `token_endpoint_auth_method` (draft §6.2):
    ///   - absent or `none`: public. (RFC 7591's default, `client_secret_basic`, is impossible
    ///     for a document; the draft's issue 92 leans to "treat as none".)
    ///   - `private_key_jwt` with `jwks`: confidential, authenticated with those keys
    ///     ([`ClientKeys::from_jwks_json`]'s rules).
    ///   - `private_key_jwt` without `jwks`, or another method Portcullis does not implement,
    ///     but `none` listed in `token_endpoint_auth_methods_supported`: public. This is
    ///     ChatGPT's document (`private_key_jwt`, `jwks_uri`, supported `["none",
    ///     "private_key_jwt"]`): the client says it can also work as a public client, and
    ///     SEP-3149 would make that list the rule. Its `jwks_uri` is then not used.
    ///   - otherwise `private_key_jwt` with only `jwks_uri`: refused (keys by reference are
    ///     not fetched: that would be a second fetch on the request path, with its own SSRF
    ///     surface); without any keys: refused; another method: refused.
    ///   - `jwks` and `jwks_uri` together: refused (RFC 7591 §2: "MUST NOT both be present").
    /// - `grant_types`, if given, lists `authorization_code` and at most also `refresh_token`;
    ///   absent means both (the MCP clients refresh). `response_types`, if given, includes
    ///   `code`.
    /// - `scope`, if given, is a string of RFC 6749 §3.3 scope tokens.
    /// - `logo_uri` and `client_uri`, if given, are https URLs of at most [`MAX_LINK_LEN`] bytes.
    pub fn validate(url: &ClientIdUrl, body: &[u8]) -> Result<DocumentClient, DocumentError> {
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge);
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| DocumentError::NotJson(echo(&e.to_string())))?;
        let Value::Object(doc) = value else {
            return Err(DocumentError::NotAnObject);
        };

        match doc.get("client_id") {
            None => return Err(DocumentError::Missing("client_id")),
            Some(Value::String(s)) if s == url.as_str() => {}
            Some(Value::String(s)) => {
                return Err(DocumentError::ClientIdMismatch { found: echo(s) })
            }
            Some(_) => return Err(invalid("client_id", "it must be a string")),
        }

        let name = client_name(&doc)?;
        let redirect_uris = redirect_uris(&doc)?;
        let auth = auth(&doc)?;
        let grant_types = grant_types(&doc)?;
        if let Some(v) = doc.get("response_types") {
            let types = string_list(v, "response_types")?;
            if !types.iter().any(|t| t == "code") {
                return Err(invalid("response_types", "it must include code"));
            }
        }
        let scope = match doc.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let scopes = parse_scope(s);
                if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                    return Err(invalid(
                        "scope",
                        format!("{} is not a scope token (RFC 6749 section 3.3)", echo(bad)),
                    ));
                }
                Some(scopes)
            }
            Some(_) => return Err(invalid("scope", "it must be a string")),
        };
        Ok(DocumentClient {
            url: url.clone(),
            client_id: url.internal_id(),
            name,
            redirect_uris,
            auth,
            grant_types,
            scope,
            logo_uri: link(&doc, "logo_uri")?,
            client_uri: link(&doc, "client_uri")?,
        })
    }
}

fn invalid(member: &'static str, problem: impl Into<String>) -> DocumentError {
    DocumentError::Invalid {
        member,
        problem: problem.into(),
    }
}

fn client_name(doc: &Map<String, Value>) -> Result<String, DocumentError> {
    match doc.get("client_name") {
        None | Some(Value::Null) => Err(DocumentError::Missing("client_name")),
        Some(Value::String(s)) => {
            let count = s.chars().count();
            if s.trim().is_empty() || count > MAX_CLIENT_NAME_CHARS {
                Err(invalid(
                    "client_name",
                    format!("it must be 1 to {MAX_CLIENT_NAME_CHARS} characters"),
                ))
            } else if s.chars().any(char::is_control) {
                Err(invalid(
                    "client_name",
                    "it must not contain control characters",
                ))
            } else {
                Ok(s.clone())
            }
        }
        Some(_) => Err(invalid("client_name", "it must be a string")),
    }
}

fn redirect_uris(doc: &Map<String, Value>) -> Result<Vec<RedirectUri>, DocumentError> {
    let list = match doc.get("redirect_uris") {
        None | Some(Value::Null) => return Err(DocumentError::Missing("redirect_uris")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("redirect_uris", "it must be an array of strings")),
    };
    if list.is_empty() || list.len() > MAX_REDIRECT_URIS {
        return Err(DocumentError::RedirectUriCount(list.len()));
    }
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let Value::String(uri) = v else {
            return Err(invalid("redirect_uris", "it must be an array of strings"));
        };
        let refuse = |problem: String| DocumentError::RedirectUri {
            uri: echo(uri),
            problem,
        };
        if !uri.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse("it must be printable ASCII with no spaces".into()));
        }
        let scheme = uri
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        if SCRIPT_SCHEMES.contains(&scheme.as_str()) {
            return Err(refuse(format!(
                "the {scheme} scheme is never a redirect URI"
            )));
        }
        crate::redirect::validate_registration(uri).map_err(|p| refuse(echo(&p)))?;
        out.push(RedirectUri::from(uri.as_str()));
    }
    Ok(out)
}

fn string_list(v: &Value, member: &'static str) -> Result<Vec<String>, DocumentError> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid(member, "it must be an array of strings")),
            })
            .collect(),
        _ => Err(invalid(member, "it must be an array of strings")),
    }
}

fn auth(doc: &Map<String, Value>) -> Result<DocumentAuth, DocumentError> {
    for member in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(member) {
            return Err(DocumentError::SharedSecret(member.into()));
        }
    }
    let method = match doc.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "none".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid("token_endpoint_auth_method", "it must be a string")),
    };
    if SHARED_SECRET_METHODS.contains(&method.as_str()) {
        return Err(DocumentError::SharedSecret(echo(&method)));
    }
    let jwks = doc.get("jwks").filter(|v| !v.is_null());
    let jwks_uri = doc.get("jwks_uri").filter(|v| !v.is_null());
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(invalid(
            "jwks",
            "jwks and jwks_uri must not both be present (RFC 7591 section 2)",
        ));
    }
    let also_none = match doc.get("token_endpoint_auth_methods_supported") {
        None | Some(Value::Null) => false,
        Some(v) => string_list(v, "token_endpoint_auth_methods_supported")?
            .iter()
            .any(|m| m == "none"),
    };
    match (method.as_str(), jwks) {
        ("none", _) => Ok(DocumentAuth::None),
        ("private_key_jwt", Some(jwks)) => {
            if !jwks.is_object() {
                return Err(invalid("jwks", "it must be a JSON Web Key Set object"));
            }
            let json = serde_json::to_string(jwks)
                .map_err(|e| DocumentError::Keys(echo(&e.to_string())))?;
            Ok(DocumentAuth::PrivateKeyJwt(ClientKeys::from_jwks_json(
                &json,
            )?))
        }
        _ if also_none => Ok(DocumentAuth::None),
        ("private_key_jwt", None) if jwks_uri.is_some() => Err(DocumentError::JwksUriUnsupported),
        ("private_key_jwt", None) => Err(DocumentError::MissingKeys),
        (other, _) => Err(DocumentError::UnsupportedAuthMethod(echo(other))),
    }
}

fn grant_types(doc: &Map<String, Value>) -> Result<Vec<GrantType>, DocumentError> {
    let Some(v) = doc.get("grant_types").filter(|v| !v.is_null()) else {
        return Ok(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    };
    let mut out = Vec::new();
    for g in string_list(v, "grant_types")? {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            other => {
                return Err(invalid(
                    "grant_types",
                    format!(
                        "{} is not supported for a metadata document client (authorization_code, refresh_token)",
                        echo(other)
                    ),
                ))
            }
        };
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    if !out.contains(&GrantType::AuthorizationCode) {
        return Err(invalid("grant_types", "it must include authorization_code"));
    }
    Ok(out)
}

fn link(doc: &Map<String, Value>, member: &'static str) -> Result<Option<String>, DocumentError> {
    match doc.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > MAX_LINK_LEN {
                return Err(invalid(
                    member,
                    format!("it is longer than {MAX_LINK_LEN} bytes"),
                ));
            }
            match Url::parse(s) {
                Ok(u) if u.scheme() == "https" && s.bytes().all(|b| b.is_ascii_graphic()) => {
                    Ok(Some(s.clone()))
                }
                _ => Err(invalid(member, "it must be an https URL")),
            }
        }
        Some(_) => Err(invalid(member, "it must be a string")),
    }
}

/// A document as fetched: the 200 response's body (at most [`MAX_DOCUMENT_BYTES`]) and its
/// `Cache-Control` (several lines joined by `, `), for [`ClientDocument::validate`] and
/// [`cache_lifetime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDocument {
    /// Always 200: the draft's current editor's copy has the AS treat any other status as an
    /// error and follow no redirect.
    pub status: u16,
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

/// Where documents come from: `portcullis_aws::fetch::DocumentFetcher` in production (hardened:
/// https, no redirects, size and time caps, no special-use address), a fake in tests. Every
/// failure is a [`DocumentError::Fetch`] (draft §4.3: the AS "SHOULD abort the authorization
/// request"), never a 5xx.
#[async_trait::async_trait]
pub trait DocumentSource: Send + Sync {
    async fn fetch_document(&self, url: &ClientIdUrl) -> Result<FetchedDocument, DocumentError>;
}

/// How long a valid document may be used before it is fetched again, in seconds (draft §4.4:
/// the AS "SHOULD respect HTTP cache headers [RFC 9111] ... but MAY define its own upper and/or
/// lower bounds"), from the response's `Cache-Control` (several header lines joined by `, `):
///
/// - `s-maxage` (RFC 9111 §5.2.2.10), else `max-age` (§5.2.2.1): its value, bounded to
///   [`CACHE_FLOOR`]..=[`CACHE_CEILING`]. The cache is shared by every user of the deployment,
///   so `s-maxage` wins.
/// - `no-store`, `no-cache` or `private`, no header, or an invalid value: [`CACHE_FLOOR`]. The
///   draft's lower bound applies: the document is not fetched again on every authorization
///   request within five minutes, which a client cannot turn into one outbound request per
///   request. (The first two ask for revalidation on every use, which a serverless AS cannot
///   honour cheaply; `private` targets shared caches, but a client document is not per user.)
///
/// Only a valid document is cached: a fetch error or an invalid document never reaches this
/// (draft §4.4: "MUST NOT cache error responses ... MUST NOT cache documents which are invalid").
pub fn cache_lifetime(cache_control: Option<&str>) -> u64 {
    let Some(header) = cache_control else {
        return CACHE_FLOOR;
    };
    let mut max_age = None;
    let mut s_maxage = None;
    for directive in header.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "no-store" | "no-cache" | "private" => return CACHE_FLOOR,
            "max-age" => max_age = Some(delta_seconds(value)),
            "s-maxage" => s_maxage = Some(delta_seconds(value)),
            _ => {}
        }
    }
    match s_maxage.or(max_age).flatten() {
        Some(secs) => secs.clamp(CACHE_FLOOR, CACHE_CEILING),
        None => CACHE_FLOOR,
    }
}

/// When a document fetched at `now` (Unix seconds) stops being used: `now` plus
/// [`cache_lifetime`]. The clients table's TTL and the check at read.
pub fn cache_expires_at(cache_control: Option<&str>, now: u64) -> u64 {
    now.saturating_add(cache_lifetime(cache_control))
}

/// RFC 9111 §1.2.2: `delta-seconds = 1*DIGIT`; a value too large for the cache saturates.
/// Anything else is invalid (`None`: RFC 9111 §4.2.1 treats an invalid freshness as stale).
fn delta_seconds(value: Option<&str>) -> Option<u64> {
    let v = value?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://client.example/oauth/client.json";

    fn url() -> ClientIdUrl {
        ClientIdUrl::parse(URL).unwrap()
    }

    fn validate(doc: &Value) -> Result<DocumentClient, DocumentError> {
        ClientDocument::validate(&url(), doc.to_string().as_bytes())
    }

    /// A minimal valid document, to change one member at a time.
    fn minimal() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Example MCP Client",
            "redirect_uris": ["https://client.example/callback"],
        })
    }

    fn with(member: &str, value: Value) -> Value {
        let mut doc = minimal();
        doc[member] = value;
        doc
    }

    fn without(member: &str) -> Value {
        let mut doc = minimal();
        doc.as_object_mut().unwrap().remove(member);
        doc
    }

    /// The token, revocation and introspection endpoints map a URL `client_id` to the stored
    /// id without fetching anything; other ids are themselves (draft §3: the URL is the id).
    #[test]
    fn a_url_client_id_maps_to_its_stored_id_and_others_stay_as_sent() {
        assert_eq!(wire_client_id(URL), url().internal_id());
        assert_eq!(wire_client_id("abc123"), ClientId::new("abc123"));
        assert_eq!(
            wire_client_id("http://client.example/c"),
            ClientId::new("http://client.example/c")
        );
        assert_ne!(wire_client_id(URL), wire_client_id(&format!("{URL}/")));
    }

    /// Draft §4.4: the stored copy is the cache; it is never trusted or PKCE-optional, its
    /// scopes are the catalogue's that the document names (unknown ones ignored: one document
    /// serves many servers), and a refetch keeps the first `created_at`.
    #[test]
    fn a_document_client_is_stored_unvetted_with_its_url_and_freshness() {
        let catalog = crate::scope::ScopeCatalog::default();
        let d = validate(&with("scope", json!("READ_BOOKING OTHER_SERVERS_SCOPE"))).unwrap();
        let c = d
            .clone()
            .into_client(&catalog, None, 1_300, 1_000, 30 * 86_400);
        assert_eq!(c.client_id, url().internal_id());
        assert_eq!(c.public_id().as_str(), URL);
        assert_eq!(c.origin, crate::model::ClientOrigin::MetadataDocument);
        assert!(c.unvetted() && c.public && !c.trusted && !c.pkce_optional);
        assert_eq!(c.scopes, ["READ_BOOKING"]);
        assert_eq!(c.document.as_ref().map(|d| d.fresh_until), Some(1_300));
        assert_eq!(c.expires_at, Some(1_000 + 30 * 86_400));
        let again = d.into_client(&catalog, Some(&c), 9_300, 9_000, 30 * 86_400);
        assert_eq!(again.created_at, 1_000);
        let all = validate(&minimal())
            .unwrap()
            .into_client(&catalog, None, 0, 0, 0);
        assert_eq!(all.scopes, catalog.names().collect::<Vec<_>>());
    }

    /// An EC P-256 public key (RFC 7517 Appendix A.1's example key, public part only).
    fn jwks() -> Value {
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "1", "use": "sig", "alg": "ES256",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
        }]})
    }

    // ---- The client identifier URL (draft §3) ----

    /// Draft §3: an https URL with a path is a client id; a port is allowed.
    #[test]
    fn client_id_url_with_https_and_a_path_is_accepted() {
        for ok in [
            URL,
            "https://claude.ai/oauth/claude-code-client-metadata",
            "https://chatgpt.com/oauth/IbUR3zxyNQ16/client.json",
            "https://client.example:8443/c",
            "https://client.example:443/c",
            "https://vscode.dev/oauth/client-metadata.json",
        ] {
            let u = ClientIdUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(u.as_str(), ok);
        }
    }

    /// Draft §3: "MUST have an https scheme".
    #[test]
    fn client_id_url_must_be_https() {
        for bad in [
            "http://client.example/c",
            "ftp://client.example/c",
            "HTTPS://client.example/c",
            "client.example/c",
        ] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::NotHttps),
                "{bad}"
            );
        }
    }

    /// Draft §3: "MUST NOT contain a username or password".
    #[test]
    fn client_id_url_must_not_contain_userinfo() {
        for bad in [
            "https://user@client.example/c",
            "https://u:p@client.example/c",
        ] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlUserinfo),
                "{bad}"
            );
        }
    }

    /// Draft §3: "MUST contain a path component"; MCP's example and the draft's advice: not `/`.
    #[test]
    fn client_id_url_must_have_a_path_other_than_root() {
        for bad in [
            "https://client.example",
            "https://client.example/",
            "https://client.example:8443",
        ] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlNoPath),
                "{bad}"
            );
        }
    }

    /// Draft §3: "MUST NOT contain single-dot or double-dot path segments", also encoded.
    #[test]
    fn client_id_url_must_not_contain_dot_segments() {
        for bad in [
            "https://client.example/./c",
            "https://client.example/a/../c",
            "https://client.example/c/.",
            "https://client.example/c/..",
            "https://client.example/%2e%2E/c",
            "https://client.example/.%2e/c",
            "https://client.example/%2E/c",
        ] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlDotSegment),
                "{bad}"
            );
        }
        assert!(ClientIdUrl::parse("https://client.example/.well-known/c.json").is_ok());
        assert!(ClientIdUrl::parse("https://client.example/c..json").is_ok());
    }

    /// Draft §3: "MUST NOT contain a fragment component".
    #[test]
    fn client_id_url_must_not_contain_a_fragment() {
        for bad in ["https://client.example/c#f", "https://client.example/c#"] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlFragment),
                "{bad}"
            );
        }
    }

    /// Draft §3: "SHOULD NOT include a query string component" (-02: it "encourages bad
    /// security practices (e.g., minting documents based on query string parameters)"):
    /// refused.
    #[test]
    fn client_id_url_with_a_query_is_refused() {
        for bad in ["https://client.example/c?x=1", "https://client.example/c?"] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlQuery),
                "{bad}"
            );
        }
    }

    /// Draft §3 recommends a short URL; it is a grant's and the consent page's to carry.
    #[test]
    fn client_id_url_longer_than_200_bytes_is_refused() {
        let at_limit = format!("https://client.example/{}", "a".repeat(MAX_URL_LEN - 23));
        assert_eq!(at_limit.len(), MAX_URL_LEN);
        assert!(ClientIdUrl::parse(&at_limit).is_ok());
        let over = format!("{at_limit}a");
        assert_eq!(ClientIdUrl::parse(&over), Err(DocumentError::UrlTooLong));
    }

    /// Printable ASCII only: no spaces, controls, backslashes (a WHATWG parser reads `\` as `/`)
    /// or raw non-ASCII (an IDN is written as punycode).
    #[test]
    fn client_id_url_must_be_printable_ascii_without_backslashes() {
        for bad in [
            "https://client.example/c d",
            "https://client.example/c\n",
            "https://client.example\\c/d",
            "https://clïent.example/c",
            "https://client.example/c\t",
        ] {
            assert_eq!(
                ClientIdUrl::parse(bad),
                Err(DocumentError::UrlCharacters),
                "{bad:?}"
            );
        }
    }

    /// The URL is fetched from where it is written: a spelling the URL parser would read as
    /// another host, port or path is refused rather than normalised.
    #[test]
    fn client_id_url_must_be_written_as_it_is_fetched() {
        for bad in [
            "https:///c",
            "https:////client.example/c",
            "https://client.example:/c",
            "https://client.example:99999/c",
            "https://client.example/a\"b",
        ] {
            assert!(
                matches!(ClientIdUrl::parse(bad), Err(DocumentError::UrlInvalid(_))),
                "{bad}: {:?}",
                ClientIdUrl::parse(bad)
            );
        }
    }

    /// Draft §3: compared "using simple string comparison"; the AS does not normalise:
    /// `:443`, a trailing slash and case make other client ids.
    #[test]
    fn client_id_urls_are_compared_as_exact_strings_without_normalisation() {
        let plain = ClientIdUrl::parse("https://client.example/c").unwrap();
        for other in [
            "https://client.example:443/c",
            "https://client.example/c/",
            "https://Client.example/c",
            "https://client.example/C",
        ] {
            let o = ClientIdUrl::parse(other).unwrap();
            assert_ne!(o, plain, "{other}");
            assert_ne!(o.internal_id(), plain.internal_id(), "{other}");
        }
        let port = ClientIdUrl::parse("https://client.example:443/c").unwrap();
        assert_eq!(port.port(), 443);
        assert_eq!(port.request_parts(), ("/c", "client.example:443"));
        // The document fetched from :443 must name :443.
        let doc = json!({"client_id": "https://client.example/c", "client_name": "n",
            "redirect_uris": ["https://client.example/cb"]});
        assert!(matches!(
            ClientDocument::validate(&port, doc.to_string().as_bytes()),
            Err(DocumentError::ClientIdMismatch { .. })
        ));
    }

    /// Draft §6.5: IP literals in special-use ranges are refused before any fetch, however the
    /// URL spells them.
    #[test]
    fn client_id_url_with_a_special_use_ip_literal_is_refused() {
        for bad in [
            "https://10.0.0.1/c",
            "https://127.0.0.1/c",
            "https://169.254.169.254/c",
            "https://[::1]/c",
            "https://[::ffff:127.0.0.1]/c",
            "https://[fd00:ec2::254]/c",
            "https://0.0.0.0/c",
            "https://0x7f.1/c",
            "https://2130706433/c",
        ] {
            assert!(
                matches!(
                    ClientIdUrl::parse(bad),
                    Err(DocumentError::UrlSpecialUseHost(_))
                ),
                "{bad}: {:?}",
                ClientIdUrl::parse(bad)
            );
        }
        let public = ClientIdUrl::parse("https://93.184.215.14/c").unwrap();
        assert_eq!(public.ip_literal(), Some("93.184.215.14".parse().unwrap()));
    }

    /// RFC 6761 §6.3: `localhost` names are loopback by definition; refused before resolution.
    #[test]
    fn client_id_url_on_localhost_names_is_refused() {
        for bad in [
            "https://localhost/c",
            "https://LOCALHOST/c",
            "https://app.localhost/c",
            "https://localhost./c",
        ] {
            assert!(
                matches!(
                    ClientIdUrl::parse(bad),
                    Err(DocumentError::UrlSpecialUseHost(_))
                ),
                "{bad}"
            );
        }
    }

    /// Draft §6.5's development exception: a named loopback host may be used, and nothing else
    /// special-use is allowed by naming it.
    #[test]
    fn named_loopback_hosts_are_allowed_only_to_be_loopback() {
        let hosts = vec![
            "127.0.0.1".to_string(),
            "localhost".into(),
            "::1".into(),
            "10.0.0.1".into(),
        ];
        for ok in [
            "https://127.0.0.1:8443/c",
            "https://localhost:8443/c",
            "https://[::1]/c",
        ] {
            assert!(ClientIdUrl::parse_allowing(ok, &hosts).is_ok(), "{ok}");
        }
        for bad in [
            "https://10.0.0.1/c",
            "https://127.0.0.2/c",
            "https://app.localhost/c",
        ] {
            assert!(
                matches!(
                    ClientIdUrl::parse_allowing(bad, &hosts),
                    Err(DocumentError::UrlSpecialUseHost(_))
                ),
                "{bad}"
            );
        }
    }

    /// Tokens embed a fixed-length, token-safe id, never the URL.
    #[test]
    fn internal_id_is_a_well_formed_fixed_length_client_id() {
        let long = format!("https://client.example/{}", "~".repeat(170));
        for raw in [URL, "https://a.example/c", long.as_str()] {
            let id = ClientIdUrl::parse(raw).unwrap().internal_id();
            assert!(id.is_well_formed(), "{id}");
            assert!(id.starts_with(INTERNAL_ID_PREFIX));
            assert_eq!(id.len(), 48);
            assert!(!is_metadata_url(&id));
        }
        assert_eq!(url().internal_id(), url().internal_id());
    }

    #[test]
    fn is_metadata_url_tells_url_client_ids_from_registered_ones() {
        assert!(is_metadata_url(URL));
        assert!(is_metadata_url("https://x"));
        assert!(!is_metadata_url("0123456789abcdef0123456789abcdef"));
        assert!(!is_metadata_url("http://client.example/c"));
        assert!(!is_metadata_url("cimd_abc"));
    }

    // ---- Special-use addresses (draft §6.5, RFC 6890) ----

    fn special(s: &str) -> bool {
        is_special_use(s.parse().unwrap())
    }

    /// RFC 6890 and the IANA IPv4 Special-Purpose Address Registry: every range not globally
    /// reachable, first and last address of each.
    #[test]
    fn special_use_ipv4_ranges_are_refused_at_both_ends() {
        for (first, last) in [
            ("0.0.0.0", "0.255.255.255"),
            ("10.0.0.0", "10.255.255.255"),
            ("100.64.0.0", "100.127.255.255"),
            ("127.0.0.0", "127.255.255.255"),
            ("169.254.0.0", "169.254.255.255"),
            ("172.16.0.0", "172.31.255.255"),
            ("192.0.0.0", "192.0.0.255"),
            ("192.0.2.0", "192.0.2.255"),
            ("192.88.99.0", "192.88.99.255"),
            ("192.168.0.0", "192.168.255.255"),
            ("198.18.0.0", "198.19.255.255"),
            ("198.51.100.0", "198.51.100.255"),
            ("203.0.113.0", "203.0.113.255"),
            ("224.0.0.0", "239.255.255.255"),
            ("240.0.0.0", "255.255.255.255"),
        ] {
            assert!(special(first), "{first}");
            assert!(special(last), "{last}");
        }
        assert!(special("169.254.169.254"), "the instance metadata service");
    }

    /// The addresses just outside each special-use IPv4 range are public.
    #[test]
    fn public_ipv4_addresses_next_to_special_ranges_are_allowed() {
        for ok in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "8.8.8.8",
            "93.184.215.14",
        ] {
            assert!(!special(ok), "{ok}");
        }
    }

    /// The IANA IPv6 Special-Purpose Address Registry, and default deny outside 2000::/3.
    #[test]
    fn special_use_ipv6_ranges_are_refused() {
        for bad in [
            "::",
            "::1",
            "::2",
            "::a00:1",
            "64:ff9b:1::1",
            "100::",
            "100::ffff",
            "2001::",
            "2001:1ff:ffff::",
            "2001:db8::",
            "2001:db8:ffff::1",
            "2002::",
            "2002:c000:0201::1",
            "3fff::",
            "3fff:fff::1",
            "fc00::",
            "fd00::1",
            "fdff:ffff::1",
            "fd00:ec2::254",
            "fe80::",
            "febf:ffff::1",
            "fec0::1",
            "ff00::",
            "ff02::1",
            "5f00::1",
            "4000::1",
            "1000::1",
        ] {
            assert!(special(bad), "{bad}");
        }
    }

    /// ::ffff:0:0/96 and 64:ff9b::/96 embed an IPv4 address, which is where the connection goes:
    /// judged by it.
    #[test]
    fn mapped_and_nat64_ipv6_addresses_are_judged_by_their_ipv4_address() {
        for bad in [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::192.168.1.1",
        ] {
            assert!(special(bad), "{bad}");
        }
        for ok in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8"] {
            assert!(!special(ok), "{ok}");
        }
    }

    /// Global unicast outside the special sub-ranges is public.
    #[test]
    fn public_ipv6_addresses_are_allowed() {
        for ok in [
            "2000::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2001:db7:ffff::1",
            "2001:db9::1",
            "2003::1",
            "2606:4700::1111",
            "2a00:1450::1",
            "3ffe::1",
            "3fff:1000::1",
        ] {
            assert!(!special(ok), "{ok}");
        }
    }

    /// The development exception is for loopback only.
    #[test]
    fn loopback_addresses_are_only_the_loopback_ranges() {
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback_address(lo.parse().unwrap()), "{lo}");
        }
        for not in [
            "10.0.0.1",
            "169.254.169.254",
            "::",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_loopback_address(not.parse().unwrap()), "{not}");
        }
    }

    // ---- The document (draft §4.1, §6.2, §6.6; MCP client registration) ----

    /// opencode's document: a native client with port-less loopback redirect URIs, `none`.
    #[test]
    fn opencode_shaped_document_is_a_public_client_with_loopback_redirects() {
        let doc = json!({
            "client_id": URL,
            "client_name": "opencode",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "token_endpoint_auth_methods_supported": ["none"],
        });
        let c = validate(&doc).unwrap();
        assert!(c.public());
        assert_eq!(c.name, "opencode");
        assert_eq!(
            c.redirect_uris,
            vec![
                RedirectUri::from("http://127.0.0.1/callback"),
                RedirectUri::from("http://localhost/callback")
            ]
        );
        assert_eq!(
            c.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(c.client_id, url().internal_id());
        assert_eq!(c.url, url());
        // RFC 8252 §7.3: the random port the client listens on matches.
        assert!(crate::redirect::redirect_uri_matches(
            &c.redirect_uris[0],
            "http://127.0.0.1:53682/callback"
        ));
    }

    /// MCP security considerations: localhost-only clients get a warning on the consent page.
    #[test]
    fn loopback_only_redirects_are_flagged_for_a_warning() {
        let local = with(
            "redirect_uris",
            json!([
                "http://127.0.0.1/cb",
                "http://localhost:8080/cb",
                "http://[::1]/cb"
            ]),
        );
        assert!(validate(&local).unwrap().redirects_only_to_loopback());
        let mixed = with(
            "redirect_uris",
            json!(["http://127.0.0.1/cb", "https://client.example/cb"]),
        );
        assert!(!validate(&mixed).unwrap().redirects_only_to_loopback());
        assert!(!validate(&minimal()).unwrap().redirects_only_to_loopback());
    }

    /// ChatGPT's document declares `private_key_jwt` with a `jwks_uri`, and also lists `none`
    /// as supported: it is taken as a public client (draft §6.2 is about keys given; the list
    /// says the client works without them).
    #[test]
    fn chatgpt_shaped_document_with_none_supported_is_a_public_client() {
        let doc = json!({
            "client_id": URL,
            "client_name": "ChatGPT",
            "redirect_uris": ["https://chatgpt.com/connector/oauth/IbUR3zxyNQ16"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "jwks_uri": "https://chatgpt.com/oauth/jwks.json",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "logo_uri": "https://chatgpt.com/logo.png",
            "client_uri": "https://chatgpt.com",
        });
        let c = validate(&doc).unwrap();
        assert!(c.public());
        assert_eq!(c.keys(), None);
        assert_eq!(c.logo_uri.as_deref(), Some("https://chatgpt.com/logo.png"));
        assert_eq!(c.client_uri.as_deref(), Some("https://chatgpt.com"));
    }

    /// Draft §6.2: a document declaring `private_key_jwt` with its keys is a confidential client
    /// that must authenticate with them.
    #[test]
    fn private_key_jwt_with_jwks_is_a_confidential_client_with_those_keys() {
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        doc["jwks"] = jwks();
        let c = validate(&doc).unwrap();
        assert!(!c.public());
        assert_eq!(c.keys().unwrap().kids(), vec![Some("1".to_string())]);
        // Also when `none` is listed: the keys are what it registered.
        doc["token_endpoint_auth_methods_supported"] = json!(["none", "private_key_jwt"]);
        assert!(!validate(&doc).unwrap().public());
    }

    /// Draft §6.2: `private_key_jwt` by `jwks_uri` alone is not supported: keys by reference
    /// would be a second fetch on the request path.
    #[test]
    fn private_key_jwt_with_only_a_jwks_uri_is_refused_as_unsupported() {
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        doc["jwks_uri"] = json!("https://client.example/jwks.json");
        assert_eq!(validate(&doc), Err(DocumentError::JwksUriUnsupported));
        doc["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        assert_eq!(validate(&doc), Err(DocumentError::JwksUriUnsupported));
    }

    #[test]
    fn private_key_jwt_without_keys_is_refused() {
        let doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        assert_eq!(validate(&doc), Err(DocumentError::MissingKeys));
    }

    /// The keys follow `ClientKeys`'s rules: no private key in a published document.
    #[test]
    fn private_key_jwt_with_a_private_or_invalid_jwks_is_refused() {
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        let mut private = jwks();
        private["keys"][0]["d"] = json!("870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE");
        for bad in [
            private,
            json!({"keys": []}),
            json!("not a set"),
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        ] {
            doc["jwks"] = bad.clone();
            assert!(
                matches!(
                    validate(&doc),
                    Err(DocumentError::Keys(_) | DocumentError::Invalid { member: "jwks", .. })
                ),
                "{bad}"
            );
        }
    }

    /// RFC 7591 §2: `jwks` and `jwks_uri` "MUST NOT both be present".
    #[test]
    fn jwks_and_jwks_uri_together_are_refused() {
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        doc["jwks"] = jwks();
        doc["jwks_uri"] = json!("https://client.example/jwks.json");
        assert!(matches!(
            validate(&doc),
            Err(DocumentError::Invalid { member: "jwks", .. })
        ));
    }

    /// Draft issue 92: no `token_endpoint_auth_method` (RFC 7591's default is a shared secret,
    /// impossible here) is taken as `none`.
    #[test]
    fn absent_auth_method_is_a_public_client() {
        assert!(validate(&minimal()).unwrap().public());
        assert!(validate(&with("token_endpoint_auth_method", json!("none")))
            .unwrap()
            .public());
    }

    /// Draft §4.1: "MUST NOT include client_secret_post, client_secret_basic, client_secret_jwt".
    #[test]
    fn shared_secret_auth_methods_are_refused() {
        for m in SHARED_SECRET_METHODS {
            let mut doc = with("token_endpoint_auth_method", json!(m));
            assert_eq!(
                validate(&doc),
                Err(DocumentError::SharedSecret(m.to_string()))
            );
            // Even when `none` is also listed: the document breaks a MUST.
            doc["token_endpoint_auth_methods_supported"] = json!(["none", m]);
            assert_eq!(
                validate(&doc),
                Err(DocumentError::SharedSecret(m.to_string()))
            );
        }
    }

    /// Draft §4.1: "the client_secret and client_secret_expires_at properties MUST NOT be used".
    #[test]
    fn client_secret_members_are_refused() {
        for (member, value) in [
            ("client_secret", json!("s3cret")),
            ("client_secret_expires_at", json!(0)),
        ] {
            assert_eq!(
                validate(&with(member, value)),
                Err(DocumentError::SharedSecret(member.to_string())),
                "{member}"
            );
        }
    }

    /// A method Portcullis does not implement is refused, unless the document says it also
    /// works as a public client.
    #[test]
    fn unsupported_auth_method_is_refused_unless_none_is_supported() {
        let mut doc = with("token_endpoint_auth_method", json!("tls_client_auth"));
        assert_eq!(
            validate(&doc),
            Err(DocumentError::UnsupportedAuthMethod(
                "tls_client_auth".into()
            ))
        );
        doc["token_endpoint_auth_methods_supported"] = json!(["tls_client_auth", "none"]);
        assert!(validate(&doc).unwrap().public());
    }

    /// Draft §4.1: `client_id` "MUST match the URL of the document using simple string
    /// comparison".
    #[test]
    fn document_client_id_must_equal_the_url_exactly() {
        for other in [
            "https://evil.example/oauth/client.json",
            "https://client.example/oauth/client.json/",
            "https://client.example:443/oauth/client.json",
            "https://CLIENT.example/oauth/client.json",
        ] {
            assert_eq!(
                validate(&with("client_id", json!(other))),
                Err(DocumentError::ClientIdMismatch {
                    found: other.into()
                }),
                "{other}"
            );
        }
        assert_eq!(
            validate(&without("client_id")),
            Err(DocumentError::Missing("client_id"))
        );
        assert!(matches!(
            validate(&with("client_id", json!(1))),
            Err(DocumentError::Invalid {
                member: "client_id",
                ..
            })
        ));
    }

    /// A trailing slash makes another client id, whose document must say so.
    #[test]
    fn trailing_slash_url_needs_its_own_document() {
        let slash = ClientIdUrl::parse("https://client.example/oauth/client.json/").unwrap();
        assert!(matches!(
            ClientDocument::validate(&slash, minimal().to_string().as_bytes()),
            Err(DocumentError::ClientIdMismatch { .. })
        ));
    }

    /// MCP: the document "MUST include at least ... client_id, client_name, redirect_uris".
    #[test]
    fn client_name_is_required_and_bounded() {
        assert_eq!(
            validate(&without("client_name")),
            Err(DocumentError::Missing("client_name"))
        );
        for bad in [
            json!(""),
            json!("   "),
            json!("x".repeat(101)),
            json!(7),
            json!("a\u{7}b"),
        ] {
            assert!(
                matches!(
                    validate(&with("client_name", bad.clone())),
                    Err(DocumentError::Invalid {
                        member: "client_name",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(validate(&with("client_name", json!("é".repeat(100)))).is_ok());
    }

    /// MCP: `redirect_uris` is required; draft §4.5: the document's URIs are the registered
    /// ones; 1 to 10.
    #[test]
    fn redirect_uris_are_required_one_to_ten() {
        assert_eq!(
            validate(&without("redirect_uris")),
            Err(DocumentError::Missing("redirect_uris"))
        );
        assert_eq!(
            validate(&with("redirect_uris", json!([]))),
            Err(DocumentError::RedirectUriCount(0))
        );
        let eleven: Vec<String> = (0..11)
            .map(|i| format!("https://client.example/cb{i}"))
            .collect();
        assert_eq!(
            validate(&with("redirect_uris", json!(eleven))),
            Err(DocumentError::RedirectUriCount(11))
        );
        assert!(validate(&with("redirect_uris", json!(eleven[..10]))).is_ok());
        for bad in [json!("https://client.example/cb"), json!([1])] {
            assert!(matches!(
                validate(&with("redirect_uris", bad)),
                Err(DocumentError::Invalid {
                    member: "redirect_uris",
                    ..
                })
            ));
        }
    }

    /// Script and content schemes are never redirect URIs, named as such.
    #[test]
    fn script_scheme_redirect_uris_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript://client.example/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "blob:https://client.example/x",
        ] {
            match validate(&with("redirect_uris", json!([bad]))) {
                Err(DocumentError::RedirectUri { problem, .. }) => {
                    assert!(problem.contains("never a redirect URI"), "{bad}: {problem}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    /// `redirect::validate_registration`'s rules apply: https, loopback http, private-use
    /// scheme with a dot; no fragment; and printable ASCII.
    #[test]
    fn redirect_uris_follow_the_registration_rules() {
        for bad in [
            "http://client.example/cb",
            "https://client.example/cb#frag",
            "relative/cb",
            "myapp:/cb",
            "https://client.example/c b",
        ] {
            assert!(
                matches!(
                    validate(&with("redirect_uris", json!([bad]))),
                    Err(DocumentError::RedirectUri { .. })
                ),
                "{bad}"
            );
        }
        for ok in [
            "http://[::1]/cb",
            "com.example.app:/cb",
            "https://other.example/cb?x=1",
        ] {
            assert!(
                validate(&with("redirect_uris", json!([ok]))).is_ok(),
                "{ok}"
            );
        }
    }

    /// Draft §6.6: "The recommended maximum response size ... is 5 kilobytes".
    #[test]
    fn document_over_5_kb_is_refused() {
        let mut doc = minimal();
        doc["padding"] = json!("");
        let base = doc.to_string().len();
        doc["padding"] = json!("x".repeat(MAX_DOCUMENT_BYTES - base));
        let at_limit = doc.to_string();
        assert_eq!(at_limit.len(), MAX_DOCUMENT_BYTES);
        assert!(ClientDocument::validate(&url(), at_limit.as_bytes()).is_ok());
        doc["padding"] = json!("x".repeat(MAX_DOCUMENT_BYTES - base + 1));
        assert_eq!(
            ClientDocument::validate(&url(), doc.to_string().as_bytes()),
            Err(DocumentError::TooLarge)
        );
    }

    /// MCP: "MUST validate the document structure is valid JSON".
    #[test]
    fn document_must_be_a_json_object() {
        assert!(matches!(
            ClientDocument::validate(&url(), b"<html>"),
            Err(DocumentError::NotJson(_))
        ));
        assert!(matches!(
            ClientDocument::validate(&url(), b""),
            Err(DocumentError::NotJson(_))
        ));
        assert_eq!(
            ClientDocument::validate(&url(), b"[1,2]"),
            Err(DocumentError::NotAnObject)
        );
        assert_eq!(
            ClientDocument::validate(&url(), b"\"x\""),
            Err(DocumentError::NotAnObject)
        );
    }

    /// RFC 7591 §2: members the server does not understand are ignored.
    #[test]
    fn unknown_members_are_ignored() {
        let mut doc = minimal();
        doc["software_statement"] = json!("eyJ...");
        doc["application_type"] = json!("web");
        doc["x_future"] = json!({"nested": [1, 2]});
        assert!(validate(&doc).is_ok());
    }

    /// Only the user grants: the code and its refresh; absent means both.
    #[test]
    fn grant_types_are_authorization_code_and_refresh_token_only() {
        assert_eq!(
            validate(&minimal()).unwrap().grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(
            validate(&with("grant_types", json!(["authorization_code"])))
                .unwrap()
                .grant_types,
            vec![GrantType::AuthorizationCode]
        );
        for bad in [
            json!(["client_credentials"]),
            json!(["authorization_code", "implicit"]),
            json!(["refresh_token"]),
            json!([]),
            json!("authorization_code"),
        ] {
            assert!(
                matches!(
                    validate(&with("grant_types", bad.clone())),
                    Err(DocumentError::Invalid {
                        member: "grant_types",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn response_types_must_include_code() {
        assert!(validate(&with("response_types", json!(["code"]))).is_ok());
        assert!(matches!(
            validate(&with("response_types", json!(["token"]))),
            Err(DocumentError::Invalid {
                member: "response_types",
                ..
            })
        ));
    }

    /// RFC 7591 §2 `scope`: a space-separated string of RFC 6749 §3.3 scope tokens.
    #[test]
    fn scope_is_parsed_into_scope_tokens() {
        assert_eq!(validate(&minimal()).unwrap().scope, None);
        assert_eq!(
            validate(&with("scope", json!("READ_BOOKING offline_access")))
                .unwrap()
                .scope,
            Some(vec![
                "READ_BOOKING".to_string(),
                "offline_access".to_string()
            ])
        );
        for bad in [json!(["READ_BOOKING"]), json!("a\"b")] {
            assert!(
                matches!(
                    validate(&with("scope", bad.clone())),
                    Err(DocumentError::Invalid {
                        member: "scope",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    /// `logo_uri` and `client_uri`: https, at most 512 bytes.
    #[test]
    fn logo_and_client_uris_must_be_short_https_urls() {
        for member in ["logo_uri", "client_uri"] {
            assert!(validate(&with(member, json!("https://client.example/x"))).is_ok());
            let long = format!("https://client.example/{}", "a".repeat(MAX_LINK_LEN));
            for bad in [
                json!("http://client.example/x"),
                json!("javascript:alert(1)"),
                json!(long),
                json!(3),
                json!("not a url"),
            ] {
                assert!(
                    matches!(
                        validate(&with(member, bad.clone())),
                        Err(DocumentError::Invalid { .. })
                    ),
                    "{member} {bad}"
                );
            }
        }
    }

    /// RFC 6749 §5.2: every message can be an `error_description` as it stands, even when it
    /// quotes a hostile document.
    #[test]
    fn error_messages_stay_within_the_error_description_character_set() {
        let hostile = "\"\\\u{0}é<script>";
        let errors = [
            validate(&with("client_id", json!(hostile))).unwrap_err(),
            validate(&with("redirect_uris", json!([hostile]))).unwrap_err(),
            validate(&with("token_endpoint_auth_method", json!(hostile))).unwrap_err(),
            validate(&with("grant_types", json!([hostile]))).unwrap_err(),
            ClientDocument::validate(&url(), b"{\"a\":").unwrap_err(),
            ClientIdUrl::parse("https://x.localhost/c").unwrap_err(),
        ];
        for e in errors {
            let m = e.to_string();
            assert!(
                m.chars()
                    .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')),
                "{m}"
            );
        }
    }

    // ---- Caching (draft §4.4, RFC 9111) ----

    /// RFC 9111 §5.2.2.1 `max-age`, bounded by the floor and the ceiling.
    #[test]
    fn cache_lifetime_follows_max_age_within_bounds() {
        assert_eq!(cache_lifetime(Some("max-age=3600")), 3600);
        assert_eq!(cache_lifetime(Some("public, max-age=\"7200\"")), 7200);
        assert_eq!(cache_lifetime(Some("max-age=10")), CACHE_FLOOR);
        assert_eq!(cache_lifetime(Some("max-age=0")), CACHE_FLOOR);
        assert_eq!(cache_lifetime(Some("max-age=31536000")), CACHE_CEILING);
        assert_eq!(
            cache_lifetime(Some("max-age=99999999999999999999999")),
            CACHE_CEILING
        );
        assert_eq!(cache_lifetime(Some("MAX-AGE=600")), 600);
    }

    /// RFC 9111 §5.2.2.10: a shared cache uses `s-maxage` over `max-age`.
    #[test]
    fn cache_lifetime_prefers_s_maxage() {
        assert_eq!(cache_lifetime(Some("max-age=600, s-maxage=1200")), 1200);
        assert_eq!(cache_lifetime(Some("s-maxage=1200, max-age=600")), 1200);
    }

    /// `no-store`, `no-cache`, `private`, no header or an invalid value: the floor (draft §4.4
    /// lets the AS set a lower bound).
    #[test]
    fn cache_lifetime_is_the_floor_without_usable_freshness() {
        for cc in [
            None,
            Some(""),
            Some("no-store"),
            Some("no-cache, max-age=3600"),
            Some("max-age=3600, private"),
            Some("max-age=-1"),
            Some("max-age=1h"),
            Some("max-age"),
            Some("public"),
        ] {
            assert_eq!(cache_lifetime(cc), CACHE_FLOOR, "{cc:?}");
        }
    }

    #[test]
    fn cache_expiry_is_now_plus_the_lifetime() {
        assert_eq!(cache_expires_at(Some("max-age=600"), 1_000), 1_600);
        assert_eq!(cache_expires_at(None, u64::MAX - 1), u64::MAX);
    }
}

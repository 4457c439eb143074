//! Protect an API Lambda with Portcullis access tokens and API keys.
//!
//! A product's own API function adds this one crate and, per request, makes one call:
//!
//! ```no_run
//! use lambda_http::{service_fn, Body, Error, Request, Response};
//! use portcullis_resource::{json, Authenticator};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {
//!     // Reads its settings (the tokens and clients tables, the access-tag secret's id) and the
//!     // AWS SDK's own once, at cold start.
//!     let auth = &Authenticator::from_env().await?;
//!     lambda_http::run(service_fn(move |req: Request| async move {
//!         let response = match auth.authenticate(&req, &["READ_BOOKING"]).await {
//!             Ok(who) => json(200, &serde_json::json!({ "bookings": [], "user": who.sub() })),
//!             // 401, 403 or 400 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), or 503.
//!             Err(e) => e.into_response(),
//!         };
//!         Ok::<Response<Body>, Error>(response)
//!     }))
//!     .await
//! }
//! ```
//!
//! It accepts `Authorization: Bearer <access token>`, `Authorization: Bearer <API key>` (told
//! apart by prefix) and `?apiKey=<API key>` (Cal.com's API v1 form). Per request it makes one
//! DynamoDB call: a `BatchGetItem` of the grant the access token names and its client (so a
//! revoked grant or a disabled client is refused at once), or a `GetItem` for an API key; none
//! for a malformed or forged credential (an access token's tag is checked with the access-tag
//! key, the one key this crate reads: it can tell a forged token from a genuine one, but cannot
//! mint or predict a token). It links no page templates.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use lambda_http::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use portcullis_core::bearer::{self, API_KEY_PARAM};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::error::{EndpointError, ErrorCode, OAuthError};
use portcullis_core::params::Params;
use portcullis_core::ports::{ApiKeyLookupPort, DynamoAccess, GrantReadPort, Port};
use portcullis_core::rings::{Ring, StaticRing};
use portcullis_core::settings::{check_resource_uri, env, ConfigError};

pub use portcullis_aws::DynamoTokens;
pub use portcullis_core::bearer::{AuthMethod, Principal};
pub use portcullis_core::ids::{ClientId, Subject};
pub use portcullis_core::ports::{ApiKeyLookup, GrantRead};
pub use portcullis_core::settings::ConfigError as SettingsError;
pub use portcullis_core::settings::{process_env, FromEnv, ResourceSettings};

/// The DynamoDB access `authenticate` needs (for a function's IAM policy): BatchGetItem on the
/// tokens and clients tables (an access token and its client's standing, in one request), and
/// GetItem on the tokens table (an API key).
pub const DYNAMODB: &[&[DynamoAccess]] = &[GrantReadPort::DYNAMODB, ApiKeyLookupPort::DYNAMODB];

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "portcullis";

/// RFC 9728 §3: the well-known URI suffix of protected-resource metadata.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Authenticates requests by an access token or an API key.
pub struct Authenticator<T = DynamoTokens> {
    tokens: T,
    access_tag: Ring,
    clock: Box<dyn Clock>,
    api_keys: bool,
    /// The resource this authenticator protects, when it knows it.
    audience: Option<Audience>,
    /// Whether an access token with no audience is accepted beside those bound to `audience`.
    accept_unbound: bool,
}

/// A protected resource's identity: its URI and where its metadata is.
#[derive(Debug, Clone)]
struct Audience {
    uri: String,
    metadata_url: String,
}

impl Authenticator<DynamoTokens> {
    /// Cold start: `PORTCULLIS_TOKENS_TABLE`, `PORTCULLIS_CLIENTS_TABLE`, the access-tag
    /// secret, `PORTCULLIS_RESOURCE_URI` when set ([`Authenticator::for_resource`]) and the AWS
    /// SDK's configuration.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&ResourceSettings::from_env()?).await
    }

    /// Cold start from settings already read (a function that also serves its metadata, or
    /// that sets a default resource URI of its own).
    pub async fn from_settings(settings: &ResourceSettings) -> Result<Self, ConfigError> {
        let sdk = aws_config().await;
        let ring = portcullis_aws::rings::ring(
            &sdk,
            &settings.access_tag_secret_id,
            settings.key_cache_ttl,
        );
        let auth = Self::with_ring(
            DynamoTokens::with_clients(
                portcullis_aws::sdk::dynamodb(&sdk),
                settings.tokens_table.clone(),
                settings.clients_table.clone(),
            ),
            ring,
        );
        match &settings.resource_uri {
            Some(uri) => auth.for_resource(uri),
            None => Ok(auth),
        }
    }
}

/// The AWS SDK's configuration, as the authenticator loads it: for a function's own clients
/// (the example's bookings table).
pub async fn aws_config() -> portcullis_aws::sdk::SdkConfig {
    portcullis_aws::sdk::load_sdk_config().await
}

impl<T: GrantRead + ApiKeyLookup> Authenticator<T> {
    /// Over any token store (the in-memory one in tests) and a fixed access-tag key ring.
    pub fn new(tokens: T, access_tag: portcullis_core::keyring::KeyRing) -> Self {
        Self::with_ring(tokens, StaticRing::boxed(access_tag))
    }

    /// Over any token store, with the access-tag key ring from a source.
    pub fn with_ring(tokens: T, access_tag: Ring) -> Self {
        Self {
            tokens,
            access_tag,
            clock: Box::new(SystemClock),
            api_keys: true,
            audience: None,
            accept_unbound: false,
        }
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// OAuth access tokens only: API keys are refused before any storage call (`/me`, the
    /// OAuth userinfo for apps).
    pub fn oauth_only(mut self) -> Self {
        self.api_keys = false;
        self
    }

    /// RFC 8707 §2 (and MCP's "token audience binding and validation"): this API is the
    /// resource `uri` (an https URL, checked as `PORTCULLIS_RESOURCE_URI` is). An access token
    /// issued for another resource is refused with `invalid_token`, and so is one issued with
    /// no audience unless [`Authenticator::accept_unbound_tokens`] is called; every 401 and 403
    /// names the resource's metadata (RFC 9728 §5.1). API keys are not OAuth tokens and carry no
    /// audience: they keep working unless [`Authenticator::oauth_only`].
    pub fn for_resource(mut self, uri: &str) -> Result<Self, ConfigError> {
        let uri = check_resource_uri(env::RESOURCE_URI, uri)?;
        self.audience = Some(Audience {
            metadata_url: well_known_url(&uri),
            uri,
        });
        Ok(self)
    }

    /// With [`Authenticator::for_resource`]: also accept access tokens issued with no audience
    /// (apps written for Cal.com's contract never send `resource`); tokens bound to another
    /// resource are still refused.
    pub fn accept_unbound_tokens(mut self) -> Self {
        self.accept_unbound = true;
        self
    }

    /// The resource this authenticator protects ([`Authenticator::for_resource`]).
    pub fn resource(&self) -> Option<&str> {
        self.audience.as_ref().map(|a| a.uri.as_str())
    }

    /// RFC 9728 §3.1: where the resource's metadata is, when it is known.
    pub fn resource_metadata_url(&self) -> Option<&str> {
        self.audience.as_ref().map(|a| a.metadata_url.as_str())
    }

    /// RFC 6750 §2.1: a valid access token (not a refresh token, not expired, its client enabled,
    /// issued for this resource when it has one, for none when it has none) or API key (not revoked, not expired) that
    /// carries every scope in `scopes`. One DynamoDB request (`BatchGetItem` for an access
    /// token, `GetItem` for an API key). A refusal's challenge names `scopes` (RFC 6750 §3) and
    /// the resource's metadata (RFC 9728 §5.1).
    pub async fn authenticate(
        &self,
        req: &Request,
        scopes: &[&str],
    ) -> Result<Principal, ResourceError> {
        self.check(req, scopes)
            .await
            .map_err(|e| e.with_challenge(self.challenge(scopes)))
    }

    /// A refusal decided by the API itself after [`Authenticator::authenticate`] (a machine
    /// token at an API that acts for a user: `principal.require_user()`), with the same
    /// challenge as `authenticate`'s for `scopes`.
    pub fn refuse(&self, e: impl Into<EndpointError>, scopes: &[&str]) -> ResourceError {
        ResourceError::from(e).with_challenge(self.challenge(scopes))
    }

    fn challenge(&self, scopes: &[&str]) -> Challenge {
        Challenge {
            resource_metadata: self.resource_metadata_url().map(str::to_string),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    async fn check(&self, req: &Request, scopes: &[&str]) -> Result<Principal, ResourceError> {
        let authorization = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let query = Params::from_urlencoded(req.uri().query().unwrap_or("").as_bytes());
        if query.is_repeated(API_KEY_PARAM) {
            return Err(OAuthError::invalid_request("apiKey is repeated").into());
        }
        let Some(presented) = bearer::credentials(authorization, query.get(API_KEY_PARAM))? else {
            return Err(ResourceError::no_credentials());
        };
        let presented = if self.api_keys {
            presented
        } else {
            bearer::oauth_only(presented)?
        };
        let now = self.clock.now();
        let ring = self
            .access_tag
            .ring(now)
            .await
            .map_err(EndpointError::from)?;
        let principal = bearer::authenticate(&self.tokens, &ring, presented, now).await?;
        self.check_audience(&principal)?;
        // MCP "Scope challenge handling": one challenge names every scope the operation needs.
        if scopes.iter().any(|s| principal.require_scope(s).is_err()) {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                format!("this request needs the {} scope", scopes.join(" ")),
            )
            .into());
        }
        Ok(principal)
    }

    /// RFC 8707 §2: a resource accepts only access tokens issued for it; OAuth 2.1 §5.3: a
    /// token for another audience is `invalid_token` (401). An authenticator that names no
    /// resource of its own (`/me`, a product API written for Cal.com's contract) is no token's
    /// audience: it accepts access tokens issued with none and refuses every token bound to a
    /// resource (RFC 9700 §2.5: a token restricted to one resource is not replayable at
    /// another, such as an MCP server's token at the product's own API).
    fn check_audience(&self, principal: &Principal) -> Result<(), OAuthError> {
        if principal.method != AuthMethod::AccessToken {
            return Ok(());
        }
        let Some(audience) = &self.audience else {
            return match &principal.resource {
                None => Ok(()),
                Some(_) => Err(OAuthError::invalid_token(
                    "this access token was issued for another resource (RFC 8707 audience): this API accepts tokens issued without a resource",
                )),
            };
        };
        match &principal.resource {
            Some(r) if *r == audience.uri => Ok(()),
            Some(_) => Err(OAuthError::invalid_token(
                "this access token was issued for another resource (RFC 8707 audience)",
            )),
            None if self.accept_unbound => Ok(()),
            None => Err(OAuthError::invalid_token(format!(
                "this access token was issued for no particular resource: authorize with resource={} (RFC 8707)",
                audience.uri
            ))),
        }
    }
}

/// RFC 9728 §3.1: the metadata URL of the resource `uri`: `/.well-known/oauth-protected-resource`
/// inserted between the host and the path (a terminating `/` after the host removed first), so
/// `https://api.example.com/mcp` has it at
/// `https://api.example.com/.well-known/oauth-protected-resource/mcp`.
pub fn well_known_url(uri: &str) -> String {
    let (origin, path) = split_origin(uri);
    format!("{origin}{}", well_known_path_of(path))
}

/// `scheme://authority` and the rest (path, starting with `/`, or empty).
fn split_origin(uri: &str) -> (&str, &str) {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    match uri[after_scheme..].find('/') {
        Some(i) => uri.split_at(after_scheme + i),
        None => (uri, ""),
    }
}

fn well_known_path_of(path: &str) -> String {
    let path = if path == "/" { "" } else { path };
    format!("{WELL_KNOWN}{path}")
}

/// RFC 9728 §2: a protected resource's metadata, served at [`ProtectedResourceMetadata::well_known_path`].
/// MCP clients read it from the URL a 401's `resource_metadata` names, then find the
/// authorization server's own metadata (RFC 8414) from `authorization_servers`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProtectedResourceMetadata {
    /// The resource's URI, exactly as its tokens' audience (RFC 8707).
    pub resource: String,
    /// The Portcullis issuer.
    pub authorization_servers: Vec<String>,
    /// The scopes a client should ask for to use the resource's basic functions (MCP: the
    /// minimal set; more are asked for by step-up). Never `offline_access` (MCP: refresh tokens
    /// are not a resource requirement).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// RFC 6750 §2.1: the `Authorization: Bearer` header only (never the query for tokens).
    pub bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource `resource` (checked as `PORTCULLIS_RESOURCE_URI` is),
    /// whose tokens `issuer` issues, with the scopes clients should ask for.
    pub fn new<S: Into<String>>(
        resource: &str,
        issuer: &str,
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            resource: check_resource_uri(env::RESOURCE_URI, resource)?,
            authorization_servers: vec![issuer.trim_end_matches('/').to_string()],
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
        }
        .with_scopes(scopes))
    }

    /// From the settings: `PORTCULLIS_RESOURCE_URI`, `PORTCULLIS_ISSUER` and every scope of
    /// the catalogue (`PORTCULLIS_SCOPES`); narrow them with [`Self::with_scopes`].
    pub fn from_settings(settings: &ResourceSettings) -> Result<Self, ConfigError> {
        let (Some(resource), Some(issuer)) = (&settings.resource_uri, &settings.issuer) else {
            return Err(ConfigError(format!(
                "protected-resource metadata needs {} and {}",
                env::RESOURCE_URI,
                env::ISSUER
            )));
        };
        Self::new(resource, issuer, settings.scopes.names())
    }

    /// The scopes listed, `offline_access` left out (MCP 2026-07-28: a protected resource
    /// SHOULD NOT list it).
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes
            .into_iter()
            .map(Into::into)
            .filter(|s| s != "offline_access")
            .collect();
        self
    }

    /// RFC 9728 §2 `resource_name`: shown to users.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// RFC 9728 §3.1: the absolute URL of this document.
    pub fn well_known_url(&self) -> String {
        well_known_url(&self.resource)
    }

    /// The path of [`Self::well_known_url`], for routing.
    pub fn well_known_path(&self) -> String {
        well_known_path_of(split_origin(&self.resource).1)
    }

    /// RFC 9728 §3.2: the document, for a GET (or HEAD) of [`Self::well_known_path`]; `None`
    /// for any other path. Public and cacheable; any origin may read it (browser-based MCP
    /// clients fetch it cross-origin). Another method on the path is 405.
    pub fn serve(&self, req: &Request) -> Option<Response<Body>> {
        if req.uri().path() != self.well_known_path() {
            return None;
        }
        let mut r = if req.method() == Method::GET || req.method() == Method::HEAD {
            json(200, self)
        } else {
            let mut r = json(405, &serde_json::json!({"error": "method_not_allowed"}));
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        };
        let h = r.headers_mut();
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        h.remove(PRAGMA);
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        Some(r)
    }
}

/// What a refusal's `WWW-Authenticate` challenge names beside the error: the resource's
/// metadata (RFC 9728 §5.1) and the scopes the operation needs (RFC 6750 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub resource_metadata: Option<String>,
    pub scopes: Vec<String>,
}

/// Why a request was refused, as the resource-server response family: RFC 6750 §3 errors with a
/// `WWW-Authenticate: Bearer` challenge, or 503 `temporarily_unavailable` when the store failed.
#[derive(Debug)]
pub struct ResourceError {
    reason: Refusal,
    challenge: Challenge,
}

/// See [`ResourceError::reason`].
#[derive(Debug)]
pub enum Refusal {
    /// RFC 6750 §3.1: the request carried no credential at all. The challenge names no error.
    NoCredentials,
    /// Refused (401 `invalid_token`, 403 `insufficient_scope`, 400 `invalid_request`) or failed.
    Refused(EndpointError),
}

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            Refusal::NoCredentials => None,
            Refusal::Refused(e) => Some(e),
        }
    }
}

impl std::fmt::Display for ResourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Refusal::NoCredentials => f.write_str("no credentials"),
            Refusal::Refused(e) => e.fmt(f),
        }
    }
}

impl<E: Into<EndpointError>> From<E> for ResourceError {
    fn from(e: E) -> Self {
        Self {
            reason: Refusal::Refused(e.into()),
            challenge: Challenge::default(),
        }
    }
}

impl ResourceError {
    /// RFC 6750 §3.1: no credential was sent.
    pub fn no_credentials() -> Self {
        Self {
            reason: Refusal::NoCredentials,
            challenge: Challenge::default(),
        }
    }

    /// Why.
    pub fn reason(&self) -> &Refusal {
        &self.reason
    }

    /// With the challenge's `resource_metadata` and `scope` (the authenticator sets them).
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// The error code a client sees (`None` for a request without credentials).
    pub fn code(&self) -> Option<ErrorCode> {
        match &self.reason {
            Refusal::NoCredentials => None,
            Refusal::Refused(e) => Some(e.public().code),
        }
    }

    /// The `WWW-Authenticate` value of this refusal (RFC 6750 §3), `None` when it gets none (a
    /// 503). Every value is a quoted string of the characters RFC 6750 §3 allows.
    pub fn www_authenticate(&self) -> Option<String> {
        let mut params = vec![("realm", REALM.to_string())];
        // The scopes are named on a 403 always, and on a 401 when the resource is known (MCP's
        // scope selection: a client asks for what the 401 names).
        let mut name_scopes = self.challenge.resource_metadata.is_some();
        if let Refusal::Refused(e) = &self.reason {
            let public = e.public();
            if !matches!(
                public.code,
                ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidRequest
            ) {
                return None;
            }
            name_scopes |= public.code == ErrorCode::InsufficientScope;
            params.push(("error", public.code.as_str().to_string()));
            params.push(("error_description", public.description.to_string()));
        }
        if name_scopes && !self.challenge.scopes.is_empty() {
            params.push(("scope", self.challenge.scopes.join(" ")));
        }
        if let Some(url) = &self.challenge.resource_metadata {
            params.push(("resource_metadata", url.clone()));
        }
        let params: Vec<String> = params
            .into_iter()
            .map(|(k, v)| format!("{k}=\"{}\"", quote(&v)))
            .collect();
        Some(format!("Bearer {}", params.join(", ")))
    }

    /// The one mapping of this family (RFC 6750 §3, §3.1).
    pub fn into_response(self) -> Response<Body> {
        let challenge = self.www_authenticate();
        let mut r = match &self.reason {
            Refusal::NoCredentials => json(
                401,
                &serde_json::json!({"message": "authentication required: send Authorization: Bearer <token>"}),
            ),
            Refusal::Refused(e) => {
                e.log();
                let public = e.public();
                json(public.code.http_status(), &error_body(&public))
            }
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        if r.status() == 503 {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        r
    }
}

/// RFC 6749 §5.2's error body.
#[doc(hidden)]
pub fn error_body(e: &OAuthError) -> serde_json::Value {
    serde_json::json!({"error": e.code.as_str(), "error_description": e.description})
}

/// RFC 6750 §3: attribute values are `%x20-21 / %x23-5B / %x5D-7E`: a quote or backslash
/// becomes `'`, anything else outside printable ASCII `?`, so the header is always valid.
fn quote(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// A JSON response with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn json(status: u16, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    let mut r = Response::new(Body::Text(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::api_keys::{new_api_key, ApiKeyRequest};
    use portcullis_core::clock::OsEntropy;
    use portcullis_core::error::StoreError;
    use portcullis_core::ports::{ApiKeyRegistry, MemoryStore};
    use portcullis_core::scope::ScopeCatalog;

    /// RFC 6750 §3.1.
    #[test]
    fn bearer_errors_carry_the_error_in_www_authenticate() {
        let r = ResourceError::from(OAuthError::invalid_token("expired")).into_response();
        assert_eq!(r.status(), 401);
        let h = r.headers().get(WWW_AUTHENTICATE).unwrap().to_str().unwrap();
        assert!(
            h.starts_with("Bearer realm=\"portcullis\", error=\"invalid_token\""),
            "{h}"
        );
        let r = ResourceError::from(OAuthError::new(ErrorCode::InsufficientScope, "needs X"))
            .into_response();
        assert_eq!(r.status(), 403);
    }

    /// RFC 6750 §3.1: a request with no credential gets a challenge without an error code.
    #[test]
    fn no_credentials_is_401_with_a_bare_challenge() {
        let r = ResourceError::no_credentials().into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers().get(WWW_AUTHENTICATE).unwrap(),
            "Bearer realm=\"portcullis\""
        );
    }

    fn request(uri: &str, authorization: Option<&str>) -> Request {
        let mut b = lambda_http::http::Request::builder().uri(uri);
        if let Some(a) = authorization {
            b = b.header("authorization", a);
        }
        b.body(Body::Empty).unwrap()
    }

    async fn world() -> (MemoryStore, String) {
        let store = MemoryStore::new();
        let k = new_api_key(
            ApiKeyRequest {
                sub: "u-api".into(),
                scopes: vec!["READ_BOOKING".into()],
                name: None,
                expires_in: None,
            },
            &ScopeCatalog::default(),
            &OsEntropy,
            SystemClock.now(),
        )
        .unwrap();
        store.create_api_key(&k.record).await.unwrap();
        (store, k.key.secret().to_string())
    }

    #[tokio::test]
    async fn an_api_key_is_accepted_in_the_header_and_in_the_query() {
        let (store, key) = world().await;
        let auth = Authenticator::new(store, portcullis_core::testkit::test_keys().access_tag);
        let header = request("https://api.example/b", Some(&format!("Bearer {key}")));
        let p = auth.authenticate(&header, &["READ_BOOKING"]).await.unwrap();
        assert_eq!((p.sub().as_str(), p.method), ("u-api", AuthMethod::ApiKey));
        let query = request(&format!("https://api.example/b?apiKey={key}"), None);
        let p = auth.authenticate(&query, &["READ_BOOKING"]).await.unwrap();
        assert_eq!(p.method, AuthMethod::ApiKeyQuery);
        assert_eq!(p.client_id, None);
    }

    #[tokio::test]
    async fn refusals_map_to_rfc_6750_codes() {
        let (store, key) = world().await;
        let auth = Authenticator::new(
            store.clone(),
            portcullis_core::testkit::test_keys().access_tag,
        );
        let code = |r: Result<Principal, ResourceError>| r.unwrap_err().code();
        let none = request("https://api.example/b", None);
        assert_eq!(code(auth.authenticate(&none, &[]).await), None);
        let twice = request(
            &format!("https://api.example/b?apiKey={key}"),
            Some(&format!("Bearer {key}")),
        );
        assert_eq!(
            code(auth.authenticate(&twice, &[]).await),
            Some(ErrorCode::InvalidRequest)
        );
        let scope = request("https://api.example/b", Some(&format!("Bearer {key}")));
        assert_eq!(
            code(auth.authenticate(&scope, &["READ_PROFILE"]).await),
            Some(ErrorCode::InsufficientScope)
        );
        let oauth = Authenticator::new(store, portcullis_core::testkit::test_keys().access_tag)
            .oauth_only();
        assert_eq!(
            code(oauth.authenticate(&scope, &[]).await),
            Some(ErrorCode::InvalidToken)
        );
    }

    /// A product API's role needs only reads: BatchGetItem on the tokens and clients tables (an
    /// access token with its client's standing) and GetItem on the tokens table (an API key).
    #[test]
    fn authenticate_needs_only_reads_of_the_tokens_and_clients_tables() {
        use portcullis_core::ports::{dynamodb_needs, Table};
        assert_eq!(
            dynamodb_needs(DYNAMODB),
            vec![
                (Table::Clients, None, vec!["dynamodb:BatchGetItem"]),
                (
                    Table::Tokens,
                    None,
                    vec!["dynamodb:BatchGetItem", "dynamodb:GetItem"]
                ),
            ]
        );
    }

    const MCP: &str = "https://api.example.com/mcp";
    const MCP_METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

    /// A store with client `c1` and a READ_BOOKING grant of it for `u1` bound to `resource`;
    /// its access token.
    async fn bound_token(resource: Option<&str>) -> (MemoryStore, String) {
        use portcullis_core::ports::GrantStart;
        let store = MemoryStore::new();
        store.upsert_client(portcullis_core::testkit::client("c1").build());
        let keys = portcullis_core::testkit::test_keys();
        let (mut g, access, _) = portcullis_core::testkit::minted_grant(&keys, "c1", "u1", 10_000);
        g.resource = resource.map(str::to_string);
        g.scopes = vec!["READ_BOOKING".into()];
        assert!(store.start_grant(&g).await.unwrap());
        (store, access.secret().to_string())
    }

    fn at_10_000(store: MemoryStore) -> Authenticator<MemoryStore> {
        Authenticator::new(store, portcullis_core::testkit::test_keys().access_tag)
            .with_clock(Box::new(portcullis_core::clock::FixedClock::at(10_000)))
    }

    fn challenge_of(e: ResourceError) -> (u16, String) {
        let r = e.into_response();
        let h = r
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), h)
    }

    /// RFC 8707 §2: a resource accepts an access token issued for it.
    #[tokio::test]
    async fn a_token_bound_to_this_resource_is_accepted() {
        let (store, token) = bound_token(Some(MCP)).await;
        let auth = at_10_000(store).for_resource(MCP).unwrap();
        let req = request(MCP, Some(&format!("Bearer {token}")));
        let p = auth.authenticate(&req, &["READ_BOOKING"]).await.unwrap();
        assert_eq!(p.resource.as_deref(), Some(MCP));
        assert_eq!(p.sub().as_str(), "u1");
    }

    /// RFC 8707 §2, OAuth 2.1 §5.3: a token issued for another resource is `invalid_token`,
    /// with a description saying so and the challenge naming this resource's metadata.
    #[tokio::test]
    async fn a_token_issued_for_another_resource_is_invalid_token() {
        let (store, token) = bound_token(Some("https://other.example.com/api")).await;
        let auth = at_10_000(store).for_resource(MCP).unwrap();
        let req = request(MCP, Some(&format!("Bearer {token}")));
        let e = auth
            .authenticate(&req, &["READ_BOOKING"])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken));
        assert!(e.to_string().contains("issued for another resource"), "{e}");
        let (status, h) = challenge_of(e);
        assert_eq!(status, 401);
        assert!(h.contains("error=\"invalid_token\""), "{h}");
        assert!(
            h.contains(&format!("resource_metadata=\"{MCP_METADATA}\"")),
            "{h}"
        );
        assert!(h.contains("scope=\"READ_BOOKING\""), "{h}");
    }

    /// A resource refuses a token with no audience unless told to accept them (a product API
    /// that also serves Cal.com-style apps, which never send `resource`); a token bound to
    /// another resource is refused either way.
    #[tokio::test]
    async fn a_token_with_no_audience_is_refused_unless_unbound_tokens_are_accepted() {
        let (store, token) = bound_token(None).await;
        let bearer = format!("Bearer {token}");
        let strict = at_10_000(store.clone()).for_resource(MCP).unwrap();
        let e = strict
            .authenticate(&request(MCP, Some(&bearer)), &[])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken));
        assert!(
            e.to_string().contains(MCP),
            "says which resource to ask for: {e}"
        );
        let lenient = at_10_000(store)
            .for_resource(MCP)
            .unwrap()
            .accept_unbound_tokens();
        assert!(lenient
            .authenticate(&request(MCP, Some(&bearer)), &["READ_BOOKING"])
            .await
            .is_ok());
        let (other, token) = bound_token(Some("https://other.example.com/api")).await;
        let lenient = at_10_000(other)
            .for_resource(MCP)
            .unwrap()
            .accept_unbound_tokens();
        let e = lenient
            .authenticate(&request(MCP, Some(&format!("Bearer {token}"))), &[])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken));
    }

    /// RFC 8707 §2, RFC 9700 §2.5: an authenticator that names no resource (`/me`, a product
    /// API for Cal.com-style apps, which never send `resource`) accepts tokens issued with no
    /// audience, and refuses one bound to any resource (an MCP server's token replayed at the
    /// product's own API) with `invalid_token`.
    #[tokio::test]
    async fn an_authenticator_without_a_resource_accepts_only_tokens_bound_to_none() {
        let (store, token) = bound_token(None).await;
        let auth = at_10_000(store);
        let req = request(MCP, Some(&format!("Bearer {token}")));
        assert!(auth.authenticate(&req, &["READ_BOOKING"]).await.is_ok());

        let (store, token) = bound_token(Some(MCP)).await;
        let auth = at_10_000(store);
        let req = request(MCP, Some(&format!("Bearer {token}")));
        let e = auth
            .authenticate(&req, &["READ_BOOKING"])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken));
        assert!(e.to_string().contains("another resource"), "{e}");
        let (status, h) = challenge_of(e);
        assert_eq!(status, 401);
        assert!(h.contains("error=\"invalid_token\""), "{h}");
        assert!(
            !h.contains("resource_metadata"),
            "no metadata of its own: {h}"
        );
    }

    /// API keys carry no audience: they keep working at a resource unless it is OAuth-only.
    #[tokio::test]
    async fn api_keys_are_accepted_at_a_resource_unless_oauth_only() {
        let (store, key) = world().await;
        let bearer = format!("Bearer {key}");
        let auth = Authenticator::new(
            store.clone(),
            portcullis_core::testkit::test_keys().access_tag,
        )
        .for_resource(MCP)
        .unwrap();
        assert!(auth
            .authenticate(&request(MCP, Some(&bearer)), &["READ_BOOKING"])
            .await
            .is_ok());
        let oauth = auth.oauth_only();
        let e = oauth
            .authenticate(&request(MCP, Some(&bearer)), &[])
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidToken));
    }

    /// RFC 9728 §5.1, MCP: a request without credentials at a known resource gets a 401 whose
    /// challenge names the metadata and the scopes the call needs, and no error code.
    #[tokio::test]
    async fn a_401_at_a_resource_names_its_metadata_and_the_scopes_needed() {
        let (store, _) = bound_token(None).await;
        let auth = at_10_000(store).for_resource(MCP).unwrap();
        let e = auth
            .authenticate(&request(MCP, None), &["READ_BOOKING"])
            .await
            .unwrap_err();
        let (status, h) = challenge_of(e);
        assert_eq!(status, 401);
        assert_eq!(
            h,
            format!("Bearer realm=\"portcullis\", scope=\"READ_BOOKING\", resource_metadata=\"{MCP_METADATA}\"")
        );
    }

    /// RFC 6750 §3.1, MCP "Runtime insufficient scope errors": a 403 names every scope the
    /// operation needs, in one challenge, and the metadata.
    #[tokio::test]
    async fn a_403_names_every_scope_the_operation_needs_and_the_metadata() {
        let (store, token) = bound_token(Some(MCP)).await;
        let auth = at_10_000(store).for_resource(MCP).unwrap();
        let req = request(MCP, Some(&format!("Bearer {token}")));
        let e = auth
            .authenticate(&req, &["READ_BOOKING", "READ_PROFILE"])
            .await
            .unwrap_err();
        let (status, h) = challenge_of(e);
        assert_eq!(status, 403);
        assert!(
            h.starts_with("Bearer realm=\"portcullis\", error=\"insufficient_scope\""),
            "{h}"
        );
        assert!(h.contains("scope=\"READ_BOOKING READ_PROFILE\""), "{h}");
        assert!(
            h.contains(&format!("resource_metadata=\"{MCP_METADATA}\"")),
            "{h}"
        );
    }

    /// An API's own refusal after authentication (a machine token where a user is needed) has
    /// the same challenge.
    #[test]
    fn refuse_gives_the_resources_challenge() {
        let auth = Authenticator::new(
            MemoryStore::new(),
            portcullis_core::testkit::test_keys().access_tag,
        )
        .for_resource(MCP)
        .unwrap();
        let (status, h) =
            challenge_of(auth.refuse(OAuthError::invalid_token("no user"), &["READ_BOOKING"]));
        assert_eq!(status, 401);
        assert!(h.contains("error_description=\"no user\""), "{h}");
        assert!(
            h.contains(&format!("resource_metadata=\"{MCP_METADATA}\"")),
            "{h}"
        );
    }

    /// RFC 6750 §3: challenge values never carry a quote, a backslash or a control character
    /// (so the header is always valid, and is never dropped).
    #[test]
    fn challenge_values_are_quoted_safely() {
        assert_eq!(quote("a \"b\" \\c\u{7}\u{e9}"), "a 'b' 'c??");
        let e = ResourceError::from(OAuthError::invalid_token("a \"b\""));
        let (_, h) = challenge_of(e);
        assert!(
            h.starts_with("Bearer realm=\"portcullis\", error=\"invalid_token\""),
            "{h}"
        );
    }

    /// RFC 9728 §3.1: the well-known path is inserted between the host and the resource's path;
    /// a resource at the root has it at the root (its terminating `/` removed).
    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_resources_path() {
        assert_eq!(well_known_url(MCP), MCP_METADATA);
        assert_eq!(
            well_known_url("https://api.example.com"),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            well_known_url("https://api.example.com/"),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            well_known_url("http://127.0.0.1:9000/tenant/mcp"),
            "http://127.0.0.1:9000/.well-known/oauth-protected-resource/tenant/mcp"
        );
        let m = ProtectedResourceMetadata::new(
            "https://api.example.com",
            "https://auth.example.com",
            ["READ_BOOKING"],
        )
        .unwrap();
        assert_eq!(m.well_known_path(), "/.well-known/oauth-protected-resource");
    }

    /// RFC 9728 §2, MCP: the document names the resource, the issuer as its authorization
    /// server, the scopes (never `offline_access`) and the header as the only bearer method.
    #[test]
    fn the_metadata_document_has_the_rfc_9728_members() {
        let m = ProtectedResourceMetadata::new(
            MCP,
            "https://auth.example.com/",
            ["READ_BOOKING", "offline_access"],
        )
        .unwrap()
        .with_name("Example MCP");
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": MCP,
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["READ_BOOKING"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Example MCP",
            })
        );
        assert!(
            ProtectedResourceMetadata::new("https://x.example/#f", "https://a", ["S"]).is_err()
        );
    }

    /// RFC 9728 §3.2: served with 200 JSON at its path, cacheable, for any origin; not at any
    /// other path; another method is 405.
    #[test]
    fn the_metadata_is_served_at_its_well_known_path_only() {
        let m = ProtectedResourceMetadata::new(MCP, "https://auth.example.com", ["READ_BOOKING"])
            .unwrap();
        let r = m.serve(&request(MCP_METADATA, None)).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let Body::Text(body) = r.body() else { panic!() };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap()["resource"],
            MCP
        );
        assert!(m.serve(&request(MCP, None)).is_none());
        assert!(m
            .serve(&request(
                "https://api.example.com/.well-known/oauth-protected-resource",
                None
            ))
            .is_none());
        let post = lambda_http::http::Request::builder()
            .method("POST")
            .uri(MCP_METADATA)
            .body(Body::Empty)
            .unwrap();
        assert_eq!(m.serve(&post).unwrap().status(), 405);
    }

    #[test]
    fn the_metadata_is_built_from_the_settings() {
        let vars = |k: &str| match k {
            env::TOKENS_TABLE | env::CLIENTS_TABLE | env::ACCESS_TAG_SECRET_ID => {
                Some("x".to_string())
            }
            env::ISSUER => Some("https://auth.example.com".to_string()),
            env::RESOURCE_URI => Some(MCP.to_string()),
            _ => None,
        };
        let s = ResourceSettings::from_lookup(vars).unwrap();
        let m = ProtectedResourceMetadata::from_settings(&s).unwrap();
        assert_eq!(m.resource, MCP);
        assert_eq!(m.authorization_servers, ["https://auth.example.com"]);
        assert_eq!(m.scopes_supported, ["READ_BOOKING", "READ_PROFILE"]);
        let unset =
            ResourceSettings::from_lookup(|k| vars(k).filter(|_| k != env::RESOURCE_URI)).unwrap();
        assert!(ProtectedResourceMetadata::from_settings(&unset).is_err());
    }

    #[test]
    fn storage_outage_is_503_with_retry_after() {
        let r = ResourceError::from(StoreError::Unavailable("down".into())).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }
}

/// The code blocks of `docs/integrating.md`, compiled as doctests so the documentation cannot
/// rot (`cargo test --doc -p portcullis-resource`, run by `make test`).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/integrating.md")]
pub struct IntegratingDoc;

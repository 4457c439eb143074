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
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use portcullis_aws::DynamoTokens;
use portcullis_core::bearer::{self, API_KEY_PARAM};
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::error::{EndpointError, ErrorCode, OAuthError};
use portcullis_core::params::Params;
use portcullis_core::ports::{
    ApiKeyLookup, ApiKeyLookupPort, DynamoAccess, GrantRead, GrantReadPort, Port,
};
use portcullis_core::rings::{Ring, StaticRing};
use portcullis_core::settings::{ConfigError, FromEnv, ResourceSettings};

pub use portcullis_core::bearer::{AuthMethod, Principal};
pub use portcullis_core::ids::{ClientId, Subject};
pub use portcullis_core::settings::ConfigError as SettingsError;

/// The DynamoDB access `authenticate` needs (for a function's IAM policy): BatchGetItem on the
/// tokens and clients tables (an access token and its client's standing, in one request), and
/// GetItem on the tokens table (an API key).
pub const DYNAMODB: &[&[DynamoAccess]] = &[GrantReadPort::DYNAMODB, ApiKeyLookupPort::DYNAMODB];

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "portcullis";

/// Authenticates requests by an access token or an API key.
pub struct Authenticator<T = DynamoTokens> {
    tokens: T,
    access_tag: Ring,
    clock: Box<dyn Clock>,
    api_keys: bool,
}

impl Authenticator<DynamoTokens> {
    /// Cold start: `PORTCULLIS_TOKENS_TABLE`, `PORTCULLIS_CLIENTS_TABLE` and the AWS SDK's
    /// configuration.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = ResourceSettings::from_env()?;
        let sdk = aws_config().await;
        let ring = portcullis_aws::rings::ring(
            &sdk,
            &settings.access_tag_secret_id,
            settings.key_cache_ttl,
        );
        Ok(Self::with_ring(
            DynamoTokens::with_clients(
                portcullis_aws::sdk::dynamodb(&sdk),
                settings.tokens_table,
                settings.clients_table,
            ),
            ring,
        ))
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

    /// RFC 6750 §2.1: a valid access token (not a refresh token, not expired, its client enabled)
    /// or API key (not revoked, not expired) that carries every scope in `scopes`. One DynamoDB
    /// request (`BatchGetItem` for an access token, `GetItem` for an API key).
    pub async fn authenticate(
        &self,
        req: &Request,
        scopes: &[&str],
    ) -> Result<Principal, ResourceError> {
        let authorization = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let query = Params::from_urlencoded(req.uri().query().unwrap_or("").as_bytes());
        if query.is_repeated(API_KEY_PARAM) {
            return Err(OAuthError::invalid_request("apiKey is repeated").into());
        }
        let Some(presented) = bearer::credentials(authorization, query.get(API_KEY_PARAM))? else {
            return Err(ResourceError::NoCredentials);
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
        for scope in scopes {
            principal.require_scope(scope)?;
        }
        Ok(principal)
    }
}

/// Why a request was refused, as the resource-server response family: RFC 6750 §3 errors with a
/// `WWW-Authenticate: Bearer` challenge, or 503 `temporarily_unavailable` when the store failed.
#[derive(Debug)]
pub enum ResourceError {
    /// RFC 6750 §3.1: the request carried no credential at all. The challenge names no error.
    NoCredentials,
    /// Refused (401 `invalid_token`, 403 `insufficient_scope`, 400 `invalid_request`) or failed.
    Refused(EndpointError),
}

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NoCredentials => None,
            Self::Refused(e) => Some(e),
        }
    }
}

impl std::fmt::Display for ResourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoCredentials => f.write_str("no credentials"),
            Self::Refused(e) => e.fmt(f),
        }
    }
}

impl<E: Into<EndpointError>> From<E> for ResourceError {
    fn from(e: E) -> Self {
        Self::Refused(e.into())
    }
}

impl ResourceError {
    /// The error code a client sees (`None` for a request without credentials).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::NoCredentials => None,
            Self::Refused(e) => Some(e.public().code),
        }
    }

    /// The one mapping of this family (RFC 6750 §3, §3.1).
    pub fn into_response(self) -> Response<Body> {
        let e = match self {
            Self::NoCredentials => {
                let mut r = json(
                    401,
                    &serde_json::json!({"message": "authentication required: send Authorization: Bearer <token>"}),
                );
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"portcullis\""),
                );
                return r;
            }
            Self::Refused(e) => e,
        };
        e.log();
        let public = e.public();
        let status = public.code.http_status();
        let mut r = json(status, &error_body(&public));
        let challenge = match public.code {
            ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidRequest => {
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                    public.code,
                    quote(&public.description)
                ))
            }
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        if status == 503 {
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

fn quote(s: &str) -> String {
    s.replace(['\\', '"'], "'")
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
        let r = ResourceError::NoCredentials.into_response();
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

//! Protect an API Lambda with Portcullis access tokens.
//!
//! A product's own API function adds this one crate and, per request, makes one call:
//!
//! ```no_run
//! use lambda_http::{service_fn, Body, Error, Request, Response};
//! use portcullis_resource::{json, Authenticator};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {
//!     // Reads PORTCULLIS_TOKENS_TABLE (and the AWS SDK's own settings) once, at cold start.
//!     let auth = &Authenticator::from_env().await?;
//!     lambda_http::run(service_fn(move |req: Request| async move {
//!         let response = match auth.authenticate(&req, &["READ_BOOKING"]).await {
//!             Ok(who) => json(200, &serde_json::json!({ "bookings": [], "user": who.user.sub })),
//!             // 401 or 403 with `WWW-Authenticate: Bearer …` (RFC 6750 §3), or 503.
//!             Err(e) => e.into_response(),
//!         };
//!         Ok::<Response<Body>, Error>(response)
//!     }))
//!     .await
//! }
//! ```
//!
//! It needs only the tokens table, makes one `GetItem` per request, and links neither the page
//! templates nor the Secrets Manager client.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use lambda_http::http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use portcullis_aws::DynamoTokens;
use portcullis_core::bearer;
use portcullis_core::clock::{Clock, SystemClock};
use portcullis_core::error::{EndpointError, ErrorCode, OAuthError};
use portcullis_core::ports::TokenLookup;
use portcullis_core::settings::{ConfigError, ResourceSettings};

pub use portcullis_core::bearer::AccessContext as Principal;
pub use portcullis_core::settings::ConfigError as SettingsError;

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "portcullis";

/// Authenticates requests by their `Authorization: Bearer` access token.
pub struct Authenticator<T = DynamoTokens> {
    tokens: T,
    clock: Box<dyn Clock>,
}

impl Authenticator<DynamoTokens> {
    /// Cold start: `PORTCULLIS_TOKENS_TABLE` and the AWS SDK's configuration.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = ResourceSettings::from_env()?;
        let sdk = portcullis_aws::sdk::load_sdk_config().await;
        Ok(Self::new(DynamoTokens::new(
            portcullis_aws::sdk::dynamodb(&sdk),
            settings.tokens_table,
        )))
    }
}

impl<T: TokenLookup> Authenticator<T> {
    /// Over any token store (the in-memory one in tests).
    pub fn new(tokens: T) -> Self {
        Self {
            tokens,
            clock: Box::new(SystemClock),
        }
    }

    /// With another clock (tests).
    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// RFC 6750 §2.1: a valid access token (not a refresh token, not expired) that carries every
    /// scope in `scopes`. One `GetItem`.
    pub async fn authenticate(
        &self,
        req: &Request,
        scopes: &[&str],
    ) -> Result<Principal, ResourceError> {
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let principal = bearer::authenticate(&self.tokens, authorization, self.clock.now()).await?;
        for scope in scopes {
            principal.require_scope(scope)?;
        }
        Ok(principal)
    }
}

/// Why a request was refused, as the resource-server response family: RFC 6750 §3 errors with a
/// `WWW-Authenticate: Bearer` challenge, or 503 `temporarily_unavailable` when the store failed.
#[derive(Debug)]
pub struct ResourceError(pub EndpointError);

impl std::error::Error for ResourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl std::fmt::Display for ResourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: Into<EndpointError>> From<E> for ResourceError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl ResourceError {
    /// The one mapping of this family (RFC 6750 §3, §3.1).
    pub fn into_response(self) -> Response<Body> {
        self.0.log();
        let public = self.0.public();
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
    use portcullis_core::error::StoreError;

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

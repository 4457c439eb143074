//! Error families and `serve`. Each response family has one error type and one mapping:
//!
//! | family | error type | response |
//! |---|---|---|
//! | token endpoint (JSON) | [`TokenError`] | RFC 6749 §5.2 JSON; `invalid_client` is 401 with a Basic challenge |
//! | resource (`/me`, product APIs) | [`ResourceError`] | RFC 6750 §3: 401/403 with `WWW-Authenticate: Bearer` |
//! | pages (authorize) | [`PageError`] | an HTML error page, or a redirect back to the client |
//!
//! In every family a storage or key fault worth a retry is 503 (`temporarily_unavailable` or a
//! page saying so) with `Retry-After`; anything else internal is 500; nothing internal leaks.
//! Handlers return `Result<Response, Family>`; [`serve`] maps the error.
use crate::cors::Cors;
use crate::http::{json, retry_after, see_other};
use crate::pages::error_page;
use lambda_http::http::header::{HeaderValue, WWW_AUTHENTICATE};
use lambda_http::{service_fn, Body, Request, Response};
use portcullis_core::error::{EndpointError, ErrorCode};
use portcullis_core::settings::{CorsSettings, FromEnv};
use std::convert::Infallible;
use std::future::Future;

pub use portcullis_core::authorize::AuthorizeError as PageError;
pub use portcullis_resource::ResourceError;

/// An error that knows its response.
pub trait ErrorResponse {
    fn into_response(self) -> Response<Body>;
}

/// The token endpoint's family.
#[derive(Debug)]
pub struct TokenError(pub EndpointError);

impl<E: Into<EndpointError>> From<E> for TokenError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl ErrorResponse for TokenError {
    fn into_response(self) -> Response<Body> {
        self.0.log();
        let public = self.0.public();
        let status = self.0.http_status();
        let mut r = json(status, &portcullis_resource::error_body(&public));
        if let Some(secs) = self.0.retry_after() {
            r.headers_mut().insert(
                lambda_http::http::header::RETRY_AFTER,
                HeaderValue::from(secs),
            );
        }
        if status == 401 && public.code == ErrorCode::InvalidClient {
            if let Ok(v) = HeaderValue::from_str(&format!(
                "Basic realm=\"{}\", charset=\"UTF-8\"",
                crate::http::REALM
            )) {
                r.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
        }
        retry_after(&mut r);
        r
    }
}

impl ErrorResponse for ResourceError {
    fn into_response(self) -> Response<Body> {
        ResourceError::into_response(self)
    }
}

impl ErrorResponse for PageError {
    fn into_response(self) -> Response<Body> {
        match self {
            PageError::Page { status, message } => {
                let mut r = error_page(status, &message);
                retry_after(&mut r);
                r
            }
            PageError::Redirect(location) => see_other(&location),
            PageError::Internal(e) => {
                e.log();
                let (status, message) = match e.public().code {
                    ErrorCode::TemporarilyUnavailable => (
                        503,
                        "The service is briefly unavailable. Please try again in a moment.",
                    ),
                    _ => (
                        500,
                        "Something went wrong on our side. Please try again later.",
                    ),
                };
                let mut r = error_page(status, message);
                retry_after(&mut r);
                r
            }
        }
    }
}

/// A function's request handler.
pub trait Endpoint: Send + Sync {
    type Error: ErrorResponse;
    /// Whether browsers may call this endpoint cross-origin from `PORTCULLIS_CORS_ORIGINS`
    /// ([`crate::cors`]): the JSON endpoints; never the authorization endpoint.
    const CORS: bool = false;
    fn handle(
        &self,
        req: Request,
    ) -> impl Future<Output = Result<Response<Body>, Self::Error>> + Send;
}

/// Handles one request, errors included: the Lambda runtime never sees an error (which API
/// Gateway would turn into a bare 500).
/// Every 503, whichever family or handler built it, leaves with `Retry-After`.
pub async fn respond<E: Endpoint>(endpoint: &E, req: Request) -> Response<Body> {
    respond_with(endpoint, &Cors::default(), req).await
}

/// [`respond`], with cross-origin access for `E::CORS` endpoints: their preflights are answered
/// here, and their responses carry `Access-Control-Allow-Origin` for an allowed origin.
pub async fn respond_with<E: Endpoint>(endpoint: &E, cors: &Cors, req: Request) -> Response<Body> {
    if E::CORS && Cors::is_preflight(&req) {
        return cors.preflight(&req);
    }
    // Only a CORS endpoint looks at `Origin`.
    let origin = E::CORS.then(|| req.headers().get("origin").cloned());
    let mut r = match endpoint.handle(req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(origin) = origin {
        cors.decorate(origin.as_ref(), &mut r);
    }
    retry_after(&mut r);
    r
}

/// Runs an endpoint under the Lambda runtime. A CORS endpoint reads `PORTCULLIS_CORS_ORIGINS`
/// once, here.
pub async fn serve<E: Endpoint>(endpoint: E) -> Result<(), lambda_http::Error> {
    let cors = if E::CORS {
        Cors::new(CorsSettings::from_env()?)
    } else {
        Cors::default()
    };
    let (endpoint, cors) = (&endpoint, &cors);
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(respond_with(endpoint, cors, req).await)
    }))
    .await
}

/// A function's whole `main`: logging, a single-threaded Tokio runtime (a Lambda process serves
/// one event at a time, so worker threads only add hand-offs), the endpoint built once at cold
/// start by `init`, then [`serve`].
pub fn run<E, F, Fut, IE>(init: F) -> Result<(), lambda_http::Error>
where
    E: Endpoint,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<E, IE>>,
    IE: Into<lambda_http::Error>,
{
    crate::telemetry::init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // A failed cold start (a missing setting, say) is one clear log line; Lambda then starts
        // the next instance afresh.
        let endpoint = init().await.map_err(Into::into).inspect_err(|e| {
            tracing::error!(error = %e, "cold start failed: the function cannot serve");
        })?;
        serve(endpoint).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::header::CACHE_CONTROL;
    use portcullis_core::error::{OAuthError, StoreError};

    #[test]
    fn invalid_client_is_401_with_a_basic_challenge() {
        let r = TokenError::from(OAuthError::invalid_client("nope")).into_response();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_some());
        assert_eq!(r.headers().get(CACHE_CONTROL).unwrap(), "no-store");
    }

    #[test]
    fn storage_outage_is_503_temporarily_unavailable_with_nothing_internal() {
        let r = TokenError::from(StoreError::Unavailable("secret internal detail".into()))
            .into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        let body = match r.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert!(
            body.contains("temporarily_unavailable") && !body.contains("secret internal"),
            "{body}"
        );
    }

    #[test]
    fn a_storage_outage_behind_a_page_is_a_503_page_with_retry_after() {
        let r = PageError::Internal(StoreError::Unavailable("down".into()).into()).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
    }

    /// RFC 9110 §15.5.14: a body over the limit is 413 with an RFC 6749 §5.2 body.
    #[test]
    fn a_body_over_the_limit_is_413_with_an_invalid_request_body() {
        let r = TokenError(EndpointError::PayloadTooLarge(OAuthError::invalid_request(
            "too large",
        )))
        .into_response();
        assert_eq!(r.status(), 413);
        let body = match r.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "invalid_request");
    }

    /// RFC 9110 §10.2.3: every 503 carries `Retry-After`, an error page made by hand too.
    #[test]
    fn every_503_page_carries_retry_after() {
        let r = PageError::Page {
            status: 503,
            message: "later".into(),
        }
        .into_response();
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        let r = error_page(503, "later");
        assert_eq!(r.headers().get("retry-after").unwrap(), "1");
        let r = error_page(400, "no");
        assert!(r.headers().get("retry-after").is_none());
    }
}

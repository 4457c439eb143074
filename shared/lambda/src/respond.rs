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
use crate::http::{json, see_other};
use crate::pages::error_page;
use lambda_http::http::header::{HeaderValue, WWW_AUTHENTICATE};
use lambda_http::{service_fn, Body, Request, Response};
use portcullis_core::error::{EndpointError, ErrorCode};
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
        let status = public.code.http_status();
        let mut r = json(status, &portcullis_resource::error_body(&public));
        if public.code == ErrorCode::InvalidClient {
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
            PageError::Page { status, message } => error_page(status, &message),
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

fn retry_after(r: &mut Response<Body>) {
    if r.status() == 503 {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
}

/// A function's request handler.
pub trait Endpoint: Send + Sync {
    type Error: ErrorResponse;
    fn handle(
        &self,
        req: Request,
    ) -> impl Future<Output = Result<Response<Body>, Self::Error>> + Send;
}

/// Handles one request, errors included: the Lambda runtime never sees an error (which API
/// Gateway would turn into a bare 500).
pub async fn respond<E: Endpoint>(endpoint: &E, req: Request) -> Response<Body> {
    match endpoint.handle(req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Runs an endpoint under the Lambda runtime.
pub async fn serve<E: Endpoint>(endpoint: E) -> Result<(), lambda_http::Error> {
    let endpoint = &endpoint;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(respond(endpoint, req).await)
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
        let endpoint = init().await.map_err(Into::into)?;
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
}

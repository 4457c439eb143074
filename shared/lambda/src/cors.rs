//! Cross-origin access (Fetch standard, CORS) for browser-based public clients, on the JSON
//! endpoints only: token, refreshToken, revoke, introspect, metadata and me declare
//! [`crate::Endpoint::CORS`]; the authorization endpoint does not and never answers with CORS
//! headers (RFC 9700 §2.6: it is navigated to, not fetched). The allowed origins are
//! `PORTCULLIS_CORS_ORIGINS` (default none); no credentials mode (these endpoints take no
//! cookies), so `Access-Control-Allow-Credentials` is never sent.
use lambda_http::http::header::{HeaderValue, VARY};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use portcullis_core::settings::CorsSettings;

/// What a preflight may ask for.
const ALLOW_METHODS: &str = "GET, HEAD, POST";
const ALLOW_HEADERS: &str = "authorization, content-type";
/// How long a browser may cache a preflight, seconds.
const MAX_AGE: &str = "600";

/// The allowed origins of one function.
#[derive(Debug, Clone, Default)]
pub struct Cors(CorsSettings);

impl Cors {
    pub fn new(settings: CorsSettings) -> Self {
        Self(settings)
    }

    /// `origin` (a request's `Origin` header), when it is one of the allowed origins.
    fn allowed<'r>(&self, origin: Option<&'r HeaderValue>) -> Option<&'r HeaderValue> {
        let origin = origin?;
        let o = origin.to_str().ok()?;
        self.0.origins.iter().any(|a| a == o).then_some(origin)
    }

    /// A preflight (`OPTIONS`): 204, with the CORS headers only for an allowed origin.
    pub fn preflight(&self, req: &Request) -> Response<Body> {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NO_CONTENT;
        let h = r.headers_mut();
        h.insert(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(req.headers().get("origin")) {
            h.insert("access-control-allow-origin", origin.clone());
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert("access-control-max-age", HeaderValue::from_static(MAX_AGE));
        }
        r
    }

    /// Whether `req` is a preflight this function answers itself.
    pub fn is_preflight(req: &Request) -> bool {
        req.method() == Method::OPTIONS
    }

    /// Adds `Access-Control-Allow-Origin` to an actual response when the request's `origin` is
    /// allowed (and `Vary: Origin` always, so a cache never serves one origin's answer to
    /// another).
    pub fn decorate(&self, origin: Option<&HeaderValue>, r: &mut Response<Body>) {
        r.headers_mut()
            .append(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allowed(origin) {
            r.headers_mut()
                .insert("access-control-allow-origin", origin.clone());
            r.headers_mut().insert(
                "access-control-expose-headers",
                HeaderValue::from_static("www-authenticate, retry-after"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(CorsSettings {
            origins: vec!["https://spa.example".into()],
        })
    }

    fn req(method: &str, origin: Option<&str>) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method(method)
            .uri("https://auth.example/api/auth/oauth/token");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        b.body(Body::Empty).unwrap()
    }

    /// Fetch standard: an allowed origin's preflight gets the methods, headers and max age; any
    /// other origin gets none of them, so the browser refuses the call.
    #[test]
    fn only_an_allowed_origin_gets_cors_headers() {
        let ok = cors().preflight(&req("OPTIONS", Some("https://spa.example")));
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://spa.example"
        );
        assert!(ok.headers().contains_key("access-control-allow-methods"));
        assert!(!ok
            .headers()
            .contains_key("access-control-allow-credentials"));
        for other in [Some("https://evil.example"), Some("null"), None] {
            let r = cors().preflight(&req("OPTIONS", other));
            assert!(
                !r.headers().contains_key("access-control-allow-origin"),
                "{other:?}"
            );
        }
        let mut r = Response::new(Body::Empty);
        let spa = HeaderValue::from_static("https://spa.example");
        cors().decorate(Some(&spa), &mut r);
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://spa.example"
        );
        assert_eq!(r.headers()["vary"], "origin");
        let mut r = Response::new(Body::Empty);
        Cors::default().decorate(Some(&spa), &mut r);
        assert!(!r.headers().contains_key("access-control-allow-origin"));
    }
}

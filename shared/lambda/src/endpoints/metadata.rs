//! `GET /.well-known/oauth-authorization-server`: authorization server metadata (RFC 8414),
//! computed once per cold start from the issuer, the scopes and what the deployment lets in;
//! no storage call. Served at every location [`well_known_paths`] gives for the issuer, the
//! same document at each; any other path routed here is 404.
use crate::http::method_not_allowed;
use crate::respond::{Endpoint, TokenError};
use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use portcullis_core::metadata::{well_known_paths, ServerMetadata};
use portcullis_core::ports::DynamoAccess;
use portcullis_core::settings::{ConfigError, FromEnv, MetadataSettings};

/// The storage ports `metadata` uses: none.
pub const DYNAMODB: &[&[DynamoAccess]] = &[];

/// How long clients and caches may keep the metadata (it changes only with a deployment).
pub const MAX_AGE: u64 = 3600;

pub struct MetadataEndpoint {
    /// The document, serialised once.
    pub body: String,
    /// The request paths it is served at.
    pub paths: Vec<String>,
}

impl MetadataEndpoint {
    pub fn new(settings: &MetadataSettings) -> Self {
        let metadata = ServerMetadata::new(&settings.issuer, &settings.scopes)
            .with_openings(settings.openings);
        Self {
            body: serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into()),
            paths: well_known_paths(&settings.issuer),
        }
    }

    /// Cold start: `PORTCULLIS_ISSUER` and `PORTCULLIS_SCOPES` only.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(&MetadataSettings::from_env()?))
    }
}

impl Endpoint for MetadataEndpoint {
    type Error = TokenError;
    const CORS: bool = true;

    async fn handle(&self, req: Request) -> Result<Response<Body>, TokenError> {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            return Ok(method_not_allowed("GET, HEAD"));
        }
        if !self.paths.iter().any(|p| p == req.uri().path()) {
            return Ok(crate::http::not_found());
        }
        let body = if head {
            Body::Empty
        } else {
            Body::Text(self.body.clone())
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // RFC 8414 §3: public, the same for everyone.
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={MAX_AGE}")) {
            h.insert(CACHE_CONTROL, v);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::respond;

    fn endpoint() -> MetadataEndpoint {
        let settings = MetadataSettings::from_lookup(|k| {
            (k == portcullis_core::settings::env::ISSUER).then(|| "https://auth.example/".into())
        })
        .unwrap();
        MetadataEndpoint::new(&settings)
    }

    fn request(method: &str) -> Request {
        lambda_http::http::Request::builder()
            .method(method)
            .uri("https://auth.example/.well-known/oauth-authorization-server")
            .body(Body::Empty)
            .unwrap()
    }

    /// RFC 8414 §3.1: only the issuer's well-known locations answer; another path under the
    /// routed prefix (a path-inserted form for another issuer, a typo) is 404, not the
    /// document.
    #[tokio::test]
    async fn metadata_answers_only_at_the_issuers_well_known_locations() {
        let at = |issuer: &str, path: &str| {
            let settings = MetadataSettings::from_lookup(|k| {
                (k == portcullis_core::settings::env::ISSUER).then(|| issuer.to_string())
            })
            .unwrap();
            let e = MetadataEndpoint::new(&settings);
            let req = lambda_http::http::Request::builder()
                .method("GET")
                .uri(format!("https://auth.example{path}"))
                .body(Body::Empty)
                .unwrap();
            async move { respond(&e, req).await.status() }
        };
        assert_eq!(
            at(
                "https://auth.example",
                "/.well-known/oauth-authorization-server"
            )
            .await,
            200
        );
        assert_eq!(
            at(
                "https://auth.example",
                "/.well-known/oauth-authorization-server/x"
            )
            .await,
            404
        );
        assert_eq!(
            at("https://auth.example", "/.well-known/openid-configuration").await,
            404
        );
        let t = "https://auth.example/tenant1";
        assert_eq!(
            at(t, "/.well-known/oauth-authorization-server/tenant1").await,
            200
        );
        assert_eq!(
            at(t, "/tenant1/.well-known/oauth-authorization-server").await,
            200
        );
        assert_eq!(at(t, "/.well-known/oauth-authorization-server").await, 404);
        assert_eq!(
            at(t, "/.well-known/oauth-authorization-server/tenant2").await,
            404
        );
    }

    /// RFC 8414 §3: GET (and HEAD) only, cacheable by anyone; the issuer without its trailing
    /// slash, as `authorize` sends it in `iss`.
    #[tokio::test]
    async fn metadata_is_public_cacheable_and_get_only() {
        let e = endpoint();
        let r = respond(&e, request("GET")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers().get(CACHE_CONTROL).unwrap(),
            "public, max-age=3600"
        );
        let v: serde_json::Value = serde_json::from_slice(r.body().as_ref()).unwrap();
        assert_eq!(v["issuer"], "https://auth.example");
        let head = respond(&e, request("HEAD")).await;
        assert_eq!(head.status(), 200);
        assert!(head.body().is_empty());
        let post = respond(&e, request("POST")).await;
        assert_eq!(post.status(), 405);
    }
}

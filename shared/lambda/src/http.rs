//! The HTTP edge: reading `lambda_http` requests into typed parameters, and building responses.
//! The error-to-response mappings, one per response family, are in [`crate::respond`].
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use portcullis_core::error::{echo, OAuthError};
use portcullis_core::params::Params;

pub use portcullis_resource::{json, REALM};

/// Largest request body read (form or JSON).
const MAX_BODY: usize = 64 * 1024;

/// The query string's parameters (RFC 6749 §3.1).
pub fn query_params(req: &Request) -> Params {
    Params::from_urlencoded(req.uri().query().unwrap_or("").as_bytes())
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A cookie's value from the `Cookie` header(s).
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

fn media_type(req: &Request) -> Option<String> {
    header(req, "content-type").map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// A form body's parameters (`application/x-www-form-urlencoded`).
pub fn form_params(req: &Request) -> Result<Params, OAuthError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(OAuthError::invalid_request("the request body is too large"));
    }
    Ok(Params::from_urlencoded(body))
}

/// A token-style request body: form-encoded (RFC 6749 §4.1.3), or a JSON object of strings
/// (Cal.com's first version took JSON, and apps built then still send it).
pub fn body_params(req: &Request) -> Result<Params, OAuthError> {
    match media_type(req).as_deref() {
        Some("application/json") => {
            let body: &[u8] = req.body().as_ref();
            if body.len() > MAX_BODY {
                return Err(OAuthError::invalid_request("the request body is too large"));
            }
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|_| OAuthError::invalid_request("the body is not a JSON object"))?;
            let mut pairs = Vec::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => continue,
                    _ => {
                        return Err(OAuthError::invalid_request(format!(
                            "parameter `{}` must be a string",
                            echo(&k)
                        )))
                    }
                };
                pairs.push((k, v));
            }
            Ok(Params::from_pairs(pairs))
        }
        Some("application/x-www-form-urlencoded") | None => form_params(req),
        Some(other) => Err(OAuthError::invalid_request(format!(
            "unsupported content type `{}`: send application/x-www-form-urlencoded",
            echo(other)
        ))),
    }
}

/// RFC 6749 §2.3.1 HTTP Basic client credentials: base64 of `id:secret`, each form-urlencoded.
/// `Ok(None)` when the request has no Basic credentials.
pub fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, OAuthError> {
    let Some(h) = header(req, "authorization") else {
        return Ok(None);
    };
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || OAuthError::invalid_client("the Basic credentials are malformed");
    let raw = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        // form-urlencoding: `+` is a space.
        let s = s.replace('+', " ");
        url::form_urlencoded::parse(
            format!("v={}", s.replace('&', "%26").replace('=', "%3D")).as_bytes(),
        )
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(bad)
    };
    let id = decode(id)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, decode(secret)?)))
}

fn builder(status: u16) -> lambda_http::http::response::Builder {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
}

fn finish(b: lambda_http::http::response::Builder, body: Body) -> Response<Body> {
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Headers every page carries: no framing (clickjacking, RFC 9700 §4.16), no referrer (codes
/// and state must not leak), no caching. The CSP has no `form-action`: browsers apply it to the
/// redirect that follows the consent POST, which goes to the client's own origin.
fn page_headers(b: lambda_http::http::response::Builder) -> lambda_http::http::response::Builder {
    b.header(X_FRAME_OPTIONS, "DENY")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; base-uri 'none'",
        )
        .header(REFERRER_POLICY, "no-referrer")
        .header(CACHE_CONTROL, "no-store")
        .header(PRAGMA, "no-cache")
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff")
}

pub fn html(status: u16, body: String) -> Response<Body> {
    finish(
        page_headers(builder(status)).header(CONTENT_TYPE, "text/html; charset=utf-8"),
        Body::Text(body),
    )
}

/// A 303 See Other: after a POST the browser follows with a GET (RFC 9700 §4.12: not 307).
pub fn see_other(location: &str) -> Response<Body> {
    finish(
        page_headers(builder(303)).header(LOCATION, location),
        Body::Empty,
    )
}

/// Like [`see_other`], also setting a cookie.
pub fn see_other_with_cookie(location: &str, cookie: &str) -> Response<Body> {
    finish(
        page_headers(builder(303))
            .header(LOCATION, location)
            .header("set-cookie", cookie),
        Body::Empty,
    )
}

pub fn method_not_allowed(allow: &str) -> Response<Body> {
    let mut r = json(
        405,
        &serde_json::json!({"error": "invalid_request", "error_description": format!("use {allow}")}),
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(ALLOW, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::error::ErrorCode;

    fn req_with(headers: &[(&str, &str)], body: &str) -> Request {
        let mut b = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://x/token");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Text(body.to_string())).unwrap()
    }

    /// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let raw = STANDARD.encode("my%20client:p%40ss+word%3A1");
        let r = req_with(&[("authorization", &format!("Basic {raw}"))], "");
        assert_eq!(
            basic_credentials(&r).unwrap(),
            Some(("my client".to_string(), "p@ss word:1".to_string()))
        );
        let r = req_with(&[("authorization", "Basic !!!")], "");
        assert_eq!(
            basic_credentials(&r).map_err(|e| e.code),
            Err(ErrorCode::InvalidClient)
        );
        let r = req_with(&[("authorization", "Bearer x")], "");
        assert_eq!(basic_credentials(&r).unwrap(), None);
    }

    #[test]
    fn token_requests_may_be_form_or_json() {
        let r = req_with(
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            "grant_type=a&code=b%2Bc",
        );
        assert_eq!(body_params(&r).unwrap().get("code"), Some("b+c"));
        let r = req_with(
            &[("content-type", "application/json")],
            r#"{"grant_type":"a","code":"b"}"#,
        );
        assert_eq!(body_params(&r).unwrap().get("code"), Some("b"));
        let r = req_with(&[("content-type", "application/json")], r#"{"code":1}"#);
        assert!(body_params(&r).is_err());
        let r = req_with(&[("content-type", "application/json")], "[1,2");
        assert!(body_params(&r).is_err());
        let r = req_with(&[("content-type", "text/plain")], "x");
        assert!(body_params(&r).is_err());
    }

    #[test]
    fn cookies_are_read_by_name() {
        let r = req_with(&[("cookie", "a=1; session=abc.def.ghi; b=2")], "");
        assert_eq!(cookie(&r, "session").as_deref(), Some("abc.def.ghi"));
        assert_eq!(cookie(&r, "missing"), None);
    }
}

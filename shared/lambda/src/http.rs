//! The HTTP edge: reading `lambda_http` requests into typed parameters, and building responses.
//! The error-to-response mappings, one per response family, are in [`crate::respond`].
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA, REFERRER_POLICY,
    RETRY_AFTER, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use portcullis_core::error::{echo, EndpointError, OAuthError};
use portcullis_core::params::Params;
use std::sync::OnceLock;

pub use portcullis_resource::{json, REALM};

/// Largest request body read (form or JSON); a larger one is 413 (RFC 9110 §15.5.14).
pub const MAX_BODY: usize = 64 * 1024;

/// The query string's parameters (RFC 6749 §3.1), decoded strictly: malformed percent-encoding,
/// invalid UTF-8 or a control character is `invalid_request` naming the parameter.
pub fn query(req: &Request) -> Result<Params, EndpointError> {
    Ok(Params::parse_urlencoded(
        req.uri().query().unwrap_or("").as_bytes(),
    )?)
}

/// The query string's parameters, decoded leniently (see [`Params::from_urlencoded`]): only for
/// values that are shown and never trusted (the dev login's `return_to`). Requests use [`query`].
pub fn query_params(req: &Request) -> Params {
    Params::from_urlencoded(req.uri().query().unwrap_or("").as_bytes())
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A cookie's value from the `Cookie` header(s). Two cookies of the same name are refused
/// (`None`, as if there were none): a sibling subdomain can set a second cookie of the session's
/// name for the parent domain or a longer path (cookie tossing, RFC 6265 §8.6, §8.8), and no
/// rule says which of the two is the real one, so neither is trusted. For the session that means
/// the login redirect, where the host application can set its cookie again. A `__Host-` name
/// (RFC 6265bis §4.1.3.2: Secure, `Path=/`, no `Domain`) cannot be tossed that way.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    let mut found = req
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(k, _)| k.trim() == name);
    let (_, value) = found.next()?;
    if found.next().is_some() {
        tracing::warn!(
            cookie = %echo(name),
            "two cookies of the same name: neither is used"
        );
        return None;
    }
    Some(value.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty())
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

/// The body's bytes, at most [`MAX_BODY`] (413 beyond). API Gateway's `isBase64Encoded` bodies
/// arrive decoded: `lambda_http` turns them into `Body::Binary`.
fn body_bytes(req: &Request) -> Result<&[u8], EndpointError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(EndpointError::PayloadTooLarge(OAuthError::invalid_request(
            format!("the request body is larger than {MAX_BODY} bytes"),
        )));
    }
    Ok(body)
}

fn unsupported(other: &str) -> EndpointError {
    OAuthError::invalid_request(format!(
        "unsupported content type `{}`: send application/x-www-form-urlencoded",
        echo(other)
    ))
    .into()
}

/// A form body's parameters (`application/x-www-form-urlencoded`, or no content type), decoded
/// strictly like [`query`]; another content type is `invalid_request`.
pub fn form_params(req: &Request) -> Result<Params, EndpointError> {
    match media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") | None => {
            Ok(Params::parse_urlencoded(body_bytes(req)?)?)
        }
        Some(other) => Err(unsupported(other)),
    }
}

/// A token-style request body: form-encoded (RFC 6749 §4.1.3), or a JSON object of strings
/// (Cal.com's first version took JSON, and apps built then still send it), repeated keys
/// refused as in a form (RFC 6749 §3.2). Another content type is `invalid_request` (400, the
/// status RFC 6749 §5.2 gives every malformed request, which OAuth clients know how to read).
pub fn body_params(req: &Request) -> Result<Params, EndpointError> {
    match media_type(req).as_deref() {
        Some("application/json") => Ok(Params::parse_json(body_bytes(req)?)?),
        _ => form_params(req),
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

static HSTS: OnceLock<bool> = OnceLock::new();

/// `Strict-Transport-Security` on every page once the issuer is `https` (RFC 6797; RFC 9700
/// §4.1.1 asks for TLS everywhere, and HSTS keeps a browser from a first plain-http request). The
/// authorize function calls this at cold start; the first call wins.
pub fn configure_hsts(issuer: &str) {
    if HSTS.set(hsts_for(issuer)).is_err() {
        tracing::debug!("HSTS was already configured");
    }
}

/// Whether pages for this issuer carry HSTS: only over https (a browser ignores it on plain
/// http anyway, RFC 6797 §8.1, and the local stack is plain http).
pub fn hsts_for(issuer: &str) -> bool {
    issuer.starts_with("https://")
}

/// One year, the value the HSTS preload list asks for.
pub const HSTS_VALUE: &str = "max-age=31536000; includeSubDomains";

/// Headers every page carries: no framing (clickjacking, RFC 9700 §4.16), no referrer (codes
/// and state must not leak), no caching, HSTS over https. The CSP has no `form-action`: browsers
/// apply it to the redirect that follows the consent POST, which goes to the client's own origin.
fn page_headers(b: lambda_http::http::response::Builder) -> lambda_http::http::response::Builder {
    page_headers_with(b, HSTS.get().copied().unwrap_or(false))
}

fn page_headers_with(
    b: lambda_http::http::response::Builder,
    hsts: bool,
) -> lambda_http::http::response::Builder {
    let b = if hsts {
        b.header("strict-transport-security", HSTS_VALUE)
    } else {
        b
    };
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

/// Every 503 says when to retry (RFC 9110 §10.2.3), whichever family built it.
pub fn retry_after(r: &mut Response<Body>) {
    if r.status() == 503 && !r.headers().contains_key(RETRY_AFTER) {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
}

pub fn html(status: u16, body: String) -> Response<Body> {
    let mut r = finish(
        page_headers(builder(status)).header(CONTENT_TYPE, "text/html; charset=utf-8"),
        Body::Text(body),
    );
    retry_after(&mut r);
    r
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

/// 404 for a path routed to a function that does not serve it (API Gateway's own 404 for an
/// unrouted path is `{"message":"Not Found"}`; this one is an RFC-shaped error).
pub fn not_found() -> Response<Body> {
    json(
        404,
        &serde_json::json!({"error": "not_found", "error_description": "nothing is served at this path"}),
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

    /// RFC 6265 §8.6, §8.8 (cookie tossing): two cookies of the session's name, in one header
    /// or two, are refused rather than the first one used.
    #[test]
    fn two_cookies_of_the_same_name_are_refused() {
        let r = req_with(&[("cookie", "session=attacker; a=1; session=victim")], "");
        assert_eq!(cookie(&r, "session"), None);
        let r = req_with(&[("cookie", "session=a"), ("cookie", "session=b")], "");
        assert_eq!(cookie(&r, "session"), None);
        let r = req_with(&[("cookie", "session=a; other_session=b")], "");
        assert_eq!(cookie(&r, "session").as_deref(), Some("a"));
    }

    /// A `__Host-` prefixed name (RFC 6265bis §4.1.3.2) works as the session cookie's name.
    #[test]
    fn a_host_prefixed_cookie_name_is_read() {
        let r = req_with(&[("cookie", "session=x; __Host-session=abc.def.ghi")], "");
        assert_eq!(cookie(&r, "__Host-session").as_deref(), Some("abc.def.ghi"));
        assert_eq!(cookie(&r, "session").as_deref(), Some("x"));
    }

    fn status(e: EndpointError) -> (u16, ErrorCode, String) {
        let p = e.public();
        (e.http_status(), p.code, p.description.into_owned())
    }

    /// RFC 6749 §3.2: repeated JSON keys are repeated parameters, as in a form.
    #[test]
    fn a_json_body_with_a_repeated_key_is_refused_like_a_repeated_form_parameter() {
        let r = req_with(
            &[("content-type", "application/json")],
            r#"{"grant_type":"authorization_code","code":"a","code":"b"}"#,
        );
        assert!(body_params(&r).unwrap().is_repeated("code"));
    }

    /// RFC 9110 §15.5.14: over the limit is 413 `invalid_request`, form or JSON.
    #[test]
    fn a_body_over_the_limit_is_413() {
        for ct in ["application/x-www-form-urlencoded", "application/json"] {
            let r = req_with(&[("content-type", ct)], &"a".repeat(MAX_BODY + 1));
            let (st, code, _) = status(body_params(&r).unwrap_err());
            assert_eq!((st, code), (413, ErrorCode::InvalidRequest), "{ct}");
        }
        let r = req_with(&[], &format!("a={}", "b".repeat(MAX_BODY - 2)));
        assert!(form_params(&r).is_ok());
    }

    #[test]
    fn another_content_type_is_invalid_request_naming_it_capped() {
        let ct = format!("text/{}", "x".repeat(10_000));
        let r = req_with(&[("content-type", &ct)], "a=b");
        let (st, code, d) = status(body_params(&r).unwrap_err());
        assert_eq!((st, code), (400, ErrorCode::InvalidRequest));
        assert!(d.contains("text/xxx") && d.len() < 200, "{d}");
        let r = req_with(&[("content-type", "multipart/form-data; boundary=x")], "");
        assert!(form_params(&r).is_err());
    }

    /// Invalid UTF-8, malformed percent-encoding and NUL are `invalid_request` naming the
    /// parameter, in a body and in a query.
    #[test]
    fn malformed_encodings_are_invalid_request_naming_the_parameter() {
        for body in ["code=%ff", "code=%4", "code=a%00b", "code=a%0Db"] {
            let r = req_with(
                &[("content-type", "application/x-www-form-urlencoded")],
                body,
            );
            let (st, code, d) = status(body_params(&r).unwrap_err());
            assert_eq!((st, code), (400, ErrorCode::InvalidRequest), "{body}");
            assert!(d.contains("`code`"), "{body}: {d}");
        }
        let r = lambda_http::http::Request::builder()
            .uri("https://x/authorize?client_id=a&state=%zz")
            .body(Body::Empty)
            .unwrap();
        let (_, _, d) = status(query(&r).unwrap_err());
        assert!(d.contains("`state`"), "{d}");
        let r = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://x/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Binary(b"code=\xff\xfe".to_vec()))
            .unwrap();
        let (_, _, d) = status(body_params(&r).unwrap_err());
        assert!(d.contains("`code`") && d.contains("UTF-8"), "{d}");
    }

    /// API Gateway delivers some bodies base64-encoded (`isBase64Encoded`): through the real
    /// request type they arrive decoded.
    #[test]
    fn a_base64_encoded_api_gateway_body_is_decoded() {
        let body = STANDARD.encode("grant_type=authorization_code&code=pc_ac_x");
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/api/auth/oauth/token",
            "rawQueryString": "",
            "headers": {"content-type": "application/x-www-form-urlencoded", "host": "auth.example"},
            "requestContext": {
                "accountId": "1", "apiId": "a", "domainName": "auth.example",
                "domainPrefix": "auth", "requestId": "r", "routeKey": "$default",
                "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390u64,
                "http": {"method": "POST", "path": "/api/auth/oauth/token",
                         "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"}
            },
            "body": body,
            "isBase64Encoded": true
        });
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        let p = body_params(&req).unwrap();
        assert_eq!(p.get("code"), Some("pc_ac_x"));
        assert_eq!(p.get("grant_type"), Some("authorization_code"));
    }

    /// RFC 6797: pages carry HSTS when the issuer is https, not on the plain-http local stack.
    #[test]
    fn pages_send_hsts_when_the_issuer_is_https() {
        assert!(hsts_for("https://auth.example") && !hsts_for("http://127.0.0.1:9000"));
        let r = finish(page_headers_with(builder(200), true), Body::Empty);
        assert_eq!(
            r.headers().get("strict-transport-security").unwrap(),
            HSTS_VALUE
        );
        let r = finish(page_headers_with(builder(200), false), Body::Empty);
        assert!(r.headers().get("strict-transport-security").is_none());
    }
}

//! Resource indicators (RFC 8707): the protected resources an operator registers
//! (`portcullis resource create --uri … --scopes …`), the `resource` parameter's rules at the
//! authorization, token and refresh endpoints, and the audience a grant's tokens are bound to.
//!
//! One resource per request: RFC 8707 §2 lets a client name several, and lets the server refuse
//! a combination it will not issue for with `invalid_target`. A token bound to one audience is
//! what the MCP authorization specification (2026-07-28, "Token audience binding") and RFC 9700
//! §2.5 ask for: a token for several resources could be replayed by any of them at the others.
use crate::error::{ErrorCode, OAuthError};
use crate::model::MAX_RESOURCE_URI;
use crate::params::Params;
use crate::scope::ScopeCatalog;
use serde::{Deserialize, Serialize};

/// The request parameter (RFC 8707 §2).
pub const PARAM: &str = "resource";

/// What a resource item is, in the clients table (`kind`): its key is its URI, which no client
/// id can be ([`crate::ids::ClientId::is_well_formed`] has no `:` or `/`).
pub const KIND: &str = "resource";

/// A protected resource the operator registered: its URI (the audience its tokens carry, and
/// the `resource` of its RFC 9728 metadata) and the scopes it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The clients table's key attribute: the URI itself.
    #[serde(rename = "client_id")]
    pub uri: String,
    /// Always [`KIND`]: tells the item from a client's in a scan.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The scopes a token for this resource may carry (a subset of the catalogue).
    pub scopes: Vec<String>,
    /// A disabled resource is refused (`invalid_target`) for new authorizations; tokens already
    /// bound to it are the resource server's to accept or not.
    #[serde(default)]
    pub disabled: bool,
    pub created_at: u64,
}

impl Resource {
    /// A registration, checked: the URI by [`check_registered_uri`], at least one scope, every
    /// scope in the catalogue, no duplicates.
    pub fn new(
        uri: &str,
        name: Option<String>,
        scopes: Vec<String>,
        catalog: &ScopeCatalog,
        now: u64,
    ) -> Result<Self, String> {
        check_registered_uri(uri)?;
        if scopes.is_empty() {
            return Err("a resource needs at least one scope (--scopes)".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &scopes {
            if !catalog.contains(s) {
                return Err(format!("scope `{s}` is not in the scope catalogue"));
            }
            if !seen.insert(s) {
                return Err(format!("scope `{s}` is listed twice"));
            }
        }
        Ok(Self {
            uri: uri.to_string(),
            kind: KIND.into(),
            name,
            scopes,
            disabled: false,
            created_at: now,
        })
    }

    /// The name shown on the consent page: the operator's name, else the URI's host.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            url::Url::parse(&self.uri)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| self.uri.clone())
        })
    }
}

/// RFC 8707 §2 for a resource's own URI (the one an operator registers, and the one a
/// resource server is configured with), stricter than what a request may send: an absolute
/// https URI (http only on a loopback host, for the local stack), no fragment, no query
/// (RFC 8707 §2: SHOULD NOT), no userinfo, printable ASCII without quotes or backslashes (it is
/// quoted in `WWW-Authenticate` as it is), at most [`MAX_RESOURCE_URI`] bytes (it is stored in
/// every grant bound to it). Kept exactly as written: requests must name it by the same string
/// (no normalisation, so no two spellings of one audience).
pub fn check_registered_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_RESOURCE_URI {
        return Err(format!(
            "a resource URI is at most {MAX_RESOURCE_URI} bytes (this one is {})",
            uri.len()
        ));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) || uri.contains(['"', '\\']) {
        return Err(format!(
            "`{uri}` must be printable ASCII without spaces, quotes or backslashes"
        ));
    }
    let u = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI: {e}"))?;
    if u.fragment().is_some() || uri.contains('#') {
        return Err(format!("`{uri}` has a fragment (RFC 8707 §2 forbids it)"));
    }
    if u.query().is_some() {
        return Err(format!("`{uri}` has a query (RFC 8707 §2: it should not)"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("`{uri}` has userinfo"));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match u.scheme() {
        "https" if u.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "`{uri}` must be an https URI (RFC 9728 §1.2; http only on a loopback host)"
        )),
    }
}

fn invalid_target(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, d)
}

/// RFC 8707 §2: the `resource` a request names, if any. More than one → `invalid_target` (one
/// audience per token, see the module). Not an absolute URI, or with a fragment, or longer
/// than any registered URI can be → `invalid_target` (it cannot name a registered resource).
pub fn requested(params: &Params) -> Result<Option<&str>, OAuthError> {
    if params.is_repeated(PARAM) {
        return Err(invalid_target(
            "one resource per request: this server binds each token to a single audience",
        ));
    }
    params.get(PARAM).map(check_indicator).transpose()
}

/// RFC 8707 §2: "absolute URI … MUST NOT include a fragment component".
pub fn check_indicator(raw: &str) -> Result<&str, OAuthError> {
    if raw.len() > MAX_RESOURCE_URI {
        return Err(invalid_target(
            "the resource is longer than any registered resource URI",
        ));
    }
    let ok = url::Url::parse(raw).is_ok() && !raw.contains('#');
    if !ok {
        return Err(invalid_target(format!(
            "resource `{}` is not an absolute URI without a fragment (RFC 8707 §2)",
            crate::error::echo(raw)
        )));
    }
    Ok(raw)
}

/// RFC 8707 §2.2 at the token endpoint (code exchange and refresh): the tokens' audience is the
/// grant's. A request that names no resource gets the grant's; one that names the grant's gets
/// it; any other → `invalid_target`, so a refresh can never widen (or move) the audience. With
/// one audience per grant, narrowing is keeping it. A grant with no audience (a client that
/// sent no `resource` when the user consented) cannot gain one later: the user never consented
/// to it.
pub fn narrow(bound: Option<&str>, asked: Option<&str>) -> Result<Option<String>, OAuthError> {
    match (bound, asked) {
        (b, None) => Ok(b.map(str::to_string)),
        (Some(b), Some(a)) if a == b => Ok(Some(b.to_string())),
        (Some(_), Some(a)) => Err(invalid_target(format!(
            "resource `{}` is not the one this grant was authorized for",
            crate::error::echo(a)
        ))),
        (None, Some(a)) => Err(invalid_target(format!(
            "resource `{}` was not named when the user authorized this grant",
            crate::error::echo(a)
        ))),
    }
}

/// RFC 8707 §2 with RFC 6749 §3.3 at the authorization endpoint: the resource, once looked up,
/// must be registered and enabled (else `invalid_target`); the scopes are those the client may
/// have that the resource offers. Asked explicitly, each must be offered (`invalid_scope`
/// names the first that is not); defaulted (no `scope`), the client's scopes narrowed to the
/// resource's, and none left → `invalid_scope`.
pub fn scopes_for(
    asked: &str,
    found: Option<&Resource>,
    explicit_scope: bool,
    scopes: Vec<String>,
) -> Result<(String, Vec<String>), OAuthError> {
    let r = match found {
        Some(r) if !r.disabled => r,
        _ => {
            return Err(invalid_target(format!(
                "resource `{}` is not a resource this server issues tokens for",
                crate::error::echo(asked)
            )))
        }
    };
    if explicit_scope {
        if let Some(s) = scopes.iter().find(|s| !r.scopes.contains(s)) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{s}` is not offered by resource `{}`",
                r.uri
            )));
        }
        return Ok((r.uri.clone(), scopes));
    }
    let narrowed: Vec<String> = scopes
        .into_iter()
        .filter(|s| r.scopes.contains(s))
        .collect();
    if narrowed.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "this application may request none of the scopes resource `{}` offers",
            r.uri
        )));
    }
    Ok((r.uri.clone(), narrowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> Resource {
        Resource::new(
            "https://api.example.com/mcp",
            None,
            vec!["READ_BOOKING".into()],
            &ScopeCatalog::default(),
            1,
        )
        .unwrap()
    }

    /// RFC 8707 §2: absolute, no fragment; registration also refuses a query, userinfo,
    /// plain http off loopback, and URIs too long to store in a grant.
    #[test]
    fn a_registered_resource_uri_is_an_absolute_https_uri_without_fragment_or_query() {
        for good in [
            "https://api.example.com/mcp",
            "https://api.example.com",
            "http://127.0.0.1:9000/mcp",
            "http://localhost/mcp",
        ] {
            assert!(check_registered_uri(good).is_ok(), "{good}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_RESOURCE_URI));
        for bad in [
            "api.example.com/mcp",
            "/mcp",
            "https://api.example.com/mcp#x",
            "https://api.example.com/mcp?x=1",
            "https://u:p@api.example.com/mcp",
            "http://api.example.com/mcp",
            "ftp://api.example.com/mcp",
            long.as_str(),
        ] {
            assert!(check_registered_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_resource_offers_catalogue_scopes_only_and_at_least_one() {
        let c = ScopeCatalog::default();
        assert!(Resource::new("https://a.example/r", None, vec![], &c, 1).is_err());
        assert!(Resource::new("https://a.example/r", None, vec!["NOPE".into()], &c, 1).is_err());
        assert!(Resource::new(
            "https://a.example/r",
            None,
            vec!["READ_BOOKING".into(), "READ_BOOKING".into()],
            &c,
            1
        )
        .is_err());
    }

    /// RFC 8707 §2: one `resource` at most here (`invalid_target` for several), and what is
    /// sent must be an absolute URI without a fragment.
    #[test]
    fn several_resources_or_a_malformed_one_are_invalid_target() {
        let p = Params::from_urlencoded(b"resource=https%3A%2F%2Fa%2Fx&resource=https%3A%2F%2Fb");
        assert_eq!(requested(&p).unwrap_err().code, ErrorCode::InvalidTarget);
        for bad in ["mcp", "/mcp", "https://a.example/mcp#f"] {
            let body = format!(
                "resource={}",
                url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
            );
            let p = Params::from_urlencoded(body.as_bytes());
            assert_eq!(
                requested(&p).unwrap_err().code,
                ErrorCode::InvalidTarget,
                "{bad}"
            );
        }
        let p = Params::from_urlencoded(b"resource=https%3A%2F%2Fa.example%2Fmcp");
        assert_eq!(requested(&p).unwrap(), Some("https://a.example/mcp"));
        assert_eq!(requested(&Params::from_urlencoded(b"")).unwrap(), None);
    }

    /// RFC 8707 §2.2: the token endpoint keeps the grant's audience; naming another, or
    /// naming one for a grant that has none, is `invalid_target` (a refresh never widens).
    #[test]
    fn a_refresh_or_exchange_keeps_the_grants_resource_and_never_widens_it() {
        let r = Some("https://a.example/mcp");
        assert_eq!(narrow(r, None).unwrap().as_deref(), r);
        assert_eq!(narrow(r, r).unwrap().as_deref(), r);
        assert_eq!(
            narrow(r, Some("https://b.example/mcp")).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(narrow(None, None).unwrap(), None);
        assert_eq!(narrow(None, r).unwrap_err().code, ErrorCode::InvalidTarget);
    }

    /// RFC 8707 §2: an unknown or disabled resource is `invalid_target`; explicit scopes must
    /// be offered by the resource; defaulted scopes are narrowed to it.
    #[test]
    fn an_unknown_resource_is_invalid_target_and_scopes_are_narrowed_to_the_resource() {
        let r = resource();
        let asked = "https://api.example.com/mcp";
        assert_eq!(
            scopes_for(asked, None, false, vec!["READ_BOOKING".into()])
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        let mut off = r.clone();
        off.disabled = true;
        assert_eq!(
            scopes_for(asked, Some(&off), false, vec!["READ_BOOKING".into()])
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        let all = vec!["READ_PROFILE".to_string(), "READ_BOOKING".to_string()];
        assert_eq!(
            scopes_for(asked, Some(&r), false, all.clone()).unwrap(),
            (asked.to_string(), vec!["READ_BOOKING".to_string()])
        );
        assert_eq!(
            scopes_for(asked, Some(&r), true, all).unwrap_err().code,
            ErrorCode::InvalidScope
        );
        assert_eq!(
            scopes_for(asked, Some(&r), false, vec!["READ_PROFILE".into()])
                .unwrap_err()
                .code,
            ErrorCode::InvalidScope
        );
    }

    /// The item shares the clients table: keyed by its URI under `client_id`, marked by `kind`.
    #[test]
    fn a_resource_is_stored_under_its_uri_with_its_kind() {
        let v = serde_json::to_value(resource()).unwrap();
        assert_eq!(v["client_id"], "https://api.example.com/mcp");
        assert_eq!(v["kind"], "resource");
        assert_eq!(resource().display_name(), "api.example.com");
    }

    mod flows {
        use super::*;
        use crate::authorize::validate_request;
        use crate::testkit::{authorize_params, client, World, ISSUER, REDIRECT_URI, VERIFIER};

        const MCP: &str = "https://api.example.com/mcp";
        const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

        fn world() -> World {
            let w = World::new().with(
                client("app")
                    .public()
                    .scopes(&["READ_PROFILE", "READ_BOOKING"]),
            );
            w.store.upsert_resource(resource());
            w
        }

        fn query(extra: &str) -> String {
            format!(
                "client_id=app&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
            )
        }

        fn enc(s: &str) -> String {
            url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
        }

        /// RFC 8707 §2: the authorization request's resource is read with the client in one
        /// storage call, and the code, the grant and every access token carry it; the scopes
        /// are narrowed to the resource's.
        #[tokio::test]
        async fn the_tokens_are_bound_to_the_resource_the_authorization_request_named() {
            let w = world();
            w.store.reset_calls();
            let req = validate_request(
                &w.store,
                &w.scopes,
                ISSUER,
                None,
                &authorize_params(&query(&format!("&resource={}", enc(MCP)))),
            )
            .await
            .unwrap();
            assert_eq!(w.store.calls(), 1, "client and resource in one read");
            assert_eq!(req.scopes, vec!["READ_BOOKING".to_string()]);
            let code = w.code(&query(&format!("&resource={}", enc(MCP)))).await;
            let t = w
                .exchange_for(("app", None), &code, None, Some(VERIFIER), Some(MCP))
                .await
                .unwrap();
            let g = w.grant_of(&t.access_token).unwrap();
            assert_eq!(g.resource.as_deref(), Some(MCP));
            assert_eq!(g.scopes, vec!["READ_BOOKING".to_string()]);
            let _ = REDIRECT_URI;
        }

        /// RFC 8707 §2: an unregistered resource is `invalid_target`, sent back to the client.
        #[tokio::test]
        async fn an_unregistered_resource_is_invalid_target() {
            let w = world();
            let e = validate_request(
                &w.store,
                &w.scopes,
                ISSUER,
                None,
                &authorize_params(&query(&format!(
                    "&resource={}",
                    enc("https://other.example/mcp")
                ))),
            )
            .await
            .unwrap_err();
            match e {
                crate::authorize::AuthorizeError::Redirect(l) => {
                    assert!(l.contains("error=invalid_target"), "{l}")
                }
                other => panic!("{other:?}"),
            }
        }

        /// RFC 8707 §2.2: the code exchange may repeat the resource, not name another; a
        /// refresh keeps it and cannot move it.
        #[tokio::test]
        async fn the_token_endpoint_never_widens_or_moves_the_audience() {
            let w = world();
            let q = query(&format!("&resource={}", enc(MCP)));
            let code = w.code(&q).await;
            assert_eq!(
                w.exchange_for(
                    ("app", None),
                    &code,
                    None,
                    Some(VERIFIER),
                    Some("https://other.example/mcp")
                )
                .await
                .unwrap_err(),
                ErrorCode::InvalidTarget
            );
            let code = w.code(&q).await;
            let t = w
                .exchange_for(("app", None), &code, None, Some(VERIFIER), None)
                .await
                .unwrap();
            assert_eq!(
                w.grant_of(&t.access_token).unwrap().resource.as_deref(),
                Some(MCP)
            );
            assert_eq!(
                w.refresh_for(
                    ("app", None),
                    t.refresh(),
                    None,
                    Some("https://other.example/mcp")
                )
                .await
                .unwrap_err(),
                ErrorCode::InvalidTarget
            );
            let t2 = w
                .refresh_for(("app", None), t.refresh(), None, Some(MCP))
                .await
                .unwrap();
            assert_eq!(
                w.grant_of(&t2.access_token).unwrap().resource.as_deref(),
                Some(MCP)
            );
            // A grant without an audience cannot gain one.
            let code = w.code(&query("")).await;
            let t3 = w
                .exchange(("app", None), &code, None, Some(VERIFIER))
                .await
                .unwrap();
            assert_eq!(
                w.refresh_for(("app", None), t3.refresh(), None, Some(MCP))
                    .await
                    .unwrap_err(),
                ErrorCode::InvalidTarget
            );
        }
    }
}

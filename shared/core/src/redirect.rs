//! Redirect URIs: matching a request against the registration, and building the redirect back to
//! the client (RFC 6749 §4.1.2, RFC 9207).
//!
//! Matching is by exact string (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3, OAuth 2.1 §2.3.1), with one
//! exception: for a registered loopback URI (`http` on `127.0.0.1`, `[::1]` or `localhost`) the
//! request may name any port, or none (RFC 8252 §7.3, OAuth 2.1 §8.4.2). Everything else about a
//! loopback URI still matches byte for byte: scheme, host (the same one of the three, as written),
//! path and query; no user information, no fragment. Both URIs are split by hand at the port and
//! must also be in the form the `url` crate serialises them to, so nothing matches by virtue of
//! normalisation (case, dot segments, percent-encoding, backslashes, default ports).
use crate::ids::RedirectUri;
use url::{Position, Url};

/// Why no redirect URI could be chosen. These are shown on an error page: RFC 6749 §4.1.2.1 and
/// RFC 9700 §4.11 forbid redirecting to a URI that is not known good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectError {
    /// `redirect_uri` was omitted and the client has more than one registered.
    Ambiguous,
    /// `redirect_uri` is neither, character for character, one of the registered URIs, nor a
    /// registered loopback URI with another port ([`redirect_uri_matches`]).
    NotRegistered,
}

/// The redirect URI an authorization request uses, and whether the request named it (RFC 6749
/// §4.1.3 then requires the same value at the token endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenRedirect {
    /// Where the response goes: the requested URI as sent (a loopback one with the port the
    /// client asked for), or the single registered one when the request named none.
    pub uri: RedirectUri,
    pub explicit: bool,
}

/// Hosts on which `http` is allowed and any port matches (RFC 8252 §7.3; `localhost`, which
/// §8.3 only discourages, because the major native and MCP clients use it).
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// A loopback redirect URI split at its port, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loopback<'a> {
    /// One of [`LOOPBACK_HOSTS`], exactly.
    host: &'a str,
    /// Path and query, byte for byte: empty or starting with `/`.
    rest: &'a str,
}

/// A port as a client writes it: 1 to 5 digits without a leading zero, 1 to 65535.
fn port_number(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || digits.starts_with('0') {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Splits `http://<host>[:<port>]<rest>` where host is one of [`LOOPBACK_HOSTS`] as written,
/// port is [`port_number`] and rest is empty or starts with `/`, with no fragment. The URI must
/// also parse with `url` to the same scheme, host, port, path and query, with no user
/// information: a URI that `url` would normalise (dot segments, percent-encoding, backslashes,
/// tabs) is not a loopback URI here, and matches only exactly.
fn loopback_parts(uri: &str) -> Option<Loopback<'_>> {
    let after_scheme = uri.strip_prefix("http://")?;
    let (host, tail) = LOOPBACK_HOSTS
        .iter()
        .find_map(|h| after_scheme.strip_prefix(h).map(|t| (*h, t)))?;
    let (port, rest) = match tail.strip_prefix(':') {
        Some(p) => {
            let end = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
            let (digits, rest) = p.split_at(end);
            (Some(port_number(digits)?), rest)
        }
        None => (None, tail),
    };
    if !(rest.is_empty() || rest.starts_with('/')) || rest.contains('#') {
        return None;
    }
    let url = Url::parse(uri).ok()?;
    let serialised_rest = &url[Position::BeforePath..];
    let consistent = url.scheme() == "http"
        && url.host_str() == Some(host)
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && url.port_or_known_default() == Some(port.unwrap_or(80))
        && (serialised_rest == rest || (rest.is_empty() && serialised_rest == "/"));
    consistent.then_some(Loopback { host, rest })
}

/// Whether a requested redirect URI matches a registered one: the same string (RFC 6749
/// §3.1.2.3, RFC 9700 §4.1.3), or, both being loopback URIs, the same string but for the port,
/// which may be any or none on either side (RFC 8252 §7.3: "The authorization server MUST allow
/// any port to be specified at the time of the request for loopback IP redirect URIs"). The host
/// must be the same one of `127.0.0.1`, `[::1]` and `localhost`; https and private-use URIs match
/// only exactly.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(reg), Some(req)) => reg == req,
        _ => false,
    }
}

/// Chooses the redirect URI of an authorization request.
///
/// A `redirect_uri` sent must match a registered one by [`redirect_uri_matches`]: exactly, no
/// prefix or pattern matching (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3), except that a registered
/// loopback URI accepts any port (RFC 8252 §7.3). The URI chosen is the one requested, port
/// included: the code is delivered there, and the token endpoint compares its `redirect_uri`
/// with it (RFC 6749 §4.1.3). `redirect_uri` may be omitted only when exactly one URI is
/// registered, which is then chosen as registered.
pub fn choose_redirect_uri(
    registered: &[RedirectUri],
    requested: Option<&str>,
) -> Result<ChosenRedirect, RedirectError> {
    match requested {
        Some(r) => {
            if registered.iter().any(|u| redirect_uri_matches(u, r)) {
                Ok(ChosenRedirect {
                    uri: RedirectUri::from(r),
                    explicit: true,
                })
            } else {
                Err(RedirectError::NotRegistered)
            }
        }
        None => match registered {
            [only] => Ok(ChosenRedirect {
                uri: only.clone(),
                explicit: false,
            }),
            _ => Err(RedirectError::Ambiguous),
        },
    }
}

/// Appends parameters to a registered redirect URI, percent-encoded, keeping any query it
/// already has (RFC 6749 §3.1.2: "MUST retain the query component").
pub fn redirect_with(uri: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.into()
        }
        // Registered URIs are validated at registration, so this is unreachable in practice;
        // still, build a correct URL by hand rather than panic.
        Err(_) => {
            let mut s = uri.to_string();
            let mut sep = if uri.contains('?') { '&' } else { '?' };
            for (k, v) in params {
                s.push(sep);
                s.push_str(
                    &url::form_urlencoded::Serializer::new(String::new())
                        .append_pair(k, v)
                        .finish(),
                );
                sep = '&';
            }
            s
        }
    }
}

/// Parameters the server adds to a redirect (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 `iss`): a
/// registered URI whose query already has one would make the response ambiguous.
const RESPONSE_PARAMS: &[&str] = &[
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
];

/// Schemes that run or read something where the browser is instead of going to an app: never a
/// redirect URI, whatever else is true of them (RFC 9700 §4.1, RFC 8252 §7.1).
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "blob", "about"];

/// Checks a redirect URI before registration (the dynamic registration endpoint, RFC 7591 §2):
/// absolute, no fragment (RFC 6749 §3.1.2), no user information (RFC 3986 §7.6), no parameter
/// the server adds to the redirect in its query; `https` with a host, or `http` only on a
/// loopback host written literally as `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 §7.3: not
/// `127.1`, `LOCALHOST` or `0x7f.1`, which a URL parser would turn into one), with any port and
/// a path the URL parser would not rewrite; or a private-use scheme in reverse-domain form, with
/// a dot (RFC 8252 §7.1). `javascript:`, `data:`, `file:` and the like are refused by name.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let shown = crate::error::echo(uri);
    if let Some((scheme, _)) = uri.split_once(':') {
        let scheme = scheme.trim().to_ascii_lowercase();
        if DANGEROUS_SCHEMES.contains(&scheme.as_str()) {
            return Err(format!(
                "`{shown}`: the `{scheme}:` scheme is never a redirect URI"
            ));
        }
    }
    let url = Url::parse(uri).map_err(|e| format!("`{shown}` is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "`{shown}` has a fragment; RFC 6749 §3.1.2 forbids it"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{shown}` has user information (`user@`), which can disguise its host (RFC 3986 §7.6)"
        ));
    }
    if let Some((param, _)) = url
        .query_pairs()
        .find(|(k, _)| RESPONSE_PARAMS.contains(&k.as_ref()))
    {
        return Err(format!(
            "`{shown}` already has `{}` in its query, a parameter the server adds to the redirect (RFC 6749 §4.1.2, RFC 9207)",
            crate::error::echo(&param)
        ));
    }
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "https" => Err(format!("`{shown}` has no host")),
        "http" if loopback_parts(uri).is_some() => Ok(()),
        "http" => Err(format!(
            "`{shown}` uses http on a host that is not loopback: use https, or http on 127.0.0.1, [::1] or localhost, written exactly so (RFC 8252 §7.3)"
        )),
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "`{shown}`: scheme `{}` is neither https, loopback http, nor a reverse-domain private-use scheme such as com.example.app:/cb (RFC 8252 §7.1)",
            crate::error::echo(s)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Vec<RedirectUri> {
        vec![
            "https://app.example/cb".into(),
            "https://app.example/cb2?x=1".into(),
        ]
    }

    /// RFC 9700 §4.1.3: exact string matching only.
    #[test]
    fn redirect_uri_must_match_a_registered_one_exactly() {
        assert!(choose_redirect_uri(&reg(), Some("https://app.example/cb")).is_ok());
        for near in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://APP.example/cb",
            "https://app.example/cb#f",
            "https://app.example/c",
            "https://app.example/cb2",
        ] {
            assert_eq!(
                choose_redirect_uri(&reg(), Some(near)),
                Err(RedirectError::NotRegistered),
                "{near}"
            );
        }
    }

    #[test]
    fn redirect_uri_may_be_omitted_only_when_exactly_one_is_registered() {
        let one = vec![RedirectUri::from("https://a.example/cb")];
        assert_eq!(
            choose_redirect_uri(&one, None),
            Ok(ChosenRedirect {
                uri: one[0].clone(),
                explicit: false
            })
        );
        assert_eq!(
            choose_redirect_uri(&reg(), None),
            Err(RedirectError::Ambiguous)
        );
    }

    /// RFC 6749 §3.1.2: the query of the registered URI is kept; values are encoded.
    #[test]
    fn redirect_keeps_the_registered_query_and_encodes_values() {
        let to = redirect_with(
            "https://app.example/cb2?x=1",
            &[("code", "a b&c"), ("state", "s/=?")],
        );
        assert_eq!(
            to,
            "https://app.example/cb2?x=1&code=a+b%26c&state=s%2F%3D%3F"
        );
    }

    const LOOPBACK: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

    fn one(uri: &str) -> Vec<RedirectUri> {
        vec![uri.into()]
    }

    fn chosen(registered: &str, requested: &str) -> Result<ChosenRedirect, RedirectError> {
        choose_redirect_uri(&one(registered), Some(requested))
    }

    fn refused(registered: &str, requested: &str) {
        assert_eq!(
            chosen(registered, requested),
            Err(RedirectError::NotRegistered),
            "{requested} against {registered}"
        );
    }

    /// RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at the time
    /// of the request for loopback IP redirect URIs": for 127.0.0.1, [::1] and localhost, any
    /// port or none matches a registration with any port or none.
    #[test]
    fn loopback_redirect_uri_matches_with_any_port_or_none() {
        for host in LOOPBACK {
            for registered in [
                format!("http://{host}/cb"),
                format!("http://{host}:8080/cb"),
            ] {
                for requested in [
                    format!("http://{host}/cb"),
                    format!("http://{host}:1/cb"),
                    format!("http://{host}:80/cb"),
                    format!("http://{host}:8080/cb"),
                    format!("http://{host}:51234/cb"),
                    format!("http://{host}:65535/cb"),
                ] {
                    assert!(
                        chosen(&registered, &requested).is_ok(),
                        "{requested} against {registered}"
                    );
                }
            }
            // With a query, and with no path at all, the rest still has to be the same.
            assert!(chosen(
                &format!("http://{host}/cb?x=1"),
                &format!("http://{host}:5/cb?x=1")
            )
            .is_ok());
            assert!(chosen(&format!("http://{host}"), &format!("http://{host}:5")).is_ok());
            assert!(chosen(&format!("http://{host}:9"), &format!("http://{host}")).is_ok());
        }
    }

    /// RFC 8252 §7.3, RFC 6749 §4.1.3: the URI chosen is the one requested, with its port, since
    /// the code goes there and the token endpoint compares `redirect_uri` with it.
    #[test]
    fn loopback_redirect_chosen_is_the_requested_uri_with_its_port() {
        let registered = vec![
            RedirectUri::from("https://app.example/cb"),
            RedirectUri::from("http://localhost/callback"),
        ];
        assert_eq!(
            choose_redirect_uri(&registered, Some("http://localhost:49152/callback")),
            Ok(ChosenRedirect {
                uri: "http://localhost:49152/callback".into(),
                explicit: true,
            })
        );
        assert_eq!(
            choose_redirect_uri(
                &one("http://127.0.0.1:8080/cb"),
                Some("http://127.0.0.1/cb")
            )
            .unwrap()
            .uri,
            "http://127.0.0.1/cb"
        );
        // Omitted: the single registered URI, as registered (unchanged).
        assert_eq!(
            choose_redirect_uri(&one("http://127.0.0.1:8080/cb"), None),
            Ok(ChosenRedirect {
                uri: "http://127.0.0.1:8080/cb".into(),
                explicit: false,
            })
        );
    }

    /// RFC 9700 §4.1.3, RFC 8252 §7.3: only the port may differ; another path or query does not
    /// match a loopback registration.
    #[test]
    fn loopback_redirect_with_another_path_or_query_is_refused() {
        for host in LOOPBACK {
            let registered = format!("http://{host}/cb");
            for requested in [
                format!("http://{host}:5/cb/"),
                format!("http://{host}:5/c"),
                format!("http://{host}:5/cb2"),
                format!("http://{host}:5/CB"),
                format!("http://{host}:5"),
                format!("http://{host}:5/"),
                format!("http://{host}:5/cb?x=1"),
                format!("http://{host}:5/cb?"),
                format!("http://{host}:5/cb/evil"),
            ] {
                refused(&registered, &requested);
            }
            refused(
                &format!("http://{host}/cb?x=1"),
                &format!("http://{host}:5/cb?x=2"),
            );
            refused(
                &format!("http://{host}/cb?x=1"),
                &format!("http://{host}:5/cb"),
            );
        }
    }

    /// RFC 9700 §4.1.3, RFC 8252 §7.3: the host must be the same loopback host as written:
    /// `127.0.0.1`, `[::1]` and `localhost` are not interchangeable, and a host that merely starts
    /// like one, or is written in another form, is not loopback.
    #[test]
    fn loopback_redirect_with_another_host_is_refused() {
        refused("http://127.0.0.1/cb", "http://localhost:5/cb");
        refused("http://127.0.0.1/cb", "http://[::1]:5/cb");
        refused("http://localhost/cb", "http://127.0.0.1:5/cb");
        refused("http://[::1]/cb", "http://127.0.0.1:5/cb");
        for requested in [
            "http://127.0.0.1.evil.example/cb",
            "http://127.0.0.1.evil.example:5/cb",
            "http://localhost.evil.example/cb",
            "http://LOCALHOST:5/cb",
            "http://127.1:5/cb",
            "http://2130706433:5/cb",
            "http://[0:0:0:0:0:0:0:1]:5/cb",
            "http://[::1%25eth0]:5/cb",
            "http://127.0.0.2:5/cb",
            "http://evil.example:5/cb",
        ] {
            refused("http://127.0.0.1/cb", requested);
            refused("http://localhost/cb", requested);
            refused("http://[::1]/cb", requested);
        }
    }

    /// RFC 8252 §7.3 applies to `http` loopback URIs only: another scheme, or another spelling
    /// of it, must match exactly.
    #[test]
    fn loopback_redirect_with_another_scheme_is_refused() {
        refused("http://127.0.0.1/cb", "https://127.0.0.1:5/cb");
        refused("http://127.0.0.1/cb", "https://127.0.0.1/cb");
        refused("http://127.0.0.1/cb", "HTTP://127.0.0.1:5/cb");
        refused("http://127.0.0.1/cb", "ws://127.0.0.1:5/cb");
        refused("https://127.0.0.1/cb", "https://127.0.0.1:5/cb");
        refused("https://localhost/cb", "https://localhost:5/cb");
    }

    /// RFC 3986 §7.6, RFC 9700 §4.1.3: user information can disguise the host; it is never part
    /// of a loopback match.
    #[test]
    fn loopback_redirect_with_userinfo_is_refused() {
        refused("http://127.0.0.1/cb", "http://evil@127.0.0.1:5/cb");
        refused("http://127.0.0.1/cb", "http://evil:pw@127.0.0.1:5/cb");
        refused("http://127.0.0.1/cb", "http://127.0.0.1:5@evil.example/cb");
        refused("http://127.0.0.1/cb", "http://127.0.0.1@evil.example/cb");
        refused("http://localhost/cb", "http://localhost@evil.example:5/cb");
    }

    /// RFC 6749 §3.1.2: a redirect URI has no fragment, even when only the port differs.
    #[test]
    fn loopback_redirect_with_a_fragment_is_refused() {
        refused("http://127.0.0.1/cb", "http://127.0.0.1:5/cb#f");
        refused("http://127.0.0.1/cb", "http://127.0.0.1:5/cb#");
        refused("http://127.0.0.1/cb", "http://127.0.0.1/cb#f");
        refused("http://localhost/cb", "http://localhost:5#/cb");
    }

    /// RFC 8252 §7.3, RFC 3986 §3.2.3: the port is 1 to 65535 in decimal digits, written
    /// plainly; anything else after the colon is not a port and the URI does not match.
    #[test]
    fn loopback_redirect_with_a_malformed_port_is_refused() {
        for requested in [
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:123456/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:05/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:+5/cb",
            "http://127.0.0.1:-5/cb",
            "http://127.0.0.1: 5/cb",
            "http://127.0.0.1:5cb",
            "http://127.0.0.1:5?cb",
            "http://127.0.0.1:5:6/cb",
            "http://127.0.0.1:%35/cb",
            "http://127.0.0.1:\u{0665}/cb",
            "http://127.0.0.1:5\\cb",
            "http://127.0.0.1\\cb",
        ] {
            refused("http://127.0.0.1/cb", requested);
            refused("http://127.0.0.1:5/cb", requested);
        }
    }

    /// RFC 9700 §4.1.3: nothing matches by normalisation. Dot segments, percent-encoding,
    /// backslashes and white space the `url` crate would clean up make the URI a non-match.
    #[test]
    fn loopback_redirect_with_dot_segments_or_other_normalisation_is_refused() {
        for requested in [
            "http://127.0.0.1:5/cb/../x",
            "http://127.0.0.1:5/./x",
            "http://127.0.0.1:5/a/../x",
            "http://127.0.0.1:5/%2e%2e/x",
            "http://127.0.0.1:5/%78",
            "http://127.0.0.1:5\\x",
            "http://127.0.0.1:5/\\x",
            "http://127.0.0.1:5/x\t",
            "http://127.0.0.1:5/\tx",
            "http://127.0.0.1:5/x ",
            " http://127.0.0.1:5/x",
        ] {
            refused("http://127.0.0.1/x", requested);
        }
        // Nor does a registration that is not in normal form gain any-port matching; it still
        // matches itself exactly.
        refused("http://127.0.0.1/a/../x", "http://127.0.0.1:5/a/../x");
        refused("http://127.0.0.1/a b", "http://127.0.0.1:5/a b");
        refused("http://127.0.0.1/a\\b", "http://127.0.0.1:5/a\\b");
        // Percent-encoding already there is kept as written, so it is the same string.
        assert!(chosen("http://127.0.0.1/%78", "http://127.0.0.1:5/%78").is_ok());
        assert!(chosen("http://127.0.0.1/a/../x", "http://127.0.0.1/a/../x").is_ok());
    }

    /// RFC 9700 §4.1.3, RFC 8252 §7.1: https and private-use scheme URIs still match only
    /// exactly, port included.
    #[test]
    fn https_and_private_use_redirects_still_match_exactly_only() {
        assert!(chosen("https://app.example/cb", "https://app.example/cb").is_ok());
        refused("https://app.example/cb", "https://app.example:443/cb");
        refused("https://app.example/cb", "https://app.example:8443/cb");
        refused("https://app.example:8443/cb", "https://app.example:8444/cb");
        assert!(chosen("com.example.app:/cb", "com.example.app:/cb").is_ok());
        refused("com.example.app:/cb", "com.example.app:/cb/");
        refused("com.example.app:/cb", "com.example.app://cb");
        refused(
            "com.example.app://localhost/cb",
            "com.example.app://localhost:5/cb",
        );
        // http on another host is only ever its exact registered string.
        assert!(chosen("http://app.example/cb", "http://app.example/cb").is_ok());
        refused("http://app.example/cb", "http://app.example:5/cb");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn config() -> ProptestConfig {
            ProptestConfig {
                cases: std::env::var("PROPTEST_CASES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(256),
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        /// Strings shaped like redirect URIs, near misses included.
        fn uri() -> impl Strategy<Value = String> {
            let scheme = prop_oneof![
                Just("http://"),
                Just("https://"),
                Just("HTTP://"),
                Just("com.example.app:"),
                Just("http:"),
                Just(""),
            ];
            let host = prop_oneof![
                Just("127.0.0.1"),
                Just("[::1]"),
                Just("localhost"),
                Just("LOCALHOST"),
                Just("127.0.0.1.evil.example"),
                Just("evil@127.0.0.1"),
                Just("127.1"),
                Just("app.example"),
                Just(""),
            ];
            let port = prop_oneof![
                Just(String::new()),
                Just(":".to_string()),
                Just(":0".to_string()),
                Just(":+5".to_string()),
                Just(":05".to_string()),
                Just(":99999".to_string()),
                (1u32..=70000).prop_map(|p| format!(":{p}")),
                "[:0-9+-]{0,7}",
            ];
            let rest = prop_oneof![
                Just(String::new()),
                Just("/".to_string()),
                Just("/cb".to_string()),
                Just("/cb?x=1".to_string()),
                Just("/cb#f".to_string()),
                Just("/cb/../x".to_string()),
                Just("/x".to_string()),
                "[/a-z?=&#%.\\ @:]{0,12}",
                ".{0,12}",
            ];
            prop_oneof![
                4 => (scheme, host, port, rest).prop_map(|(s, h, p, r)| format!("{s}{h}{p}{r}")),
                1 => ".{0,40}",
            ]
        }

        /// An oracle independent of the split by hand: parsed with `url`, the requested URI is
        /// http on a loopback host with no user information or fragment, and equals the
        /// registered one once both ports are removed.
        fn loopback_equal_but_for_port(registered: &str, requested: &str) -> bool {
            let (Ok(mut reg), Ok(mut req)) = (Url::parse(registered), Url::parse(requested)) else {
                return false;
            };
            let host = req.host_str().unwrap_or_default().to_string();
            let loopback = req.scheme() == "http"
                && ["127.0.0.1", "[::1]", "localhost"].contains(&host.as_str())
                && req.username().is_empty()
                && req.password().is_none()
                && req.fragment().is_none()
                && requested.starts_with(&format!("http://{host}"))
                && registered.starts_with(&format!("http://{host}"));
            let _ = reg.set_port(None);
            let _ = req.set_port(None);
            loopback && reg == req
        }

        proptest! {
            #![proptest_config(config())]

            /// RFC 9700 §4.1.3, RFC 8252 §7.3: choose_redirect_uri never panics, and whatever it
            /// chooses is the requested URI and either a registered URI exactly or a loopback URI
            /// equal to a registered one but for its port.
            #[test]
            fn chosen_redirect_is_registered_exactly_or_loopback_up_to_port(
                registered in proptest::collection::vec(uri(), 0..4),
                requested in proptest::option::of(uri()),
            ) {
                let reg: Vec<RedirectUri> = registered.iter().map(|u| RedirectUri::from(u.as_str())).collect();
                match (choose_redirect_uri(&reg, requested.as_deref()), requested.as_deref()) {
                    (Ok(c), Some(r)) => {
                        prop_assert!(c.explicit);
                        prop_assert_eq!(c.uri.as_str(), r);
                        prop_assert!(
                            registered.iter().any(|u| u == r || loopback_equal_but_for_port(u, r)),
                            "{} chosen from {:?}", r, registered
                        );
                    }
                    (Ok(c), None) => {
                        prop_assert!(!c.explicit);
                        prop_assert_eq!(registered.len(), 1);
                        prop_assert_eq!(c.uri.as_str(), registered[0].as_str());
                    }
                    (Err(RedirectError::Ambiguous), None) => prop_assert_ne!(registered.len(), 1),
                    (Err(RedirectError::NotRegistered), Some(r)) => {
                        prop_assert!(!registered.iter().any(|u| u == r));
                    }
                    (Err(e), r) => prop_assert!(false, "{:?} for {:?}", e, r),
                }
            }

            /// RFC 8252 §7.3: any port 1..=65535, or none, on any loopback host matches a
            /// registration of the same path and query with any port or none.
            #[test]
            fn any_port_matches_a_loopback_registration(
                host in prop_oneof![Just("127.0.0.1"), Just("[::1]"), Just("localhost")],
                reg_port in proptest::option::of(1u16..),
                req_port in proptest::option::of(1u16..),
                rest in "((/[a-z0-9_-]{0,8}){1,3}(\\?[a-z]{1,4}=[a-z0-9]{0,4})?)?",
            ) {
                let with = |p: Option<u16>| match p {
                    Some(p) => format!("http://{host}:{p}{rest}"),
                    None => format!("http://{host}{rest}"),
                };
                let (registered, requested) = (with(reg_port), with(req_port));
                let c = choose_redirect_uri(&[RedirectUri::from(registered.as_str())], Some(&requested));
                prop_assert_eq!(
                    c,
                    Ok(ChosenRedirect { uri: RedirectUri::from(requested.as_str()), explicit: true }),
                    "{} against {}", requested, registered
                );
            }
        }
    }

    #[test]
    fn registration_rejects_fragments_and_plain_http() {
        assert!(validate_registration("https://a.example/cb").is_ok());
        assert!(validate_registration("http://127.0.0.1:8080/cb").is_ok());
        assert!(validate_registration("com.example.app:/cb").is_ok());
        assert!(validate_registration("https://a.example/cb#x").is_err());
        assert!(validate_registration("http://a.example/cb").is_err());
        assert!(validate_registration("/relative").is_err());
        assert!(validate_registration("javascript:alert(1)").is_err());
    }

    /// RFC 8252 §7.3, RFC 9700 §4.1: only the literal loopback hosts allow http; schemes that
    /// run code or read files are refused by name; no user information or response parameter.
    #[test]
    fn registration_allows_http_only_on_a_literal_loopback_host_and_refuses_script_schemes() {
        for ok in [
            "http://127.0.0.1/callback",
            "http://[::1]:3000/cb",
            "http://localhost:6274/oauth/callback",
            "http://localhost",
            "https://claude.ai/api/mcp/auth_callback",
            "com.example.app:/cb",
        ] {
            assert!(validate_registration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.1/cb",
            "http://LOCALHOST/cb",
            "http://0x7f.0.0.1/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1.nip.io/cb",
            "http://127.0.0.1/a/../cb",
            "http://user@127.0.0.1/cb",
            "https://app.example/cb?code=x",
        ] {
            assert!(validate_registration(bad).is_err(), "{bad}");
        }
        for (bad, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,<b>x</b>", "data"),
            ("file:///etc/passwd", "file"),
        ] {
            let e = validate_registration(bad).unwrap_err();
            assert!(e.contains(&format!("`{scheme}:` scheme")), "{e}");
        }
    }
}

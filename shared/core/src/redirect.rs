//! Redirect URIs: exact matching against the registration (RFC 9700 §4.1.3, OAuth 2.1 §2.3.1)
//! and building the redirect back to the client (RFC 6749 §4.1.2, RFC 9207).
use crate::ids::RedirectUri;
use url::Url;

/// Why no redirect URI could be chosen. These are shown on an error page: RFC 6749 §4.1.2.1 and
/// RFC 9700 §4.11 forbid redirecting to a URI that is not known good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectError {
    /// `redirect_uri` was omitted and the client has more than one registered.
    Ambiguous,
    /// `redirect_uri` is not, character for character, one of the registered URIs.
    NotRegistered,
}

/// The redirect URI an authorization request uses, and whether the request named it (RFC 6749
/// §4.1.3 then requires the same value at the token endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenRedirect {
    pub uri: RedirectUri,
    pub explicit: bool,
}

/// RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: compared as exact strings, no prefix or pattern
/// matching. `redirect_uri` may be omitted only when exactly one URI is registered.
pub fn choose_redirect_uri(
    registered: &[RedirectUri],
    requested: Option<&str>,
) -> Result<ChosenRedirect, RedirectError> {
    match requested {
        Some(r) => registered
            .iter()
            .find(|u| u.as_str() == r)
            .map(|u| ChosenRedirect {
                uri: u.clone(),
                explicit: true,
            })
            .ok_or(RedirectError::NotRegistered),
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

/// Checks a redirect URI before registration: absolute, no fragment (RFC 6749 §3.1.2), https,
/// or http only on a loopback host (RFC 8252 §7.3), or a private-use scheme containing a dot for
/// native apps (RFC 8252 §7.1).
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "`{uri}` has a fragment; RFC 6749 §3.1.2 forbids it"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("127.0.0.1") | Some("localhost") | Some("[::1]") => Ok(()),
            _ => Err(format!("`{uri}` uses http on a non-loopback host; use https")),
        },
        s if s.contains('.') => Ok(()),
        s => Err(format!(
            "`{uri}`: scheme `{s}` is neither https, loopback http, nor a reverse-domain private-use scheme"
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
}

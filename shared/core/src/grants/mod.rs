//! The token endpoint's grants (RFC 6749 §4, §5), free of HTTP: a request is parsed once into a
//! [`TokenRequest`] of typed values, and each grant type has a module of its own that takes them.
use crate::clock::{Clock, Entropy};
use crate::error::{ErrorCode, OAuthError};
use crate::ids::RedirectUri;
use crate::params::Params;
use crate::pkce::parse_verifier;
use crate::secret::{AccessToken, AuthorizationCode, CodeVerifier, RefreshToken};
use serde::Serialize;

pub mod code;

pub use code::exchange_code;

/// A parsed token request. Only the authorization code grant for now; refresh joins it.
#[derive(Debug, Clone)]
pub enum TokenRequest {
    AuthorizationCode(CodeGrant),
}

/// RFC 6749 §4.1.3 parameters, parsed.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub code: AuthorizationCode,
    pub redirect_uri: Option<RedirectUri>,
    /// RFC 7636 §4.5, already checked against §4.1's syntax.
    pub code_verifier: Option<CodeVerifier>,
}

impl TokenRequest {
    /// RFC 6749 §4.1.3 and §5.2: parse once, at the edge.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        if let Some(name) = params.repeated().first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` was sent more than once",
                crate::error::echo(name)
            )));
        }
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => {
                let code = params
                    .get("code")
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
                Ok(Self::AuthorizationCode(CodeGrant {
                    code: AuthorizationCode::new(code),
                    redirect_uri: params.get("redirect_uri").map(RedirectUri::from),
                    code_verifier: params
                        .get("code_verifier")
                        .map(parse_verifier)
                        .transpose()?,
                }))
            }
            Some(other) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type `{}` is not supported",
                    crate::error::echo(other)
                ),
            )),
        }
    }
}

/// RFC 6749 §5.1 successful response. The tokens are the secret newtypes (redacted in `Debug`),
/// serialised as themselves only here, for their owner.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: AccessToken,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: RefreshToken,
    pub scope: String,
}

/// What issuing tokens needs besides the request.
pub struct TokenContext<'a> {
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_request_parsing_names_what_is_wrong() {
        let p = |s: &str| Params::from_urlencoded(s.as_bytes());
        let code = |r: Result<TokenRequest, OAuthError>| r.err().map(|e| e.code);
        assert_eq!(
            code(TokenRequest::parse(&p("code=x"))),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(TokenRequest::parse(&p("grant_type=password"))),
            Some(ErrorCode::UnsupportedGrantType)
        );
        assert_eq!(
            code(TokenRequest::parse(&p("grant_type=authorization_code"))),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(TokenRequest::parse(&p(
                "grant_type=authorization_code&code=a&code=b"
            ))),
            Some(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(TokenRequest::parse(&p(
                "grant_type=authorization_code&code=a&code_verifier=short"
            ))),
            Some(ErrorCode::InvalidGrant)
        );
        assert!(TokenRequest::parse(&p("grant_type=authorization_code&code=a")).is_ok());
    }

    #[test]
    fn token_responses_carry_the_tokens_but_never_print_them() {
        let r = TokenResponse {
            access_token: AccessToken::new("pc_at_secret"),
            token_type: "Bearer",
            expires_in: 60,
            refresh_token: RefreshToken::new("pc_rt_secret"),
            scope: "A".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"access_token\":\"pc_at_secret\""), "{json}");
        assert!(!format!("{r:?}").contains("secret"));
    }
}

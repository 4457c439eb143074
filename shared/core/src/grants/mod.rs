//! The token endpoint's grants (RFC 6749 §4, §5), free of HTTP: a request is parsed once into a
//! [`TokenRequest`] of typed values, and each grant type has a module of its own that takes them.
use crate::clock::{Clock, Entropy};
use crate::error::{ErrorCode, OAuthError};
use crate::ids::RedirectUri;
use crate::params::Params;
use crate::pkce::parse_verifier;
use crate::secret::{AccessToken, AuthorizationCode, CodeVerifier, RefreshToken};
use crate::settings::Lifetimes;
use serde::Serialize;

pub mod client_credentials;
pub mod code;
pub mod refresh;

pub use client_credentials::{issue_client_token, ClientCredentialsGrant};
pub use code::exchange_code;
pub use refresh::refresh_tokens;

/// A parsed token request.
#[derive(Debug, Clone)]
pub enum TokenRequest {
    AuthorizationCode(CodeGrant),
    RefreshToken(RefreshGrant),
    /// RFC 6749 §4.4.2.
    ClientCredentials(ClientCredentialsGrant),
}

/// RFC 6749 §6 parameters, parsed. A `code_verifier` (Cal.com's later clients send it again)
/// and any other parameter are ignored (RFC 6749 §3.2).
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    pub refresh_token: RefreshToken,
    /// `None`: the grant's scope. Otherwise it must be equal or narrower (RFC 6749 §6).
    pub scope: Option<Vec<String>>,
    /// RFC 8707 §2.2: `None`, or the grant's own resource ([`crate::resource::narrow`]).
    pub resource: Option<String>,
}

impl RefreshGrant {
    /// Cal.com's `/refreshToken` contract: the refresh token in the body, or in
    /// `Authorization: Bearer` (`header_token`), not both. `grant_type`, when sent, must be
    /// `refresh_token`.
    pub fn parse(params: &Params, header_token: Option<&str>) -> Result<Self, OAuthError> {
        let resource = crate::resource::requested(params)?.map(str::to_string);
        if let Some(name) = params.repeated().first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` was sent more than once",
                crate::error::echo(name)
            )));
        }
        match params.get("grant_type") {
            None | Some("refresh_token") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!(
                        "grant_type `{}` is not supported here: send refresh_token",
                        crate::error::echo(other)
                    ),
                ))
            }
        }
        let token =
            match (params.get("refresh_token"), header_token) {
                (Some(_), Some(_)) => return Err(OAuthError::invalid_request(
                    "the refresh token was sent both in the Authorization header and in the body",
                )),
                (Some(t), None) | (None, Some(t)) => t,
                (None, None) => {
                    return Err(OAuthError::invalid_request(
                        "refresh_token is required (in the body or as Authorization: Bearer)",
                    ))
                }
            };
        Ok(Self::from_params(token, params, resource))
    }

    fn from_params(token: &str, params: &Params, resource: Option<String>) -> Self {
        Self {
            refresh_token: RefreshToken::new(token),
            scope: params.get("scope").map(crate::scope::parse_scope),
            resource,
        }
    }
}

/// RFC 6749 §4.1.3 parameters, parsed.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub code: AuthorizationCode,
    pub redirect_uri: Option<RedirectUri>,
    /// RFC 7636 §4.5, already checked against §4.1's syntax.
    pub code_verifier: Option<CodeVerifier>,
    /// RFC 8707 §2.2: `None`, or the code's own resource.
    pub resource: Option<String>,
}

impl TokenRequest {
    /// RFC 6749 §4.1.3 and §5.2: parse once, at the edge.
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        // RFC 8707 §2: several resources are `invalid_target`, before the generic rule.
        let resource = crate::resource::requested(params)?.map(str::to_string);
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
                    resource,
                }))
            }
            Some("refresh_token") => {
                let token = params
                    .get("refresh_token")
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
                Ok(Self::RefreshToken(RefreshGrant::from_params(
                    token, params, resource,
                )))
            }
            Some("client_credentials") => Ok(Self::ClientCredentials(ClientCredentialsGrant {
                resource,
                ..ClientCredentialsGrant::from_params(params)
            })),
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
    /// None for client credentials (RFC 6749 §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    pub scope: String,
}

impl TokenResponse {
    /// The refresh token, for tests of grants that always issue one.
    #[cfg(any(test, feature = "testkit"))]
    #[allow(clippy::expect_used)]
    pub fn refresh(&self) -> &RefreshToken {
        self.refresh_token
            .as_ref()
            .expect("this grant issues a refresh token")
    }
}

/// What issuing tokens needs besides the request.
pub struct TokenContext<'a> {
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
    pub lifetimes: &'a Lifetimes,
    /// The deployment's current scope catalogue: a refresh keeps only the grant's scopes that
    /// are still in it (review finding 4).
    pub scopes: &'a crate::scope::ScopeCatalog,
    /// The mint and tag keys ([`crate::codec`]).
    pub keys: crate::codec::IssuingKeys<'a>,
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
        assert_eq!(
            code(TokenRequest::parse(&p("grant_type=refresh_token"))),
            Some(ErrorCode::InvalidRequest)
        );
    }

    /// Cal.com's refresh contract: the token in the body or as Bearer, not both; a
    /// `code_verifier` and unknown parameters are ignored (RFC 6749 §3.2).
    #[test]
    fn refresh_token_in_both_header_and_body_is_invalid_request() {
        let p = |s: &str| Params::from_urlencoded(s.as_bytes());
        let both = RefreshGrant::parse(&p("grant_type=refresh_token&refresh_token=a"), Some("b"));
        assert_eq!(both.err().map(|e| e.code), Some(ErrorCode::InvalidRequest));
        let header = RefreshGrant::parse(
            &p("grant_type=refresh_token&code_verifier=x&foo=bar"),
            Some("pc_rt_a"),
        )
        .unwrap();
        assert_eq!(header.refresh_token.secret(), "pc_rt_a");
        let body = RefreshGrant::parse(&p("refresh_token=pc_rt_b&scope=A"), None).unwrap();
        assert_eq!(body.scope, Some(vec!["A".to_string()]));
        let none = RefreshGrant::parse(&p("grant_type=refresh_token"), None);
        assert_eq!(none.err().map(|e| e.code), Some(ErrorCode::InvalidRequest));
        let wrong = RefreshGrant::parse(&p("grant_type=password"), Some("pc_rt_a"));
        assert_eq!(
            wrong.err().map(|e| e.code),
            Some(ErrorCode::UnsupportedGrantType)
        );
    }

    #[test]
    fn token_responses_carry_the_tokens_but_never_print_them() {
        let r = TokenResponse {
            access_token: AccessToken::new("pc_at_secret"),
            token_type: "Bearer",
            expires_in: 60,
            refresh_token: Some(RefreshToken::new("pc_rt_secret")),
            scope: "A".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"access_token\":\"pc_at_secret\""), "{json}");
        assert!(!format!("{r:?}").contains("secret"));
    }
}

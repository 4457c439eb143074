//! Bearer token authentication for resource endpoints (RFC 6750). The same call protects
//! `/me` and the product's own API Lambdas.
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::ids::{ClientId, GrantId};
use crate::model::{ItemKind, UserInfo};
use crate::ports::TokenLookup;
use crate::secret::AccessToken;

/// Who a valid access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessContext {
    pub user: UserInfo,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    pub grant_id: GrantId,
}

impl AccessContext {
    /// RFC 6750 §3.1: a token without the scope gets `insufficient_scope` (403).
    pub fn require_scope(&self, scope: &str) -> Result<(), OAuthError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                format!("this request needs the {scope} scope"),
            ))
        }
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110
/// §11.1). Tokens in the query string are not accepted (RFC 6750 §5.3: they leak through logs
/// and referrers; OAuth 2.1 drops that method).
pub fn bearer_token(authorization: Option<&str>) -> Result<AccessToken, OAuthError> {
    let Some(h) = authorization else {
        return Err(OAuthError::invalid_token(
            "no access token: send Authorization: Bearer <token>",
        ));
    };
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthError::invalid_token(
            "the Authorization header must use the Bearer scheme",
        ));
    }
    let token = rest.trim();
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let well_formed = !token.is_empty()
        && token.len() <= 512
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if !well_formed {
        return Err(OAuthError::invalid_token("the bearer token is malformed"));
    }
    Ok(AccessToken::new(token))
}

/// Validates an access token: known, not expired, and an access token, not a refresh token
/// (Cal.com's weakness 3). One storage read.
pub async fn authenticate(
    tokens: &(impl TokenLookup + ?Sized),
    authorization: Option<&str>,
    now: u64,
) -> Result<AccessContext, EndpointError> {
    let token = bearer_token(authorization)?;
    let invalid = || OAuthError::invalid_token("the access token is invalid or has expired");
    // Not one of ours: no need to ask the table.
    if !token.secret().starts_with(AccessToken::PREFIX) {
        return Err(invalid().into());
    }
    let rec = tokens
        .token(&token.hash(), now)
        .await?
        .ok_or_else(invalid)?;
    if rec.kind != ItemKind::Access {
        return Err(invalid().into());
    }
    Ok(AccessContext {
        user: rec.user,
        client_id: rec.client_id,
        scopes: rec.scopes,
        grant_id: rec.grant_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_must_be_b64token() {
        assert!(bearer_token(Some("Bearer pc_at_abc")).is_ok());
        assert!(bearer_token(Some("bearer pc_at_abc")).is_ok());
        assert!(bearer_token(Some("Basic abc")).is_err());
        assert!(bearer_token(Some("Bearer")).is_err());
        assert!(bearer_token(Some("Bearer a b")).is_err());
        assert!(bearer_token(None).is_err());
    }

    #[test]
    fn missing_scope_is_insufficient_scope() {
        let ctx = AccessContext {
            user: UserInfo::default(),
            client_id: "c".into(),
            scopes: vec!["READ_BOOKING".into()],
            grant_id: "g".into(),
        };
        assert_eq!(
            ctx.require_scope("READ_PROFILE").map_err(|e| e.code),
            Err(ErrorCode::InsufficientScope)
        );
        assert!(ctx.require_scope("READ_BOOKING").is_ok());
    }
}

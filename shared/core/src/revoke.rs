//! Token revocation (RFC 7009), free of HTTP. The client authenticates as at the token endpoint
//! ([`crate::client_auth`]); then the token is classified by its prefix, never by the
//! `token_type_hint` (a hint the client may get wrong, §2.1), and revoked only if it was issued to
//! that client. Whatever the token is, a request that authenticates gets `200` (§2.2).
//!
//!
//! DynamoDB calls: none for a token this server did not issue; otherwise one BatchGetItem (the
//! grant the token names and the client) and at most one UpdateItem of the grant (2 calls).
use crate::client_auth::{auth_failed, authenticate_found, ClientCredentials};
use crate::codec::{classify, CheckingKeys, Genuine};
use crate::error::{EndpointError, OAuthError};
use crate::params::Params;
use crate::ports::{AccessRevocation, AccessSlot, GrantRead, GrantRevocation};
use crate::secret::SecretHash;

/// RFC 7009 §2.1 parameters, parsed.
#[derive(Debug, Clone)]
pub struct RevocationRequest {
    /// The token as presented (it may be anything: it is looked up only if it has the shape of
    /// one of ours).
    pub token: String,
}

impl RevocationRequest {
    /// RFC 7009 §2.1: `token` is required; `token_type_hint` is optional and only a hint, so it
    /// is accepted whatever its value and not used (the prefix tells the type). Any parameter
    /// sent twice is `invalid_request` (RFC 6749 §3.2).
    pub fn parse(params: &Params) -> Result<Self, OAuthError> {
        if let Some(name) = params.repeated().first() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` was sent more than once",
                crate::error::echo(name)
            )));
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        Ok(Self {
            token: token.to_string(),
        })
    }
}

/// What a revocation did (the response is the same `200` whatever it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The access token was the client's: it is gone.
    AccessToken,
    /// The refresh token was the client's: its grant and every token of it are gone.
    Grant,
    /// Unknown, expired, already revoked, malformed or another client's token: nothing changed.
    Nothing,
}

/// RFC 7009 §2.1. A token this server did not issue (its tag, [`crate::codec`]) changes nothing
/// and costs nothing: `200` with no storage call (§2.2: invalid tokens do not cause an error).
/// Otherwise one strongly consistent BatchGetItem reads the grant the token names with the
/// client's registration, and the client authenticates (an unknown client, a disabled one or a
/// wrong secret is `invalid_client`; a public client sends only its `client_id`). Then, in one
/// conditional write:
/// - an access token of this client that its grant still names is ended (the grant and its
///   refresh token live on);
/// - a refresh token of this client, current or of an earlier generation (review finding 3: a
///   used one names a grant that may be live, with a thief's tokens in it), revokes its whole
///   grant (§2.1: the server "SHOULD also invalidate all access tokens based on the same
///   authorization grant");
/// - anything else changes nothing and still succeeds (a token of another client is not
///   revoked, and the answer does not say so).
pub async fn revoke_token<T>(
    tokens: &T,
    creds: &ClientCredentials,
    req: &RevocationRequest,
    keys: CheckingKeys<'_>,
    now: u64,
) -> Result<Revoked, EndpointError>
where
    T: GrantRead + GrantRevocation + AccessRevocation + ?Sized,
{
    let client_id = creds.require_client_id()?;
    let Some(token) = classify(&req.token, keys) else {
        return Ok(Revoked::Nothing);
    };
    if !client_id.is_well_formed() {
        return Err(auth_failed().into());
    }
    let (grant, clients) = tokens
        .grant_and_clients(token.grant_id(), &[client_id], true)
        .await?;
    authenticate_found(creds, &clients, now)?;
    let Some(g) = grant.filter(|g| g.client_id == *client_id && g.is_live(now)) else {
        return Ok(Revoked::Nothing);
    };
    let hash = SecretHash::of(&req.token);
    match token {
        Genuine::Access(p) => {
            let slot = if p.generation == g.generation && g.access_hash.as_ref() == Some(&hash) {
                AccessSlot::Current
            } else if p.generation.checked_add(1) == Some(g.generation)
                && g.previous_access_hash.as_ref() == Some(&hash)
            {
                AccessSlot::Previous
            } else {
                return Ok(Revoked::Nothing);
            };
            let gone = tokens.revoke_access(&g.grant_id, slot, &hash).await?;
            Ok(if gone {
                Revoked::AccessToken
            } else {
                Revoked::Nothing
            })
        }
        Genuine::Refresh(p) => {
            let current = g.refresh_is_current(&hash, now);
            if !current && p.generation >= g.generation {
                return Ok(Revoked::Nothing);
            }
            tokens.revoke_grant(&g.grant_id, now).await?;
            Ok(Revoked::Grant)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::error::ErrorCode;
    use crate::grants::TokenResponse;
    use crate::ids::ClientId;
    use crate::ports::Op;
    use crate::secret::ClientSecret;
    use crate::testkit::{client, World, SECRET};

    const Q: &str = "client_id=c1&scope=READ_PROFILE%20READ_BOOKING";
    const Q2: &str = "client_id=c2&scope=READ_PROFILE";

    fn creds(id: &str, secret: Option<&str>) -> ClientCredentials {
        ClientCredentials {
            client_id: Some(ClientId::new(id)),
            secret: secret.map(ClientSecret::new),
            ..Default::default()
        }
    }

    fn req(token: &str) -> RevocationRequest {
        RevocationRequest {
            token: token.into(),
        }
    }

    async fn issued(w: &World, q: &str, c: (&str, Option<&str>)) -> TokenResponse {
        let code = w.code(q).await;
        w.exchange(c, &code, None, None).await.unwrap()
    }

    fn world() -> World {
        World::new().with(client("c1")).with(client("c2"))
    }

    async fn revoke(w: &World, c: ClientCredentials, token: &str) -> Result<Revoked, ErrorCode> {
        revoke_token(&w.store, &c, &req(token), w.keys.checking(), w.clock.now())
            .await
            .map_err(|e| e.public().code)
    }

    /// RFC 7009 §2.1: revoking an access token invalidates it; the grant's refresh token lives
    /// on. Two DynamoDB calls: the client's GetItem and one conditional DeleteItem.
    #[tokio::test]
    async fn revoking_an_access_token_deletes_only_that_token_in_two_calls() {
        let w = world();
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        w.store.reset_calls();
        let r = revoke(&w, creds("c1", Some(SECRET)), t.access_token.secret()).await;
        assert_eq!(r, Ok(Revoked::AccessToken));
        assert_eq!(w.store.calls(), 2);
        assert!(!w.is_live(&t.access_token).await);
        assert!(w.refresh_is_current(t.refresh()));
    }

    /// RFC 7009 §2.1: revoking a refresh token revokes the grant, with its access tokens.
    #[tokio::test]
    async fn revoking_a_refresh_token_revokes_its_grant_and_access_tokens() {
        let w = world();
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        let r = revoke(&w, creds("c1", Some(SECRET)), t.refresh().secret()).await;
        assert_eq!(r, Ok(Revoked::Grant));
        assert!(!w.is_live(&t.access_token).await);
        assert!(!w.refresh_is_current(t.refresh()));
        assert_eq!(
            w.refresh(("c1", Some(SECRET)), t.refresh(), None)
                .await
                .err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// Review finding 3 (RFC 7009 §2.1): revoking a refresh token that was already used (retired)
    /// still ends its grant, so a thief who used it first loses the tokens it got.
    #[tokio::test]
    async fn revoking_a_retired_refresh_token_ends_its_grant() {
        let w = world();
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        // The thief refreshes first: the client's token is now retired.
        let thief = w
            .refresh(("c1", Some(SECRET)), t.refresh(), None)
            .await
            .unwrap();
        let r = revoke(&w, creds("c1", Some(SECRET)), t.refresh().secret()).await;
        assert_eq!(r, Ok(Revoked::Grant));
        assert!(!w.is_live(&thief.access_token).await);
        assert!(!w.refresh_is_current(thief.refresh()));
        assert_eq!(
            w.refresh(("c1", Some(SECRET)), thief.refresh(), None)
                .await
                .err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// RFC 7009 §2.1: the server checks the token was issued to the requesting client; another
    /// client's token is not revoked, and the answer is the same success (§2.2).
    #[tokio::test]
    async fn another_clients_token_is_not_revoked_and_the_answer_is_success() {
        let w = world();
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        for token in [t.access_token.secret(), t.refresh().secret()] {
            let r = revoke(&w, creds("c2", Some(SECRET)), token).await;
            assert_eq!(r, Ok(Revoked::Nothing));
        }
        assert!(w.is_live(&t.access_token).await);
        assert!(w.refresh_is_current(t.refresh()));
    }

    /// RFC 7009 §2.2: unknown, malformed, already revoked and expired tokens get success;
    /// malformed ones cost no token lookup.
    #[tokio::test]
    async fn invalid_tokens_are_not_an_error() {
        let w = world();
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        let c = || creds("c1", Some(SECRET));
        w.store.reset_calls();
        assert_eq!(revoke(&w, c(), "garbage").await, Ok(Revoked::Nothing));
        assert_eq!(
            w.store.calls(),
            0,
            "a token this server did not issue costs nothing"
        );
        // An API key is not an OAuth token: revoked through the CLI, not here.
        let api_key = format!("pc_ak_{}", "A".repeat(43));
        assert_eq!(revoke(&w, c(), &api_key).await, Ok(Revoked::Nothing));
        let unknown = crate::codec::mint_access(
            w.keys.issuing(),
            &ClientId::new("c1"),
            &crate::model::grant_id_for_code(&crate::secret::SecretHash::of("x")),
            0,
        );
        assert_eq!(
            revoke(&w, c(), unknown.secret()).await,
            Ok(Revoked::Nothing)
        );
        let r = revoke(&w, c(), t.access_token.secret()).await;
        assert_eq!(r, Ok(Revoked::AccessToken));
        let again = revoke(&w, c(), t.access_token.secret()).await;
        assert_eq!(again, Ok(Revoked::Nothing));
        // Past its end (the table's TTL has not removed it yet): already invalid.
        w.clock.advance(86_400 + 1);
        let r = revoke(&w, c(), t.refresh().secret()).await;
        assert_eq!(r, Ok(Revoked::Nothing));
    }

    /// RFC 7009 §2.1 (client authentication as at the token endpoint, RFC 6749 §2.3): a wrong
    /// secret, an unknown or disabled client is `invalid_client`, and nothing is revoked.
    #[tokio::test]
    async fn a_client_that_fails_authentication_gets_invalid_client_and_revokes_nothing() {
        let w = world().with(client("off").disabled());
        let t = issued(&w, Q, ("c1", Some(SECRET))).await;
        let token = t.access_token.secret();
        for c in [
            creds("c1", Some("pc_cs_wrong")),
            creds("c1", None),
            creds("nobody", Some(SECRET)),
            creds("off", Some(SECRET)),
            ClientCredentials::default(),
        ] {
            assert_eq!(revoke(&w, c, token).await, Err(ErrorCode::InvalidClient));
        }
        assert!(w.is_live(&t.access_token).await);
    }

    /// RFC 7009 §2.1: a public client identifies itself by `client_id` alone and may revoke its
    /// own tokens.
    #[tokio::test]
    async fn a_public_client_revokes_its_own_tokens_with_its_client_id() {
        let w = World::new().with(client("pub").public());
        let code = w
            .code(&format!(
                "client_id=pub&scope=READ_PROFILE&code_challenge={}&code_challenge_method=S256",
                crate::pkce::CodeChallenge::s256(crate::testkit::VERIFIER).as_str()
            ))
            .await;
        let t = w
            .exchange(("pub", None), &code, None, Some(crate::testkit::VERIFIER))
            .await
            .unwrap();
        let r = revoke(&w, creds("pub", None), t.refresh().secret()).await;
        assert_eq!(r, Ok(Revoked::Grant));
        assert!(!w.is_live(&t.access_token).await);
    }

    /// RFC 7009 §2.1: the hint is only a hint; a wrong one does not stop the revocation.
    #[test]
    fn the_token_type_hint_is_accepted_and_not_trusted() {
        let p = Params::from_urlencoded(b"token=pc_at_x&token_type_hint=refresh_token");
        assert_eq!(RevocationRequest::parse(&p).unwrap().token, "pc_at_x");
        let p = Params::from_urlencoded(b"token=t&token_type_hint=nonsense");
        assert!(RevocationRequest::parse(&p).is_ok());
        let p = Params::from_urlencoded(b"token_type_hint=access_token");
        assert_eq!(
            RevocationRequest::parse(&p).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let p = Params::from_urlencoded(b"token=a&token=b");
        assert!(RevocationRequest::parse(&p).is_err());
    }

    /// A storage fault is a 503-family error, not a silent success.
    #[tokio::test]
    async fn a_storage_fault_is_reported() {
        let w = world();
        let t = issued(&w, Q2, ("c2", Some(SECRET))).await;
        w.store.fail_next(Op::RevokeAccess);
        let r = revoke(&w, creds("c2", Some(SECRET)), t.access_token.secret()).await;
        assert_eq!(r, Err(ErrorCode::TemporarilyUnavailable));
        assert!(w.is_live(&t.access_token).await);
    }
}

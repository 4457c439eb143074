//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token of its
//! own, with no user present (a product's services, a customer's backend job, a partner's
//! server).
//!
//! Storage: the client's authentication is the one read (a GetItem of the client, by the
//! caller); the token is one PutItem of a small grant item in its own shape (no refresh token,
//! no user, none of the indexes' key attributes: one write unit, no index entry). A client
//! registered with a token rate (`--token-rate N`) adds one counter UpdateItem; without one,
//! nothing is counted.
use super::{TokenContext, TokenResponse};
use crate::codec::mint_access;
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::ids::GrantId;
use crate::model::{Client, Grant, GrantType};
use crate::params::Params;
use crate::ports::{GrantStart, TokenRateLimit};
use crate::scope::join_scope;

/// RFC 6749 §4.4.2 parameters, parsed.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsGrant {
    /// `None`: the client's registered scopes.
    pub scope: Option<Vec<String>>,
}

impl ClientCredentialsGrant {
    pub fn from_params(params: &Params) -> Self {
        Self {
            scope: params.get("scope").map(crate::scope::parse_scope),
        }
    }
}

/// RFC 6749 §4.4.2–4.4.3: a token for `client` itself, which the caller has authenticated
/// (RFC 6749 §3.2.1; a secret or a private_key_jwt assertion) against its current registration.
///
/// - §4.4: public clients are refused (`unauthorized_client`), as is a client not registered
///   for this grant type (§5.2).
/// - §3.3: the scope asked for must be within the client's registered scopes and the current
///   catalogue (`invalid_scope` otherwise); none asked: all of the client's that are still in
///   the catalogue.
/// - Past the client's token rate for this minute: 429 with `Retry-After`.
/// - §4.4.3: no refresh token. The access token names its grant like every other
///   ([`crate::codec`]), so revoking it, disabling or deleting the client ends it at once.
pub async fn issue_client_token(
    tokens: &(impl GrantStart + ?Sized),
    limits: &(impl TokenRateLimit + ?Sized),
    client: &Client,
    grant: &ClientCredentialsGrant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    if client.public {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot use client_credentials: it has no credentials to prove who it is (RFC 6749 §4.4)",
        )
        .into());
    }
    if !client.may_use(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the client_credentials grant",
        )
        .into());
    }
    let scopes = granted_scopes(client, grant, ctx)?;
    if let Some(limit) = client.token_rate {
        let window = now - now % 60;
        if !limits.count_token(&client.client_id, window, limit).await? {
            return Err(EndpointError::RateLimited {
                client_id: client.client_id.clone(),
                limit,
                retry_after: (window + 60 - now).max(1),
            });
        }
    }
    let grant_id = GrantId::new(crate::secret::generate("g_", ctx.entropy));
    let access = mint_access(ctx.keys, &client.client_id, &grant_id, 0);
    let expires_at = now + ctx.lifetimes.access_ttl;
    let item = Grant::machine(
        grant_id,
        client.client_id.clone(),
        scopes,
        now,
        expires_at,
        Some(access.hash()),
    );
    // The id is 256 random bits: a conflict means the write landed before (the SDK retried it);
    // the token minted from it is the one stored.
    tokens.start_grant(&item).await?;
    tracing::info!(client_id = %client.client_id, grant_id = %item.grant_id, "client credentials token issued");
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ctx.lifetimes.access_ttl,
        refresh_token: None,
        scope: join_scope(&item.scopes),
    })
}

/// RFC 6749 §3.3: what the token may do.
fn granted_scopes(
    client: &Client,
    grant: &ClientCredentialsGrant,
    ctx: &TokenContext<'_>,
) -> Result<Vec<String>, OAuthError> {
    let allowed = |s: &str| ctx.scopes.contains(s) && client.scopes.iter().any(|c| c == s);
    let scopes: Vec<String> = match &grant.scope {
        None => client
            .scopes
            .iter()
            .filter(|s| allowed(s))
            .cloned()
            .collect(),
        Some(asked) => {
            if let Some(bad) = asked.iter().find(|s| !allowed(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!(
                        "scope `{}` is unknown or not allowed for this client",
                        crate::error::echo(bad)
                    ),
                ));
            }
            asked.clone()
        }
    };
    if scopes.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "no scope: ask for at least one of this client's scopes",
        ));
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EndpointError;
    use crate::testkit::{client, World};

    fn machine() -> Client {
        client("m1").machine().build()
    }

    fn code(r: &Result<TokenResponse, EndpointError>) -> Option<ErrorCode> {
        match r {
            Err(EndpointError::OAuth(e)) => Some(e.code),
            _ => None,
        }
    }

    /// RFC 6749 §4.4.3: a token and no refresh token; one write, and the grant it names has no
    /// user.
    #[tokio::test]
    async fn client_credentials_issue_an_access_token_and_no_refresh_token() {
        let w = World::new();
        let c = machine();
        w.store.reset_calls();
        let r = w
            .issue_client_token(&c, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert!(r.refresh_token.is_none());
        assert_eq!(w.store.calls(), 1);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("refresh_token").is_none(), "{json}");
        let g = w.grant_of(&r.access_token).unwrap();
        assert!(g.is_machine());
        let principal = w.access(&r.access_token).await.unwrap();
        assert!(principal.is_client());
        assert_eq!(principal.user, None);
        assert_eq!(principal.client_id.as_ref(), Some(&c.client_id));
        assert_eq!(principal.sub().as_str(), c.client_id.as_str());
        assert_eq!(r.expires_in, w.lifetimes.access_ttl);
    }

    /// RFC 6749 §3.3: the registered scopes when none is asked; a subset when asked; an unknown
    /// or unallowed one is `invalid_scope`.
    #[tokio::test]
    async fn client_credentials_scopes_are_a_subset_of_the_clients() {
        let w = World::new();
        let mut c = machine();
        c.scopes = vec!["READ_BOOKING".into()];
        let all = w
            .issue_client_token(&c, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert_eq!(all.scope, "READ_BOOKING");
        let asked = |s: &str| ClientCredentialsGrant {
            scope: Some(crate::scope::parse_scope(s)),
        };
        let r = w.issue_client_token(&c, &asked("READ_PROFILE")).await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidScope));
        let r = w.issue_client_token(&c, &asked("NOPE")).await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidScope));
        assert!(w
            .issue_client_token(&c, &asked("READ_BOOKING"))
            .await
            .is_ok());
    }

    /// RFC 6749 §4.4, §5.2: public clients, and clients not registered for the grant, get
    /// `unauthorized_client` and nothing is written.
    #[tokio::test]
    async fn client_credentials_refuse_public_and_unregistered_clients() {
        let w = World::new();
        let mut public = machine();
        public.public = true;
        w.store.reset_calls();
        let r = w
            .issue_client_token(&public, &ClientCredentialsGrant::default())
            .await;
        assert_eq!(code(&r), Some(ErrorCode::UnauthorizedClient));
        let web = client("w1").build();
        let r = w
            .issue_client_token(&web, &ClientCredentialsGrant::default())
            .await;
        assert_eq!(code(&r), Some(ErrorCode::UnauthorizedClient));
        assert_eq!(w.store.calls(), 0);
    }

    /// `--token-rate N`: the N+1st request of a minute is 429 with a Retry-After to the minute's
    /// end, and issues nothing; the next minute counts afresh. Without a rate nothing is
    /// counted (one call per token).
    #[tokio::test]
    async fn a_client_past_its_token_rate_gets_429_until_the_minute_ends() {
        let w = World::new();
        let mut c = machine();
        c.token_rate = Some(2);
        for _ in 0..2 {
            w.issue_client_token(&c, &ClientCredentialsGrant::default())
                .await
                .unwrap();
        }
        let (_, grants) = w.store.counts();
        let r = w
            .issue_client_token(&c, &ClientCredentialsGrant::default())
            .await;
        match r {
            Err(EndpointError::RateLimited { retry_after, .. }) => {
                assert!((1..=60).contains(&retry_after))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(w.store.counts().1, grants);
        w.clock.advance(60);
        assert!(w
            .issue_client_token(&c, &ClientCredentialsGrant::default())
            .await
            .is_ok());
        let unlimited = machine();
        w.store.reset_calls();
        w.issue_client_token(&unlimited, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert_eq!(w.store.calls(), 1);
    }

    /// Issue 17: disabling the client ends its machine tokens at once, and enabling it again
    /// does not bring them back (they are in no index for `client disable` to sweep, so the
    /// client's `disabled_at` ends them); tokens issued after the enable work.
    #[tokio::test]
    async fn a_machine_token_stays_ended_after_its_client_is_disabled_and_enabled() {
        use crate::clock::Clock;
        let w = World::new();
        let c = machine();
        let before = w
            .issue_client_token(&c, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert!(w.is_live(&before.access_token).await);
        crate::admin::disable_client(&w.store, &w.store, &c.client_id, w.clock.now())
            .await
            .unwrap()
            .unwrap();
        assert!(!w.is_live(&before.access_token).await);
        w.clock.advance(5);
        let mut enabled = w.store.stored_client("m1").unwrap();
        enabled.disabled = false;
        let after = w
            .issue_client_token(&enabled, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert!(!w.is_live(&before.access_token).await, "ended for good");
        assert!(w.is_live(&after.access_token).await);
    }

    /// A storage fault is a 503 and leaves no token behind.
    #[tokio::test]
    async fn a_fault_while_issuing_a_client_token_is_unavailable_and_stores_nothing() {
        let w = World::new();
        w.store.fail_next(crate::ports::Op::StartGrant);
        let r = w
            .issue_client_token(&machine(), &ClientCredentialsGrant::default())
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.http_status(), 503);
        assert_eq!(w.store.counts().1, 0);
    }
}

//! The client credentials grant (RFC 6749 §4.4): a confidential client asks for a token of its
//! own, with no user present (a product's services, a customer's backend job, a partner's
//! server).
//!
//! Storage: the client's authentication is the one read (a GetItem of the client, by the
//! caller); the token is one PutItem of a small grant item in its own shape (no refresh token,
//! no user, none of the indexes' key attributes: one write unit, no index entry). A client
//! registered with a token rate (`--token-rate N`) adds one counter UpdateItem; without one,
//! nothing is counted. A `resource` (RFC 8707) is read with the client, in the same request
//! (one BatchGetItem instead of the GetItem); when a client assertion has read the client
//! already, the resource alone (one GetItem).
use super::{TokenContext, TokenResponse};
use crate::client_auth::{
    auth_failed, authenticate_found, authenticate_registered, ClientCredentials,
};
use crate::codec::mint_access;
use crate::error::{EndpointError, ErrorCode, OAuthError};
use crate::ids::GrantId;
use crate::model::{Client, Grant, GrantType};
use crate::params::Params;
use crate::ports::{ClientLookup, GrantStart, ResourceLookup, TokenRateLimit};
use crate::resource::Resource;
use crate::scope::join_scope;

/// RFC 6749 §4.4.2 parameters, parsed.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsGrant {
    /// `None`: the client's registered scopes.
    pub scope: Option<Vec<String>>,
    /// RFC 8707 §2: the resource the token is for, one at most (checked when parsed,
    /// [`crate::resource::requested`]); `None`: a token with no audience.
    pub resource: Option<String>,
}

impl ClientCredentialsGrant {
    /// The scope; the `resource` is parsed with the rest of the request
    /// ([`super::TokenRequest::parse`]).
    pub fn from_params(params: &Params) -> Self {
        Self {
            scope: params.get("scope").map(crate::scope::parse_scope),
            resource: None,
        }
    }
}

/// RFC 6749 §3.2.1 for a client-credentials request, with its RFC 8707 `resource`: the client as
/// registered now, authenticated, and the resource the request names as registered (`None`
/// when it names none, or names one that is not registered: [`issue_client_token`] refuses
/// that). One storage call at most:
/// - no client assertion: the client alone (GetItem), or with the resource (one BatchGetItem);
/// - a client assertion (`asserted`: the client its check read): nothing more, or the resource
///   alone (GetItem).
pub async fn authenticate_with_resource(
    clients: &(impl ClientLookup + ResourceLookup + ?Sized),
    creds: &ClientCredentials,
    asserted: Option<Client>,
    grant: &ClientCredentialsGrant,
    now: u64,
) -> Result<(Client, Option<Resource>), EndpointError> {
    match (asserted, grant.resource.as_deref()) {
        (Some(client), None) => Ok((client, None)),
        (Some(client), Some(uri)) => Ok((client, clients.resource(uri).await?)),
        (None, None) => Ok((authenticate_registered(clients, creds, now).await?.1, None)),
        (None, Some(uri)) => {
            let client_id = creds.require_client_id()?;
            // Issue 10: an id that cannot be a client's is refused without a storage call.
            if !client_id.is_well_formed() {
                return Err(auth_failed().into());
            }
            let (client, resource) = clients.client_and_resource(client_id, uri).await?;
            let found: Vec<Client> = client.into_iter().collect();
            let client = authenticate_found(creds, &found, now)?.clone();
            Ok((client, resource))
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
/// - RFC 8707 §2: a `resource` must be a registered, enabled resource (`found`, as read by
///   [`authenticate_with_resource`]), else `invalid_target`; the scopes are narrowed to those
///   it offers (asked explicitly, each must be offered: `invalid_scope`), and the token is bound
///   to it: its `aud` at introspection, refused by any other resource's authenticator.
/// - Past the client's token rate for this minute: 429 with `Retry-After`.
/// - §4.4.3: no refresh token. The access token names its grant like every other
///   ([`crate::codec`]), so revoking it, disabling or deleting the client ends it at once.
pub async fn issue_client_token(
    tokens: &(impl GrantStart + ?Sized),
    limits: &(impl TokenRateLimit + ?Sized),
    client: &Client,
    found: Option<&Resource>,
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
    let (scopes, resource) = match grant.resource.as_deref() {
        None => (scopes, None),
        Some(asked) => {
            let (uri, scopes) =
                crate::resource::scopes_for(asked, found, grant.scope.is_some(), scopes)?;
            (scopes, Some(uri))
        }
    };
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
    let mut item = Grant::machine(
        grant_id,
        client.client_id.clone(),
        scopes,
        now,
        expires_at,
        Some(access.hash()),
    );
    item.resource = resource;
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
            ..Default::default()
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

    const MCP: &str = "https://api.example.com/mcp";

    /// A world with machine client `m1` (both default scopes, secret [`crate::testkit::SECRET`])
    /// and the resource [`MCP`] offering READ_BOOKING.
    fn with_resource() -> World {
        let w = World::new().with(client("m1").machine());
        w.store.upsert_resource(
            Resource::new(
                MCP,
                None,
                vec!["READ_BOOKING".into()],
                &crate::scope::ScopeCatalog::default(),
                1,
            )
            .unwrap(),
        );
        w
    }

    fn m1(secret: &str) -> ClientCredentials {
        ClientCredentials {
            client_id: Some(crate::ids::ClientId::new("m1")),
            secret: Some(crate::secret::ClientSecret::new(secret)),
            ..Default::default()
        }
    }

    fn for_resource(resource: &str, scope: Option<&str>) -> ClientCredentialsGrant {
        ClientCredentialsGrant {
            scope: scope.map(crate::scope::parse_scope),
            resource: Some(resource.into()),
        }
    }

    /// The token endpoint's client-credentials path as token.rs runs it: authenticate (with the
    /// resource), then issue.
    async fn request(
        w: &World,
        creds: &ClientCredentials,
        asserted: Option<Client>,
        grant: &ClientCredentialsGrant,
    ) -> Result<TokenResponse, EndpointError> {
        use crate::clock::Clock;
        let (c, found) =
            authenticate_with_resource(&w.store, creds, asserted, grant, w.clock.now()).await?;
        issue_client_token(
            &w.store,
            &w.store,
            &c,
            found.as_ref(),
            grant,
            &w.token_context(),
        )
        .await
    }

    /// RFC 8707 §2: a client-credentials token for a registered resource is bound to it: its
    /// grant (and so introspection's `aud`, and the resource server's check) names the
    /// resource, and its scopes are the client's narrowed to those the resource offers. The
    /// client and the resource are one read (BatchGetItem), the token one write.
    #[tokio::test]
    async fn a_client_credentials_token_for_a_registered_resource_is_bound_to_it() {
        let w = with_resource();
        w.store.reset_calls();
        let r = request(
            &w,
            &m1(crate::testkit::SECRET),
            None,
            &for_resource(MCP, None),
        )
        .await
        .unwrap();
        assert_eq!(w.store.calls(), 2, "one read, one write");
        assert_eq!(r.scope, "READ_BOOKING", "narrowed to the resource's");
        assert_eq!(
            w.grant_of(&r.access_token).unwrap().resource.as_deref(),
            Some(MCP)
        );
        let principal = w.access(&r.access_token).await.unwrap();
        assert_eq!(principal.resource.as_deref(), Some(MCP));
    }

    /// RFC 8707 §2: a resource that is not registered, or is disabled, is `invalid_target`, and
    /// nothing is issued.
    #[tokio::test]
    async fn a_client_credentials_request_for_an_unknown_or_disabled_resource_is_invalid_target() {
        let w = with_resource();
        let r = request(
            &w,
            &m1(crate::testkit::SECRET),
            None,
            &for_resource("https://other.example.com/api", None),
        )
        .await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidTarget));
        let mut off = Resource::new(
            MCP,
            None,
            vec!["READ_BOOKING".into()],
            &crate::scope::ScopeCatalog::default(),
            1,
        )
        .unwrap();
        off.disabled = true;
        w.store.upsert_resource(off);
        let r = request(
            &w,
            &m1(crate::testkit::SECRET),
            None,
            &for_resource(MCP, None),
        )
        .await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidTarget));
        assert_eq!(w.store.counts().1, 0, "nothing issued");
    }

    /// RFC 8707 §2 with RFC 6749 §3.3: a scope asked for explicitly must be one the resource
    /// offers (`invalid_scope`), even when the client has it.
    #[tokio::test]
    async fn a_client_credentials_scope_the_resource_does_not_offer_is_invalid_scope() {
        let w = with_resource();
        let r = request(
            &w,
            &m1(crate::testkit::SECRET),
            None,
            &for_resource(MCP, Some("READ_PROFILE")),
        )
        .await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidScope));
        let ok = request(
            &w,
            &m1(crate::testkit::SECRET),
            None,
            &for_resource(MCP, Some("READ_BOOKING")),
        )
        .await
        .unwrap();
        assert_eq!(ok.scope, "READ_BOOKING");
    }

    /// RFC 8707 §2: one resource per client-credentials request; several are `invalid_target`
    /// (this server binds a token to one audience), a malformed one too.
    #[test]
    fn a_client_credentials_request_with_several_resources_is_invalid_target() {
        use crate::grants::TokenRequest;
        let p = |s: &str| Params::from_urlencoded(s.as_bytes());
        let err = |s: &str| TokenRequest::parse(&p(s)).err().map(|e| e.code);
        assert_eq!(
            err("grant_type=client_credentials&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example"),
            Some(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            err("grant_type=client_credentials&resource=https%3A%2F%2Fa.example%2F%23frag"),
            Some(ErrorCode::InvalidTarget)
        );
        match TokenRequest::parse(&p(
            "grant_type=client_credentials&resource=https%3A%2F%2Fa.example%2Fmcp",
        )) {
            Ok(TokenRequest::ClientCredentials(g)) => {
                assert_eq!(g.resource.as_deref(), Some("https://a.example/mcp"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// RFC 6749 §3.2.1 first: a wrong secret with a resource is `invalid_client` from the same
    /// one read, and nothing is issued.
    #[tokio::test]
    async fn a_client_credentials_request_with_a_resource_authenticates_the_client_first() {
        let w = with_resource();
        w.store.reset_calls();
        let r = request(&w, &m1("pc_cs_wrong"), None, &for_resource(MCP, None)).await;
        assert_eq!(code(&r), Some(ErrorCode::InvalidClient));
        assert_eq!(w.store.calls(), 1);
        assert_eq!(w.store.counts().1, 0);
    }

    /// With a client assertion, its check has read the client: the resource is the one more
    /// read (GetItem), and without a resource there is none.
    #[tokio::test]
    async fn with_a_client_assertion_only_the_resource_is_read() {
        let w = with_resource();
        let asserted = w.store.stored_client("m1");
        let creds = ClientCredentials {
            client_id: Some(crate::ids::ClientId::new("m1")),
            ..Default::default()
        };
        w.store.reset_calls();
        let r = request(&w, &creds, asserted.clone(), &for_resource(MCP, None))
            .await
            .unwrap();
        assert_eq!(w.store.calls(), 2, "the resource's read, the token's write");
        assert_eq!(
            w.grant_of(&r.access_token).unwrap().resource.as_deref(),
            Some(MCP)
        );
        w.store.reset_calls();
        request(&w, &creds, asserted, &ClientCredentialsGrant::default())
            .await
            .unwrap();
        assert_eq!(w.store.calls(), 1, "the token's write only");
    }
}

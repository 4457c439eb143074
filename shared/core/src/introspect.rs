//! Token introspection (RFC 7662), free of HTTP. Only an authenticated confidential client may
//! ask (§2.1); it learns whether a token is active, and what it is, only for tokens issued to it,
//! unless it is registered as a resource server ([`crate::model::Client::resource_server`]).
//!
//! DynamoDB calls: none for a token this server did not issue; otherwise one strongly consistent
//! BatchGetItem: the grant the token names, the caller's client item and, for another client's
//! access token, that client's (its standing: a disabled client's tokens are inactive at once).
use crate::client_auth::{auth_failed, authenticate_found, ClientCredentials};
use crate::codec::{classify, CheckingKeys, Genuine};
use crate::error::{EndpointError, OAuthError};
use crate::ids::ClientId;
use crate::model::UserInfo;
use crate::params::Params;
use crate::ports::GrantRead;
use crate::scope::join_scope;
use crate::secret::SecretHash;
use serde::Serialize;

/// RFC 7662 §2.1 parameters, parsed: `token` (required); `token_type_hint` is accepted and not
/// used, the prefix tells the type.
#[derive(Debug, Clone)]
pub struct IntrospectionRequest {
    pub token: String,
}

impl IntrospectionRequest {
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

/// The `token_type` of an active refresh token. RFC 7662 §2.2 defines `token_type` by the access
/// token types of RFC 6749 §7.1, which a refresh token has none of; this value (the RFC 7009
/// `token_type_hint` name) tells it apart, so a resource server that requires `Bearer` refuses it.
pub const REFRESH_TOKEN_TYPE: &str = "refresh_token";

/// RFC 7662 §2.2 response. Inactive: only `"active": false`, whatever the reason (§2.2: the
/// server should not say why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `Bearer` for an access token, [`REFRESH_TOKEN_TYPE`] for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// RFC 7662 §2.2 `aud` (RFC 8707): the resource the token was issued for, when the
    /// authorization request named one. A resource server compares it with its own URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self::default()
    }

    #[allow(clippy::too_many_arguments)]
    fn active(
        client_id: ClientId,
        user: Option<UserInfo>,
        scopes: &[String],
        token_type: &'static str,
        exp: u64,
        iat: u64,
        issuer: &str,
    ) -> Self {
        // A client's own token (client credentials) has no user: its subject is the client
        // (RFC 9068 §2.2), and there is no `username`.
        let (sub, username) = match user {
            Some(u) => (u.sub.into_string(), u.username),
            None => (client_id.as_str().to_string(), None),
        };
        Self {
            active: true,
            scope: Some(join_scope(scopes)),
            client_id: Some(client_id),
            username,
            sub: Some(sub),
            token_type: Some(token_type),
            exp: Some(exp),
            iat: Some(iat),
            iss: Some(issuer.to_string()),
            aud: None,
        }
    }
}

/// RFC 7662 §2.1: the caller must be authorized; here it is a confidential client that
/// authenticates as at the token endpoint. A public client cannot prove who it is (anyone may
/// send its `client_id`), so it gets `invalid_client` (§4: the endpoint must not become a
/// token-scanning oracle).
///
/// RFC 7662 §2.2: `active` is true only for a token that is currently valid: known, unexpired,
/// not revoked, not a retired refresh token, within its grant's absolute end; and (§4) only for
/// the client it was issued to, or for a client registered as a resource server. Anything else is
/// `{"active": false}` with nothing more.
pub async fn introspect<T>(
    tokens: &T,
    creds: &ClientCredentials,
    req: &IntrospectionRequest,
    keys: CheckingKeys<'_>,
    issuer: &str,
    now: u64,
) -> Result<Introspection, EndpointError>
where
    T: GrantRead + ?Sized,
{
    let caller_id = creds.require_client_id()?;
    // Not one of ours (its tag): inactive, with no storage call.
    let Some(token) = classify(&req.token, keys) else {
        return Ok(Introspection::inactive());
    };
    if !caller_id.is_well_formed() {
        return Err(auth_failed().into());
    }
    let mut wanted = vec![caller_id];
    if let Genuine::Access(p) = &token {
        if p.client_id != *caller_id {
            wanted.push(&p.client_id);
        }
    }
    let (grant, clients) = tokens
        .grant_and_clients(token.grant_id(), &wanted, true)
        .await?;
    let caller = authenticate_found(creds, &clients, now)?;
    let live = |id: &ClientId, g: &crate::model::Grant| {
        clients.iter().find(|c| c.client_id == *id && c.accepts(g))
    };
    if caller.public {
        return Err(OAuthError::invalid_client(
            "introspection needs a confidential client: a public client cannot authenticate",
        )
        .into());
    }
    let Some(g) = grant else {
        return Ok(Introspection::inactive());
    };
    let hash = SecretHash::of(&req.token);
    match token {
        Genuine::Access(p) => {
            let Some((owner, view)) = live(&p.client_id, &g).and_then(|owner| {
                g.access(&p.client_id, p.generation, &hash, now)
                    .map(|v| (owner, v))
            }) else {
                return Ok(Introspection::inactive());
            };
            // RFC 7662 §4: another client's token is shown only to a resource server.
            if view.client_id != *caller_id && !caller.resource_server {
                return Ok(Introspection::inactive());
            }
            Ok(Introspection {
                aud: view.resource.clone(),
                // A metadata-document client is known by its URL (draft §3).
                client_id: Some(owner.public_id()),
                ..Introspection::active(
                    view.client_id,
                    view.user,
                    &view.scopes,
                    "Bearer",
                    view.expires_at,
                    view.issued_at,
                    issuer,
                )
            })
        }
        Genuine::Refresh(_) => {
            // Review finding 8: a refresh token is only ever its own client's business.
            if g.client_id != *caller_id || !g.is_live(now) || !g.refresh_is_current(&hash, now) {
                return Ok(Introspection::inactive());
            }
            let exp = g
                .ends_at
                .map_or(g.refresh_expires_at, |end| end.min(g.refresh_expires_at));
            Ok(Introspection {
                aud: g.resource.clone(),
                client_id: Some(caller.public_id()),
                ..Introspection::active(
                    g.client_id.clone(),
                    Some(g.user()),
                    &g.scopes,
                    REFRESH_TOKEN_TYPE,
                    exp,
                    g.rotated_at,
                    issuer,
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::error::ErrorCode;
    use crate::grants::TokenResponse;
    use crate::secret::ClientSecret;
    use crate::testkit::{client, World, ISSUER, SECRET};

    const Q: &str = "client_id=c1&scope=READ_PROFILE%20READ_BOOKING";

    fn creds(id: &str, secret: Option<&str>) -> ClientCredentials {
        ClientCredentials {
            client_id: Some(ClientId::new(id)),
            secret: secret.map(ClientSecret::new),
            ..Default::default()
        }
    }

    fn world() -> World {
        World::new()
            .with(client("c1"))
            .with(client("c2"))
            .with(client("rs").resource_server())
            .with(client("pub").public())
    }

    async fn issued(w: &World) -> TokenResponse {
        let code = w.code(Q).await;
        w.exchange(("c1", Some(SECRET)), &code, None, None)
            .await
            .unwrap()
    }

    async fn ask(w: &World, c: ClientCredentials, token: &str) -> Result<Introspection, ErrorCode> {
        let req = IntrospectionRequest {
            token: token.into(),
        };
        introspect(&w.store, &c, &req, w.keys.checking(), ISSUER, w.clock.now())
            .await
            .map_err(|e| e.public().code)
    }

    /// RFC 7662 §2.2: an active access token is described by its scope, client, user, type,
    /// times and issuer. One DynamoDB call: the grant and the client together.
    #[tokio::test]
    async fn an_active_access_token_is_described() {
        let w = world();
        let t = issued(&w).await;
        w.store.reset_calls();
        let i = ask(&w, creds("c1", Some(SECRET)), t.access_token.secret())
            .await
            .unwrap();
        assert_eq!(w.store.calls(), 1);
        let now = w.clock.now();
        assert_eq!(
            i,
            Introspection {
                active: true,
                scope: Some("READ_PROFILE READ_BOOKING".into()),
                client_id: Some(ClientId::new("c1")),
                username: Some("ada".into()),
                sub: Some("u1".into()),
                token_type: Some("Bearer"),
                exp: Some(now + 1800),
                iat: Some(now),
                iss: Some(ISSUER.into()),
                aud: None,
            }
        );
    }

    /// RFC 7662 §2.2 `aud` with RFC 8707: a token bound to a resource names it, the access
    /// token and the refresh token alike; an unbound token has no `aud`.
    #[tokio::test]
    async fn a_token_bound_to_a_resource_is_described_with_its_aud() {
        let w = world();
        w.store.upsert_resource(
            crate::resource::Resource::new(
                "https://api.example.com/mcp",
                None,
                vec!["READ_PROFILE".into(), "READ_BOOKING".into()],
                &w.scopes,
                1,
            )
            .unwrap(),
        );
        let code = w
            .code(&format!("{Q}&resource=https%3A%2F%2Fapi.example.com%2Fmcp"))
            .await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, None, None)
            .await
            .unwrap();
        for token in [t.access_token.secret(), t.refresh().secret()] {
            let i = ask(&w, creds("c1", Some(SECRET)), token).await.unwrap();
            assert_eq!(i.aud.as_deref(), Some("https://api.example.com/mcp"));
        }
        let plain = issued(&w).await;
        let i = ask(&w, creds("c1", Some(SECRET)), plain.access_token.secret())
            .await
            .unwrap();
        assert_eq!(i.aud, None);
    }

    /// Issue 17, RFC 9068 §2.2: a client's own token (client credentials) names the client as
    /// its subject and has no `username`; disabling the client ends it at once.
    #[tokio::test]
    async fn a_client_credentials_token_has_the_client_as_subject_and_no_username() {
        let w = world();
        let m = client("m1").machine().build();
        let t = w.issue_client_token(&m, &Default::default()).await.unwrap();
        let i = ask(&w, creds("rs", Some(SECRET)), t.access_token.secret())
            .await
            .unwrap();
        assert!(i.active);
        assert_eq!(i.sub.as_deref(), Some("m1"));
        assert_eq!(i.client_id, Some(ClientId::new("m1")));
        assert_eq!(i.username, None);
        let json = serde_json::to_value(&i).unwrap();
        assert!(json.get("username").is_none(), "{json}");
        let mut disabled = m.clone();
        disabled.disabled = true;
        w.store.upsert_client(disabled);
        let i = ask(&w, creds("rs", Some(SECRET)), t.access_token.secret())
            .await
            .unwrap();
        assert!(!i.active);
        assert!(!w.is_live(&t.access_token).await);
    }

    /// RFC 7662 §2.2: a refresh token is described too, with its own `token_type`.
    #[tokio::test]
    async fn an_active_refresh_token_says_it_is_a_refresh_token() {
        let w = world();
        let t = issued(&w).await;
        let i = ask(&w, creds("c1", Some(SECRET)), t.refresh().secret())
            .await
            .unwrap();
        assert!(i.active);
        assert_eq!(i.token_type, Some(REFRESH_TOKEN_TYPE));
        assert_eq!(i.exp, Some(w.clock.now() + w.lifetimes.refresh_ttl));
    }

    /// RFC 7662 §2.2: expired, revoked, retired, unknown and malformed tokens are all
    /// `{"active": false}`, and nothing else is said.
    #[tokio::test]
    async fn anything_not_currently_valid_is_inactive_and_nothing_more() {
        let w = world();
        let c = || creds("c1", Some(SECRET));
        let t = issued(&w).await;
        // Retired by a refresh.
        let r = w
            .refresh(("c1", Some(SECRET)), t.refresh(), None)
            .await
            .unwrap();
        assert_eq!(
            ask(&w, c(), t.refresh().secret()).await,
            Ok(Introspection::inactive())
        );
        // Unknown and malformed (no lookup for the malformed one).
        let unknown = crate::codec::mint_access(
            w.keys.issuing(),
            &ClientId::new("c1"),
            &crate::model::grant_id_for_code(&crate::secret::SecretHash::of("x")),
            0,
        );
        assert!(!ask(&w, c(), unknown.secret()).await.unwrap().active);
        w.store.reset_calls();
        assert!(!ask(&w, c(), "not a token").await.unwrap().active);
        // An API key is no OAuth token: inactive here, with no lookup either.
        let api_key = format!("pc_ak_{}", "A".repeat(43));
        assert!(!ask(&w, c(), &api_key).await.unwrap().active);
        assert_eq!(
            w.store.calls(),
            0,
            "no storage call for what this server did not issue"
        );
        // Revoked (the grant).
        use crate::ports::GrantRevocation;
        let rec = w.access(&r.access_token).await.unwrap();
        w.store
            .revoke_grant(&rec.grant_id, w.clock.now())
            .await
            .unwrap();
        assert!(!ask(&w, c(), r.access_token.secret()).await.unwrap().active);
        // Expired.
        let t = issued(&w).await;
        w.clock.advance(1800);
        let i = ask(&w, c(), t.access_token.secret()).await.unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), r#"{"active":false}"#);
    }

    /// RFC 7662 §4: a client learns nothing of another client's tokens; a resource server sees
    /// them as they are.
    #[tokio::test]
    async fn another_clients_token_is_inactive_unless_the_caller_is_a_resource_server() {
        let w = world();
        let t = issued(&w).await;
        let foreign = ask(&w, creds("c2", Some(SECRET)), t.access_token.secret())
            .await
            .unwrap();
        assert_eq!(foreign, Introspection::inactive());
        let rs = ask(&w, creds("rs", Some(SECRET)), t.access_token.secret())
            .await
            .unwrap();
        assert!(rs.active);
        assert_eq!(rs.client_id, Some(ClientId::new("c1")));
    }

    /// Review finding 8 (RFC 7662 §4): a resource server introspects access tokens, never
    /// another client's refresh token; the refresh token's own client still can.
    #[tokio::test]
    async fn a_resource_server_cannot_introspect_another_clients_refresh_token() {
        let w = world();
        let t = issued(&w).await;
        let rs = ask(&w, creds("rs", Some(SECRET)), t.refresh().secret())
            .await
            .unwrap();
        assert_eq!(rs, Introspection::inactive());
        let own = ask(&w, creds("c1", Some(SECRET)), t.refresh().secret())
            .await
            .unwrap();
        assert!(own.active);
    }

    /// RFC 7662 §2.1: the caller must authenticate; a wrong secret, an unknown client and a
    /// public client are `invalid_client`.
    #[tokio::test]
    async fn only_authenticated_confidential_clients_may_introspect() {
        let w = world();
        let t = issued(&w).await;
        for c in [
            creds("c1", Some("pc_cs_wrong")),
            creds("c1", None),
            creds("nobody", Some(SECRET)),
            creds("pub", None),
            ClientCredentials::default(),
        ] {
            assert_eq!(
                ask(&w, c, t.access_token.secret()).await,
                Err(ErrorCode::InvalidClient)
            );
        }
    }

    /// A grant's absolute end bounds its refresh token's `exp`, and past it the token is
    /// inactive.
    #[tokio::test]
    async fn a_refresh_token_past_its_grants_end_is_inactive() {
        let mut w = world();
        w.lifetimes.grant_lifetime = Some(3600);
        let t = issued(&w).await;
        let i = ask(&w, creds("c1", Some(SECRET)), t.refresh().secret())
            .await
            .unwrap();
        assert_eq!(i.exp, Some(w.clock.now() + 3600));
        w.clock.advance(3600);
        let i = ask(&w, creds("c1", Some(SECRET)), t.refresh().secret())
            .await
            .unwrap();
        assert!(!i.active);
    }
}

//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, RFC 9700 §4.8.2).
use super::{CodeGrant, TokenContext, TokenResponse};
use crate::client_auth::{authenticate, authenticate_registered, refuse_grant, ClientCredentials};
use crate::codec::{mint_access, mint_refresh, reproduce_pair};
use crate::error::{EndpointError, OAuthError};
use crate::model::{grant_id_for_code, CodeRecord, Grant, ItemKind, Profile};
use crate::pkce::CodeChallenge;
use crate::ports::{
    ClientLookup, CodeRedeem, Consumed, GrantLookup, GrantRevocation, GrantStart, Presenter,
};
use crate::scope::join_scope;
use crate::secret::SecretHash;

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

/// How long after a code's own end a replay by its own client still revokes the grant it
/// started (the grant item keeps the code's end, client and challenge for this).
pub const REPLAY_MARGIN: u64 = 600;

/// RFC 6749 §4.1.3: exchanges a code for tokens. Storage on success: one UpdateItem (the code
/// is consumed, and the presenter authenticated against the code's snapshot of its client, in
/// one conditional write) and one PutItem (the grant item, which holds the new tokens' hashes).
///
/// - A code this server did not issue (its tag, [`crate::codec`]) is `invalid_grant` with no
///   storage call.
/// - RFC 6749 §3.2.1: the client is authenticated before the code is used: a request that does
///   not authenticate as the code's client changes nothing.
/// - The tokens are derived from the grant (whose id is derived from the code) with the mint
///   key, so whoever redeems a code gets the same tokens. A retry by the code's client whose
///   first answer was lost (the write landed, the answer did not) is answered with those same
///   tokens within the retry window (`PORTCULLIS_REFRESH_GRACE`) while the grant is unused;
///   a later use of the code, by its own client, is a replay and revokes the grant (RFC 6749
///   §4.1.2 "SHOULD revoke"; Cal.com's weakness 1), see [`replayed`].
/// - A consumed code whose exchange issued nothing (the grant write failed, or the function
///   gave up on a slow store after the code was consumed) is redeemed by its own client,
///   authenticated as at the first attempt, within its lifetime.
pub async fn exchange_code(
    clients: &(impl ClientLookup + ?Sized),
    codes: &(impl CodeRedeem + ?Sized),
    tokens: &(impl GrantStart + GrantLookup + GrantRevocation + ?Sized),
    creds: &ClientCredentials,
    grant: &CodeGrant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    let client_id = creds.require_client_id()?;
    // Review finding 10, issue 16: a code this server did not issue costs nothing.
    if !grant.code.is_genuine(ctx.keys.tag) {
        return Err(invalid_code().into());
    }
    let code_hash = grant.code.hash();
    let secret_hash = creds.secret.as_ref().map(|s| s.hash());
    let pkce = grant
        .code_verifier
        .as_ref()
        .map(|v| CodeChallenge::s256(v.secret()));
    let presenter = Presenter {
        client_id,
        secret_hash: secret_hash.as_ref(),
        pkce: pkce.as_ref(),
    };
    // A client that proved itself with a client assertion (private_key_jwt, verified against
    // its current keys before this rule) is authenticated already: the code is consumed for it
    // by name, not against the code's snapshot of its secrets.
    let consumed = if creds.is_verified() {
        codes.consume_code_for(&code_hash, now, client_id).await?
    } else {
        codes.consume_code(&code_hash, now, presenter).await?
    };
    let rec = match consumed {
        Consumed::Now(rec) => rec,
        // Consumed before, live, for this client: redeemable if nothing was issued for it (the
        // checks below authenticate the presenter exactly as for a first use).
        Consumed::Refused(Some(mut rec))
            if rec.client_id == *client_id && rec.consumed_at.is_some() && rec.expires_at > now =>
        {
            authenticate_for_code(clients, creds, &mut rec, now).await?;
            match tokens.grant(&rec.grant_id()).await? {
                None => {
                    tracing::info!(
                        client_id = %rec.client_id,
                        "a consumed code whose exchange issued nothing is redeemed by its client"
                    );
                    rec
                }
                Some(g) => return replayed_grant(tokens, creds, grant, g, ctx).await,
            }
        }
        Consumed::Refused(Some(rec))
            if rec.client_id == *client_id && rec.consumed_at.is_some() =>
        {
            return replayed(clients, tokens, creds, grant, &code_hash, ctx).await
        }
        // Still there and unused, with the presented client id: expired, or credentials that
        // the code's snapshot does not know (a public client: a wrong or missing verifier; a
        // confidential one: a wrong secret, or one rotated in since the code was issued).
        Consumed::Refused(Some(mut rec)) if rec.client_id == *client_id => {
            let snapshot_ok = authenticate(creds, rec.client()).is_ok();
            authenticate_for_code(clients, creds, &mut rec, now).await?;
            if snapshot_ok || rec.expires_at <= now {
                return Err(invalid_code().into());
            }
            // Review finding 11: the client authenticated with its current registration (a
            // secret newer than the code): consume the code for it, naming the client only.
            match codes.consume_code_for(&code_hash, now, client_id).await? {
                Consumed::Now(fresh) => fresh,
                _ => return Err(invalid_code().into()),
            }
        }
        Consumed::Refused(Some(_)) => {
            return Err(refuse_grant(clients, creds, invalid_code(), now).await)
        }
        // Gone: used (its grant, derived from the code, says by whom), or past its TTL.
        Consumed::Refused(None) => {
            return replayed(clients, tokens, creds, grant, &code_hash, ctx).await
        }
    };

    // RFC 6749 §4.1.3: redirect_uri must be identical when the authorization request had one.
    let redirect_ok = match &grant.redirect_uri {
        Some(r) => *r == rec.redirect_uri,
        None => !rec.redirect_uri_explicit,
    };
    if !redirect_ok {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request",
        )
        .into());
    }

    // RFC 7636 §4.6, RFC 9700 §4.8.2.
    match (&rec.code_challenge, &grant.code_verifier) {
        (Some(challenge), Some(v)) => {
            if !challenge.verify(v) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                )
                .into());
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required: the authorization used PKCE",
            )
            .into())
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            )
            .into())
        }
        (None, None) => {}
    }

    // RFC 8707 §2.2: the tokens are for the resource the user consented to, and no other.
    crate::resource::narrow(rec.resource.as_deref(), grant.resource.as_deref())?;

    let new = new_grant(&rec, ctx, now);
    let access = mint_access(ctx.keys, &new.client_id, &new.grant_id, 0);
    let refresh = mint_refresh(ctx.keys, &new.grant_id, 0);
    let new = Grant {
        access_hash: Some(access.hash()),
        refresh_hash: Some(refresh.hash()),
        ..new
    };
    // A storage fault here leaves the code consumed and no grant: the client's retry redeems it.
    if !tokens.start_grant(&new).await? {
        // The grant exists: an earlier attempt of this exchange landed (its answer lost, or a
        // concurrent redemption of the same consumed code), or the code was exchanged and the
        // grant used or revoked since. The first is answered with the same tokens.
        return match tokens.grant(&new.grant_id).await? {
            // Its own write (the SDK retried it after it had landed), or a concurrent
            // redemption of the same consumed code: the tokens are derived from the grant, so
            // both answers are the same tokens, and nothing is revoked.
            Some(g)
                if g.revoked_at.is_none()
                    && g.generation == 0
                    && g.access_hash
                        .as_ref()
                        .is_some_and(|h| h.ct_eq(&access.hash())) =>
            {
                Ok(TokenResponse {
                    access_token: access,
                    token_type: "Bearer",
                    expires_in: g.access_expires_at.saturating_sub(now),
                    refresh_token: Some(refresh),
                    scope: join_scope(&g.scopes),
                })
            }
            Some(g) => replayed_grant(tokens, creds, grant, g, ctx).await,
            None => Err(invalid_code().into()),
        };
    }
    tracing::info!(client_id = %new.client_id, grant_id = %new.grant_id, "authorization code exchanged");
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: new.access_expires_at - now,
        refresh_token: Some(refresh),
        scope: join_scope(&new.scopes),
    })
}

/// The grant a code starts at `now` (the request's one clock reading, so `expires_in` is
/// exactly the access lifetime), before its tokens are minted.
fn new_grant(rec: &CodeRecord, ctx: &TokenContext<'_>, now: u64) -> Grant {
    let l = ctx.lifetimes;
    let keep_until = rec.expires_at + REPLAY_MARGIN;
    let ends_at = l.grant_lifetime.map(|g| now + g);
    let refresh_expires_at = ends_at.map_or(now + l.refresh_ttl, |g| g.min(now + l.refresh_ttl));
    // Review finding 9: an access token never outlives its grant's absolute end.
    let access_expires_at = ends_at.map_or(now + l.access_ttl, |g| g.min(now + l.access_ttl));
    let grant_id = rec.grant_id();
    Grant {
        pk: Grant::key(&grant_id),
        kind: ItemKind::Grant,
        grant_id,
        client_id: rec.client_id.clone(),
        user_sub: rec.user.sub.clone(),
        profile: Profile::from(&rec.user),
        scopes: rec.scopes.clone(),
        resource: rec.resource.clone(),
        created_at: now,
        // Review finding 6: the grant (and, once revoked, its tombstone) outlives its code
        // and the replay margin, however short the refresh or grant lifetime.
        expires_at: refresh_expires_at.max(keep_until),
        ends_at,
        keep_until,
        client_public: rec.client_public,
        code_challenge: rec.code_challenge.clone(),
        generation: 0,
        rotated_at: now,
        refresh_hash: None,
        refresh_expires_at,
        access_hash: None,
        access_expires_at,
        access_scopes: None,
        previous_access_hash: None,
        previous_access_expires_at: 0,
        previous_access_scopes: None,
        refreshed_at: None,
        revoked_at: None,
    }
}

/// RFC 6749 §3.2.1 for a code's presenter: against the code's snapshot of its client first (no
/// read); when that fails for a confidential client, against its current registration (one
/// read, on this failure path only), so that a code issued just before a secret rotation is
/// redeemable with the new secret as well as the old one while the old one is in its overlap
/// (review finding 11). On success `rec` carries the current secret hashes.
async fn authenticate_for_code(
    clients: &(impl ClientLookup + ?Sized),
    creds: &ClientCredentials,
    rec: &mut CodeRecord,
    now: u64,
) -> Result<crate::client_auth::AuthenticatedClient, EndpointError> {
    match authenticate(creds, rec.client()) {
        Ok(c) => Ok(c),
        Err(e) if rec.client_public || creds.secret.is_none() => Err(e.into()),
        Err(_) => {
            let (c, current) = authenticate_registered(clients, creds, now).await?;
            rec.client_secret_hashes = current.secret_hashes;
            Ok(c)
        }
    }
}

/// RFC 6749 §4.1.2: a code that is gone was never issued or is being replayed. Its grant (the
/// id is derived from the code) says which client it was for. The presenter is authenticated
/// against its current registration (one clients-table read) before anything else.
async fn replayed(
    clients: &(impl ClientLookup + ?Sized),
    tokens: &(impl GrantLookup + GrantRevocation + ?Sized),
    creds: &ClientCredentials,
    grant: &CodeGrant,
    code_hash: &SecretHash,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    authenticate_registered(clients, creds, ctx.clock.now()).await?;
    match tokens.grant(&grant_id_for_code(code_hash)).await? {
        None => Err(invalid_code().into()),
        Some(g) => replayed_grant(tokens, creds, grant, g, ctx).await,
    }
}

/// A code used again, once its grant exists; the presenter has authenticated as a client.
///
/// - By the code's own client (a public client also by a `code_verifier` for the code's
///   challenge, RFC 7636 §4.6), while the grant is unused (generation 0, not revoked) and
///   within the retry window of the exchange: a retry whose first answer was lost. It gets the
///   same tokens (reproduced with the mint key), nothing is written.
/// - By its own client otherwise, until the code's end plus [`REPLAY_MARGIN`]: a replay. The
///   grant is revoked (one write) and logged as a `code_replay` security event.
/// - Anyone else, or later: `invalid_grant`, nothing changes. Someone who holds an old code
///   without the client's credentials cannot revoke the user's grant.
async fn replayed_grant(
    tokens: &(impl GrantRevocation + ?Sized),
    creds: &ClientCredentials,
    grant: &CodeGrant,
    g: Grant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    let own_client = creds.client_id.as_ref() == Some(&g.client_id);
    let proves_pkce = !g.client_public
        || match (&g.code_challenge, &grant.code_verifier) {
            (Some(c), Some(v)) => c.verify(v),
            _ => false,
        };
    if !own_client || !proves_pkce {
        return Err(invalid_code().into());
    }
    let window = ctx.lifetimes.refresh_grace;
    // A window of 0 turns retries off: every second use is a replay.
    let retry = window > 0
        && g.revoked_at.is_none()
        && g.generation == 0
        && now.saturating_sub(g.created_at) <= window
        && g.access_expires_at > now;
    if retry {
        if let Some(pair) = g
            .access_hash
            .as_ref()
            .and_then(|h| reproduce_pair(ctx.keys, &g.client_id, &g.grant_id, 0, h))
        {
            tracing::info!(
                grant_id = %g.grant_id,
                client_id = %g.client_id,
                "a code exchange retried within the retry window gets the same tokens"
            );
            return Ok(TokenResponse {
                access_token: pair.0,
                token_type: "Bearer",
                expires_in: g.access_expires_at - now,
                refresh_token: Some(pair.1),
                scope: join_scope(&g.scopes),
            });
        }
    }
    if now < g.keep_until && tokens.revoke_grant(&g.grant_id, now).await? {
        tracing::warn!(
            grant_id = %g.grant_id,
            client_id = %g.client_id,
            security_event = "code_replay",
            "authorization code replayed by its client; its grant was revoked"
        );
    }
    Err(invalid_code().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::error::ErrorCode;
    use crate::pkce::CodeChallenge;
    use crate::ports::{GrantLookup, Op};
    use crate::secret::AuthorizationCode;
    use crate::testkit::{client, World, SECRET, VERIFIER};

    fn world(public: bool) -> World {
        let c = client("c1").scopes(&["READ_PROFILE"]);
        World::new().with(if public { c.public() } else { c })
    }

    const Q: &str = "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=READ_PROFILE";
    const CB: Option<&str> = Some("https://app.example/cb");

    /// RFC 7523 §2.2: a client that authenticates with a client assertion (private_key_jwt,
    /// verified before the rule runs) exchanges its code (consumed for it by name, two writes)
    /// and refreshes with a new assertion; the same assertion cannot be used twice.
    #[tokio::test]
    async fn a_client_with_keys_exchanges_and_refreshes_with_client_assertions() {
        use crate::assertion::tests::{ec_key, header, keys, sign};
        use crate::client_auth::{verify_assertion, AssertionPolicy, ClientCredentials};
        let key = ec_key(Some("e1"));
        let w = World::new();
        let mut c = crate::testkit::client("c1").build();
        c.secret_hashes.clear();
        c.jwks = Some(keys(&[&key]));
        w.store.upsert_client(c);
        let code = w.code("client_id=c1&scope=READ_PROFILE").await;
        let now = w.clock.now();
        let aud = "https://auth.example/api/auth/oauth/token";
        let policy = AssertionPolicy {
            audiences: &[aud],
            max_lifetime: 300,
            leeway: 30,
        };
        let assertion = |jti: &str| ClientCredentials {
            client_id: Some("c1".into()),
            assertion: Some(sign(
                &key,
                &header("ES256", Some("e1")),
                &serde_json::json!({"iss": "c1", "sub": "c1", "aud": aud, "exp": now + 60, "jti": jti}),
            )),
            ..Default::default()
        };
        let (creds, _) = verify_assertion(&w.store, &w.store, assertion("a1"), policy, now)
            .await
            .unwrap();
        let grant = CodeGrant {
            code: code.clone(),
            redirect_uri: None,
            code_verifier: None,
            resource: None,
        };
        w.store.reset_calls();
        let t = exchange_code(
            &w.store,
            &w.store,
            &w.store,
            &creds,
            &grant,
            &w.token_context(),
        )
        .await
        .unwrap();
        assert_eq!(w.store.calls(), 2);
        assert!(w.is_live(&t.access_token).await);
        // Unverified, the same credentials are refused by the rule.
        let unverified = assertion("a2");
        let again = exchange_code(
            &w.store,
            &w.store,
            &w.store,
            &unverified,
            &grant,
            &w.token_context(),
        )
        .await;
        assert!(again.is_err());
        let (creds, _) = verify_assertion(&w.store, &w.store, assertion("a3"), policy, now)
            .await
            .unwrap();
        let r = crate::grants::refresh_tokens(
            &w.store,
            &creds,
            &crate::grants::RefreshGrant {
                refresh_token: t.refresh().clone(),
                scope: None,
                resource: None,
            },
            &w.token_context(),
        )
        .await
        .unwrap();
        assert!(w.is_live(&r.access_token).await);
        assert!(
            verify_assertion(&w.store, &w.store, assertion("a3"), policy, now)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn confidential_client_exchanges_a_code_for_bearer_tokens() {
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_in, 1800);
        assert_eq!(t.scope, "READ_PROFILE");
        assert!(
            t.access_token.secret().starts_with("pc_at_")
                && t.refresh().secret().starts_with("pc_rt_")
        );
        let rec = w.access(&t.access_token).await.unwrap();
        assert_eq!(rec.user.unwrap().username.as_deref(), Some("ada"));
    }

    /// RFC 6749 §4.1.2: single use; a second use revokes the tokens the first one issued.
    #[tokio::test]
    async fn code_is_rejected_on_second_use_and_its_tokens_are_revoked() {
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        let again = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        let access = w.access(&t.access_token).await;
        let refresh = w.refresh_is_current(t.refresh()).then_some(());
        assert!(access.is_none() && refresh.is_none());
    }

    #[tokio::test]
    async fn expired_code_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        w.clock.advance(600);
        let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    /// RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's.
    #[tokio::test]
    async fn wrong_or_missing_redirect_uri_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(
                ("c1", Some(SECRET)),
                &code,
                Some("https://app.example/other"),
                None,
            )
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        let code = w.code(Q).await;
        let r = w.exchange(("c1", Some(SECRET)), &code, None, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    /// RFC 8252 §7.3, RFC 6749 §4.1.3: a loopback redirect URI with any port is accepted at
    /// the authorization endpoint, and the token endpoint then wants that URI, port included:
    /// neither the registered one nor another port.
    #[tokio::test]
    async fn loopback_redirect_uri_with_any_port_is_required_again_at_the_token_endpoint() {
        let w = World::new().with(
            client("c1")
                .scopes(&["READ_PROFILE"])
                .redirect_uris(&["http://localhost/callback"]),
        );
        let q = "client_id=c1&redirect_uri=http%3A%2F%2Flocalhost%3A49152%2Fcallback&scope=READ_PROFILE";
        for wrong in [
            Some("http://localhost/callback"),
            Some("http://localhost:49153/callback"),
            None,
        ] {
            let code = w.code(q).await;
            let r = w.exchange(("c1", Some(SECRET)), &code, wrong, None).await;
            assert_eq!(r.err(), Some(ErrorCode::InvalidGrant), "{wrong:?}");
        }
        let code = w.code(q).await;
        assert!(w
            .exchange(
                ("c1", Some(SECRET)),
                &code,
                Some("http://localhost:49152/callback"),
                None
            )
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn redirect_uri_may_be_omitted_when_the_authorization_request_omitted_it() {
        let w = world(false);
        let code = w.code("client_id=c1").await;
        assert!(w
            .exchange(("c1", Some(SECRET)), &code, None, None)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn wrong_client_secret_is_invalid_client() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let code = w.code(Q).await;
        let r = w.exchange(("c1", None), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
    }

    /// RFC 6749 §4.1.3: another (authenticated) client's code is `invalid_grant`, and the code
    /// still works for its own client.
    #[tokio::test]
    async fn code_issued_to_another_client_is_invalid_grant() {
        let w = world(false).with(client("c2"));
        let code = w.code(Q).await;
        let r = w.exchange(("c2", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .is_ok());
    }

    /// RFC 6749 §3.2.1: the client is authenticated first. A wrong secret or an unknown client
    /// is `invalid_client` whatever the code, and the code is not burnt.
    #[tokio::test]
    async fn wrong_secret_with_a_valid_code_is_invalid_client_and_the_code_survives() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w.exchange(("nobody", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        // A code this server did not issue is refused before anything is read (issue 16), so
        // a wrong secret with it gets `invalid_grant`: nothing was looked at to say more.
        let bogus = AuthorizationCode::new("pc_ac_bogus");
        let r = w
            .exchange(("c1", Some("pc_cs_wrong")), &bogus, CB, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .is_ok());
    }

    /// A replayed code revokes its grant only when its own client replays it: an old code
    /// presented without the right credentials changes nothing.
    #[tokio::test]
    async fn old_code_replayed_without_credentials_is_invalid_grant_and_revokes_nothing() {
        let w = world(false).with(client("c2"));
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        let r = w.exchange(("c1", None), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w.exchange(("c2", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w.is_live(&t.access_token).await);
    }

    /// The replay window: a code's own client replaying it after its lifetime plus the margin
    /// gets `invalid_grant` and revokes nothing.
    #[tokio::test]
    async fn code_replayed_after_its_lifetime_and_margin_revokes_nothing() {
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        w.clock.advance(600 + super::REPLAY_MARGIN);
        let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w.refresh_is_current(t.refresh()).then_some(()).is_some());
    }

    /// A public client's replay proves itself only with a verifier matching the challenge.
    #[tokio::test]
    async fn public_client_code_replay_without_the_verifier_revokes_nothing() {
        let w = world(true);
        let q = format!(
            "{Q}&code_challenge={}&code_challenge_method=S256",
            CodeChallenge::s256(VERIFIER).as_str()
        );
        let code = w.code(&q).await;
        let t = w
            .exchange(("c1", None), &code, CB, Some(VERIFIER))
            .await
            .unwrap();
        let r = w.exchange(("c1", None), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w.is_live(&t.access_token).await);
        let r = w.exchange(("c1", None), &code, CB, Some(VERIFIER)).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(!w.is_live(&t.access_token).await);
    }

    /// Issue 16 (review finding 10): a malformed code, or one of the right shape that this
    /// server did not tag, costs no storage call at all.
    #[tokio::test]
    async fn a_forged_code_is_refused_with_no_storage_call() {
        let w = world(false);
        w.store.reset_calls();
        let forged = AuthorizationCode::generate_tagged(
            &crate::clock::OsEntropy,
            &crate::keyring::KeyRing::new(crate::secret::Key::new(vec![9; 32]), None),
        );
        let untagged =
            AuthorizationCode::new(crate::secret::generate("pc_ac_", &crate::clock::OsEntropy));
        for code in [AuthorizationCode::new("x"), forged, untagged] {
            let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
            assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        }
        assert_eq!(w.store.calls(), 0, "nothing read, nothing written");
    }

    /// docs/architecture.md: the exchange's happy path is 2 DynamoDB calls.
    #[tokio::test]
    async fn a_code_exchange_costs_two_storage_calls() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store.reset_calls();
        w.exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert_eq!(w.store.calls(), 2);
    }

    /// The exchange reads nothing but the code (its budget is two calls, and no transaction
    /// names the client item): a client disabled after its code was issued can still redeem
    /// it within the code's lifetime, but what it gets works nowhere: every use reads the
    /// client's standing, and so does every refresh.
    #[tokio::test]
    async fn a_client_disabled_after_its_code_was_issued_gets_tokens_that_work_nowhere() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store
            .upsert_client(client("c1").scopes(&["READ_PROFILE"]).disabled().build());
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(!w.is_live(&t.access_token).await);
        let r = w.refresh(("c1", Some(SECRET)), t.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
    }

    /// A retry after a lost answer gets the same answer: the code's own client exchanging its
    /// code again within the retry window, while the grant is unused, gets the very same
    /// tokens and nothing is revoked; after the window, or once the grant was refreshed, it
    /// is a replay and the grant ends.
    #[tokio::test]
    async fn an_exchange_retried_within_the_window_gets_the_same_tokens() {
        let mut w = world(false);
        w.lifetimes.refresh_grace = 30;
        let code = w.code(Q).await;
        let first = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        w.clock.advance(5);
        w.store.reset_calls();
        let retry = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(retry.access_token.ct_eq(&first.access_token));
        assert!(retry.refresh().ct_eq(first.refresh()));
        assert!(w.is_live(&first.access_token).await);
        // Another client, or the wrong secret, gets nothing and changes nothing.
        let other = w
            .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
            .await;
        assert_eq!(other.err(), Some(ErrorCode::InvalidClient));
        w.clock.advance(30);
        let late = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(late.err(), Some(ErrorCode::InvalidGrant));
        assert!(
            !w.is_live(&first.access_token).await,
            "a replay after the window ends the grant"
        );
    }

    /// RFC 7636 §4.6.
    #[tokio::test]
    async fn public_client_with_pkce_exchanges_and_wrong_verifier_is_invalid_grant() {
        let w = world(true);
        let q = format!(
            "{Q}&code_challenge={}&code_challenge_method=S256",
            CodeChallenge::s256(VERIFIER).as_str()
        );
        let code = w.code(&q).await;
        assert!(w
            .exchange(("c1", None), &code, CB, Some(VERIFIER))
            .await
            .is_ok());
        let code = w.code(&q).await;
        let wrong = "a".repeat(43);
        assert_eq!(
            w.exchange(("c1", None), &code, CB, Some(&wrong))
                .await
                .err(),
            Some(ErrorCode::InvalidGrant)
        );
        // A public client proves itself by its verifier: a wrong one burns nothing.
        assert!(w
            .exchange(("c1", None), &code, CB, Some(VERIFIER))
            .await
            .is_ok());
        let code = w.code(&q).await;
        assert_eq!(
            w.exchange(("c1", None), &code, CB, None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused.
    #[tokio::test]
    async fn code_verifier_for_a_code_without_challenge_is_rejected() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w
            .exchange(("c1", Some(SECRET)), &code, CB, Some(VERIFIER))
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    /// A storage fault mid-exchange leaves no half-done state: the code stays consumed with no
    /// grant, so the client's retry redeems it.
    #[tokio::test]
    async fn a_storage_fault_during_issuance_is_503_and_the_retry_redeems_the_code() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store.fail_next(Op::StartGrant);
        let first = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(first.err(), Some(ErrorCode::TemporarilyUnavailable));
        assert_eq!(
            w.store.counts(),
            (1, 0),
            "the code is kept, no token written"
        );
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(w.is_live(&t.access_token).await);
    }

    /// Consumes `code` as `c1` would, directly in the store: a consuming write that landed
    /// after the function gave up (the client got a 503).
    async fn consume_behind_the_clients_back(w: &World, code: &AuthorizationCode) {
        use crate::ports::{CodeRedeem, Consumed, Presenter};
        use crate::secret::ClientSecret;
        let secret = ClientSecret::new(SECRET).hash();
        let presenter = Presenter {
            client_id: &"c1".into(),
            secret_hash: Some(&secret),
            pkce: None,
        };
        let consumed = w
            .store
            .consume_code(&code.hash(), w.clock.now(), presenter)
            .await
            .unwrap();
        assert!(matches!(consumed, Consumed::Now(_)));
    }

    /// Issue 10, "applied after the function gave up": the consuming write landed after the
    /// 503; the client's retry of the same code succeeds once, and a second retry is a replay
    /// (RFC 6749 §4.1.2) that revokes what the first issued.
    #[tokio::test]
    async fn a_consume_that_landed_after_a_503_is_redeemed_once_by_its_client() {
        let w = world(false);
        let code = w.code(Q).await;
        consume_behind_the_clients_back(&w, &code).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(w.is_live(&t.access_token).await);
        let again = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        assert!(!w.is_live(&t.access_token).await);
    }

    /// Redeeming a consumed code needs exactly what a first use needs: the code's client with
    /// its secret (RFC 6749 §3.2.1), within the code's lifetime; anyone else changes nothing.
    #[tokio::test]
    async fn a_consumed_code_is_redeemable_only_by_its_client_with_its_secret_in_its_lifetime() {
        let w = world(false).with(client("c2"));
        let code = w.code(Q).await;
        consume_behind_the_clients_back(&w, &code).await;
        let other = w.exchange(("c2", Some(SECRET)), &code, CB, None).await;
        assert_eq!(other.err(), Some(ErrorCode::InvalidGrant));
        let wrong = w
            .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
            .await;
        assert_eq!(wrong.err(), Some(ErrorCode::InvalidClient));
        let no_uri = w.exchange(("c1", Some(SECRET)), &code, None, None).await;
        assert_eq!(no_uri.err(), Some(ErrorCode::InvalidGrant));
        assert_eq!(w.store.counts().1, 0, "nothing issued");
        w.clock.advance(600);
        let late = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(late.err(), Some(ErrorCode::InvalidGrant));
        assert_eq!(w.store.counts().1, 0, "nothing issued");
    }

    /// A public client redeems a consumed code only with the verifier for its challenge
    /// (RFC 7636 §4.6), as at first use.
    #[tokio::test]
    async fn a_public_clients_consumed_code_is_redeemed_only_with_its_verifier() {
        use crate::ports::{CodeRedeem, Presenter};
        let w = world(true);
        let challenge = CodeChallenge::s256(VERIFIER);
        let code = w
            .code(&format!(
                "{Q}&code_challenge={}&code_challenge_method=S256",
                challenge.as_str()
            ))
            .await;
        let presenter = Presenter {
            client_id: &"c1".into(),
            secret_hash: None,
            pkce: Some(&challenge),
        };
        w.store
            .consume_code(&code.hash(), w.clock.now(), presenter)
            .await
            .unwrap();
        let wrong = w
            .exchange(("c1", None), &code, CB, Some(&"w".repeat(43)))
            .await;
        assert_eq!(wrong.err(), Some(ErrorCode::InvalidGrant));
        assert_eq!(w.store.counts().1, 0, "nothing issued");
        let t = w
            .exchange(("c1", None), &code, CB, Some(VERIFIER))
            .await
            .unwrap();
        assert!(w.is_live(&t.access_token).await);
    }

    /// A revoked grant is a tombstone: its code, though consumed and still in the table, cannot
    /// bring it back.
    #[tokio::test]
    async fn a_revoked_grant_cannot_come_back_through_its_code() {
        use crate::ports::GrantRevocation;
        let w = world(false);
        let code = w.code(Q).await;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        let grant = w.grant_of(&t.access_token).unwrap().grant_id;
        w.store.revoke_grant(&grant, w.clock.now()).await.unwrap();
        let again = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        assert!(!w.is_live(&t.access_token).await, "no token of the grant");
        assert!(w.grant_of(&t.access_token).unwrap().revoked_at.is_some());
    }

    /// The SDK retried an issuing transaction that had landed (its first answer was lost): the
    /// retry's condition fails on the grant this very request wrote. That is this request's
    /// own issuance, not a second exchange: the tokens are delivered and nothing is revoked.
    #[tokio::test]
    async fn an_issuance_retried_after_it_landed_is_recognised_as_its_own() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store.echo_next(Op::StartGrant);
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(w.is_live(&t.access_token).await);
        assert!(w.refresh_is_current(t.refresh()));
    }

    /// Review finding 11: a code issued just before a secret rotation is redeemable with the
    /// new secret, and with the old one while it is in its overlap; a wrong secret still is not.
    #[tokio::test]
    async fn a_code_issued_before_a_rotation_is_redeemable_with_either_secret_in_the_overlap() {
        use crate::model::RetiringSecret;
        use crate::secret::ClientSecret;
        const NEW: &str = "pc_cs_new";
        let rotate = |w: &World| {
            let until = w.clock.now() + 3600;
            let mut c = client("c1")
                .scopes(&["READ_PROFILE"])
                .secrets(&[NEW, SECRET])
                .build();
            c.secret_retiring = Some(RetiringSecret {
                hash: ClientSecret::new(SECRET).hash(),
                until,
            });
            w.store.upsert_client(c);
        };
        for secret in [NEW, SECRET] {
            let w = world(false);
            let code = w.code(Q).await;
            rotate(&w);
            let wrong = w
                .exchange(("c1", Some("pc_cs_wrong")), &code, CB, None)
                .await;
            assert_eq!(wrong.err(), Some(ErrorCode::InvalidClient));
            let t = w.exchange(("c1", Some(secret)), &code, CB, None).await;
            assert!(t.is_ok(), "{secret}: {t:?}");
            let t = t.unwrap();
            // The refresh token works with the new secret too.
            assert!(w
                .refresh(("c1", Some(NEW)), t.refresh(), None)
                .await
                .is_ok());
        }
    }

    /// A code issued during a secret rotation's overlap does not carry the old secret past the
    /// overlap: the consuming write checks its snapshot only, so an overlap that ends before the
    /// code does leaves the old secret out of it. Inside the overlap the old secret still
    /// redeems the code (checked against the current registration); after it, it does not.
    #[tokio::test]
    async fn a_code_issued_in_an_overlap_does_not_keep_the_old_secret_alive_past_it() {
        use crate::model::RetiringSecret;
        use crate::secret::ClientSecret;
        const NEW: &str = "pc_cs_new";
        let w = world(false);
        let mut c = client("c1")
            .scopes(&["READ_PROFILE"])
            .secrets(&[NEW, SECRET])
            .build();
        c.secret_retiring = Some(RetiringSecret {
            hash: ClientSecret::new(SECRET).hash(),
            until: w.clock.now() + 60,
        });
        w.store.upsert_client(c);
        let inside = w.code(Q).await;
        let late = w.code(Q).await;
        w.clock.advance(30);
        assert!(w
            .exchange(("c1", Some(SECRET)), &inside, CB, None)
            .await
            .is_ok());
        w.clock.advance(31);
        let r = w.exchange(("c1", Some(SECRET)), &late, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient), "after the overlap");
        assert!(w.exchange(("c1", Some(NEW)), &late, CB, None).await.is_ok());
    }

    /// Review finding 6: however short the refresh and grant lifetimes, the grant item (and,
    /// once revoked, its tombstone) is kept past its code's end plus the replay margin, at the
    /// exchange and at every refresh, so a consumed code never finds its grant gone (which
    /// would make it redeemable again).
    #[tokio::test]
    async fn a_grant_outlives_its_code_however_short_its_lifetimes() {
        let mut w = world(false);
        w.lifetimes.grant_lifetime = Some(60);
        w.lifetimes.refresh_ttl = 30;
        let code = w.code(Q).await;
        let code_end = w.clock.now() + 600;
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        let grant_id = grant_id_for_code(&code.hash());
        let kept = |g: Option<crate::model::Grant>| g.unwrap().expires_at;
        assert!(kept(w.store.grant(&grant_id).await.unwrap()) >= code_end + REPLAY_MARGIN);
        w.clock.advance(10);
        w.refresh(("c1", Some(SECRET)), t.refresh(), None)
            .await
            .unwrap();
        assert!(kept(w.store.grant(&grant_id).await.unwrap()) >= code_end + REPLAY_MARGIN);
        w.store
            .revoke_grant(&grant_id, w.clock.now())
            .await
            .unwrap();
        assert!(kept(w.store.grant(&grant_id).await.unwrap()) >= code_end + REPLAY_MARGIN);
    }

    /// Review finding 1 (OAuth 2.1 §2.4.1): knowing only a `client_id`, an attacker cannot
    /// make the client's correct credentials fail. Wrong secrets past the limit get 429 with
    /// `Retry-After`, while the client's own secret redeems its code at once, and nothing was
    /// written for any of the failures.
    #[tokio::test]
    async fn knowing_a_client_id_cannot_make_its_correct_secret_fail() {
        use crate::client_auth::limit_failures;
        use crate::error::EndpointError;
        use crate::throttle::{FailureLimit, LockoutPolicy};
        let w = world(false);
        let code = w.code(Q).await;
        let limit = FailureLimit::new(LockoutPolicy { max: 3, window: 60 });
        let exchange = |secret: &'static str| {
            let creds = ClientCredentials {
                client_id: Some("c1".into()),
                secret: Some(crate::secret::ClientSecret::new(secret)),
                ..Default::default()
            };
            let grant = CodeGrant {
                code: code.clone(),
                redirect_uri: CB.map(Into::into),
                code_verifier: None,
                resource: None,
            };
            let (w, limit) = (&w, &limit);
            async move {
                let r = exchange_code(
                    &w.store,
                    &w.store,
                    &w.store,
                    &creds,
                    &grant,
                    &w.token_context(),
                )
                .await;
                limit_failures(limit, &creds, r, w.clock.now())
            }
        };
        let wrong = format!("pc_cs_{}", "w".repeat(43)).leak();
        for attempt in 1..=20 {
            match exchange(wrong).await {
                Err(EndpointError::OAuth(e)) if attempt <= 3 => {
                    assert_eq!(e.code, crate::error::ErrorCode::InvalidClient)
                }
                Err(EndpointError::Throttled { retry_after, .. }) if attempt > 3 => {
                    assert!(retry_after > 0 && retry_after <= 60)
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        assert_eq!(w.store.counts().1, 0, "nothing issued to the attacker");
        assert!(
            exchange(SECRET).await.is_ok(),
            "the client's own secret works during the attack"
        );
    }
}

//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2,
//! OAuth 2.1 §4.3). One implementation for both paths: the token endpoint's
//! `grant_type=refresh_token` and Cal.com's `/api/auth/oauth/refreshToken`.
use super::{RefreshGrant, TokenContext, TokenResponse};
use crate::client_auth::{auth_failed, authenticate_found, ClientCredentials};
use crate::codec::{
    is_minted_refresh, mint_access, mint_refresh, parse_refresh, reproduce_pair, RefreshParts,
};
use crate::error::{EndpointError, OAuthError};
use crate::model::{Client, Grant};
use crate::ports::{ClientTouch, GrantAdvance, GrantLookup, GrantRead, GrantRevocation};
use crate::scope::join_scope;

fn invalid_refresh() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// RFC 6749 §6: a refresh. Storage: one BatchGetItem (the grant the token names and the
/// client's current registration, eventually consistent: one read unit for both), then one
/// conditional UpdateItem of the grant that decides it ([`GrantAdvance::advance`]). Extra
/// calls only on failure paths.
///
/// - A refresh token this server did not issue (its tag, [`crate::codec`]) is `invalid_grant`
///   with no storage call.
/// - The client is authenticated first (RFC 6749 §3.2.1), against its current registration;
///   a client that fails is `invalid_client` and nothing changes. Another client's refresh
///   token is `invalid_grant` and nothing changes.
/// - The current refresh token is replaced (legacy clients: kept, its end extended) by one
///   conditional write on the grant's generation: of any number of concurrent refreshes of one
///   generation exactly one writes, and since the successors are derived from the grant and
///   generation with the mint key, the others are answered with the same tokens.
/// - The refresh token of the generation before, presented by its client within the retry
///   window (`PORTCULLIS_REFRESH_GRACE`) of the refresh that replaced it, is a retry whose
///   answer was lost: it gets the same tokens, nothing is written, no second branch exists.
/// - Any other earlier refresh token presented by its client is reuse (RFC 9700 §4.14.2): the
///   whole grant is revoked (one write).
/// - RFC 7591 (issue 18): after a successful refresh, a registered client whose TTL has less
///   than half its idle period left gets it pushed forward ([`crate::ports::touch_if_due`]:
///   one UpdateItem per half period at most, on the client read above, so no extra read; a
///   failure is logged, never the user's). An operator's client has no TTL and is never written.
pub async fn refresh_tokens(
    tokens: &(impl GrantRead + GrantAdvance + GrantLookup + GrantRevocation + ClientTouch + ?Sized),
    creds: &ClientCredentials,
    grant: &RefreshGrant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    let client_id = creds.require_client_id()?;
    // Issue 16: an access token, a code, garbage or a forgery costs nothing.
    let Some(parts) = parse_refresh(&grant.refresh_token, ctx.keys.tag) else {
        return Err(invalid_refresh().into());
    };
    if !client_id.is_well_formed() {
        return Err(auth_failed().into());
    }
    // One read: the grant and the client's current registration, so every refresh applies
    // what the operator registered now (review finding 4). Eventually consistent (half the
    // price): the write's condition decides, and a read that looks stale is repeated
    // strongly consistent on that path only.
    let (found, registered) = tokens
        .grant_and_clients(&parts.grant_id, &[client_id], false)
        .await?;
    // RFC 6749 §3.2.1: the client authenticates first, against its current registration:
    // unknown, disabled or a wrong secret is `invalid_client` and nothing changes.
    let current = authenticate_found(creds, &registered, now)?;

    let response = decide(tokens, current, grant, ctx, &parts, found, now).await?;
    crate::ports::touch_if_due(tokens, current, now, ctx.lifetimes.registration_idle).await;
    Ok(response)
}

/// The refresh of `current` (authenticated) decided on the grant as read (and re-read where a
/// read may be stale).
async fn decide(
    tokens: &(impl GrantAdvance + GrantLookup + GrantRevocation + ?Sized),
    current: &Client,
    grant: &RefreshGrant,
    ctx: &TokenContext<'_>,
    parts: &RefreshParts,
    mut found: Option<Grant>,
    now: u64,
) -> Result<TokenResponse, EndpointError> {
    let client_id = &current.client_id;
    let hash = grant.refresh_token.hash();
    let mut consistent = false;
    // This request's write, when its condition failed: a re-read that shows it landed (the SDK
    // retried it after it had) or that a concurrent refresh of the same token wrote the same
    // successors (they are derived, not drawn) is this request's success.
    let mut written: Option<(Grant, TokenResponse)> = None;
    loop {
        if let (Some(g), Some((next, _))) = (&found, &written) {
            if g.revoked_at.is_none()
                && g.generation == next.generation
                && g.access_hash
                    .as_ref()
                    .zip(next.access_hash.as_ref())
                    .is_some_and(|(a, b)| a.ct_eq(b))
            {
                if let Some((_, response)) = written.take() {
                    return Ok(response);
                }
            }
        }
        match &found {
            // Unknown, or another client's: that client is not told more, and nothing changes.
            Some(g) if g.client_id != *client_id => return Err(invalid_refresh().into()),
            Some(g) if g.revoked_at.is_some() => return Err(invalid_refresh().into()),
            Some(g) if !g.is_live(now) => {
                return Err(OAuthError::invalid_grant("the grant has reached its end").into())
            }
            Some(g) if g.refresh_hash.as_ref().is_some_and(|h| h.ct_eq(&hash)) => {
                if g.refresh_expires_at <= now {
                    return Err(OAuthError::invalid_grant("the refresh token has expired").into());
                }
                // RFC 8707 §2.2: a refresh keeps the grant's audience; it never widens it.
                crate::resource::narrow(g.resource.as_deref(), grant.resource.as_deref())?;
                let (next, response) = successor(g, current, grant, ctx, now)?;
                if tokens.advance(&next, g.generation).await? {
                    tracing::info!(client_id = %g.client_id, grant_id = %g.grant_id, "refresh token used");
                    return Ok(response);
                }
                written = Some((next, response));
                // Another request moved the grant first (or the SDK retried this write after
                // it had landed): decide again on what is stored now.
            }
            Some(g)
                if parts.generation < g.generation
                    && is_minted_refresh(ctx.keys.mint, &grant.refresh_token, parts) =>
            {
                return retried_or_reused(tokens, g, parts, ctx).await;
            }
            // No grant, or a token newer than the grant as read: an eventually consistent
            // read may be a moment behind.
            _ => {}
        }
        if consistent {
            return Err(invalid_refresh().into());
        }
        consistent = true;
        found = tokens.grant(&parts.grant_id).await?;
    }
}

/// The grant after this refresh, and the answer.
fn successor(
    g: &Grant,
    current: &Client,
    grant: &RefreshGrant,
    ctx: &TokenContext<'_>,
    now: u64,
) -> Result<(Grant, TokenResponse), EndpointError> {
    let l = ctx.lifetimes;
    // Review finding 4: the grant's scopes as the client may hold them today (its current
    // registration and the deployment's current catalogue). The narrowing sticks: the grant
    // keeps it.
    let allowed: Vec<String> = g
        .scopes
        .iter()
        .filter(|s| current.scopes.contains(s) && ctx.scopes.contains(s))
        .cloned()
        .collect();
    if allowed.is_empty() {
        return Err(OAuthError::invalid_grant(
            "the client is no longer registered for any scope of this grant",
        )
        .into());
    }
    // RFC 6749 §6: the scope may narrow (for the access token), never widen; the grant keeps
    // its scope.
    let scopes = match &grant.scope {
        None => allowed.clone(),
        Some(asked) => {
            if asked.is_empty() || !asked.iter().all(|s| g.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                )
                .into());
            }
            let kept: Vec<String> = asked
                .iter()
                .filter(|s| allowed.contains(s))
                .cloned()
                .collect();
            if kept.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "the client is no longer registered for the requested scope",
                )
                .into());
            }
            kept
        }
    };
    let generation = g
        .generation
        .checked_add(1)
        .ok_or_else(|| OAuthError::invalid_grant("the grant has been refreshed too often"))?;
    // Review finding 9: an access token never outlives its grant's absolute end.
    let access_expires_at = g
        .ends_at
        .map_or(now + l.access_ttl, |end| end.min(now + l.access_ttl));
    let refresh_expires_at = g
        .ends_at
        .map_or(now + l.refresh_ttl, |end| end.min(now + l.refresh_ttl));
    let access = mint_access(ctx.keys, &g.client_id, &g.grant_id, generation);
    // The current registration decides (review finding 4): a legacy client switched back to
    // rotation rotates from its next refresh on.
    let rotate = current.refresh_rotation || current.public;
    let refresh = if rotate {
        mint_refresh(ctx.keys, &g.grant_id, generation)
    } else {
        grant.refresh_token.clone()
    };
    let next = Grant {
        generation,
        rotated_at: now,
        refresh_hash: Some(refresh.hash()),
        refresh_expires_at,
        access_hash: Some(access.hash()),
        access_expires_at,
        access_scopes: (scopes != allowed).then(|| scopes.clone()),
        previous_access_hash: g.access_hash.clone(),
        previous_access_expires_at: g.access_expires_at,
        // Stored only when it differs from what the grant now allows (the item stays small).
        previous_access_scopes: g
            .access_scopes
            .clone()
            .or_else(|| (g.scopes != allowed).then(|| g.scopes.clone())),
        scopes: allowed,
        refreshed_at: Some(now),
        // Never before the code's end plus its replay margin (review finding 6).
        expires_at: refresh_expires_at.max(g.keep_until),
        ..g.clone()
    };
    let response = TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: access_expires_at - now,
        refresh_token: Some(refresh),
        scope: join_scope(&scopes),
    };
    Ok((next, response))
}

/// An earlier refresh token of this grant, genuine (derived with the mint key), presented by
/// its own client.
///
/// The generation just before the current one, within the retry window of the refresh that
/// replaced it: the client did not get that refresh's answer (a 503 or a time-out after the
/// write landed, or two of its own requests racing). It gets the same answer, reproduced from
/// the mint key; nothing is written. Otherwise it is reuse (RFC 9700 §4.14.2): one of two
/// parties holds a copy and the server cannot tell which, so the whole grant goes.
async fn retried_or_reused(
    tokens: &(impl GrantRevocation + ?Sized),
    g: &Grant,
    parts: &RefreshParts,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    // A window of 0 turns retries off: every earlier token is reuse.
    let retry = ctx.lifetimes.refresh_grace > 0
        && parts.generation.checked_add(1) == Some(g.generation)
        && now.saturating_sub(g.rotated_at) <= ctx.lifetimes.refresh_grace
        && g.access_expires_at > now;
    if retry {
        let pair = g
            .access_hash
            .as_ref()
            .and_then(|h| reproduce_pair(ctx.keys, &g.client_id, &g.grant_id, g.generation, h));
        if let Some((access, refresh)) = pair {
            if g.refresh_hash
                .as_ref()
                .is_some_and(|h| h.ct_eq(&refresh.hash()))
            {
                tracing::info!(
                    grant_id = %g.grant_id,
                    client_id = %g.client_id,
                    "a refresh retried within the retry window gets the same tokens"
                );
                return Ok(TokenResponse {
                    access_token: access,
                    token_type: "Bearer",
                    expires_in: g.access_expires_at - now,
                    refresh_token: Some(refresh),
                    scope: join_scope(g.access_scopes.as_ref().unwrap_or(&g.scopes)),
                });
            }
        }
    }
    let revoked = tokens.revoke_grant(&g.grant_id, now).await?;
    tracing::warn!(
        grant_id = %g.grant_id,
        client_id = %g.client_id,
        user_sub = %g.user_sub,
        revoked,
        security_event = "refresh_token_reuse",
        "an earlier refresh token was used again; its grant was revoked"
    );
    Err(invalid_refresh().into())
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::grants::TokenResponse;
    use crate::ports::Op;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::testkit::{client, World, SECRET};

    const Q: &str = "client_id=c1&scope=READ_PROFILE%20READ_BOOKING";
    const C1: (&str, Option<&str>) = ("c1", Some(SECRET));

    async fn issued(w: &World) -> TokenResponse {
        let code = w.code(Q).await;
        w.exchange(C1, &code, None, None).await.unwrap()
    }

    async fn live(w: &World, token: &AccessToken) -> bool {
        w.is_live(token).await
    }

    async fn live_refresh(w: &World, token: &RefreshToken) -> bool {
        w.refresh_is_current(token)
    }

    /// Issue 18: an operator's client has no TTL, so a refresh never writes it: the refresh is
    /// its two calls (the read, the grant's write), and the client item stays as it was.
    #[tokio::test]
    async fn an_operators_client_is_never_written_at_refresh() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.clock.advance(80_000);
        w.store.reset_calls();
        w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(w.store.calls(), 2, "read and advance, no client write");
        assert_eq!(w.store.stored_client("c1").unwrap().expires_at, None);
    }

    /// RFC 7591 (issue 18): a registered client that only refreshes lives on: a refresh when
    /// less than half its idle period is left pushes its TTL to a full period from now (one
    /// UpdateItem); the next refreshes, with more than half left, write nothing; a refused
    /// refresh writes nothing either.
    #[tokio::test]
    async fn a_refresh_of_a_registered_client_with_less_than_half_its_ttl_left_extends_it() {
        // An idle period shorter than the refresh token's lifetime, so both fit in the test.
        let idle = 20_000;
        let mut w = World::new().with(client("c1").expires_at(10_000 + idle));
        w.lifetimes.registration_idle = idle;
        let t = issued(&w).await;
        w.clock.advance(idle / 2 + 10);
        let now = crate::clock::Clock::now(&w.clock);
        let wrong = w
            .refresh(("c1", Some("pc_cs_wrong")), t.refresh(), None)
            .await;
        assert_eq!(wrong.err(), Some(ErrorCode::InvalidClient));
        assert_eq!(
            w.store.stored_client("c1").unwrap().expires_at,
            Some(10_000 + idle),
            "a refused refresh extends nothing"
        );
        w.store.reset_calls();
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(
            w.store.calls(),
            3,
            "read, advance, and the TTL's UpdateItem"
        );
        assert_eq!(
            w.store.stored_client("c1").unwrap().expires_at,
            Some(now + idle)
        );
        w.clock.advance(60);
        w.store.reset_calls();
        w.refresh(C1, r.refresh(), None).await.unwrap();
        assert_eq!(w.store.calls(), 2, "more than half left: no write");
    }

    /// The TTL write is never the user's failure: when it fails, the refresh succeeds and the
    /// client keeps its current TTL (the next refresh tries again).
    #[tokio::test]
    async fn a_failed_ttl_write_never_fails_the_refresh() {
        let idle = 20_000;
        let mut w = World::new().with(client("c1").expires_at(10_000 + idle / 4));
        w.lifetimes.registration_idle = idle;
        let t = issued(&w).await;
        w.store.fail_next(Op::TouchClient);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(
            w.store.stored_client("c1").unwrap().expires_at,
            Some(10_000 + idle / 4)
        );
        w.refresh(C1, r.refresh(), None).await.unwrap();
        assert!(w.store.stored_client("c1").unwrap().expires_at > Some(10_000 + idle / 4));
    }

    /// RFC 6749 §6, RFC 9700 §4.14.2: a refresh returns a new pair and the old refresh token
    /// stops working.
    #[tokio::test]
    async fn refresh_rotates_the_refresh_token() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(!r.refresh().ct_eq(t.refresh()));
        assert_eq!(r.scope, "READ_PROFILE READ_BOOKING");
        assert_eq!(r.expires_in, 1800);
        assert!(live(&w, &r.access_token).await && live_refresh(&w, r.refresh()).await);
        assert!(!live_refresh(&w, t.refresh()).await);
    }

    /// docs/architecture.md: a refresh is 2 DynamoDB calls.
    #[tokio::test]
    async fn a_refresh_costs_two_storage_calls() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.reset_calls();
        w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(w.store.calls(), 2);
    }

    /// The SDK retried a refresh's transaction after it had landed (its first answer lost): the
    /// retry's condition fails on the token this very request retired. The re-read shows this
    /// request's own successor, so the refresh succeeds and nothing is revoked.
    #[tokio::test]
    async fn a_rotation_retried_after_it_landed_is_recognised_as_its_own() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.echo_next(Op::Advance);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(live(&w, &r.access_token).await && live_refresh(&w, r.refresh()).await);
        assert!(live(&w, &t.access_token).await, "nothing revoked");
    }

    /// RFC 9700 §4.14.2: reuse of a retired refresh token revokes the whole grant, access tokens
    /// included.
    #[tokio::test]
    async fn reuse_of_a_retired_refresh_token_revokes_the_grant() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        let again = w.refresh(C1, t.refresh(), None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &r.access_token).await);
        assert!(!live(&w, &t.access_token).await);
        assert_eq!(
            w.refresh(C1, r.refresh(), None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// A retry after a lost answer gets the same answer: the token of the generation before,
    /// presented by its client within the retry window, gets the very tokens the refresh that
    /// replaced it issued (no second branch, nothing written, nothing revoked), however often.
    #[tokio::test]
    async fn a_refresh_retried_within_the_window_gets_the_same_tokens() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let first = w.refresh(C1, t.refresh(), None).await.unwrap();
        w.clock.advance(10);
        for _ in 0..3 {
            w.store.reset_calls();
            let retry = w.refresh(C1, t.refresh(), None).await.unwrap();
            assert!(retry.access_token.ct_eq(&first.access_token));
            assert!(retry.refresh().ct_eq(first.refresh()));
            assert_eq!(w.store.calls(), 1, "one read, no write");
        }
        assert!(live(&w, &first.access_token).await && live_refresh(&w, first.refresh()).await);
    }

    #[tokio::test]
    async fn grace_window_retry_after_the_window_is_reuse() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let first = w.refresh(C1, t.refresh(), None).await.unwrap();
        w.clock.advance(31);
        let late = w.refresh(C1, t.refresh(), None).await;
        assert_eq!(late.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &first.access_token).await);
    }

    /// Inside the grace window, a retry after the successor was itself used is reuse: two
    /// branches would otherwise be live.
    #[tokio::test]
    async fn grace_retry_after_the_successor_was_used_is_reuse() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let first = w.refresh(C1, t.refresh(), None).await.unwrap();
        let second = w.refresh(C1, first.refresh(), None).await.unwrap();
        let late = w.refresh(C1, t.refresh(), None).await;
        assert_eq!(late.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &second.access_token).await);
    }

    /// Review finding 2: there is only ever one live branch. A thief who retries the old token
    /// just after the client, inside the window, gets the client's own pair (not a branch of
    /// its own); whoever uses an earlier token once the pair has moved on ends the grant, so
    /// the thief cannot keep it while the client's refreshes fail quietly.
    #[tokio::test]
    async fn a_later_use_of_the_superseded_branch_ends_the_grant() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let client_pair = w.refresh(C1, t.refresh(), None).await.unwrap();
        w.clock.advance(5);
        let thief_pair = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(
            thief_pair.refresh().ct_eq(client_pair.refresh()),
            "one branch"
        );
        // The client moves on; the thief's copy is now an earlier token: its use is reuse.
        let next = w.refresh(C1, client_pair.refresh(), None).await.unwrap();
        w.clock.advance(60);
        let r = w.refresh(C1, thief_pair.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &next.access_token).await, "the grant ended");
        assert_eq!(
            w.refresh(C1, next.refresh(), None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// RFC 6749 §6: the scope may narrow, never widen; the new refresh token keeps the grant's.
    #[tokio::test]
    async fn scope_may_narrow_but_not_widen() {
        let w = World::new().with(client("c1").scopes(&["READ_PROFILE", "READ_BOOKING", "X"]));
        let t = issued(&w).await;
        let wide = w.refresh(C1, t.refresh(), Some("READ_PROFILE X")).await;
        assert_eq!(wide.err(), Some(ErrorCode::InvalidScope));
        let narrow = w
            .refresh(C1, t.refresh(), Some("READ_PROFILE"))
            .await
            .unwrap();
        assert_eq!(narrow.scope, "READ_PROFILE");
        let full = w.refresh(C1, narrow.refresh(), None).await.unwrap();
        assert_eq!(full.scope, "READ_PROFILE READ_BOOKING");
    }

    /// Sliding lifetime: each refresh starts a new period; an unused token expires.
    #[tokio::test]
    async fn refresh_tokens_expire_after_the_lifetime_without_use() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.clock.advance(86_000);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        w.clock.advance(86_000);
        let r = w.refresh(C1, r.refresh(), None).await.unwrap();
        w.clock.advance(86_400);
        assert_eq!(
            w.refresh(C1, r.refresh(), None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// The optional absolute grant lifetime ends the grant however often it is refreshed.
    #[tokio::test]
    async fn absolute_grant_lifetime_ends_the_grant() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.grant_lifetime = Some(100_000);
        let t = issued(&w).await;
        w.clock.advance(60_000);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        w.clock.advance(40_000);
        assert_eq!(
            w.refresh(C1, r.refresh(), None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// Review finding 4: each refresh applies the client's current registration and the
    /// current catalogue: a disabled client is refused, narrowed scopes narrow the grant (and
    /// the narrowing sticks), a legacy client switched back to rotation rotates, and a scope
    /// removed from the catalogue is no longer issued.
    #[tokio::test]
    async fn each_refresh_applies_the_clients_current_registration_and_catalogue() {
        // Disabled since the grant: invalid_client, nothing rotates.
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.upsert_client(client("c1").disabled().build());
        let r = w.refresh(C1, t.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        w.store.upsert_client(client("c1").build());
        assert!(w.refresh(C1, t.refresh(), None).await.is_ok());

        // Scopes narrowed: at most the current scopes, at this refresh and the next.
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        assert_eq!(t.scope, "READ_PROFILE READ_BOOKING");
        w.store
            .upsert_client(client("c1").scopes(&["READ_PROFILE"]).build());
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(r.scope, "READ_PROFILE");
        w.store.upsert_client(client("c1").build());
        let again = w.refresh(C1, r.refresh(), None).await.unwrap();
        assert_eq!(
            again.scope, "READ_PROFILE",
            "the narrowing sticks to the grant"
        );
        w.store
            .upsert_client(client("c1").scopes(&["READ_BOOKING"]).build());
        let none = w.refresh(C1, again.refresh(), None).await;
        assert_eq!(none.err(), Some(ErrorCode::InvalidGrant));

        // Legacy switched back to rotation: the next refresh rotates.
        let w = World::new().with(client("c1").no_refresh_rotation());
        let t = issued(&w).await;
        let same = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(same.refresh().ct_eq(t.refresh()), "legacy: kept");
        w.store.upsert_client(client("c1").build());
        let rotated = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(!rotated.refresh().ct_eq(t.refresh()), "rotates now");
        assert_eq!(
            w.refresh(C1, t.refresh(), None).await.err(),
            Some(ErrorCode::InvalidGrant),
            "and the old one is now retired"
        );

        // A scope removed from the catalogue is no longer issued.
        let mut w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.scopes = crate::scope::ScopeCatalog::new(vec![crate::scope::ScopeDef {
            name: "READ_BOOKING".into(),
            description: "See your bookings".into(),
        }])
        .unwrap();
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(r.scope, "READ_BOOKING");
    }

    /// Review finding 9: an access token never outlives its grant's absolute end, at the code
    /// exchange or at a refresh: its `expires_in` and its stored end stop at the grant's.
    #[tokio::test]
    async fn access_tokens_never_outlive_their_grant() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.grant_lifetime = Some(1_000);
        let t = issued(&w).await;
        assert_eq!(t.expires_in, 1_000, "capped at the grant's end, not 1800");
        w.clock.advance(900);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert_eq!(r.expires_in, 100);
        w.clock.advance(100);
        assert!(!w.is_live(&r.access_token).await);
    }

    /// Another (authenticated) client's refresh token is `invalid_grant`; nothing changes.
    #[tokio::test]
    async fn another_clients_refresh_token_is_invalid_grant_and_changes_nothing() {
        let w = World::new().with(client("c1")).with(client("c2"));
        let t = issued(&w).await;
        let r = w.refresh(("c2", Some(SECRET)), t.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w.refresh(C1, t.refresh(), None).await.is_ok());
    }

    /// RFC 6749 §3.2.1: wrong secret or unknown client is `invalid_client`; nothing rotates and
    /// nothing is revoked.
    #[tokio::test]
    async fn wrong_secret_on_refresh_is_invalid_client_and_changes_nothing() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w
            .refresh(("c1", Some("pc_cs_wrong")), t.refresh(), None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w.refresh(("ghost", Some(SECRET)), t.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w.refresh(("c1", None), t.refresh(), None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        assert!(w.refresh(C1, t.refresh(), None).await.is_ok());
    }

    /// An access token presented as a refresh token is refused before the tokens table.
    #[tokio::test]
    async fn access_token_presented_as_refresh_token_is_invalid_grant() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.reset_calls();
        let fake = RefreshToken::new(t.access_token.secret());
        assert_eq!(
            w.refresh(C1, &fake, None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
        assert_eq!(
            w.store.calls(),
            0,
            "no storage call for a token this server did not issue"
        );
    }

    /// Disabled or deleted client, or a secret rotated out: the refresh writes nothing.
    #[tokio::test]
    async fn disabled_client_cannot_refresh() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.upsert_client(client("c1").disabled().build());
        assert_eq!(
            w.refresh(C1, t.refresh(), None).await.err(),
            Some(ErrorCode::InvalidClient)
        );
        w.store.upsert_client(client("c1").build());
        assert!(w.refresh(C1, t.refresh(), None).await.is_ok());
    }

    /// A secret rotated since the token was issued: the new secret authenticates (against the
    /// client item, read on this path only); the old one, once removed, does not.
    #[tokio::test]
    async fn rotated_client_secret_still_refreshes() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store
            .upsert_client(client("c1").secrets(&["pc_cs_new"]).build());
        assert_eq!(
            w.refresh(C1, t.refresh(), None).await.err(),
            Some(ErrorCode::InvalidClient)
        );
        let r = w
            .refresh(("c1", Some("pc_cs_new")), t.refresh(), None)
            .await
            .unwrap();
        w.store.reset_calls();
        w.refresh(("c1", Some("pc_cs_new")), r.refresh(), None)
            .await
            .unwrap();
        assert_eq!(
            w.store.calls(),
            2,
            "the new snapshot carries the new secret"
        );
    }

    /// Legacy mode: the same refresh token comes back, its expiry sliding.
    #[tokio::test]
    async fn legacy_client_keeps_its_refresh_token() {
        let w = World::new().with(client("c1").no_refresh_rotation());
        let t = issued(&w).await;
        w.clock.advance(80_000);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(r.refresh().ct_eq(t.refresh()));
        w.clock.advance(80_000);
        let r = w.refresh(C1, t.refresh(), None).await.unwrap();
        assert!(r.refresh().ct_eq(t.refresh()));
        assert!(live(&w, &r.access_token).await);
    }

    /// Public clients always rotate (RFC 9700 §4.14.2), whatever the registration says.
    #[tokio::test]
    async fn public_clients_always_rotate() {
        let w = World::new().with(client("c1").public().no_refresh_rotation());
        let q = format!(
            "{Q}&code_challenge={}&code_challenge_method=S256",
            crate::pkce::CodeChallenge::s256(crate::testkit::VERIFIER).as_str()
        );
        let code = w.code(&q).await;
        let t = w
            .exchange(("c1", None), &code, None, Some(crate::testkit::VERIFIER))
            .await
            .unwrap();
        let r = w.refresh(("c1", None), t.refresh(), None).await.unwrap();
        assert!(!r.refresh().ct_eq(t.refresh()));
    }

    /// One user, two consents: rotating or revoking one never touches the other.
    #[tokio::test]
    async fn grants_of_one_user_are_independent() {
        let w = World::new().with(client("c1"));
        let phone = issued(&w).await;
        let laptop = issued(&w).await;
        w.refresh(C1, phone.refresh(), None).await.unwrap();
        let _ = w.refresh(C1, phone.refresh(), None).await;
        assert!(!live(&w, &phone.access_token).await);
        assert!(live(&w, &laptop.access_token).await);
        assert!(w.refresh(C1, laptop.refresh(), None).await.is_ok());
    }

    /// A storage fault during the write changes nothing: the same token works on retry.
    #[tokio::test]
    async fn a_storage_fault_during_rotation_is_503_and_the_token_survives() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.fail_next(Op::Advance);
        assert_eq!(
            w.refresh(C1, t.refresh(), None).await.err(),
            Some(ErrorCode::TemporarilyUnavailable)
        );
        assert!(w.refresh(C1, t.refresh(), None).await.is_ok());
    }

    /// Of many refreshes of one token, exactly one succeeds (grace off); the end-to-end test
    /// `refresh::twenty_concurrent_refreshes_of_one_token_move_the_grant_once_to_one_successor` runs them concurrently.
    #[tokio::test]
    async fn repeated_refreshes_of_one_token_succeed_once() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let all = futures_join(&w, t.refresh(), 20).await;
        assert_eq!(all.iter().filter(|r| r.is_ok()).count(), 1);
    }

    async fn futures_join(
        w: &World,
        token: &RefreshToken,
        n: usize,
    ) -> Vec<Result<TokenResponse, ErrorCode>> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for _ in 0..n {
            pending.push(w.refresh(C1, token, None));
        }
        for f in pending {
            out.push(f.await);
        }
        out
    }
}

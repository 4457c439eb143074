//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2,
//! OAuth 2.1 §4.3). One implementation for both paths: the token endpoint's
//! `grant_type=refresh_token` and Cal.com's `/api/auth/oauth/refreshToken`.
use super::{RefreshGrant, TokenContext, TokenResponse};
use crate::client_auth::{auth_failed, authenticate, refuse_grant, ClientCredentials};
use crate::error::{EndpointError, OAuthError};
use crate::model::{ItemKind, TokenRecord};
use crate::ports::{
    ClientLookup, GrantRevocation, RefreshRotation, RotateOutcome, Rotation, RotationKind,
    TokenLookup,
};
use crate::scope::join_scope;
use crate::secret::{AccessToken, RefreshToken};

fn invalid_refresh() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// RFC 6749 §6: a refresh. Storage: one GetItem of the presented token's item (it carries its
/// client's snapshot, grant, scopes, user and rotation state), then one TransactWriteItems that
/// decides it (see [`RefreshRotation::rotate`]). Extra calls only on failure paths.
///
/// - The client is authenticated first (RFC 6749 §3.2.1): against the item's snapshot, or, when
///   that fails (say the secret was rotated since), against its current registration. A client
///   that fails is `invalid_client` and nothing changes.
/// - Another client's refresh token is `invalid_grant` and nothing changes.
/// - An active token is retired and replaced (legacy clients: extended) by one conditional
///   write; of any number of concurrent refreshes exactly one wins.
/// - A retired token presented by its client is reuse (RFC 9700 §4.14.2): the whole grant is
///   revoked, unless this is a retry inside the deployment's grace window, with retries left.
pub async fn refresh_tokens(
    clients: &(impl ClientLookup + ?Sized),
    tokens: &(impl RefreshRotation + TokenLookup + GrantRevocation + ?Sized),
    creds: &ClientCredentials,
    grant: &RefreshGrant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    let l = ctx.lifetimes;
    let Some(client_id) = creds.client_id.as_ref() else {
        return Err(OAuthError::invalid_client(
            "client authentication is required: send client_id",
        )
        .into());
    };
    // An access token, a code or garbage: refused before any storage call (but after the client
    // is authenticated, which needs one read on this failure path).
    if !grant.refresh_token.is_well_formed() {
        return Err(refuse_grant(clients, creds, invalid_refresh(), now).await);
    }
    let hash = grant.refresh_token.hash();
    // One read: the token's item and the client's current registration, so every refresh
    // applies what the operator registered now (review finding 4).
    let (found, registered) = if client_id.is_well_formed() {
        tokens.refresh_record_and_client(&hash, client_id).await?
    } else {
        (None, None)
    };
    // RFC 6749 §3.2.1: the client authenticates first, against its current registration:
    // unknown, disabled or a wrong secret is `invalid_client` and nothing changes.
    let current = registered.filter(|c| !c.disabled).ok_or_else(auth_failed)?;
    authenticate(creds, current.registered(now))?;
    let mut rec = match found {
        Some(r) if r.kind == ItemKind::Refresh && r.client_id == *client_id => r,
        // Unknown, or another client's: that client is not told more, and nothing changes.
        _ => return Err(invalid_refresh().into()),
    };
    // Review finding 4: the grant's scopes as the client may hold them today (its current
    // registration and the deployment's current catalogue). The narrowing sticks: the new
    // refresh token carries it.
    let allowed: Vec<String> = rec
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

    for attempt in 0..2 {
        if rec.grant_expires_at.is_some_and(|end| end <= now) {
            return Err(OAuthError::invalid_grant("the grant has reached its end").into());
        }
        let kind = match (rec.retired_at, &rec.next_access, &rec.next_refresh) {
            (None, _, _) if rec.expires_at <= now => {
                return Err(OAuthError::invalid_grant("the refresh token has expired").into())
            }
            // The current registration decides (review finding 4): a legacy client switched
            // back to rotation rotates from its next refresh on.
            (None, _, _) if !current.refresh_rotation && !current.public => RotationKind::Extend,
            (None, _, _) => RotationKind::Rotate,
            (Some(retired_at), Some(a), Some(r))
                if l.refresh_grace > 0
                    && now.saturating_sub(retired_at) <= l.refresh_grace
                    && rec.retries < l.refresh_grace_retries =>
            {
                RotationKind::GraceRetry {
                    seen_retries: rec.retries,
                    seen_next_access: a.clone(),
                    seen_next_refresh: r.clone(),
                }
            }
            (Some(_), _, _) => return Err(revoke_for_reuse(tokens, &rec).await),
        };

        // RFC 6749 §6: the scope may narrow (for the access token), never widen; the new refresh
        // token keeps the grant's scope.
        let scopes = match &grant.scope {
            None => allowed.clone(),
            Some(asked) => {
                if asked.is_empty() || !asked.iter().all(|s| rec.scopes.contains(s)) {
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

        let access = AccessToken::generate_for(&rec.client_id, ctx.entropy);
        // Review finding 9: an access token never outlives its grant's absolute end.
        let access_expires_at = rec
            .grant_expires_at
            .map_or(now + l.access_ttl, |end| end.min(now + l.access_ttl));
        let refresh_expires_at = rec
            .grant_expires_at
            .map_or(now + l.refresh_ttl, |end| end.min(now + l.refresh_ttl));
        let access_rec = TokenRecord::new(
            access.hash(),
            ItemKind::Access,
            rec.grant_id.clone(),
            rec.client_id.clone(),
            rec.user.clone(),
            scopes.clone(),
            now,
            access_expires_at,
        );
        let (new_refresh, refresh_rec) = match kind {
            RotationKind::Extend => (grant.refresh_token.clone(), None),
            _ => {
                let t = RefreshToken::generate(ctx.entropy);
                let r = TokenRecord {
                    pk: t.hash(),
                    created_at: now,
                    expires_at: refresh_expires_at,
                    retired_at: None,
                    retries: 0,
                    next_access: None,
                    next_refresh: None,
                    scopes: allowed.clone(),
                    ..rec.clone()
                };
                (t, Some(r))
            }
        };
        let old_expires_at = match kind {
            RotationKind::Extend => refresh_expires_at,
            _ => rec.expires_at.max(refresh_expires_at),
        };
        let rotation = Rotation {
            old: hash.clone(),
            kind,
            now,
            old_expires_at,
            access: access_rec,
            refresh: refresh_rec,
            grant_id: rec.grant_id.clone(),
            // Never before the code's end plus its replay margin (review finding 6).
            grant_expires_at: refresh_expires_at.max(rec.grant_keep_until.unwrap_or(0)),
        };
        let outcome = match tokens.rotate(&rotation).await? {
            // The write failed its condition: re-read what it found (this failure path only).
            // If the token names this request's own new access token, the SDK retried this very
            // transaction after it had landed (its first answer was lost): rotated.
            RotateOutcome::TokenChanged => match tokens.refresh_token_item(&hash).await? {
                Some(r) if r.next_access.as_ref() == Some(&rotation.access.pk) => {
                    RotateOutcome::Rotated
                }
                Some(r) => {
                    rec = r;
                    RotateOutcome::TokenChanged
                }
                None => return Err(invalid_refresh().into()),
            },
            other => other,
        };
        match outcome {
            RotateOutcome::Rotated => {
                if let RotationKind::GraceRetry { .. } = rotation.kind {
                    tracing::warn!(
                        grant_id = %rec.grant_id,
                        client_id = %rec.client_id,
                        security_event = "refresh_grace_retry",
                        "retired refresh token retried inside the grace window; the pair its first use issued was revoked"
                    );
                }
                tracing::info!(client_id = %rec.client_id, grant_id = %rec.grant_id, "refresh token used");
                return Ok(TokenResponse {
                    access_token: access,
                    token_type: "Bearer",
                    expires_in: access_expires_at - now,
                    refresh_token: new_refresh,
                    scope: join_scope(&scopes),
                });
            }
            RotateOutcome::GrantRevoked => return Err(invalid_refresh().into()),
            // Another request used this token at the same moment: decide again on what it left
            // (read above): a retry inside the grace window, or reuse.
            RotateOutcome::TokenChanged if attempt == 0 => {}
            RotateOutcome::TokenChanged => break,
        }
    }
    Err(revoke_for_reuse(tokens, &rec).await)
}

/// RFC 9700 §4.14.2: a retired refresh token used again by its client means one of two parties
/// holds a copy; the server cannot tell which, so the whole grant goes.
async fn revoke_for_reuse(
    tokens: &(impl GrantRevocation + ?Sized),
    rec: &TokenRecord,
) -> EndpointError {
    match tokens.revoke_grant(&rec.grant_id).await {
        Ok(revoked) => {
            tracing::warn!(
                grant_id = %rec.grant_id,
                client_id = %rec.client_id,
                user_sub = %rec.user_sub,
                revoked,
                security_event = "refresh_token_reuse",
                "retired refresh token reused; its grant was revoked"
            );
            invalid_refresh().into()
        }
        Err(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::Clock;
    use crate::error::ErrorCode;
    use crate::grants::TokenResponse;
    use crate::ports::{Op, TokenLookup};
    use crate::secret::{AccessToken, RefreshToken};
    use crate::testkit::{client, World, SECRET};

    const Q: &str = "client_id=c1&scope=READ_PROFILE%20READ_BOOKING";
    const C1: (&str, Option<&str>) = ("c1", Some(SECRET));

    async fn issued(w: &World) -> TokenResponse {
        let code = w.code(Q).await;
        w.exchange(C1, &code, None, None).await.unwrap()
    }

    async fn live(w: &World, token: &AccessToken) -> bool {
        w.store
            .token(&token.hash(), w.clock.now())
            .await
            .unwrap()
            .is_some()
    }

    async fn live_refresh(w: &World, token: &RefreshToken) -> bool {
        w.store
            .token(&token.hash(), w.clock.now())
            .await
            .unwrap()
            .is_some()
    }

    /// RFC 6749 §6, RFC 9700 §4.14.2: a refresh returns a new pair and the old refresh token
    /// stops working.
    #[tokio::test]
    async fn refresh_rotates_the_refresh_token() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(!r.refresh_token.ct_eq(&t.refresh_token));
        assert_eq!(r.scope, "READ_PROFILE READ_BOOKING");
        assert_eq!(r.expires_in, 1800);
        assert!(live(&w, &r.access_token).await && live_refresh(&w, &r.refresh_token).await);
        assert!(!live_refresh(&w, &t.refresh_token).await);
    }

    /// docs/architecture.md: a refresh is 2 DynamoDB calls.
    #[tokio::test]
    async fn a_refresh_costs_two_storage_calls() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.reset_calls();
        w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert_eq!(w.store.calls(), 2);
    }

    /// The SDK retried a refresh's transaction after it had landed (its first answer lost): the
    /// retry's condition fails on the token this very request retired. The re-read shows this
    /// request's own successor, so the refresh succeeds and nothing is revoked.
    #[tokio::test]
    async fn a_rotation_retried_after_it_landed_is_recognised_as_its_own() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.echo_next(Op::Rotate);
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(live(&w, &r.access_token).await && live_refresh(&w, &r.refresh_token).await);
        assert!(live(&w, &t.access_token).await, "nothing revoked");
    }

    /// RFC 9700 §4.14.2: reuse of a retired refresh token revokes the whole grant, access tokens
    /// included.
    #[tokio::test]
    async fn reuse_of_a_retired_refresh_token_revokes_the_grant() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        let again = w.refresh(C1, &t.refresh_token, None).await;
        assert_eq!(again.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &r.access_token).await);
        assert!(!live(&w, &t.access_token).await);
        assert_eq!(
            w.refresh(C1, &r.refresh_token, None).await.err(),
            Some(ErrorCode::InvalidGrant)
        );
    }

    /// Grace window: one retry of a just-retired token gets a fresh pair and revokes the pair the
    /// first use issued; a second retry (past the cap) is reuse.
    #[tokio::test]
    async fn grace_window_retry_succeeds_once_and_leaves_one_live_branch() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let first = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        w.clock.advance(10);
        let retry = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(!live(&w, &first.access_token).await);
        assert!(!live_refresh(&w, &first.refresh_token).await);
        assert!(live(&w, &retry.access_token).await);
        let third = w.refresh(C1, &t.refresh_token, None).await;
        assert_eq!(third.err(), Some(ErrorCode::InvalidGrant));
        assert!(
            !live(&w, &retry.access_token).await,
            "past the cap: revoked"
        );
    }

    #[tokio::test]
    async fn grace_window_retry_after_the_window_is_reuse() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let first = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        w.clock.advance(31);
        let late = w.refresh(C1, &t.refresh_token, None).await;
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
        let first = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        let second = w.refresh(C1, &first.refresh_token, None).await.unwrap();
        let late = w.refresh(C1, &t.refresh_token, None).await;
        assert_eq!(late.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &second.access_token).await);
    }

    /// Review finding 2: the grace retry marks the other party's newer refresh token retired
    /// instead of deleting it, so one branch is live and a later use of the other one ends the
    /// grant: a thief who retries the old token just after the client cannot keep the grant
    /// while the client's next refresh fails quietly.
    #[tokio::test]
    async fn a_later_use_of_the_superseded_branch_ends_the_grant() {
        let mut w = World::new().with(client("c1"));
        w.lifetimes.refresh_grace = 30;
        let t = issued(&w).await;
        let client_pair = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        w.clock.advance(5);
        let thief_pair = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(live_refresh(&w, &thief_pair.refresh_token).await);
        // The client's next refresh, with the superseded token: reuse, and the grant ends.
        let r = w.refresh(C1, &client_pair.refresh_token, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(!live(&w, &thief_pair.access_token).await);
        assert_eq!(
            w.refresh(C1, &thief_pair.refresh_token, None).await.err(),
            Some(ErrorCode::InvalidGrant),
            "the thief's branch is gone too"
        );
    }
    /// RFC 6749 §6: the scope may narrow, never widen; the new refresh token keeps the grant's.
    #[tokio::test]
    async fn scope_may_narrow_but_not_widen() {
        let w = World::new().with(client("c1").scopes(&["READ_PROFILE", "READ_BOOKING", "X"]));
        let t = issued(&w).await;
        let wide = w
            .refresh(C1, &t.refresh_token, Some("READ_PROFILE X"))
            .await;
        assert_eq!(wide.err(), Some(ErrorCode::InvalidScope));
        let narrow = w
            .refresh(C1, &t.refresh_token, Some("READ_PROFILE"))
            .await
            .unwrap();
        assert_eq!(narrow.scope, "READ_PROFILE");
        let full = w.refresh(C1, &narrow.refresh_token, None).await.unwrap();
        assert_eq!(full.scope, "READ_PROFILE READ_BOOKING");
    }

    /// Sliding lifetime: each refresh starts a new period; an unused token expires.
    #[tokio::test]
    async fn refresh_tokens_expire_after_the_lifetime_without_use() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.clock.advance(86_000);
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        w.clock.advance(86_000);
        let r = w.refresh(C1, &r.refresh_token, None).await.unwrap();
        w.clock.advance(86_400);
        assert_eq!(
            w.refresh(C1, &r.refresh_token, None).await.err(),
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
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        w.clock.advance(40_000);
        assert_eq!(
            w.refresh(C1, &r.refresh_token, None).await.err(),
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
        let r = w.refresh(C1, &t.refresh_token, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        w.store.upsert_client(client("c1").build());
        assert!(w.refresh(C1, &t.refresh_token, None).await.is_ok());

        // Scopes narrowed: at most the current scopes, at this refresh and the next.
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        assert_eq!(t.scope, "READ_PROFILE READ_BOOKING");
        w.store
            .upsert_client(client("c1").scopes(&["READ_PROFILE"]).build());
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert_eq!(r.scope, "READ_PROFILE");
        w.store.upsert_client(client("c1").build());
        let again = w.refresh(C1, &r.refresh_token, None).await.unwrap();
        assert_eq!(
            again.scope, "READ_PROFILE",
            "the narrowing sticks to the grant"
        );
        w.store
            .upsert_client(client("c1").scopes(&["READ_BOOKING"]).build());
        let none = w.refresh(C1, &again.refresh_token, None).await;
        assert_eq!(none.err(), Some(ErrorCode::InvalidGrant));

        // Legacy switched back to rotation: the next refresh rotates.
        let w = World::new().with(client("c1").no_refresh_rotation());
        let t = issued(&w).await;
        let same = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(same.refresh_token.ct_eq(&t.refresh_token), "legacy: kept");
        w.store.upsert_client(client("c1").build());
        let rotated = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(
            !rotated.refresh_token.ct_eq(&t.refresh_token),
            "rotates now"
        );
        assert_eq!(
            w.refresh(C1, &t.refresh_token, None).await.err(),
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
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
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
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert_eq!(r.expires_in, 100);
        w.clock.advance(100);
        assert!(!w.is_live(&r.access_token.hash()).await);
    }

    /// Another (authenticated) client's refresh token is `invalid_grant`; nothing changes.
    #[tokio::test]
    async fn another_clients_refresh_token_is_invalid_grant_and_changes_nothing() {
        let w = World::new().with(client("c1")).with(client("c2"));
        let t = issued(&w).await;
        let r = w
            .refresh(("c2", Some(SECRET)), &t.refresh_token, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
        assert!(w.refresh(C1, &t.refresh_token, None).await.is_ok());
    }

    /// RFC 6749 §3.2.1: wrong secret or unknown client is `invalid_client`; nothing rotates and
    /// nothing is revoked.
    #[tokio::test]
    async fn wrong_secret_on_refresh_is_invalid_client_and_changes_nothing() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let r = w
            .refresh(("c1", Some("pc_cs_wrong")), &t.refresh_token, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w
            .refresh(("ghost", Some(SECRET)), &t.refresh_token, None)
            .await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        let r = w.refresh(("c1", None), &t.refresh_token, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
        assert!(w.refresh(C1, &t.refresh_token, None).await.is_ok());
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
        assert_eq!(w.store.calls(), 1, "only the client read");
    }

    /// Disabled or deleted client, or a secret rotated out: the refresh writes nothing.
    #[tokio::test]
    async fn disabled_client_cannot_refresh() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.upsert_client(client("c1").disabled().build());
        assert_eq!(
            w.refresh(C1, &t.refresh_token, None).await.err(),
            Some(ErrorCode::InvalidClient)
        );
        w.store.upsert_client(client("c1").build());
        assert!(w.refresh(C1, &t.refresh_token, None).await.is_ok());
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
            w.refresh(C1, &t.refresh_token, None).await.err(),
            Some(ErrorCode::InvalidClient)
        );
        let r = w
            .refresh(("c1", Some("pc_cs_new")), &t.refresh_token, None)
            .await
            .unwrap();
        w.store.reset_calls();
        w.refresh(("c1", Some("pc_cs_new")), &r.refresh_token, None)
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
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(r.refresh_token.ct_eq(&t.refresh_token));
        w.clock.advance(80_000);
        let r = w.refresh(C1, &t.refresh_token, None).await.unwrap();
        assert!(r.refresh_token.ct_eq(&t.refresh_token));
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
        let r = w
            .refresh(("c1", None), &t.refresh_token, None)
            .await
            .unwrap();
        assert!(!r.refresh_token.ct_eq(&t.refresh_token));
    }

    /// One user, two consents: rotating or revoking one never touches the other.
    #[tokio::test]
    async fn grants_of_one_user_are_independent() {
        let w = World::new().with(client("c1"));
        let phone = issued(&w).await;
        let laptop = issued(&w).await;
        w.refresh(C1, &phone.refresh_token, None).await.unwrap();
        let _ = w.refresh(C1, &phone.refresh_token, None).await;
        assert!(!live(&w, &phone.access_token).await);
        assert!(live(&w, &laptop.access_token).await);
        assert!(w.refresh(C1, &laptop.refresh_token, None).await.is_ok());
    }

    /// A storage fault during the write changes nothing: the same token works on retry.
    #[tokio::test]
    async fn a_storage_fault_during_rotation_is_503_and_the_token_survives() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        w.store.fail_next(Op::Rotate);
        assert_eq!(
            w.refresh(C1, &t.refresh_token, None).await.err(),
            Some(ErrorCode::TemporarilyUnavailable)
        );
        assert!(w.refresh(C1, &t.refresh_token, None).await.is_ok());
    }

    /// Of many refreshes of one token, exactly one succeeds (grace off); the end-to-end test
    /// `refresh::twenty_concurrent_refreshes_of_one_token_succeed_once` runs them concurrently.
    #[tokio::test]
    async fn repeated_refreshes_of_one_token_succeed_once() {
        let w = World::new().with(client("c1"));
        let t = issued(&w).await;
        let all = futures_join(&w, &t.refresh_token, 20).await;
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

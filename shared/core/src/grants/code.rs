//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, RFC 9700 §4.8.2).
use super::{CodeGrant, TokenContext, TokenResponse};
use crate::client_auth::{authenticate, ClientCredentials};
use crate::error::{EndpointError, OAuthError};
use crate::model::{grant_id_for_code, GrantRecord, Issuance, ItemKind, TokenRecord};
use crate::ports::{CodeRedeem, GrantRevocation, IssueOutcome, TokenIssue};
use crate::scope::join_scope;
use crate::secret::{AccessToken, RefreshToken};

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

/// RFC 6749 §4.1.3: exchanges a code for tokens.
///
/// The code is consumed first, atomically: whatever follows, it cannot be used again. A code
/// that is not there may be a replay, so the grant it started is revoked with every token issued
/// from it (RFC 6749 §4.1.2 "SHOULD revoke"; Cal.com's weakness 1).
pub async fn exchange_code(
    codes: &(impl CodeRedeem + ?Sized),
    tokens: &(impl TokenIssue + GrantRevocation + ?Sized),
    creds: &ClientCredentials,
    grant: &CodeGrant,
    ctx: &TokenContext<'_>,
) -> Result<TokenResponse, EndpointError> {
    let now = ctx.clock.now();
    let code_hash = grant.code.hash();
    let Some(rec) = codes.consume_code(&code_hash, now).await? else {
        let grant_id = grant_id_for_code(&code_hash);
        let revoked = tokens.revoke_grant(&grant_id).await?;
        if revoked > 0 {
            tracing::warn!(
                grant_id = %grant_id,
                revoked,
                "authorization code replayed; its grant was revoked"
            );
        }
        return Err(invalid_code().into());
    };

    // RFC 6749 §4.1.3: the code must have been issued to the authenticated client. The code
    // carries its client's registration, so no clients-table read is needed; the write below
    // checks, atomically, that the client and its secret are still current.
    let client = authenticate(creds, rec.client())?;

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

    let grant_id = rec.grant_id();
    let access = AccessToken::generate(ctx.entropy);
    let refresh = RefreshToken::generate(ctx.entropy);
    let token = |pk, kind, ttl: u64| TokenRecord {
        pk,
        kind,
        grant_id: grant_id.clone(),
        client_id: rec.client_id.clone(),
        user_sub: rec.user.sub.clone(),
        user: rec.user.clone(),
        scopes: rec.scopes.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    let issuance = Issuance {
        grant: GrantRecord {
            pk: GrantRecord::key(&grant_id),
            kind: ItemKind::Grant,
            grant_id: grant_id.clone(),
            client_id: rec.client_id.clone(),
            user_sub: rec.user.sub.clone(),
            scopes: rec.scopes.clone(),
            created_at: now,
            expires_at: now + ctx.refresh_ttl,
        },
        access: token(access.hash(), ItemKind::Access, ctx.access_ttl),
        refresh: token(refresh.hash(), ItemKind::Refresh, ctx.refresh_ttl),
        client_check: client,
    };
    let outcome = match tokens.issue_tokens(&issuance).await {
        Ok(o) => o,
        Err(e) => {
            // Nothing was written: put the code back so the client's retry can succeed.
            if let Err(restore) = codes.restore_code(&rec).await {
                tracing::warn!(error = %restore, "could not restore the code after a failed exchange");
            }
            return Err(e.into());
        }
    };
    match outcome {
        IssueOutcome::Issued => {}
        IssueOutcome::AlreadyIssued => {
            tokens.revoke_grant(&grant_id).await?;
            tracing::warn!(
                grant_id = %grant_id,
                "authorization code exchanged twice; its grant was revoked"
            );
            return Err(invalid_code().into());
        }
        IssueOutcome::ClientRejected => {
            return Err(OAuthError::invalid_client(
                "the client is disabled or its secret is no longer valid",
            )
            .into())
        }
    }
    tracing::info!(client_id = %rec.client_id, grant_id = %grant_id, "authorization code exchanged");
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: ctx.access_ttl,
        refresh_token: refresh,
        scope: join_scope(&rec.scopes),
    })
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorCode;
    use crate::pkce::CodeChallenge;
    use crate::ports::{Op, TokenLookup};
    use crate::testkit::{client, World, SECRET, VERIFIER};

    fn world(public: bool) -> World {
        let c = client("c1").scopes(&["READ_PROFILE"]);
        World::new().with(if public { c.public() } else { c })
    }

    const Q: &str = "client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=READ_PROFILE";
    const CB: Option<&str> = Some("https://app.example/cb");

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
                && t.refresh_token.secret().starts_with("pc_rt_")
        );
        let rec = w
            .store
            .token(&t.access_token.hash(), 10_001)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.user.username.as_deref(), Some("ada"));
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
        let access = w.store.token(&t.access_token.hash(), 10_001).await.unwrap();
        let refresh = w
            .store
            .token(&t.refresh_token.hash(), 10_001)
            .await
            .unwrap();
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

    #[tokio::test]
    async fn code_issued_to_another_client_is_invalid_grant() {
        let w = world(false);
        let code = w.code(Q).await;
        let r = w.exchange(("c2", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidGrant));
    }

    #[tokio::test]
    async fn disabled_client_cannot_finish_the_exchange() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store.upsert_client(client("c1").disabled().build());
        let r = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(r.err(), Some(ErrorCode::InvalidClient));
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

    /// A storage fault mid-exchange leaves no half-done state: the code is back, the retry works.
    #[tokio::test]
    async fn a_storage_fault_during_issuance_is_503_and_the_code_survives_for_the_retry() {
        let w = world(false);
        let code = w.code(Q).await;
        w.store.fail_next(Op::IssueTokens);
        let first = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(first.err(), Some(ErrorCode::TemporarilyUnavailable));
        assert_eq!(w.store.counts(), (1, 0), "code restored, no token written");
        let t = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        assert!(w
            .store
            .token(&t.access_token.hash(), 10_001)
            .await
            .unwrap()
            .is_some());
    }

    /// If a first exchange's answer was lost after it succeeded and the code came back, a second
    /// exchange cannot mint a second set of tokens: the grant id is derived from the code.
    #[tokio::test]
    async fn a_second_issuance_for_one_code_is_refused_and_revokes_the_grant() {
        use crate::ports::{CodeIssue, CodeRedeem};
        let w = world(false);
        let code = w.code(Q).await;
        // Keep a copy of the code's record to put back after the first exchange.
        let rec = w
            .store
            .consume_code(&code.hash(), 10_000)
            .await
            .unwrap()
            .unwrap();
        w.store.put_code(&rec).await.unwrap();
        let first = w
            .exchange(("c1", Some(SECRET)), &code, CB, None)
            .await
            .unwrap();
        w.store.restore_code(&rec).await.unwrap();
        let second = w.exchange(("c1", Some(SECRET)), &code, CB, None).await;
        assert_eq!(second.err(), Some(ErrorCode::InvalidGrant));
        assert!(w
            .store
            .token(&first.access_token.hash(), 10_001)
            .await
            .unwrap()
            .is_none());
    }
}

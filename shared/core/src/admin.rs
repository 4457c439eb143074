//! Operator actions on clients that change what their tokens can do.
use crate::error::StoreError;
use crate::ids::ClientId;
use crate::ports::{ClientDisable, ClientGrants, GrantRevocation};

/// What disabling a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabled {
    /// Grants revoked (one write each).
    pub grants_revoked: usize,
}

/// Disables a client so that none of its tokens works any more.
///
/// 1. The client item is flagged `disabled`. That one write is what stops the client: every use
///    of one of its access tokens (`/me`, `authenticate`, introspection) reads the client's
///    standing with the grant, and every refresh reads the client's registration, so from this
///    write on no token of the client is accepted anywhere (a refresh reads eventually
///    consistent: it may still succeed within a second or so of the write, and its tokens are
///    refused at use).
/// 2. Then every grant the `by_client` index names is revoked (one write each), so the grants
///    stay ended if the client is enabled again. A second pass catches a grant the index had
///    not shown yet (it is eventually consistent, typically well under a second behind).
///
/// `None` when the client does not exist.
pub async fn disable_client(
    clients: &impl ClientDisable,
    tokens: &(impl ClientGrants + GrantRevocation),
    client_id: &ClientId,
    now: u64,
) -> Result<Option<Disabled>, StoreError> {
    if !clients.disable_client(client_id, now).await? {
        return Ok(None);
    }
    let mut done = Disabled { grants_revoked: 0 };
    for _pass in 0..2 {
        for grant in tokens.grants_of_client(client_id).await? {
            // A grant revoked already (its tombstone is still listed) counts nothing.
            if tokens.revoke_grant(&grant, now).await? {
                done.grants_revoked += 1;
            }
        }
    }
    Ok(Some(done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bearer::{authenticate, Presented};
    use crate::clock::Clock;
    use crate::secret::AccessToken;
    use crate::testkit::{client, World, SECRET};

    async fn access_token(w: &World, client_id: &str) -> AccessToken {
        let q = format!(
            "client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=READ_PROFILE"
        );
        let code = w.code(&q).await;
        w.exchange(
            (client_id, Some(SECRET)),
            &code,
            Some("https://app.example/cb"),
            None,
        )
        .await
        .unwrap()
        .access_token
    }

    #[tokio::test]
    async fn disabling_a_client_revokes_its_tokens_and_leaves_other_clients_alone() {
        let w = World::new().with(client("c-off")).with(client("c-on"));
        let ours = access_token(&w, "c-off").await;
        let theirs = access_token(&w, "c-on").await;
        let done = disable_client(&w.store, &w.store, &ClientId::from("c-off"), w.clock.now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.grants_revoked, 1);
        assert!(w.store.stored_client("c-off").unwrap().disabled);
        let now = w.clock.now();
        let refused = authenticate(
            &w.store,
            &w.keys.access_tag,
            Presented::AccessToken(ours),
            now,
        )
        .await;
        assert!(refused.is_err());
        let accepted = authenticate(
            &w.store,
            &w.keys.access_tag,
            Presented::AccessToken(theirs),
            now,
        )
        .await;
        assert!(accepted.is_ok());
    }

    /// Issue 8: disabling takes effect at use, not through the sweep (which finds grants
    /// through an index that lags): with only the client's flag set, its live access token is
    /// already refused, in the same one read.
    #[tokio::test]
    async fn a_disabled_clients_access_token_is_refused_at_use_without_the_sweep() {
        use crate::ports::ClientDisable;
        let w = World::new().with(client("c-off"));
        let token = access_token(&w, "c-off").await;
        let now = w.clock.now();
        assert!(authenticate(
            &w.store,
            &w.keys.access_tag,
            Presented::AccessToken(token.clone()),
            now
        )
        .await
        .is_ok());
        assert!(
            ClientDisable::disable_client(&w.store, &ClientId::from("c-off"), w.clock.now())
                .await
                .unwrap()
        );
        assert!(
            w.grant_of(&token).unwrap().revoked_at.is_none(),
            "the sweep did not run"
        );
        w.store.reset_calls();
        let refused = authenticate(
            &w.store,
            &w.keys.access_tag,
            Presented::AccessToken(token),
            now,
        )
        .await;
        assert!(refused.is_err());
        assert_eq!(
            w.store.calls(),
            1,
            "one read: the token and its client together"
        );
    }

    /// A registered or metadata-document client is held with a TTL (`expires_at`): disabled, it
    /// loses it, so the item stays and keeps its id out. Expired, it would let the same
    /// registration or document URL come back as a new, enabled client.
    #[tokio::test]
    async fn a_disabled_client_no_longer_expires() {
        use crate::ports::ClientLookup;
        let w = World::new();
        let ttl = w.clock.now() + 60;
        let w = w.with(client("dcr_x").expires_at(ttl));
        let id = ClientId::from("dcr_x");
        disable_client(&w.store, &w.store, &id, w.clock.now())
            .await
            .unwrap()
            .expect("it exists");
        let c = w.store.client(&id).await.unwrap().expect("still there");
        assert!(c.disabled);
        assert_eq!(c.expires_at, None);
    }

    #[tokio::test]
    async fn disabling_an_unknown_client_changes_nothing() {
        let w = World::new();
        let r = disable_client(&w.store, &w.store, &ClientId::from("nobody"), w.clock.now())
            .await
            .unwrap();
        assert_eq!(r, None);
    }
}

//! Operator actions on clients that change what their tokens can do.
use crate::error::StoreError;
use crate::ids::ClientId;
use crate::ports::{ClientDisable, ClientGrants, GrantRevocation};

/// What disabling a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disabled {
    /// Grants revoked (each with all its tokens).
    pub grants_revoked: usize,
    /// Items deleted (grant items and tokens).
    pub items_deleted: usize,
}

/// Disables a client so that none of its tokens works any more, at no cost to the hot path:
/// the resource server's one `GetItem` simply finds nothing.
///
/// 1. The client item is flagged `disabled` first: from that write on, no code exchange and no
///    refresh of this client succeeds (both transactions check `disabled = false`), so no new
///    token appears.
/// 2. Then every grant the `by_client` index names is revoked (grant item, then its tokens).
/// 3. A second pass catches a grant whose items the index had not shown yet (the index is
///    eventually consistent, typically well under a second behind): such a grant was issued just
///    before step 1.
///
/// Bound: once this returns, no token of the client is accepted, except one issued within the
/// index's lag before step 1 and missed by both passes; such a token lives at most its
/// access-token lifetime, and cannot be refreshed. `None` when the client does not exist.
pub async fn disable_client(
    clients: &impl ClientDisable,
    tokens: &(impl ClientGrants + GrantRevocation),
    client_id: &ClientId,
) -> Result<Option<Disabled>, StoreError> {
    if !clients.disable_client(client_id).await? {
        return Ok(None);
    }
    let mut done = Disabled {
        grants_revoked: 0,
        items_deleted: 0,
    };
    for _pass in 0..2 {
        for grant in tokens.grants_of_client(client_id).await? {
            // A grant revoked already (its tombstone is still listed) counts nothing.
            let gone = tokens.revoke_grant(&grant).await?;
            if gone > 0 {
                done.items_deleted += gone;
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
        let done = disable_client(&w.store, &w.store, &ClientId::from("c-off"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.grants_revoked, 1);
        assert!(w.store.stored_client("c-off").unwrap().disabled);
        let now = w.clock.now();
        let refused = authenticate(&w.store, Presented::AccessToken(ours), now).await;
        assert!(refused.is_err());
        let accepted = authenticate(&w.store, Presented::AccessToken(theirs), now).await;
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
        assert!(
            authenticate(&w.store, Presented::AccessToken(token.clone()), now)
                .await
                .is_ok()
        );
        assert!(
            ClientDisable::disable_client(&w.store, &ClientId::from("c-off"))
                .await
                .unwrap()
        );
        assert!(w.is_live(&token.hash()).await, "the sweep did not run");
        w.store.reset_calls();
        let refused = authenticate(&w.store, Presented::AccessToken(token), now).await;
        assert!(refused.is_err());
        assert_eq!(
            w.store.calls(),
            1,
            "one read: the token and its client together"
        );
    }

    #[tokio::test]
    async fn disabling_an_unknown_client_changes_nothing() {
        let w = World::new();
        let r = disable_client(&w.store, &w.store, &ClientId::from("nobody"))
            .await
            .unwrap();
        assert_eq!(r, None);
    }
}

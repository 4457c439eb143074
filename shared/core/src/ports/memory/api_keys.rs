//! The in-memory API keys (beside the tokens, as the tokens table holds them) and client
//! disabling.
use super::*;
use crate::api_keys::ApiKeyRecord;
use crate::ids::Subject;

#[async_trait]
impl ApiKeyLookup for MemoryStore {
    async fn api_key(
        &self,
        key_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let t = self.lock(Op::ApiKey)?;
        Ok(t.api_keys
            .get(key_hash.as_str())
            .filter(|k| k.is_live(now))
            .cloned())
    }
}

#[async_trait]
impl ApiKeyRegistry for MemoryStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut t = self.lock(Op::CreateApiKey)?;
        if t.api_keys.contains_key(key.pk.as_str()) {
            return Err(StoreError::Failed("item already exists".into()));
        }
        t.api_keys.insert(key.pk.as_str().to_string(), key.clone());
        Ok(())
    }

    async fn api_keys_of(&self, sub: &Subject) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let t = self.lock(Op::ApiKeysOf)?;
        // The adapter's Query and BatchGetItem: two round trips.
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let mut keys: Vec<ApiKeyRecord> = t
            .api_keys
            .values()
            .filter(|k| k.user_sub == *sub)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(keys)
    }

    async fn revoke_api_key(&self, id: &GrantId) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::RevokeApiKey)?;
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let before = t.api_keys.len();
        t.api_keys.retain(|_, k| k.grant_id != *id);
        Ok(t.api_keys.len() < before)
    }
}

#[async_trait]
impl ClientDisable for MemoryStore {
    async fn disable_client(&self, client_id: &ClientId, now: u64) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::DisableClient)?;
        Ok(t.clients
            .get_mut(client_id)
            .map(|c| {
                c.disabled = true;
                c.disabled_at = Some(now);
                // The adapter's `REMOVE expires_at`: a disabled client does not expire.
                c.expires_at = None;
            })
            .is_some())
    }
}

#[async_trait]
impl ClientGrants for MemoryStore {
    async fn grants_of_client(&self, client_id: &ClientId) -> Result<Vec<GrantId>, StoreError> {
        let t = self.lock(Op::GrantsOfClient)?;
        let mut ids: Vec<GrantId> = t
            .grants
            .values()
            .map(|g| (&g.client_id, &g.grant_id))
            .filter(|(c, _)| *c == client_id)
            .map(|(_, g)| g.clone())
            .collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids.dedup();
        Ok(ids)
    }
}

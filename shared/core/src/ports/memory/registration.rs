//! The in-memory dynamic registration ports: registered clients, the registration counters,
//! initial access tokens and the clients' TTL.
use super::*;

#[async_trait]
impl ClientRegistration for MemoryStore {
    async fn register_client(&self, client: &Client, now: u64) -> Result<Registered, StoreError> {
        let mut t = self.lock(Op::RegisterClient)?;
        if let Some(old) = t.clients.get(&client.client_id) {
            // The adapter's condition: absent, or past its TTL.
            if old.expires_at.is_none_or(|e| e >= now) {
                return Ok(Registered::Existing(Box::new(old.clone())));
            }
        }
        t.clients.insert(client.client_id.clone(), client.clone());
        Ok(Registered::New)
    }
}

#[async_trait]
impl RegistrationCounter for MemoryStore {
    async fn count_registration(
        &self,
        window: RegistrationWindow,
        start: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::CountRegistration)?;
        let entry = t
            .counters
            .entry(window.key(start))
            .or_insert((0, start + 2 * window.seconds()));
        if entry.0 >= limit {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }
}

#[async_trait]
impl InitialAccessTokenUse for MemoryStore {
    async fn use_initial_access_token(
        &self,
        hash: &SecretHash,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::UseInitialAccessToken)?;
        match t
            .initial_access_tokens
            .get_mut(&InitialAccessTokenRecord::key(hash))
        {
            Some(r) if r.usable(now) => {
                r.used += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl InitialAccessTokenRegistry for MemoryStore {
    async fn create_initial_access_token(
        &self,
        record: &InitialAccessTokenRecord,
    ) -> Result<(), StoreError> {
        let mut t = self.lock(Op::CreateInitialAccessToken)?;
        if t.initial_access_tokens.contains_key(&record.pk) {
            return Err(StoreError::Failed("item already exists".into()));
        }
        t.initial_access_tokens
            .insert(record.pk.clone(), record.clone());
        Ok(())
    }

    async fn revoke_initial_access_token(&self, hash: &SecretHash) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::RevokeInitialAccessToken)?;
        Ok(t.initial_access_tokens
            .remove(&InitialAccessTokenRecord::key(hash))
            .is_some())
    }
}

#[async_trait]
impl ClientTouch for MemoryStore {
    async fn extend(&self, client_id: &ClientId, expires_at: u64) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::TouchClient)?;
        match t.clients.get_mut(client_id) {
            Some(c) if c.expires_at.is_some() => {
                c.expires_at = Some(expires_at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl DocumentClientCache for MemoryStore {
    async fn store_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::StoreDocumentClient)?;
        // The adapter's condition: absent, or an enabled metadata-document client.
        if let Some(old) = t.clients.get(&client.client_id) {
            if old.disabled || old.origin != crate::model::ClientOrigin::MetadataDocument {
                return Ok(false);
            }
        }
        t.clients.insert(client.client_id.clone(), client.clone());
        Ok(true)
    }
}

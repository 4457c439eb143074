//! In-memory adapter, for unit tests and benches only. It keeps the same atomicity as the
//! DynamoDB adapter (one lock per operation) and counts the calls the DynamoDB adapter would make.
use super::*;
use crate::model::{GrantRecord, ItemKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct Tables {
    clients: HashMap<String, Client>,
    codes: HashMap<String, CodeRecord>,
    tokens: HashMap<String, TokenRecord>,
    grants: HashMap<String, GrantRecord>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    calls: AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// How many storage round trips the DynamoDB adapter would have made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn reset_calls(&self) {
        self.calls.store(0, Ordering::SeqCst);
    }
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.tables
            .lock()
            .map_err(|_| StoreError::Failed("memory store lock poisoned".into()))
    }
    /// Test helper: replace or insert a client without going through the registry rules.
    pub fn upsert_client(&self, client: Client) {
        if let Ok(mut t) = self.tables.lock() {
            t.clients.insert(client.client_id.clone(), client);
        }
    }
    /// Test helper: number of live codes and tokens stored.
    pub fn counts(&self) -> (usize, usize) {
        self.tables
            .lock()
            .map(|t| (t.codes.len(), t.tokens.len()))
            .unwrap_or_default()
    }
}

#[async_trait]
impl ClientLookup for MemoryStore {
    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.lock()?.clients.get(client_id).cloned())
    }
}

#[async_trait]
impl ClientRegistry for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut t = self.lock()?;
        if t.clients.contains_key(&client.client_id) {
            return Err(StoreError::Failed("client id already exists".into()));
        }
        t.clients.insert(client.client_id.clone(), client.clone());
        Ok(())
    }
}

#[async_trait]
impl CodeIssue for MemoryStore {
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let mut t = self.lock()?;
        if t.codes.contains_key(code.pk.as_str()) {
            return Err(StoreError::Failed("code collision".into()));
        }
        t.codes.insert(code.pk.as_str().to_string(), code.clone());
        Ok(())
    }
}

#[async_trait]
impl CodeRedeem for MemoryStore {
    async fn consume_code(
        &self,
        code_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<CodeRecord>, StoreError> {
        let mut t = self.lock()?;
        match t.codes.get(code_hash.as_str()) {
            Some(c) if c.expires_at > now => Ok(t.codes.remove(code_hash.as_str())),
            _ => Ok(None),
        }
    }

    async fn restore_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let mut t = self.lock()?;
        t.codes
            .entry(code.pk.as_str().to_string())
            .or_insert_with(|| code.clone());
        Ok(())
    }
}

#[async_trait]
impl TokenIssue for MemoryStore {
    async fn issue_tokens(&self, i: &Issuance) -> Result<IssueOutcome, StoreError> {
        let mut t = self.lock()?;
        let client_ok = t.clients.get(&i.client_check.client_id).is_some_and(|c| {
            !c.disabled
                && i.client_check
                    .secret_hash
                    .as_ref()
                    .is_none_or(|h| c.secret_hashes.contains(h))
        });
        if !client_ok {
            return Ok(IssueOutcome::ClientRejected);
        }
        if t.grants.contains_key(&i.grant.pk) {
            return Ok(IssueOutcome::AlreadyIssued);
        }
        if t.tokens.contains_key(i.access.pk.as_str())
            || t.tokens.contains_key(i.refresh.pk.as_str())
        {
            return Err(StoreError::Failed("item already exists".into()));
        }
        t.grants.insert(i.grant.pk.clone(), i.grant.clone());
        t.tokens
            .insert(i.access.pk.as_str().to_string(), i.access.clone());
        t.tokens
            .insert(i.refresh.pk.as_str().to_string(), i.refresh.clone());
        Ok(IssueOutcome::Issued)
    }
}

#[async_trait]
impl TokenLookup for MemoryStore {
    async fn token(
        &self,
        token_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let t = self.lock()?;
        Ok(t.tokens
            .get(token_hash.as_str())
            .filter(|r| r.expires_at > now && r.kind != ItemKind::Grant)
            .cloned())
    }
}

#[async_trait]
impl GrantRevocation for MemoryStore {
    async fn revoke_grant(&self, grant_id: &str) -> Result<usize, StoreError> {
        let mut t = self.lock()?;
        let before = t.tokens.len() + t.grants.len();
        t.tokens.retain(|_, r| r.grant_id != grant_id);
        t.grants.retain(|_, g| g.grant_id != grant_id);
        Ok(before - t.tokens.len() - t.grants.len())
    }
}

#[cfg(test)]
impl MemoryStore {
    /// Test helper: a copy of a stored client.
    pub fn client_for_test(&self, client_id: &str) -> Client {
        self.tables
            .lock()
            .ok()
            .and_then(|t| t.clients.get(client_id).cloned())
            .unwrap_or_else(|| panic!("no client {client_id}"))
    }
}

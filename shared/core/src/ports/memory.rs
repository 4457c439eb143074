//! In-memory adapter, for unit tests and benches only. It keeps the same atomicity as the
//! DynamoDB adapters (one lock per operation), counts the round trips they would make, and can
//! be told to fail an operation as DynamoDB does when throttled ([`MemoryStore::fail_next`]).
//!
//! A `MemoryStore` is a handle: clones share one store, so several endpoints (each taking the
//! ports it needs) can run over the same data.
use super::*;
use crate::model::{GrantRecord, ItemKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod api_keys;

/// A storage operation, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Client,
    CreateClient,
    PutCode,
    ConsumeCode,
    IssueTokens,
    Token,
    AccessToken,
    RevokeGrant,
    Grant,
    RefreshRecord,
    Rotate,
    ApiKey,
    CreateApiKey,
    ApiKeysOf,
    RevokeApiKey,
    DisableClient,
    GrantsOfClient,
    RevokeAccessToken,
}

#[derive(Default)]
struct Tables {
    clients: HashMap<ClientId, Client>,
    codes: HashMap<String, CodeRecord>,
    tokens: HashMap<String, TokenRecord>,
    grants: HashMap<String, GrantRecord>,
    api_keys: HashMap<String, crate::api_keys::ApiKeyRecord>,
    /// Operations to fail, each entry once.
    faults: Vec<Op>,
    /// Operations to apply and then answer as a retry of an applied write would.
    echoes: Vec<Op>,
}

#[derive(Default)]
struct Inner {
    tables: Mutex<Tables>,
    calls: AtomicUsize,
}

#[derive(Default, Clone)]
pub struct MemoryStore(Arc<Inner>);

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// How many storage round trips the DynamoDB adapters would have made so far.
    pub fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }
    pub fn reset_calls(&self) {
        self.0.calls.store(0, Ordering::SeqCst);
    }
    /// The next call of `op` fails with [`StoreError::Unavailable`] (as a throttled or
    /// unreachable DynamoDB does) and changes nothing.
    /// The next `op` is applied, then answered as DynamoDB answers the SDK's retry of a write
    /// that had landed (its first answer lost): for [`Op::IssueTokens`], `AlreadyIssued`; for
    /// [`Op::Rotate`], `TokenChanged`.
    pub fn echo_next(&self, op: Op) {
        if let Ok(mut t) = self.0.tables.lock() {
            t.echoes.push(op);
        }
    }

    pub fn fail_next(&self, op: Op) {
        if let Ok(mut t) = self.0.tables.lock() {
            t.faults.push(op);
        }
    }
    fn lock(&self, op: Op) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let mut t = self
            .0
            .tables
            .lock()
            .map_err(|_| StoreError::Failed("memory store lock poisoned".into()))?;
        if let Some(i) = t.faults.iter().position(|f| *f == op) {
            t.faults.remove(i);
            return Err(StoreError::Unavailable(
                format!("injected fault: {op:?}").into(),
            ));
        }
        Ok(t)
    }
    /// Test helper: replace or insert a client without going through the registry rules.
    pub fn upsert_client(&self, client: Client) {
        if let Ok(mut t) = self.0.tables.lock() {
            t.clients.insert(client.client_id.clone(), client);
        }
    }
    /// Test helper: a copy of a stored client.
    pub fn stored_client(&self, client_id: &str) -> Option<Client> {
        self.0
            .tables
            .lock()
            .ok()
            .and_then(|t| t.clients.get(&ClientId::from(client_id)).cloned())
    }
    /// Test helper: number of live codes and tokens stored.
    pub fn counts(&self) -> (usize, usize) {
        self.0
            .tables
            .lock()
            .map(|t| (t.codes.len(), t.tokens.len()))
            .unwrap_or_default()
    }
}

#[async_trait]
impl ClientLookup for MemoryStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.lock(Op::Client)?.clients.get(client_id).cloned())
    }
}

#[async_trait]
impl ClientRegistry for MemoryStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut t = self.lock(Op::CreateClient)?;
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
        let mut t = self.lock(Op::PutCode)?;
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
        presenter: Presenter<'_>,
    ) -> Result<Consumed, StoreError> {
        let mut t = self.lock(Op::ConsumeCode)?;
        let live = t.codes.get(code_hash.as_str()).is_some_and(|c| {
            c.expires_at > now
                && c.client_id == *presenter.client_id
                && match presenter.secret_hash {
                    Some(h) => c.client_secret_hashes.contains(h),
                    None => c.client_public && c.code_challenge.as_ref() == presenter.pkce,
                }
        });
        if live {
            if let Some(c) = t.codes.get_mut(code_hash.as_str()) {
                if c.consumed_at.is_none() {
                    c.consumed_at = Some(now);
                    return Ok(Consumed::Now(c.clone()));
                }
            }
        }
        // The adapter reads the item after a refused delete: one more call.
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Consumed::Refused(t.codes.get(code_hash.as_str()).cloned()))
    }

    async fn consume_code_for(
        &self,
        code_hash: &SecretHash,
        now: u64,
        client_id: &ClientId,
    ) -> Result<Consumed, StoreError> {
        let mut t = self.lock(Op::ConsumeCode)?;
        if let Some(c) = t.codes.get_mut(code_hash.as_str()) {
            if c.expires_at > now && c.client_id == *client_id && c.consumed_at.is_none() {
                c.consumed_at = Some(now);
                return Ok(Consumed::Now(c.clone()));
            }
        }
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Consumed::Refused(t.codes.get(code_hash.as_str()).cloned()))
    }
}

#[async_trait]
impl TokenIssue for MemoryStore {
    async fn issue_tokens(&self, i: &Issuance) -> Result<IssueOutcome, StoreError> {
        let mut t = self.lock(Op::IssueTokens)?;
        let client_ok = t.clients.get(&i.client_check.client_id).is_some_and(|c| {
            !c.disabled
                && i.client_check
                    .secret_hash
                    .as_ref()
                    .is_none_or(|h| c.secret_is_live(h, i.grant.created_at))
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
        if let Some(e) = t.echoes.iter().position(|o| *o == Op::IssueTokens) {
            t.echoes.remove(e);
            return Ok(IssueOutcome::AlreadyIssued);
        }
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
        let t = self.lock(Op::Token)?;
        Ok(t.tokens
            .get(token_hash.as_str())
            .filter(|r| r.expires_at > now && r.kind != ItemKind::Grant && r.retired_at.is_none())
            .cloned())
    }

    async fn refresh_token_item(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let t = self.lock(Op::Token)?;
        Ok(t.tokens
            .get(token_hash.as_str())
            .filter(|r| r.kind == ItemKind::Refresh)
            .cloned())
    }
}

#[async_trait]
impl AccessTokenLookup for MemoryStore {
    async fn access_token(
        &self,
        token: &AccessToken,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let Some(client_id) = token.client_id() else {
            return Ok(None);
        };
        let t = self.lock(Op::AccessToken)?;
        let client_ok = t.clients.get(&client_id).is_some_and(|c| !c.disabled);
        Ok(t.tokens
            .get(token.hash().as_str())
            .filter(|r| client_ok && r.is_live_access_token_of(&client_id, now))
            .cloned())
    }
}

#[async_trait]
impl GrantRevocation for MemoryStore {
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
        let t = self.lock(Op::Grant)?;
        Ok(t.grants.get(&GrantRecord::key(grant_id)).cloned())
    }

    async fn revoke_grant(&self, grant_id: &GrantId) -> Result<usize, StoreError> {
        let mut t = self.lock(Op::RevokeGrant)?;
        let mut gone = 0;
        if let Some(g) = t.grants.get_mut(&GrantRecord::key(grant_id)) {
            if g.revoked_at.is_none() {
                g.revoked_at = Some(crate::clock::Clock::now(&crate::clock::SystemClock));
                g.latest_access = None;
                g.latest_refresh = None;
                g.previous_access = None;
                gone += 1;
            }
        }
        let before = t.tokens.len();
        t.tokens.retain(|_, r| r.grant_id != *grant_id);
        Ok(gone + before - t.tokens.len())
    }
}

#[async_trait]
impl AccessTokenRevocation for MemoryStore {
    async fn revoke_access_token(
        &self,
        token_hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::RevokeAccessToken)?;
        let ours = t
            .tokens
            .get(token_hash.as_str())
            .is_some_and(|r| r.kind == ItemKind::Access && r.client_id == *client_id);
        if ours {
            t.tokens.remove(token_hash.as_str());
        }
        Ok(ours)
    }
}

#[async_trait]
impl RefreshRotation for MemoryStore {
    async fn refresh_record_and_client(
        &self,
        hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<(Option<TokenRecord>, Option<Client>), StoreError> {
        let t = self.lock(Op::RefreshRecord)?;
        Ok((
            t.tokens.get(hash.as_str()).cloned(),
            t.clients.get(client_id).cloned(),
        ))
    }

    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        let mut t = self.lock(Op::Rotate)?;
        let grant_key = GrantRecord::key(&r.grant_id);
        if t.grants
            .get(&grant_key)
            .is_none_or(|g| g.revoked_at.is_some())
        {
            return Ok(RotateOutcome::GrantRevoked);
        }
        let Some(old) = t.tokens.get(r.old.as_str()) else {
            return Ok(RotateOutcome::TokenChanged);
        };
        let old_ok = match &r.kind {
            RotationKind::Rotate | RotationKind::Extend => {
                old.retired_at.is_none() && old.expires_at > r.now
            }
            RotationKind::GraceRetry {
                seen_retries,
                seen_next_refresh,
                ..
            } => {
                old.retired_at.is_some()
                    && old.retries == *seen_retries
                    && old.next_refresh.as_ref() == Some(seen_next_refresh)
                    && t.tokens
                        .get(seen_next_refresh.as_str())
                        .is_some_and(|n| n.retired_at.is_none())
            }
        };
        if !old_ok {
            return Ok(RotateOutcome::TokenChanged);
        }
        let new_refresh = r.refresh.as_ref().map(|n| n.pk.clone());
        if let RotationKind::GraceRetry {
            seen_next_access,
            seen_next_refresh,
            ..
        } = &r.kind
        {
            t.tokens.remove(seen_next_access.as_str());
            // Marked, not deleted (review finding 2): a later use of it is reuse.
            if let Some(n) = t.tokens.get_mut(seen_next_refresh.as_str()) {
                n.retired_at = Some(r.now);
            }
        }
        if let Some(old) = t.tokens.get_mut(r.old.as_str()) {
            old.expires_at = r.old_expires_at;
            match &r.kind {
                RotationKind::Extend => {}
                RotationKind::Rotate => {
                    old.retired_at = Some(r.now);
                    old.next_access = Some(r.access.pk.clone());
                    old.next_refresh = new_refresh.clone();
                }
                RotationKind::GraceRetry { .. } => {
                    old.retries += 1;
                    old.next_access = Some(r.access.pk.clone());
                    old.next_refresh = new_refresh.clone();
                }
            }
        }
        t.tokens
            .insert(r.access.pk.as_str().to_string(), r.access.clone());
        if let Some(n) = &r.refresh {
            t.tokens.insert(n.pk.as_str().to_string(), n.clone());
        }
        if let Some(g) = t.grants.get_mut(&grant_key) {
            g.expires_at = r.grant_expires_at;
            g.previous_access = g.latest_access.take();
            g.refreshed_at = Some(r.now);
            g.latest_access = Some(r.access.pk.clone());
            g.latest_refresh = Some(new_refresh.unwrap_or_else(|| r.old.clone()));
        }
        if let Some(e) = t.echoes.iter().position(|o| *o == Op::Rotate) {
            t.echoes.remove(e);
            return Ok(RotateOutcome::TokenChanged);
        }
        Ok(RotateOutcome::Rotated)
    }
}

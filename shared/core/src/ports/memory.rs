//! In-memory adapter, for unit tests and benches only. It keeps the same atomicity as the
//! DynamoDB adapters (one lock per operation), counts the round trips they would make, and can
//! be told to fail an operation as DynamoDB does when throttled ([`MemoryStore::fail_next`]).
//!
//! A `MemoryStore` is a handle: clones share one store, so several endpoints (each taking the
//! ports it needs) can run over the same data.
use super::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod api_keys;
mod registration;

/// A storage operation, for fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Client,
    CreateClient,
    PutCode,
    ConsumeCode,
    /// [`GrantLookup::grant`].
    Grant,
    /// [`GrantStart::start_grant`].
    StartGrant,
    /// [`GrantRead::grant_and_clients`].
    ReadGrant,
    /// [`GrantAdvance::advance`].
    Advance,
    RevokeGrant,
    ApiKey,
    CreateApiKey,
    ApiKeysOf,
    RevokeApiKey,
    DisableClient,
    GrantsOfClient,
    RevokeAccess,
    CountToken,
    UseJti,
    /// [`super::ResourceLookup::client_and_resource`].
    ClientAndResource,
    /// [`super::ResourceLookup::resource`].
    Resource,
    /// [`super::admin::ResourceRegistry`].
    Resources,
    RegisterClient,
    CountRegistration,
    UseInitialAccessToken,
    CreateInitialAccessToken,
    RevokeInitialAccessToken,
    TouchClient,
    StoreDocumentClient,
}

#[derive(Default)]
struct Tables {
    clients: HashMap<ClientId, Client>,
    /// Registered resources (RFC 8707), by URI (in the clients table in DynamoDB).
    resources: HashMap<String, crate::resource::Resource>,
    codes: HashMap<String, CodeRecord>,
    /// One entry per grant: the layout of the tokens table.
    grants: HashMap<GrantId, Grant>,
    api_keys: HashMap<String, crate::api_keys::ApiKeyRecord>,
    /// `rate#…` counters and `jti#…` records of the codes table: key → (count, expires_at).
    counters: HashMap<String, (u32, u64)>,
    /// `iat#…` initial access tokens of the codes table.
    initial_access_tokens: HashMap<String, InitialAccessTokenRecord>,
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
    /// that had landed (its first answer lost): its condition fails (for [`Op::StartGrant`]
    /// and [`Op::Advance`], `false`).
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
    /// Test helper: register a resource.
    pub fn upsert_resource(&self, resource: crate::resource::Resource) {
        if let Ok(mut t) = self.0.tables.lock() {
            t.resources.insert(resource.uri.clone(), resource);
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
    /// Test helper: number of clients stored.
    pub fn client_count(&self) -> usize {
        self.0
            .tables
            .lock()
            .map(|t| t.clients.len())
            .unwrap_or_default()
    }
    /// Test helper: number of codes and grants stored.
    pub fn counts(&self) -> (usize, usize) {
        self.0
            .tables
            .lock()
            .map(|t| (t.codes.len(), t.grants.len()))
            .unwrap_or_default()
    }
    /// Test helper: a copy of a stored grant.
    pub fn stored_grant(&self, grant_id: &GrantId) -> Option<Grant> {
        self.0
            .tables
            .lock()
            .ok()
            .and_then(|t| t.grants.get(grant_id).cloned())
    }
    /// Test helper: change a stored grant as a test needs.
    pub fn edit_grant(&self, grant_id: &GrantId, f: impl FnOnce(&mut Grant)) {
        if let Ok(mut t) = self.0.tables.lock() {
            if let Some(g) = t.grants.get_mut(grant_id) {
                f(g);
            }
        }
    }
    fn echo(&self, t: &mut Tables, op: Op) -> bool {
        match t.echoes.iter().position(|e| *e == op) {
            Some(i) => {
                t.echoes.remove(i);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ClientLookup for MemoryStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.lock(Op::Client)?.clients.get(client_id).cloned())
    }
}

#[async_trait]
impl super::ResourceLookup for MemoryStore {
    async fn client_and_resource(
        &self,
        client_id: &ClientId,
        resource: &str,
    ) -> Result<(Option<Client>, Option<crate::resource::Resource>), StoreError> {
        let t = self.lock(Op::ClientAndResource)?;
        Ok((
            t.clients.get(client_id).cloned(),
            t.resources.get(resource).cloned(),
        ))
    }
    async fn resource(&self, uri: &str) -> Result<Option<crate::resource::Resource>, StoreError> {
        Ok(self.lock(Op::Resource)?.resources.get(uri).cloned())
    }
}

#[async_trait]
impl super::admin::ResourceRegistry for MemoryStore {
    async fn create_resource(&self, r: &crate::resource::Resource) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::Resources)?;
        if t.resources.contains_key(&r.uri) {
            return Ok(false);
        }
        t.resources.insert(r.uri.clone(), r.clone());
        Ok(true)
    }
    async fn list_resources(&self) -> Result<Vec<crate::resource::Resource>, StoreError> {
        let t = self.lock(Op::Resources)?;
        let mut v: Vec<_> = t.resources.values().cloned().collect();
        v.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(v)
    }
    async fn delete_resource(&self, uri: &str) -> Result<bool, StoreError> {
        Ok(self.lock(Op::Resources)?.resources.remove(uri).is_some())
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
impl GrantLookup for MemoryStore {
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<Grant>, StoreError> {
        Ok(self.lock(Op::Grant)?.grants.get(grant_id).cloned())
    }
}

#[async_trait]
impl GrantStart for MemoryStore {
    async fn start_grant(&self, grant: &Grant) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::StartGrant)?;
        if t.grants.contains_key(&grant.grant_id) {
            return Ok(false);
        }
        t.grants.insert(grant.grant_id.clone(), grant.clone());
        Ok(!self.echo(&mut t, Op::StartGrant))
    }
}

#[async_trait]
impl GrantRead for MemoryStore {
    async fn grant_and_clients(
        &self,
        grant_id: &GrantId,
        clients: &[&ClientId],
        _consistent: bool,
    ) -> Result<(Option<Grant>, Vec<Client>), StoreError> {
        let t = self.lock(Op::ReadGrant)?;
        let found = clients
            .iter()
            .filter_map(|c| t.clients.get(*c).cloned())
            .collect();
        Ok((t.grants.get(grant_id).cloned(), found))
    }
}

#[async_trait]
impl GrantAdvance for MemoryStore {
    async fn advance(&self, next: &Grant, seen: u32) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::Advance)?;
        let Some(g) = t.grants.get_mut(&next.grant_id) else {
            return Ok(false);
        };
        if g.generation != seen || g.revoked_at.is_some() {
            return Ok(false);
        }
        // The fields the DynamoDB adapter's update sets; the rest stays as stored.
        g.generation = next.generation;
        g.rotated_at = next.rotated_at;
        g.refresh_hash = next.refresh_hash.clone();
        g.refresh_expires_at = next.refresh_expires_at;
        g.access_hash = next.access_hash.clone();
        g.access_expires_at = next.access_expires_at;
        g.access_scopes = next.access_scopes.clone();
        g.previous_access_hash = next.previous_access_hash.clone();
        g.previous_access_expires_at = next.previous_access_expires_at;
        g.previous_access_scopes = next.previous_access_scopes.clone();
        g.scopes = next.scopes.clone();
        g.refreshed_at = next.refreshed_at;
        g.expires_at = next.expires_at;
        Ok(!self.echo(&mut t, Op::Advance))
    }
}

#[async_trait]
impl GrantRevocation for MemoryStore {
    async fn revoke_grant(&self, grant_id: &GrantId, now: u64) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::RevokeGrant)?;
        Ok(match t.grants.get_mut(grant_id) {
            Some(g) if g.revoked_at.is_none() => {
                g.revoked_at = Some(now);
                true
            }
            _ => false,
        })
    }
}

#[async_trait]
impl AccessRevocation for MemoryStore {
    async fn revoke_access(
        &self,
        grant_id: &GrantId,
        slot: AccessSlot,
        hash: &SecretHash,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::RevokeAccess)?;
        let Some(g) = t.grants.get_mut(grant_id) else {
            return Ok(false);
        };
        let stored = match slot {
            AccessSlot::Current => &mut g.access_hash,
            AccessSlot::Previous => &mut g.previous_access_hash,
        };
        if stored.as_ref() != Some(hash) {
            return Ok(false);
        }
        *stored = None;
        Ok(true)
    }
}

#[async_trait]
impl TokenRateLimit for MemoryStore {
    async fn count_token(
        &self,
        client_id: &ClientId,
        window: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::CountToken)?;
        let entry = t
            .counters
            .entry(rate_key(client_id, window))
            .or_insert((0, window + 120));
        if entry.0 >= limit {
            return Ok(false);
        }
        entry.0 += 1;
        Ok(true)
    }
}

#[async_trait]
impl AssertionReplay for MemoryStore {
    async fn use_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock(Op::UseJti)?;
        let key = jti_key(client_id, jti);
        if t.counters.get(&key).is_some_and(|(_, exp)| *exp > now) {
            return Ok(false);
        }
        t.counters.insert(key, (1, expires_at));
        Ok(true)
    }
}

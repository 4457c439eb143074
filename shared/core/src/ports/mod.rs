//! Storage ports: one narrow trait per capability, so each function's storage needs can be read
//! off the traits it takes. Each port also declares, in code, the DynamoDB actions its adapter
//! calls ([`Port::DYNAMODB`]), so the infrastructure's IAM policies can be checked against it
//! (`portcullis_lambda::endpoints::*::DYNAMODB` lists each function's).
//!
//! The in-memory adapter ([`MemoryStore`]) is for unit tests and benches; the DynamoDB adapters
//! are in the `portcullis-aws` crate.
use crate::error::StoreError;
use crate::ids::{ClientId, GrantId};
use crate::model::{Client, CodeRecord, Grant};
use crate::pkce::CodeChallenge;
use crate::secret::SecretHash;
use async_trait::async_trait;

mod admin;
mod api_keys;
pub mod memory;
mod registration;

pub use admin::*;
pub use api_keys::*;
pub use memory::{MemoryStore, Op};
pub use registration::*;

/// A table, by its role (the names are configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Clients,
    Codes,
    Tokens,
}

/// The DynamoDB actions a port's adapter calls on one table (or one of its indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoAccess {
    pub table: Table,
    /// `Some` for an action on a global secondary index.
    pub index: Option<&'static str>,
    pub actions: &'static [&'static str],
}

impl DynamoAccess {
    pub const fn table(table: Table, actions: &'static [&'static str]) -> Self {
        Self {
            table,
            index: None,
            actions,
        }
    }
    pub const fn index(
        table: Table,
        index: &'static str,
        actions: &'static [&'static str],
    ) -> Self {
        Self {
            table,
            index: Some(index),
            actions,
        }
    }
}

/// Every port names the DynamoDB access its adapter needs.
pub trait Port {
    const DYNAMODB: &'static [DynamoAccess];
}

/// clients: GetItem. Used by authorize.
#[async_trait]
pub trait ClientLookup: Send + Sync {
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError>;
}
pub struct ClientLookupPort;
impl Port for ClientLookupPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Clients, &["dynamodb:GetItem"])];
}

/// clients: BatchGetItem of a client and a resource (RFC 8707), both in the clients table (a
/// resource's key is its URI). Used by authorize and by token (client credentials) when the
/// request names a `resource`: one request either way. The resource alone (GetItem) only where
/// the client was read already (token, a client-credentials request with a client assertion).
#[async_trait]
pub trait ResourceLookup: Send + Sync {
    async fn client_and_resource(
        &self,
        client_id: &ClientId,
        resource: &str,
    ) -> Result<(Option<Client>, Option<crate::resource::Resource>), StoreError>;
    /// The registered resource with this URI, if any.
    async fn resource(&self, uri: &str) -> Result<Option<crate::resource::Resource>, StoreError>;
}
pub struct ResourceLookupPort;
impl Port for ResourceLookupPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:BatchGetItem", "dynamodb:GetItem"],
    )];
}

/// clients: PutItem (conditional). Used by the CLI.
#[async_trait]
pub trait ClientRegistry: Send + Sync {
    /// Registers a new client; fails if the id is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
}
pub struct ClientRegistryPort;
impl Port for ClientRegistryPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Clients, &["dynamodb:PutItem"])];
}

/// codes: PutItem (conditional). Used by authorize.
#[async_trait]
pub trait CodeIssue: Send + Sync {
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
}
pub struct CodeIssuePort;
impl Port for CodeIssuePort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Codes, &["dynamodb:PutItem"])];
}

/// Who presents a code: checked inside the consuming write, so that a request that does not
/// authenticate as the code's client changes nothing (RFC 6749 §3.2.1, §4.1.3).
#[derive(Debug, Clone, Copy)]
pub struct Presenter<'a> {
    pub client_id: &'a ClientId,
    /// The hash of the presented secret; `None` when none was sent (a public client).
    pub secret_hash: Option<&'a SecretHash>,
    /// Without a secret: the S256 challenge of the presented `code_verifier`, which must equal
    /// the code's (a public client proves it is the code's client by PKCE, RFC 7636 §4.6).
    pub pkce: Option<&'a CodeChallenge>,
}

/// What consuming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// The code was live, unconsumed, and the presenter is its client (as the code's snapshot
    /// knows it): it is now marked consumed, and this is its record.
    Now(CodeRecord),
    /// Nothing changed. The item as it is (expired, consumed, or for another presenter), or
    /// `None` when there is none (never issued, or gone at its TTL). Read only on this failure
    /// path.
    Refused(Option<CodeRecord>),
}

/// codes: UpdateItem (conditional, `ALL_NEW`), GetItem after a refusal. Used by token.
#[async_trait]
pub trait CodeRedeem: Send + Sync {
    /// RFC 6749 §4.1.2: a code is single use. Marks the code consumed (`consumed_at = now`) and
    /// returns it in one atomic step, only if it exists, is unconsumed, unexpired at `now`, and
    /// `presenter` authenticates against the code's client snapshot. Of any number of
    /// concurrent calls for one code, exactly one gets [`Consumed::Now`]. The item stays (until
    /// its TTL) so that a consumed code whose exchange issued nothing can be redeemed by its
    /// client ([`crate::grants::code`]).
    async fn consume_code(
        &self,
        code_hash: &SecretHash,
        now: u64,
        presenter: Presenter<'_>,
    ) -> Result<Consumed, StoreError>;
    /// As [`Self::consume_code`], for a presenter the caller has already authenticated as
    /// `client_id` against the client's *current* registration (review finding 11: a code issued
    /// before a secret rotation, presented with the new secret): the condition names the client
    /// only, not the code's snapshot of its secrets.
    async fn consume_code_for(
        &self,
        code_hash: &SecretHash,
        now: u64,
        client_id: &ClientId,
    ) -> Result<Consumed, StoreError>;
}
pub struct CodeRedeemPort;
impl Port for CodeRedeemPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Codes,
        &["dynamodb:GetItem", "dynamodb:UpdateItem"],
    )];
}

/// tokens: GetItem (strongly consistent). Used by token (the code replay and retry rules),
/// refresh (after a lost race) and the CLI.
#[async_trait]
pub trait GrantLookup: Send + Sync {
    /// The grant item, revoked or not.
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<Grant>, StoreError>;
}
pub struct GrantLookupPort;
impl Port for GrantLookupPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:GetItem"])];
}

/// tokens: PutItem of a `grant#…` item, condition `attribute_not_exists(pk)`. Used by token.
#[async_trait]
pub trait GrantStart: Send + Sync {
    /// Writes a new grant; `false` (nothing written) when an item with its id exists: the
    /// code (from which the id is derived) was exchanged before.
    async fn start_grant(&self, grant: &Grant) -> Result<bool, StoreError>;
}
pub struct GrantStartPort;
impl Port for GrantStartPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:PutItem"])];
}

/// tokens and clients: one BatchGetItem. Used by refresh (eventually consistent: half a read
/// unit per item, the write's condition decides), and strongly consistent by me, the
/// resource-server crate, introspect and revoke.
#[async_trait]
pub trait GrantRead: Send + Sync {
    /// The grant item and the client items of `clients` (those that exist, in any order), in
    /// one request: a token is checked against its grant and its client's current standing
    /// (disabled, deleted) in one call, so disabling a client stops its tokens at once.
    async fn grant_and_clients(
        &self,
        grant_id: &GrantId,
        clients: &[&ClientId],
        consistent: bool,
    ) -> Result<(Option<Grant>, Vec<Client>), StoreError>;
}
pub struct GrantReadPort;
impl Port for GrantReadPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::table(Table::Tokens, &["dynamodb:BatchGetItem"]),
        DynamoAccess::table(Table::Clients, &["dynamodb:BatchGetItem"]),
    ];
}

/// tokens: UpdateItem of the grant, condition `generation = :seen` and not revoked. Used by
/// refresh.
#[async_trait]
pub trait GrantAdvance: Send + Sync {
    /// RFC 6749 §6, RFC 9700 §4.14.2: the one conditional write that decides a refresh. Writes
    /// `next`'s generation, tokens, scopes and ends, only if the stored grant is still at
    /// generation `seen` and not revoked; `false` (nothing written) otherwise. Of any number of
    /// concurrent refreshes of one generation exactly one writes. The write names the grant
    /// item only: no transaction, nothing on the client item.
    async fn advance(&self, next: &Grant, seen: u32) -> Result<bool, StoreError>;
}
pub struct GrantAdvancePort;
impl Port for GrantAdvancePort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:UpdateItem"])];
}

/// tokens: UpdateItem of the grant. Used by token, refresh, revoke and the CLI.
#[async_trait]
pub trait GrantRevocation: Send + Sync {
    /// Revokes a grant in one write: its item becomes a tombstone (`revoked_at = now`), after
    /// which no token of it works anywhere (every check reads the grant), and a racing
    /// exchange or refresh of it fails its condition. `true` when it was live; a grant that
    /// does not exist, or is revoked already, is left as it is.
    async fn revoke_grant(&self, grant_id: &GrantId, now: u64) -> Result<bool, StoreError>;
}
pub struct GrantRevocationPort;
impl Port for GrantRevocationPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:UpdateItem"])];
}

/// Which of a grant's two access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessSlot {
    Current,
    Previous,
}

/// tokens: UpdateItem of the grant, conditional. Used by revoke.
#[async_trait]
pub trait AccessRevocation: Send + Sync {
    /// RFC 7009 §2.1: ends one access token (the grant and its refresh token live on), in one
    /// conditional write: only if the grant still names `hash` in `slot`.
    async fn revoke_access(
        &self,
        grant_id: &GrantId,
        slot: AccessSlot,
        hash: &SecretHash,
    ) -> Result<bool, StoreError>;
}
pub struct AccessRevocationPort;
impl Port for AccessRevocationPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:UpdateItem"])];
}

/// codes: UpdateItem of a `rate#…` counter (`ADD`, conditional on the count). Used by token,
/// only for a client registered with `--token-rate`.
#[async_trait]
pub trait TokenRateLimit: Send + Sync {
    /// Counts one token request of `client_id` in the minute that starts at `window` (epoch
    /// seconds, a multiple of 60); `false`, nothing written, when `limit` were counted in it
    /// already. The counter item goes at its TTL a minute after its window.
    async fn count_token(
        &self,
        client_id: &ClientId,
        window: u64,
        limit: u32,
    ) -> Result<bool, StoreError>;
}
pub struct TokenRateLimitPort;
impl Port for TokenRateLimitPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Codes, &["dynamodb:UpdateItem"])];
}

/// codes: PutItem of a `jti#…` item, condition: none live with that key. Used by every function
/// that authenticates clients (private_key_jwt).
#[async_trait]
pub trait AssertionReplay: Send + Sync {
    /// RFC 7523 §3 rule 7: records the assertion `jti` of `client_id` as used until
    /// `expires_at`; `false`, nothing written, when it was used before (a replay).
    async fn use_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError>;
}
pub struct AssertionReplayPort;
impl Port for AssertionReplayPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Codes, &["dynamodb:PutItem"])];
}

/// The key of a `jti` record: a hash, so the item's key has a fixed size whatever the client
/// sent, and the client is part of it (two clients may pick the same `jti`).
pub fn jti_key(client_id: &ClientId, jti: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(client_id.as_str().as_bytes());
    h.update([0]);
    h.update(jti.as_bytes());
    format!(
        "jti#{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            h.finalize()
        )
    )
}

/// The key of a client's request counter for one minute.
pub fn rate_key(client_id: &ClientId, window: u64) -> String {
    format!("rate#{client_id}#{window}")
}

/// The union of several ports' access, merged by table and index: what one function needs.
pub fn dynamodb_needs(
    ports: &[&[DynamoAccess]],
) -> Vec<(Table, Option<&'static str>, Vec<&'static str>)> {
    let mut out: Vec<(Table, Option<&'static str>, Vec<&'static str>)> = Vec::new();
    for access in ports.iter().flat_map(|p| p.iter()) {
        let slot = match out
            .iter_mut()
            .find(|(t, i, _)| *t == access.table && *i == access.index)
        {
            Some(s) => s,
            None => {
                out.push((access.table, access.index, Vec::new()));
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        for a in access.actions {
            if !slot.2.contains(a) {
                slot.2.push(a);
            }
        }
    }
    for (_, _, actions) in &mut out {
        actions.sort_unstable();
    }
    out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ports on one table merge into one entry; an index stays its own entry.
    #[test]
    fn needs_merge_by_table_and_index() {
        let needs = dynamodb_needs(&[
            GrantLookupPort::DYNAMODB,
            GrantRevocationPort::DYNAMODB,
            super::ApiKeyRegistryPort::DYNAMODB,
        ]);
        assert_eq!(needs[0].0, Table::Tokens);
        assert_eq!(needs[0].1, None);
        assert!(
            needs[0].2.contains(&"dynamodb:GetItem") && needs[0].2.contains(&"dynamodb:UpdateItem")
        );
        assert!(needs[1..]
            .iter()
            .all(|(t, i, _)| *t == Table::Tokens && i.is_some()));
    }
}

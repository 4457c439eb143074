//! The ports of dynamic client registration (RFC 7591): storing a registered client, the
//! deployment's registration counters, initial access tokens, and pushing a registered client's
//! TTL forward at use.
use super::{DynamoAccess, Port, Table};
use crate::error::StoreError;
use crate::ids::ClientId;
use crate::model::Client;
use crate::secret::SecretHash;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What storing a registration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The client is new (or replaced an expired one of the same id) and is stored.
    New,
    /// A live client has this id already (an identical re-registration): nothing written; the
    /// client as stored.
    Existing(Box<Client>),
}

/// clients: one PutItem, condition `attribute_not_exists(client_id) OR expires_at < :now`,
/// `ReturnValuesOnConditionCheckFailure = ALL_OLD`. Used by register; its IAM policy allows it
/// only on `dcr_…` keys.
#[async_trait]
pub trait ClientRegistration: Send + Sync {
    /// Stores `client` unless a live client has its id; then returns that one, in the same
    /// call. A client past its TTL that DynamoDB has not deleted yet counts as gone.
    async fn register_client(&self, client: &Client, now: u64) -> Result<Registered, StoreError>;
}
pub struct ClientRegistrationPort;
impl Port for ClientRegistrationPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Clients, &["dynamodb:PutItem"])];
}

/// The windows the deployment counts registrations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationWindow {
    Hour,
    Day,
}

impl RegistrationWindow {
    pub fn seconds(self) -> u64 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
    /// The start of the window `now` is in.
    pub fn start(self, now: u64) -> u64 {
        now - now % self.seconds()
    }
    /// The counter's key in the codes table: `reg#h#<hour start>` or `reg#d#<day start>`.
    pub fn key(self, start: u64) -> String {
        match self {
            Self::Hour => format!("reg#h#{start}"),
            Self::Day => format!("reg#d#{start}"),
        }
    }
}

/// codes: UpdateItem of a `reg#…` counter (`ADD`, conditional on the count). Used by register.
#[async_trait]
pub trait RegistrationCounter: Send + Sync {
    /// Counts one registration in the `window` that starts at `start`; `false`, nothing
    /// written, when `limit` were counted in it already. The counter goes at its TTL, one
    /// window after its end.
    async fn count_registration(
        &self,
        window: RegistrationWindow,
        start: u64,
        limit: u32,
    ) -> Result<bool, StoreError>;
}
pub struct RegistrationCounterPort;
impl Port for RegistrationCounterPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Codes, &["dynamodb:UpdateItem"])];
}

/// An initial access token as stored (`iat#<hash>` in the codes table): never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialAccessTokenRecord {
    pub pk: String,
    pub created_at: u64,
    /// The codes table's TTL; checked at use too (TTL deletes late).
    pub expires_at: u64,
    /// At most this many registrations; `None`: any number until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub used: u32,
}

impl InitialAccessTokenRecord {
    pub fn key(hash: &SecretHash) -> String {
        format!("iat#{}", hash.as_str())
    }
    /// Whether it may register one more client at `now`.
    pub fn usable(&self, now: u64) -> bool {
        self.expires_at > now && self.max_uses.is_none_or(|m| self.used < m)
    }
}

/// codes: one UpdateItem of the `iat#…` item, conditional on it being live and under its uses.
/// Used by register, only when the request carries a Bearer token.
#[async_trait]
pub trait InitialAccessTokenUse: Send + Sync {
    /// RFC 7591 §3: counts one use of the token with this hash at `now`; `false`, nothing
    /// written, when there is no such token, it has expired, or its uses are spent.
    async fn use_initial_access_token(
        &self,
        hash: &SecretHash,
        now: u64,
    ) -> Result<bool, StoreError>;
}
pub struct InitialAccessTokenUsePort;
impl Port for InitialAccessTokenUsePort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Codes, &["dynamodb:UpdateItem"])];
}

/// codes: PutItem (conditional) and DeleteItem of `iat#…` items. Used by the CLI
/// (`portcullis registration-token create`, `revoke`).
#[async_trait]
pub trait InitialAccessTokenRegistry: Send + Sync {
    async fn create_initial_access_token(
        &self,
        record: &InitialAccessTokenRecord,
    ) -> Result<(), StoreError>;
    /// Deletes it; whether there was one.
    async fn revoke_initial_access_token(&self, hash: &SecretHash) -> Result<bool, StoreError>;
}
pub struct InitialAccessTokenRegistryPort;
impl Port for InitialAccessTokenRegistryPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Codes,
        &["dynamodb:DeleteItem", "dynamodb:PutItem"],
    )];
}

/// clients: one UpdateItem `SET expires_at`, condition `attribute_exists(expires_at)`, so an
/// operator's client (which has no TTL) is never given one. Used by authorize and refresh, after
/// their own work, when [`Client::needs_touch`] says so; a failure is logged and ignored.
#[async_trait]
pub trait ClientTouch: Send + Sync {
    /// Moves a registered client's TTL to `expires_at`; `false` when it has none (or is gone).
    async fn extend(&self, client_id: &ClientId, expires_at: u64) -> Result<bool, StoreError>;
}
pub struct ClientTouchPort;
impl Port for ClientTouchPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:UpdateItem"],
    )];
}

/// Pushes a registered client's TTL forward when [`Client::needs_touch`] says so: at most one
/// write per half idle period per client. Never fails its caller: a failed write is logged (the
/// client lives on to its current TTL, and the next use tries again).
pub async fn touch_if_due(
    touch: &(impl ClientTouch + ?Sized),
    client: &Client,
    now: u64,
    idle: u64,
) {
    if !client.needs_touch(now, idle) {
        return;
    }
    if let Err(e) = touch
        .extend(&client.client_id, now.saturating_add(idle))
        .await
    {
        tracing::warn!(
            client_id = %client.client_id,
            cause = %crate::error::error_chain(&e),
            "could not extend a registered client's expiry; it is tried again at its next use"
        );
    }
}

/// The stored copy of a Client ID Metadata Document (draft §4.4: the clients table is the cache
/// every function instance shares), written by the authorization endpoint after it fetched and
/// validated the document: one conditional PutItem of the `cimd_` item, which succeeds only when
/// there is no item or the item is an enabled metadata-document client. So an operator's
/// `client disable` between this request's read and its write is never undone (`false`: the
/// request is refused), and no other kind of client can be overwritten.
#[async_trait]
pub trait DocumentClientCache: Send + Sync {
    async fn store_document_client(&self, client: &Client) -> Result<bool, StoreError>;
}
pub struct DocumentClientCachePort;
impl Port for DocumentClientCachePort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Clients, &["dynamodb:PutItem"])];
}

//! The ports for API keys and for disabling a client (kept apart from the OAuth token ports).
use super::{DynamoAccess, Port, Table};
use crate::api_keys::ApiKeyRecord;
use crate::error::StoreError;
use crate::ids::{ClientId, GrantId, Subject};
use crate::secret::SecretHash;
use async_trait::async_trait;

/// tokens: GetItem. Used by the resource-server crate (instead of [`super::GrantRead`] when
/// the credential has the API-key prefix: still one read per request).
#[async_trait]
pub trait ApiKeyLookup: Send + Sync {
    /// An API key by hash, only if it has not expired at `now`.
    async fn api_key(
        &self,
        key_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
}
pub struct ApiKeyLookupPort;
impl Port for ApiKeyLookupPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:GetItem"])];
}

/// tokens: PutItem (conditional); Query `by_user` and BatchGetItem (list); Query `by_key` and
/// DeleteItem (revoke). Used by the CLI.
#[async_trait]
pub trait ApiKeyRegistry: Send + Sync {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// A user's keys (expired ones too, until TTL removes them), oldest first.
    async fn api_keys_of(&self, sub: &Subject) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Deletes the key with this id; whether there was one.
    async fn revoke_api_key(&self, id: &GrantId) -> Result<bool, StoreError>;
}
pub struct ApiKeyRegistryPort;
impl Port for ApiKeyRegistryPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::table(
            Table::Tokens,
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
            ],
        ),
        DynamoAccess::index(Table::Tokens, "by_user", &["dynamodb:Query"]),
        DynamoAccess::index(Table::Tokens, "by_key", &["dynamodb:Query"]),
    ];
}

/// clients: UpdateItem (`disabled = true`). Used by the CLI (`client disable`).
#[async_trait]
pub trait ClientDisable: Send + Sync {
    /// Marks the client disabled at `now` (`disabled_at`); whether it exists. From then on its
    /// tokens are refused at every use and its refreshes fail: both read the client's item with
    /// the grant. Its own tokens (client credentials, in no index, so no sweep finds them) issued
    /// before `disabled_at` stay refused after `client enable` ([`crate::model::Client::accepts`]).
    async fn disable_client(&self, client_id: &ClientId, now: u64) -> Result<bool, StoreError>;
}
pub struct ClientDisablePort;
impl Port for ClientDisablePort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:UpdateItem"],
    )];
}

/// tokens: Query `by_client`. Used by the CLI (`client disable`), with [`super::GrantRevocation`].
#[async_trait]
pub trait ClientGrants: Send + Sync {
    /// The ids of every grant that has an item naming this client (grants and tokens).
    async fn grants_of_client(&self, client_id: &ClientId) -> Result<Vec<GrantId>, StoreError>;
}
pub struct ClientGrantsPort;
impl Port for ClientGrantsPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::index(
        Table::Tokens,
        "by_client",
        &["dynamodb:Query"],
    )];
}

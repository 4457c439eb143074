//! The operator's ports (the CLI's, never a function's): listing, changing, re-enabling,
//! rotating and deleting clients, and finding grants by user or by client through the tokens
//! table's indexes. Disabling a client and listing a client's grant ids are
//! [`super::ClientDisable`] and [`super::ClientGrants`]; revoking a grant is
//! [`super::GrantRevocation::revoke_grant`].
use super::{DynamoAccess, Port, Table};
use crate::error::StoreError;
use crate::ids::{ClientId, RedirectUri, Subject};
use crate::model::{Client, Grant, RetiringSecret};
use crate::secret::SecretHash;
use async_trait::async_trait;

/// clients: Scan (all pages). The one scan Portcullis makes: the clients table holds one small
/// item per registered app. The tokens and codes tables are never scanned.
#[async_trait]
pub trait ClientDirectory: Send + Sync {
    /// Every registered client, in no particular order.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
}
pub struct ClientDirectoryPort;
impl Port for ClientDirectoryPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Clients, &["dynamodb:Scan"])];
}

/// What `client update` sets; `None` leaves an attribute as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    pub name: Option<String>,
    /// `Some(None)` removes the logo.
    pub logo_uri: Option<Option<String>>,
    pub redirect_uris: Option<Vec<RedirectUri>>,
    pub scopes: Option<Vec<String>>,
    pub trusted: Option<bool>,
    pub pkce_optional: Option<bool>,
    pub refresh_rotation: Option<bool>,
    /// `Some(None)` removes the limit.
    pub token_rate: Option<Option<u32>>,
    /// New keys (private_key_jwt), replacing the registered ones.
    pub jwks: Option<crate::assertion::ClientKeys>,
    /// With `jwks`: the replaced keys and the end of their overlap (`Some(None)`: none).
    pub jwks_retiring: Option<Option<crate::model::RetiringKeys>>,
    /// Remove every secret (a client that authenticates with keys only).
    pub remove_secret: bool,
}

impl ClientChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Changes only a confidential client may have: a trusted client skips consent, and a
    /// public client can be impersonated (RFC 8252 §8.6); a public client always uses PKCE
    /// (RFC 9700 §2.1.1) and rotates its refresh tokens (RFC 9700 §4.14.2).
    pub fn needs_confidential(&self) -> bool {
        self.trusted == Some(true)
            || self.pkce_optional == Some(true)
            || self.refresh_rotation == Some(false)
            || self.jwks.is_some()
            || self.remove_secret
    }
}

/// How a conditional change of a client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientChange {
    /// Changed; the client as it is now.
    Done(Box<Client>),
    /// No client has this id; nothing was written.
    NotFound,
    /// The client is public and the change is for confidential clients only; nothing written.
    Public,
    /// The client is not as it was read (another operator changed it, e.g. a concurrent
    /// rotation); nothing written.
    Changed,
}

/// clients: UpdateItem (conditional on the client existing), and GetItem on the failure path
/// only (to say why). Used by the CLI (`client update`, `client enable`, `client rotate-secret`).
#[async_trait]
pub trait ClientUpdate: Send + Sync {
    /// One UpdateItem that sets what `changes` names, only if the client exists and (for
    /// [`ClientChanges::needs_confidential`]) is not public.
    async fn update_client(
        &self,
        client_id: &ClientId,
        changes: &ClientChanges,
    ) -> Result<ClientChange, StoreError>;

    /// Clears `disabled`; [`ClientChange::NotFound`] when there is no such client.
    async fn enable_client(&self, client_id: &ClientId) -> Result<ClientChange, StoreError>;

    /// One UpdateItem that replaces the secrets, only if the client's `secret_hashes` are still
    /// `rotation.expected` (so of two concurrent rotations one wins and the other changes
    /// nothing: [`ClientChange::Changed`]).
    async fn rotate_secret(
        &self,
        client_id: &ClientId,
        rotation: &SecretRotation,
    ) -> Result<ClientChange, StoreError>;
}
pub struct ClientUpdatePort;
impl Port for ClientUpdatePort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:GetItem", "dynamodb:UpdateItem"],
    )];
}

/// A secret rotation, decided from the client as read: the new list (the new hash first) and
/// the old secret's end, if it is kept for an overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRotation {
    /// `secret_hashes` as read: the write's condition.
    pub expected: Vec<SecretHash>,
    pub secret_hashes: Vec<SecretHash>,
    /// `None` removes `secret_retiring`.
    pub retiring: Option<RetiringSecret>,
}

/// clients: DeleteItem (conditional on the client existing). Used by the CLI (`client delete`,
/// after the client's grants are revoked).
#[async_trait]
pub trait ClientRemoval: Send + Sync {
    /// Deletes the client item; whether there was one.
    async fn delete_client(&self, client_id: &ClientId) -> Result<bool, StoreError>;
}
pub struct ClientRemovalPort;
impl Port for ClientRemovalPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:DeleteItem"],
    )];
}

/// clients: the resources (RFC 8707) the operator registers, items keyed by their URI with
/// `kind = resource`: PutItem (conditional), Scan (filtered to resources), DeleteItem. Used by
/// the CLI (`portcullis resource create|list|delete`).
#[async_trait]
pub trait ResourceRegistry: Send + Sync {
    /// Registers it; `false` if a resource (or anything) already has that key.
    async fn create_resource(&self, r: &crate::resource::Resource) -> Result<bool, StoreError>;
    async fn list_resources(&self) -> Result<Vec<crate::resource::Resource>, StoreError>;
    /// Whether there was one.
    async fn delete_resource(&self, uri: &str) -> Result<bool, StoreError>;
}
pub struct ResourceRegistryPort;
impl Port for ResourceRegistryPort {
    const DYNAMODB: &'static [DynamoAccess] = &[DynamoAccess::table(
        Table::Clients,
        &["dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DeleteItem"],
    )];
}

/// tokens: Query `by_user` or `by_client` (grant items only), then BatchGetItem (consistent) of
/// the grant items for what the indexes do not project. Used by the CLI (`grants list`,
/// `grants revoke --sub`).
#[async_trait]
pub trait GrantListing: Send + Sync {
    /// A user's OAuth grants (not API keys), oldest first.
    async fn grants_of_user(&self, sub: &Subject) -> Result<Vec<Grant>, StoreError>;
    /// A client's grants, oldest first.
    async fn grant_records_of_client(&self, client_id: &ClientId)
        -> Result<Vec<Grant>, StoreError>;
}
pub struct GrantListingPort;
impl Port for GrantListingPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::index(Table::Tokens, "by_user", &["dynamodb:Query"]),
        DynamoAccess::index(Table::Tokens, "by_client", &["dynamodb:Query"]),
        DynamoAccess::table(Table::Tokens, &["dynamodb:BatchGetItem"]),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusting_or_ending_rotation_needs_a_confidential_client() {
        assert!(!ClientChanges::default().needs_confidential());
        assert!(ClientChanges::default().is_empty());
        let c = ClientChanges {
            trusted: Some(true),
            ..Default::default()
        };
        assert!(c.needs_confidential() && !c.is_empty());
        let c = ClientChanges {
            refresh_rotation: Some(false),
            ..Default::default()
        };
        assert!(c.needs_confidential());
        let c = ClientChanges {
            trusted: Some(false),
            refresh_rotation: Some(true),
            name: Some("x".into()),
            ..Default::default()
        };
        assert!(!c.needs_confidential());
    }

    /// The operator ports never scan the tokens or codes tables.
    #[test]
    fn only_the_clients_table_is_scanned() {
        for access in [
            ClientDirectoryPort::DYNAMODB,
            ClientUpdatePort::DYNAMODB,
            ClientRemovalPort::DYNAMODB,
            GrantListingPort::DYNAMODB,
        ]
        .iter()
        .flat_map(|p| p.iter())
        {
            if access.actions.contains(&"dynamodb:Scan") {
                assert_eq!((access.table, access.index), (Table::Clients, None));
            }
        }
    }
}

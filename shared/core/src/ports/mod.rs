//! Storage ports: one narrow trait per capability, so each function's storage needs can be read
//! off the traits it takes. Each port also declares, in code, the DynamoDB actions its adapter
//! calls ([`Port::DYNAMODB`]), so the infrastructure's IAM policies can be checked against it
//! (`portcullis_lambda::endpoints::*::DYNAMODB` lists each function's).
//!
//! The in-memory adapter ([`MemoryStore`]) is for unit tests and benches; the DynamoDB adapters
//! are in the `portcullis-aws` crate.
use crate::error::StoreError;
use crate::ids::{ClientId, GrantId};
use crate::model::{Client, CodeRecord, GrantRecord, Issuance, TokenRecord};
use crate::pkce::CodeChallenge;
use crate::secret::{AccessToken, SecretHash};
use async_trait::async_trait;

mod admin;
mod api_keys;
pub mod memory;

pub use admin::*;
pub use api_keys::*;
pub use memory::{MemoryStore, Op};

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

/// How an issuance ended, short of a storage fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOutcome {
    Issued,
    /// The client was removed or disabled, or its secret rotated out, since the code was issued.
    ClientRejected,
    /// The grant already exists: this code was exchanged before (its first exchange's answer
    /// may have been lost, and the code restored).
    AlreadyIssued,
}

/// tokens: TransactWriteItems of PutItems, with a ConditionCheck on clients. Used by token.
#[async_trait]
pub trait TokenIssue: Send + Sync {
    /// Writes the grant and its tokens atomically, with the client check.
    async fn issue_tokens(&self, issuance: &Issuance) -> Result<IssueOutcome, StoreError>;
}
pub struct TokenIssuePort;
impl Port for TokenIssuePort {
    // A transaction needs the item action of each of its parts: PutItem for the puts and
    // ConditionCheckItem for the check.
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::table(Table::Tokens, &["dynamodb:PutItem"]),
        DynamoAccess::table(Table::Clients, &["dynamodb:ConditionCheckItem"]),
    ];
}

/// tokens: GetItem. Used by me and by the resource-server crate.
#[async_trait]
pub trait TokenLookup: Send + Sync {
    /// A token by hash, only if it has not expired at `now` (TTL deletes late).
    async fn token(
        &self,
        token_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError>;
    /// A refresh token's item as stored, active or retired (RFC 7009 §2.1: revoking a retired
    /// refresh token still ends its grant).
    async fn refresh_token_item(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<TokenRecord>, StoreError>;
}
pub struct TokenLookupPort;
impl Port for TokenLookupPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:GetItem"])];
}

/// tokens and clients: one BatchGetItem, both strongly consistent. Used by me, introspect and
/// the resource-server crate.
#[async_trait]
pub trait AccessTokenLookup: Send + Sync {
    /// RFC 6750 §3.1 `invalid_token` unless this returns a record: the token's item, only if it
    /// is an access token, unexpired at `now`, issued to the client the token names, and that
    /// client exists and is enabled. The token and its client are read in the same request, so
    /// disabling a client stops its tokens at once, within the one-call budget
    /// (`docs/architecture.md#disabling-a-client`). A token that is not well formed is `None`
    /// without a call.
    async fn access_token(
        &self,
        token: &AccessToken,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError>;
}
pub struct AccessTokenLookupPort;
impl Port for AccessTokenLookupPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::table(Table::Tokens, &["dynamodb:BatchGetItem"]),
        DynamoAccess::table(Table::Clients, &["dynamodb:BatchGetItem"]),
    ];
}

/// tokens: UpdateItem (the grant becomes a tombstone, returning its newest token keys), Query
/// `by_grant`, BatchWriteItem (deletes). Used by token, refresh, revoke and the CLI.
#[async_trait]
pub trait GrantRevocation: Send + Sync {
    /// The grant item (GetItem, consistent), revoked or not, for the code replay rules.
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<GrantRecord>, StoreError>;
    /// Revokes a grant: its item becomes a tombstone (`revoked_at`, the store's clock), so a racing
    /// exchange or refresh of it fails its condition, then every token that names it is
    /// deleted — the newest ones by key (the grant item names the two newest access tokens and
    /// the newest refresh token, which the index may not show yet), the rest through
    /// `by_grant`. Returns how many token items went. A grant that does not exist, or is
    /// already revoked, is left as it is (its tokens are still swept).
    async fn revoke_grant(&self, grant_id: &GrantId) -> Result<usize, StoreError>;
}
pub struct GrantRevocationPort;
impl Port for GrantRevocationPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::index(Table::Tokens, "by_grant", &["dynamodb:Query"]),
        DynamoAccess::table(
            Table::Tokens,
            &[
                "dynamodb:BatchWriteItem",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
            ],
        ),
    ];
}

/// tokens: DeleteItem (conditional). Used by revoke.
#[async_trait]
pub trait AccessTokenRevocation: Send + Sync {
    /// RFC 7009 §2.1: deletes an access token, in one conditional write, only if the item is an
    /// access token issued to `client_id`; whether it deleted one. Anything else (no such item,
    /// another client's token, a refresh token) changes nothing.
    async fn revoke_access_token(
        &self,
        token_hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<bool, StoreError>;
}
pub struct AccessTokenRevocationPort;
impl Port for AccessTokenRevocationPort {
    const DYNAMODB: &'static [DynamoAccess] =
        &[DynamoAccess::table(Table::Tokens, &["dynamodb:DeleteItem"])];
}

/// How a refresh changes the presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationKind {
    /// The token is active: retire it, recording the new pair, and keep it until
    /// `retain_until` so its reuse is recognised.
    Rotate,
    /// Legacy mode: the token stays active, its end moves to the new refresh end.
    Extend,
    /// A grace-window retry of a retired token: only if it is still as it was read (same
    /// retries, same successor), and only if its successor is still unused; the successor pair
    /// is deleted and this pair recorded instead, so one live branch remains.
    GraceRetry {
        seen_retries: u32,
        seen_next_access: SecretHash,
        seen_next_refresh: SecretHash,
    },
}

/// One refresh, written atomically or not at all.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The presented refresh token's hash.
    pub old: SecretHash,
    pub kind: RotationKind,
    pub now: u64,
    /// Retire/extend: the presented token's new `expires_at`.
    pub old_expires_at: u64,
    pub access: TokenRecord,
    /// The new refresh token (`None` in legacy mode).
    pub refresh: Option<TokenRecord>,
    pub grant_id: GrantId,
    /// The grant's new end (its newest refresh token's).
    pub grant_expires_at: u64,
}

/// How a refresh write ended, short of a storage fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated,
    /// The grant was revoked.
    GrantRevoked,
    /// The token was not as read: another request used it first (or its successor was used).
    TokenChanged,
}

/// tokens and clients: one BatchGetItem, then one TransactWriteItems on tokens only (UpdateItem,
/// PutItem, DeleteItem). Used by token and refresh, with [`TokenLookup::refresh_token_item`] to
/// re-read a token after a lost race.
#[async_trait]
pub trait RefreshRotation: Send + Sync {
    /// The refresh token's item as stored (active or retired) and the client item of
    /// `client_id`, in one strongly consistent BatchGetItem: each refresh applies the client's
    /// *current* registration (review finding 4: disabled, scopes narrowed, rotation switched on)
    /// without a second call.
    async fn refresh_record_and_client(
        &self,
        hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<(Option<TokenRecord>, Option<Client>), StoreError>;
    /// RFC 6749 §6, RFC 9700 §4.14.2: the one conditional write that decides a refresh.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError>;
}
pub struct RefreshRotationPort;
impl Port for RefreshRotationPort {
    const DYNAMODB: &'static [DynamoAccess] = &[
        DynamoAccess::table(
            Table::Tokens,
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:DeleteItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
        ),
        // The client item is only read (with the token); the rotation's transaction does not
        // touch it, so a popular client's concurrent refreshes never conflict on it.
        DynamoAccess::table(Table::Clients, &["dynamodb:BatchGetItem"]),
    ];
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
        let needs = dynamodb_needs(&[TokenLookupPort::DYNAMODB, GrantRevocationPort::DYNAMODB]);
        assert_eq!(
            needs,
            vec![
                (
                    Table::Tokens,
                    None,
                    vec![
                        "dynamodb:BatchWriteItem",
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem"
                    ]
                ),
                (Table::Tokens, Some("by_grant"), vec!["dynamodb:Query"]),
            ]
        );
    }
}

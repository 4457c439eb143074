//! Storage ports: one narrow trait per capability, so each function's storage needs (and its
//! IAM permissions) can be read off the traits it takes.
//!
//! | trait            | used by            | DynamoDB                                   |
//! |------------------|--------------------|--------------------------------------------|
//! | [`ClientLookup`] | authorize          | clients: GetItem                           |
//! | [`ClientRegistry`]| CLI               | clients: PutItem                           |
//! | [`CodeIssue`]    | authorize          | codes: PutItem                             |
//! | [`CodeRedeem`]   | token              | codes: DeleteItem (conditional, ALL_OLD); PutItem to restore after a fault |
//! | [`TokenIssue`]   | token              | tokens: TransactWriteItems (+ clients ConditionCheck) |
//! | [`TokenLookup`]  | me                 | tokens: GetItem                            |
//! | [`GrantRevocation`]| token            | tokens: Query `by_grant`, BatchWriteItem   |
use crate::error::StoreError;
use crate::model::{Client, CodeRecord, Issuance, TokenRecord};
use crate::secret::SecretHash;
use async_trait::async_trait;

pub mod dynamo;
pub mod memory;

pub use dynamo::{DynamoStore, Tables};
pub use memory::MemoryStore;

#[async_trait]
pub trait ClientLookup: Send + Sync {
    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
}

#[async_trait]
pub trait ClientRegistry: Send + Sync {
    /// Registers a new client; fails if the id is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CodeIssue: Send + Sync {
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CodeRedeem: Send + Sync {
    /// RFC 6749 §4.1.2: a code is single use. Removes the code and returns it in one atomic
    /// step, only if it exists and has not expired at `now`; `None` otherwise. Of any number of
    /// concurrent calls for one code, exactly one gets `Some`.
    async fn consume_code(
        &self,
        code_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<CodeRecord>, StoreError>;

    /// Puts back a code consumed by a request that then failed on a storage fault, so the
    /// client's retry can succeed (no half-done exchange). Only if the key is free.
    async fn restore_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
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

#[async_trait]
pub trait TokenIssue: Send + Sync {
    /// Writes the grant and its tokens atomically, with the client check.
    async fn issue_tokens(&self, issuance: &Issuance) -> Result<IssueOutcome, StoreError>;
}

#[async_trait]
pub trait TokenLookup: Send + Sync {
    /// A token by hash, only if it has not expired at `now` (TTL deletes late).
    async fn token(
        &self,
        token_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError>;
}

#[async_trait]
pub trait GrantRevocation: Send + Sync {
    /// Deletes a grant and every token that names it; returns how many items went.
    async fn revoke_grant(&self, grant_id: &str) -> Result<usize, StoreError>;
}

/// A shared store (`Arc<S>`) serves every port its store serves, so several endpoints can run
/// on one store (benches, tests).
mod shared {
    use super::*;
    use std::sync::Arc;

    #[async_trait]
    impl<T: ClientLookup + ?Sized> ClientLookup for Arc<T> {
        async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
            (**self).client(client_id).await
        }
    }

    #[async_trait]
    impl<T: CodeIssue + ?Sized> CodeIssue for Arc<T> {
        async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
            (**self).put_code(code).await
        }
    }

    #[async_trait]
    impl<T: CodeRedeem + ?Sized> CodeRedeem for Arc<T> {
        async fn consume_code(
            &self,
            h: &SecretHash,
            now: u64,
        ) -> Result<Option<CodeRecord>, StoreError> {
            (**self).consume_code(h, now).await
        }
        async fn restore_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
            (**self).restore_code(code).await
        }
    }

    #[async_trait]
    impl<T: TokenIssue + ?Sized> TokenIssue for Arc<T> {
        async fn issue_tokens(&self, issuance: &Issuance) -> Result<IssueOutcome, StoreError> {
            (**self).issue_tokens(issuance).await
        }
    }

    #[async_trait]
    impl<T: TokenLookup + ?Sized> TokenLookup for Arc<T> {
        async fn token(&self, h: &SecretHash, now: u64) -> Result<Option<TokenRecord>, StoreError> {
            (**self).token(h, now).await
        }
    }

    #[async_trait]
    impl<T: GrantRevocation + ?Sized> GrantRevocation for Arc<T> {
        async fn revoke_grant(&self, grant_id: &str) -> Result<usize, StoreError> {
            (**self).revoke_grant(grant_id).await
        }
    }
}

//! The clients table: `client_id` → [`Client`].
use crate::{classify, from_item, s, to_item};
use async_trait::async_trait;
use portcullis_core::error::StoreError;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::ports::{ClientLookup, ClientRegistry};

#[derive(Debug, Clone)]
pub struct DynamoClients {
    pub(crate) db: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

impl DynamoClients {
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }
}

#[async_trait]
impl ClientLookup for DynamoClients {
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("client_id", s(client_id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }
}

#[async_trait]
impl ClientRegistry for DynamoClients {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(client)?))
            .condition_expression("attribute_not_exists(client_id)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// What checking a client assertion reads and writes (`portcullis_core::client_auth::verify_assertion`):
/// the client (GetItem) and the codes table, where each assertion's `jti` is recorded once.
/// For the functions that authenticate clients but otherwise read clients only beside a grant
/// (refresh, revoke, introspect).
#[derive(Debug, Clone)]
pub struct DynamoClientAuth {
    pub clients: DynamoClients,
    pub codes: crate::DynamoCodes,
}

impl DynamoClientAuth {
    pub fn new(db: aws_sdk_dynamodb::Client, clients_table: &str, codes_table: &str) -> Self {
        Self {
            clients: DynamoClients::new(db.clone(), clients_table),
            codes: crate::DynamoCodes::new(db, codes_table),
        }
    }
}

#[async_trait::async_trait]
impl portcullis_core::ports::ClientLookup for DynamoClientAuth {
    async fn client(
        &self,
        client_id: &portcullis_core::ids::ClientId,
    ) -> Result<Option<portcullis_core::model::Client>, portcullis_core::error::StoreError> {
        self.clients.client(client_id).await
    }
}

#[async_trait::async_trait]
impl portcullis_core::ports::AssertionReplay for DynamoClientAuth {
    async fn use_jti(
        &self,
        client_id: &portcullis_core::ids::ClientId,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, portcullis_core::error::StoreError> {
        self.codes.use_jti(client_id, jti, expires_at, now).await
    }
}

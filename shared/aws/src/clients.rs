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

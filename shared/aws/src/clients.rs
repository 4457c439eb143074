//! The clients table: `client_id` → [`Client`].
use crate::{classify, from_item, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use portcullis_core::error::StoreError;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::ports::{ClientLookup, ClientRegistry};
use portcullis_core::resource::Resource;
use std::collections::HashMap;

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
impl portcullis_core::ports::ResourceLookup for DynamoClients {
    /// One consistent BatchGetItem of both keys of the clients table.
    async fn client_and_resource(
        &self,
        client_id: &ClientId,
        resource: &str,
    ) -> Result<(Option<Client>, Option<Resource>), StoreError> {
        let key = |k: &str| HashMap::from([("client_id".to_string(), s(k))]);
        let keys = KeysAndAttributes::builder()
            .keys(key(client_id.as_str()))
            .keys(key(resource))
            .consistent_read(true)
            .build()
            .map_err(crate::build_err)?;
        let mut found =
            crate::tokens::batch_get(&self.db, HashMap::from([(self.table.clone(), keys)])).await?;
        let (mut client, mut res) = (None, None);
        for item in found.remove(&self.table).unwrap_or_default() {
            if item.get("kind") == Some(&s(portcullis_core::resource::KIND)) {
                res = Some(from_item(item)?);
            } else {
                client = Some(from_item(item)?);
            }
        }
        Ok((client, res))
    }

    /// One consistent GetItem; an item that is not a resource (a client's) is none.
    async fn resource(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("client_id", s(uri))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match out.item {
            Some(item) if item.get("kind") == Some(&s(portcullis_core::resource::KIND)) => {
                Ok(Some(from_item(item)?))
            }
            _ => Ok(None),
        }
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

//! The clients table: `client_id` → [`Client`].
use crate::{classify, condition_failed, from_item, n, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use portcullis_core::error::StoreError;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::ports::{AuthFailures, ClientLookup, ClientRegistry, LockoutPolicy};

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

#[async_trait]
impl AuthFailures for DynamoClients {
    /// On failure paths only: one UpdateItem counting the failure in the current window (a
    /// second one starting a new window when there is none), and one more locking the client
    /// when the count reaches the limit. Each is conditional on the client existing, so an
    /// unknown `client_id` writes nothing.
    async fn record_auth_failure(
        &self,
        client_id: &ClientId,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<Option<u64>, StoreError> {
        let key = s(client_id.as_str());
        let count = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("client_id", key.clone())
            .condition_expression("attribute_exists(client_id) AND auth_window_end > :now")
            .update_expression("ADD auth_failures :one")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let failures = match count {
            Ok(out) => out
                .attributes
                .and_then(|a| match a.get("auth_failures") {
                    Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
                    _ => None,
                })
                .unwrap_or(1),
            Err(e) if condition_failed(&e) => {
                // No window running (or the client is unknown): start one.
                let start = self
                    .db
                    .update_item()
                    .table_name(&self.table)
                    .key("client_id", key.clone())
                    .condition_expression(
                        "attribute_exists(client_id) AND \
                         (attribute_not_exists(auth_window_end) OR auth_window_end <= :now)",
                    )
                    .update_expression("SET auth_failures = :one, auth_window_end = :end")
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":end", n(now + policy.window))
                    .send()
                    .await;
                match start {
                    Ok(_) => 1,
                    // Unknown client, or another request started the window meanwhile.
                    Err(e) if condition_failed(&e) => return Ok(None),
                    Err(e) => return Err(classify(e)),
                }
            }
            Err(e) => return Err(classify(e)),
        };
        if failures < policy.max {
            return Ok(None);
        }
        let until = now + policy.window;
        self.db
            .update_item()
            .table_name(&self.table)
            .key("client_id", key)
            .condition_expression("attribute_exists(client_id)")
            .update_expression("SET locked_until = :until REMOVE auth_failures, auth_window_end")
            .expression_attribute_values(":until", n(until))
            .send()
            .await
            .map_err(classify)?;
        Ok(Some(until))
    }
}

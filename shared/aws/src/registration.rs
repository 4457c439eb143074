//! Dynamic client registration (RFC 7591) on DynamoDB: the registered client (clients table),
//! and the registration counters and initial access tokens (codes table, `reg#…` and `iat#…`).
use crate::{
    applied, classify, condition_failed, from_item, n, s, to_item, DynamoClients, DynamoCodes,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use portcullis_core::error::StoreError;
use portcullis_core::ids::ClientId;
use portcullis_core::model::Client;
use portcullis_core::ports::{
    ClientRegistration, ClientTouch, DocumentClientCache, InitialAccessTokenRecord,
    InitialAccessTokenRegistry, InitialAccessTokenUse, Registered, RegistrationCounter,
    RegistrationWindow,
};
use portcullis_core::secret::SecretHash;

#[async_trait]
impl ClientRegistration for DynamoClients {
    /// One PutItem: written only if no live client has the id; when one has, the condition
    /// failure carries it (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so an identical
    /// re-registration costs this one call too.
    async fn register_client(&self, client: &Client, now: u64) -> Result<Registered, StoreError> {
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(client)?))
            .condition_expression("attribute_not_exists(client_id) OR expires_at < :now")
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(Registered::New),
            Err(e) if condition_failed(&e) => {
                let old = match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                    _ => None,
                };
                match old {
                    Some(item) => Ok(Registered::Existing(Box::new(from_item(item)?))),
                    None => Err(StoreError::Failed(
                        "register_client: the refused write returned no item".into(),
                    )),
                }
            }
            Err(e) => Err(classify(e)),
        }
    }
}

/// The one write any deployed function other than register makes on a client item: its TTL,
/// and only on an item that has one (a registered or metadata-document client; an operator's
/// client has no `expires_at`). `shared/lambda/tests/infra.rs` holds these to that.
pub const CLIENT_TOUCH_UPDATE: &str = "SET expires_at = :e";
pub const CLIENT_TOUCH_CONDITION: &str = "attribute_exists(expires_at)";

/// One UpdateItem of `client_id`'s TTL in `table` ([`CLIENT_TOUCH_UPDATE`]).
async fn extend_ttl(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    client_id: &ClientId,
    expires_at: u64,
) -> Result<bool, StoreError> {
    let res = db
        .update_item()
        .table_name(table)
        .key("client_id", s(client_id.as_str()))
        .update_expression(CLIENT_TOUCH_UPDATE)
        .condition_expression(CLIENT_TOUCH_CONDITION)
        .expression_attribute_values(":e", n(expires_at))
        .send()
        .await;
    applied(res)
}

#[async_trait]
impl DocumentClientCache for DynamoClients {
    /// One PutItem of the `cimd_` item, condition: no item, or an enabled metadata-document
    /// client (so a `client disable` that landed after this request's read stands).
    async fn store_document_client(&self, client: &Client) -> Result<bool, StoreError> {
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(client)?))
            .condition_expression(
                "attribute_not_exists(client_id) OR (origin = :document AND disabled = :no)",
            )
            .expression_attribute_values(":document", s("metadata_document"))
            .expression_attribute_values(
                ":no",
                aws_sdk_dynamodb::types::AttributeValue::Bool(false),
            )
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl ClientTouch for DynamoClients {
    /// One UpdateItem `SET expires_at`, only on an item that has one (a registered client).
    async fn extend(&self, client_id: &ClientId, expires_at: u64) -> Result<bool, StoreError> {
        extend_ttl(&self.db, &self.table, client_id, expires_at).await
    }
}

#[async_trait]
impl ClientTouch for crate::DynamoTokens {
    /// At a refresh: the same UpdateItem, on the clients table the grant was read with.
    async fn extend(&self, client_id: &ClientId, expires_at: u64) -> Result<bool, StoreError> {
        extend_ttl(&self.db, self.clients_table()?, client_id, expires_at).await
    }
}

#[async_trait]
impl RegistrationCounter for DynamoCodes {
    /// One UpdateItem of `reg#h#<hour>` or `reg#d#<day>`: `ADD n :one`, condition that the count
    /// is under the limit. The item goes at its TTL one window after its own ends.
    async fn count_registration(
        &self,
        window: RegistrationWindow,
        start: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&window.key(start)))
            .update_expression("ADD n :one SET expires_at = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(u64::from(limit)))
            .expression_attribute_values(":ttl", n(start + 2 * window.seconds()))
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl InitialAccessTokenUse for DynamoCodes {
    /// One UpdateItem of `iat#<hash>`: `used + 1`, only if it exists, is unexpired at `now`
    /// (TTL deletes late) and has uses left.
    async fn use_initial_access_token(
        &self,
        hash: &SecretHash,
        now: u64,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&InitialAccessTokenRecord::key(hash)))
            .update_expression("SET used = if_not_exists(used, :zero) + :one")
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :now \
                 AND (attribute_not_exists(max_uses) OR used < max_uses)",
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl InitialAccessTokenRegistry for DynamoCodes {
    async fn create_initial_access_token(
        &self,
        record: &InitialAccessTokenRecord,
    ) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn revoke_initial_access_token(&self, hash: &SecretHash) -> Result<bool, StoreError> {
        let out = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&InitialAccessTokenRecord::key(hash)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.attributes.is_some())
    }
}

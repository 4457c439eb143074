//! API keys in the tokens table (items of kind `api_key`, keyed by the key's hash; see
//! `portcullis_core::api_keys`), and disabling a client (its item, then its grants through the
//! `by_client` index).
use crate::{applied, classify, condition_failed, s, to_item};
use crate::{DynamoClients, DynamoTokens};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use portcullis_core::api_keys::{ApiKeyRecord, KEY_ID_PREFIX};
use portcullis_core::error::StoreError;
use portcullis_core::ids::{ClientId, GrantId, Subject};
use portcullis_core::ports::{ApiKeyLookup, ApiKeyRegistry, ClientDisable, ClientGrants};
use portcullis_core::secret::SecretHash;

#[async_trait]
impl ApiKeyLookup for DynamoTokens {
    /// One strongly consistent GetItem: the same single read as an access token's.
    async fn api_key(
        &self,
        key_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let rec: Option<ApiKeyRecord> = self.get_kind(key_hash.as_str(), "api_key").await?;
        Ok(rec.filter(|r| r.is_live(now)))
    }
}

#[async_trait]
impl ApiKeyRegistry for DynamoTokens {
    /// One conditional PutItem.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(key)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// A Query of `by_user` (range key `grant_id` beginning with `ak_`: keys only, no grants or
    /// tokens), then one BatchGetItem per 100 keys for the attributes the index does not project.
    async fn api_keys_of(&self, sub: &Subject) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let found = self
            .query_keys(
                "by_user",
                "user_sub = :u AND begins_with(grant_id, :p)",
                &[(":u", sub.as_str()), (":p", KEY_ID_PREFIX)],
            )
            .await?;
        let pks: Vec<String> = found
            .iter()
            .filter(|i| i.get("kind") == Some(&s("api_key")))
            .filter_map(|i| match i.get("pk") {
                Some(AttributeValue::S(pk)) => Some(pk.clone()),
                _ => None,
            })
            .collect();
        let mut keys: Vec<ApiKeyRecord> = self.batch_get_kind(&pks, "api_key", "API keys").await?;
        keys.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(keys)
    }

    /// A Query of `by_key` (on `key_id`, which only API keys carry), then a DeleteItem conditional on
    /// the item being that key. The index is eventually consistent: a key created a moment ago
    /// may not be found yet (`false`; retry).
    async fn revoke_api_key(&self, id: &GrantId) -> Result<bool, StoreError> {
        let found = self
            .query_keys("by_key", "key_id = :g", &[(":g", id.as_str())])
            .await?;
        let mut revoked = false;
        for item in found {
            let Some(AttributeValue::S(pk)) = item.get("pk") else {
                continue;
            };
            let res = self
                .db
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk))
                .condition_expression("#kind = :k AND grant_id = :g")
                .expression_attribute_names("#kind", "kind")
                .expression_attribute_values(":k", s("api_key"))
                .expression_attribute_values(":g", s(id.as_str()))
                .send()
                .await;
            match res {
                Ok(_) => revoked = true,
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        Ok(revoked)
    }
}

#[async_trait]
impl ClientGrants for DynamoTokens {
    /// Queries of `by_client` (all pages): the distinct grant ids.
    async fn grants_of_client(&self, client_id: &ClientId) -> Result<Vec<GrantId>, StoreError> {
        let found = self
            .query_keys("by_client", "client_id = :c", &[(":c", client_id.as_str())])
            .await?;
        let mut ids: Vec<String> = found
            .iter()
            .filter_map(|i| match i.get("grant_id") {
                Some(AttributeValue::S(g)) => Some(g.clone()),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids.into_iter().map(GrantId::new).collect())
    }
}

#[async_trait]
impl ClientDisable for DynamoClients {
    /// One UpdateItem, conditional on the client existing. It also removes the item's TTL (a
    /// registered or metadata-document client has one), so the disabled item stays and keeps
    /// its id out: expired, it would let the same URL or registration come back.
    async fn disable_client(&self, client_id: &ClientId, now: u64) -> Result<bool, StoreError> {
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("client_id", s(client_id.as_str()))
            .condition_expression("attribute_exists(client_id)")
            .update_expression("SET disabled = :true, disabled_at = :now REMOVE expires_at")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        applied(res)
    }
}

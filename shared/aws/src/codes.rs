//! The codes table: hash of an authorization code → [`CodeRecord`].
use crate::{applied, classify, condition_failed, from_item, n, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use portcullis_core::error::StoreError;
use portcullis_core::ids::ClientId;
use portcullis_core::model::CodeRecord;
use portcullis_core::ports::{
    jti_key, rate_key, AssertionReplay, CodeIssue, CodeRedeem, Consumed, Presenter, TokenRateLimit,
};
use portcullis_core::secret::SecretHash;

/// A code that can still be consumed, by the client `:cid`.
const LIVE: &str = "attribute_exists(pk) AND attribute_not_exists(consumed_at) \
                    AND expires_at > :now AND client_id = :cid";

#[derive(Debug, Clone)]
pub struct DynamoCodes {
    pub(crate) db: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

impl DynamoCodes {
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
        }
    }
}

#[async_trait]
impl CodeIssue for DynamoCodes {
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(code)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl CodeRedeem for DynamoCodes {
    /// One conditional UpdateItem marking the code consumed and returning it: never
    /// read-then-write, so two concurrent redemptions cannot both succeed (Cal.com's weakness 1).
    /// The condition also authenticates the presenter against the code's client snapshot (a
    /// public client by its PKCE verifier), so a request with the wrong credentials changes
    /// nothing. Only when the condition fails is the item read. The item stays until its TTL.
    async fn consume_code(
        &self,
        code_hash: &SecretHash,
        now: u64,
        presenter: Presenter<'_>,
    ) -> Result<Consumed, StoreError> {
        let mut consume = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(code_hash.as_str()))
            .update_expression("SET consumed_at = :now")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":cid", s(presenter.client_id.as_str()))
            .return_values(ReturnValue::AllNew);
        consume = match presenter.secret_hash {
            Some(h) => consume
                .condition_expression(format!("{LIVE} AND contains(client_secret_hashes, :h)"))
                .expression_attribute_values(":h", s(h.as_str())),
            // A public client: its proof is the PKCE verifier, whose S256 must be the code's
            // challenge (the challenge is not secret; the verifier is).
            None => match presenter.pkce {
                Some(c) => consume
                    .condition_expression(format!(
                        "{LIVE} AND client_public = :true AND code_challenge = :cc"
                    ))
                    .expression_attribute_values(":cc", s(c.as_str())),
                None => consume.condition_expression(format!(
                    "{LIVE} AND client_public = :true AND attribute_not_exists(code_challenge)"
                )),
            }
            .expression_attribute_values(":true", AttributeValue::Bool(true)),
        };
        self.finish_consume(code_hash, consume).await
    }

    /// One conditional UpdateItem naming the client only (the caller authenticated it against
    /// its current registration); the same read after a refusal.
    async fn consume_code_for(
        &self,
        code_hash: &SecretHash,
        now: u64,
        client_id: &ClientId,
    ) -> Result<Consumed, StoreError> {
        let consume = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(code_hash.as_str()))
            .update_expression("SET consumed_at = :now")
            .condition_expression(LIVE)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":cid", s(client_id.as_str()))
            .return_values(ReturnValue::AllNew);
        self.finish_consume(code_hash, consume).await
    }
}

impl DynamoCodes {
    async fn finish_consume(
        &self,
        code_hash: &SecretHash,
        consume: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<Consumed, StoreError> {
        match consume.send().await {
            Ok(out) => match out.attributes {
                Some(item) => Ok(Consumed::Now(from_item(item)?)),
                None => Err(StoreError::Failed(
                    "consume_code: the update returned no item".into(),
                )),
            },
            Err(e) if condition_failed(&e) => {
                let out = self
                    .db
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(code_hash.as_str()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(Consumed::Refused(out.item.map(from_item).transpose()?))
            }
            Err(e) => Err(classify(e)),
        }
    }
}

#[async_trait]
impl TokenRateLimit for DynamoCodes {
    /// One UpdateItem of `rate#<client>#<minute>`: `ADD n :one`, condition that the count is
    /// under the limit (the first request of a minute creates the item). Some 60 bytes: one
    /// write unit; the codes table has no index. The item goes at its TTL, a minute after its
    /// window (DynamoDB deletes expired items within days, so the window is in the key, not
    /// read from the TTL).
    async fn count_token(
        &self,
        client_id: &ClientId,
        window: u64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&rate_key(client_id, window)))
            .update_expression("ADD n :one SET expires_at = :ttl")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(u64::from(limit)))
            .expression_attribute_values(":ttl", n(window + 120))
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl AssertionReplay for DynamoCodes {
    /// One PutItem of `jti#<hash>`, condition: no such item, or one whose assertion has
    /// expired (TTL deletion lags, so an expired record is not trusted to be gone). Of any
    /// number of concurrent requests with one assertion, exactly one writes.
    async fn use_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&jti_key(client_id, jti)))
            .item("expires_at", n(expires_at))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        applied(res)
    }
}

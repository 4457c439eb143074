//! The codes table: hash of an authorization code → [`CodeRecord`].
use crate::{classify, from_item, n, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use portcullis_core::error::StoreError;
use portcullis_core::model::CodeRecord;
use portcullis_core::ports::{CodeIssue, CodeRedeem};
use portcullis_core::secret::SecretHash;

#[derive(Debug, Clone)]
pub struct DynamoCodes {
    db: aws_sdk_dynamodb::Client,
    table: String,
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
    /// One conditional DeleteItem returning the old item: never read-then-delete, so two
    /// concurrent redemptions cannot both succeed (Cal.com's weakness 1).
    async fn consume_code(
        &self,
        code_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<CodeRecord>, StoreError> {
        let res = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(code_hash.as_str()))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match res {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn restore_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(code)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }
}

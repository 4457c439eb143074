//! DynamoDB adapter (production). Every state change is one conditional request; expiry is in
//! every condition and read because TTL deletes items late.
use super::*;
use crate::model::{GrantRecord, ItemKind};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, Put, ReturnValue, TransactWriteItem,
    WriteRequest,
};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The table names (from configuration).
#[derive(Debug, Clone)]
pub struct Tables {
    pub clients: String,
    pub codes: String,
    pub tokens: String,
}

#[derive(Debug, Clone)]
pub struct DynamoStore {
    db: aws_sdk_dynamodb::Client,
    tables: Tables,
}

impl DynamoStore {
    pub fn new(db: aws_sdk_dynamodb::Client, tables: Tables) -> Self {
        Self { db, tables }
    }
}

/// Error codes that mean "try again later": throttling, capacity, DynamoDB's own faults.
const RETRYABLE: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Sorts an SDK failure into "unavailable" (a 503 for the caller) or "failed" (a bug or a
/// misconfiguration: a 500, with the cause in the log).
fn classify<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error()
                || s.err().code().is_some_and(|c| RETRYABLE.contains(&c))
        }
        _ => false,
    };
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    if retryable {
        StoreError::Unavailable(boxed)
    } else {
        StoreError::Failed(boxed)
    }
}

fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(Box::new(e)))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
}

#[async_trait]
impl ClientLookup for DynamoStore {
    async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.clients)
            .key("client_id", s(client_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map(from_item).transpose()
    }
}

#[async_trait]
impl ClientRegistry for DynamoStore {
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.tables.clients)
            .set_item(Some(to_item(client)?))
            .condition_expression("attribute_not_exists(client_id)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl CodeIssue for DynamoStore {
    async fn put_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        self.db
            .put_item()
            .table_name(&self.tables.codes)
            .set_item(Some(to_item(code)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl CodeRedeem for DynamoStore {
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
            .table_name(&self.tables.codes)
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
            .table_name(&self.tables.codes)
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

#[async_trait]
impl TokenIssue for DynamoStore {
    /// One TransactWriteItems: the grant, both tokens, and a ConditionCheck on the client item.
    async fn issue_tokens(&self, i: &Issuance) -> Result<IssueOutcome, StoreError> {
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let p = Put::builder()
                .table_name(&self.tables.tokens)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            Ok(TransactWriteItem::builder().put(p).build())
        };
        let mut check = ConditionCheck::builder()
            .table_name(&self.tables.clients)
            .key("client_id", s(&i.client_check.client_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        check = match &i.client_check.secret_hash {
            Some(h) => check
                .condition_expression("attribute_exists(client_id) AND disabled = :false AND contains(secret_hashes, :h)")
                .expression_attribute_values(":h", s(h.as_str())),
            None => check.condition_expression("attribute_exists(client_id) AND disabled = :false"),
        };
        let items = vec![
            put(to_item(&i.grant)?)?,
            put(to_item(&i.access)?)?,
            put(to_item(&i.refresh)?)?,
            TransactWriteItem::builder()
                .condition_check(check.build().map_err(build_err)?)
                .build(),
        ];
        let res = self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(IssueOutcome::Issued),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    e.as_service_error()
                {
                    let reasons = tc.cancellation_reasons();
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if failed(0) {
                        // The grant's id is derived from the code: it was exchanged already.
                        return Ok(IssueOutcome::AlreadyIssued);
                    }
                    // Items in order: grant, access, refresh, client check.
                    if failed(3) {
                        return Ok(IssueOutcome::ClientRejected);
                    }
                    let conflict = reasons
                        .iter()
                        .filter_map(|r| r.code())
                        .any(|c| c == "TransactionConflict" || c == "ThrottlingError");
                    if conflict {
                        return Err(StoreError::Unavailable(Box::new(e)));
                    }
                }
                Err(classify(e))
            }
        }
    }
}

#[async_trait]
impl TokenLookup for DynamoStore {
    async fn token(
        &self,
        token_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.tokens)
            .key("pk", s(token_hash.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // A grant record is not a token, whatever hash is presented.
        if item.get("kind") == Some(&s("grant")) {
            return Ok(None);
        }
        let rec: TokenRecord = from_item(item)?;
        Ok((rec.expires_at > now && rec.kind != ItemKind::Grant).then_some(rec))
    }
}

#[async_trait]
impl GrantRevocation for DynamoStore {
    async fn revoke_grant(&self, grant_id: &str) -> Result<usize, StoreError> {
        let mut keys: Vec<String> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.tables.tokens)
                .index_name("by_grant")
                .key_condition_expression("grant_id = :g")
                .expression_attribute_values(":g", s(grant_id))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in out.items() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    if !keys.contains(pk) {
                        keys.push(pk.clone());
                    }
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        if keys.is_empty() {
            return Ok(0);
        }
        let found = keys.len();
        // The index is eventually consistent: name the grant record itself too.
        let grant_key = GrantRecord::key(grant_id);
        if !keys.contains(&grant_key) {
            keys.push(grant_key);
        }
        for chunk in keys.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|pk| {
                    DeleteRequest::builder()
                        .key("pk", s(pk))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(build_err)
                })
                .collect::<Result<_, _>>()?;
            // BatchWriteItem may hand some requests back unprocessed; retry those a few times.
            for attempt in 0..5u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .db
                    .batch_write_item()
                    .request_items(&self.tables.tokens, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(classify)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.tables.tokens))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "revocation left unprocessed items".into(),
                ));
            }
        }
        Ok(found)
    }
}

//! The tokens table: access and refresh tokens (by hash) and grant records (`grant#<id>`), with
//! the `by_grant` index for revocation.
use crate::{build_err, Item};
use crate::{classify, from_item, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, DeleteRequest, Put, TransactWriteItem, WriteRequest,
};
use portcullis_core::error::StoreError;
use portcullis_core::ids::GrantId;
use portcullis_core::model::{GrantRecord, Issuance, ItemKind, TokenRecord};
use portcullis_core::ports::{GrantRevocation, IssueOutcome, TokenIssue, TokenLookup};
use portcullis_core::secret::SecretHash;

#[derive(Debug, Clone)]
pub struct DynamoTokens {
    db: aws_sdk_dynamodb::Client,
    table: String,
    /// Named by issuance's condition check on the client; never read.
    clients_table: Option<String>,
}

impl DynamoTokens {
    /// For looking tokens up and revoking them.
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            clients_table: None,
        }
    }

    /// For issuing tokens too: issuance checks the client item in the same transaction.
    pub fn issuing(
        db: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        clients_table: impl Into<String>,
    ) -> Self {
        Self {
            clients_table: Some(clients_table.into()),
            ..Self::new(db, table)
        }
    }
}

/// The parts of an issuance's transaction, by name: a cancellation's reasons come back in the
/// order of the items, and are read through these names, never by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Grant,
    Access,
    Refresh,
    ClientCheck,
}

#[async_trait]
impl TokenIssue for DynamoTokens {
    /// One TransactWriteItems: the grant, both tokens, and a ConditionCheck on the client item.
    async fn issue_tokens(&self, i: &Issuance) -> Result<IssueOutcome, StoreError> {
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let p = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            Ok(TransactWriteItem::builder().put(p).build())
        };
        let Some(clients_table) = &self.clients_table else {
            return Err(StoreError::Failed(
                "this tokens adapter was built without the clients table (DynamoTokens::issuing)"
                    .into(),
            ));
        };
        let mut check = ConditionCheck::builder()
            .table_name(clients_table)
            .key("client_id", s(&i.client_check.client_id))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        check = match &i.client_check.secret_hash {
            Some(h) => check
                .condition_expression("attribute_exists(client_id) AND disabled = :false AND contains(secret_hashes, :h)")
                .expression_attribute_values(":h", s(h.as_str())),
            None => check.condition_expression("attribute_exists(client_id) AND disabled = :false"),
        };
        let (parts, items): (Vec<Part>, Vec<TransactWriteItem>) = [
            (Part::Grant, put(to_item(&i.grant)?)?),
            (Part::Access, put(to_item(&i.access)?)?),
            (Part::Refresh, put(to_item(&i.refresh)?)?),
            (
                Part::ClientCheck,
                TransactWriteItem::builder()
                    .condition_check(check.build().map_err(build_err)?)
                    .build(),
            ),
        ]
        .into_iter()
        .unzip();
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
                    let failed = |part: Part| {
                        parts.iter().zip(reasons).any(|(p, r)| {
                            *p == part && r.code().is_some_and(|c| c == "ConditionalCheckFailed")
                        })
                    };
                    if failed(Part::Grant) {
                        // The grant's id is derived from the code: it was exchanged already.
                        return Ok(IssueOutcome::AlreadyIssued);
                    }
                    if failed(Part::ClientCheck) {
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
impl TokenLookup for DynamoTokens {
    async fn token(
        &self,
        token_hash: &SecretHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
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
impl GrantRevocation for DynamoTokens {
    async fn revoke_grant(&self, grant_id: &GrantId) -> Result<usize, StoreError> {
        let mut keys: Vec<String> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .db
                .query()
                .table_name(&self.table)
                .index_name("by_grant")
                .key_condition_expression("grant_id = :g")
                .expression_attribute_values(":g", s(grant_id.as_str()))
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
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(classify)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
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

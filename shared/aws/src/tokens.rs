//! The tokens table: access and refresh tokens (by hash) and grant records (`grant#<id>`), with
//! the `by_grant` index for revocation.
use crate::{applied, build_err, condition_failed, Item};
use crate::{classify, from_item, n, s, to_item};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, ReturnValue,
    TransactWriteItem, Update, WriteRequest,
};
use portcullis_core::client_auth::AuthenticatedClient;
use portcullis_core::error::StoreError;
use portcullis_core::ids::{ClientId, GrantId};
use portcullis_core::model::{GrantRecord, Issuance, ItemKind, TokenRecord};
use portcullis_core::ports::{
    AccessTokenLookup, AccessTokenRevocation, GrantRevocation, IssueOutcome, RefreshRotation,
    RotateOutcome, Rotation, RotationKind, TokenIssue, TokenLookup,
};
use portcullis_core::secret::{AccessToken, SecretHash};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct DynamoTokens {
    pub(crate) db: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
    /// Named by the issuing and refreshing transactions' condition check on the client.
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

    /// With the clients table: issuing and refreshing check the client item in the same
    /// transaction, and [`AccessTokenLookup`] reads it beside the token.
    pub fn with_clients(
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

impl DynamoTokens {
    fn clients_table(&self) -> Result<&str, StoreError> {
        self.clients_table.as_deref().ok_or_else(|| {
            StoreError::Failed(
                "this tokens adapter was built without the clients table (DynamoTokens::with_clients)"
                    .into(),
            )
        })
    }

    /// The transaction part that checks the client at `now`: it exists, is enabled and, for a
    /// confidential client, still has the secret that authenticated the request, not past a
    /// rotation's overlap ([`portcullis_core::model::Client::secret_is_live`]).
    fn client_check(
        &self,
        client: &AuthenticatedClient,
        now: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let clients_table = self.clients_table()?;
        // Exists and enabled.
        const STANDING: &str = "attribute_exists(client_id) AND disabled = :false";
        let mut check = ConditionCheck::builder()
            .table_name(clients_table)
            .key("client_id", s(client.client_id.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        check = match &client.secret_hash {
            Some(h) => check
                .expression_attribute_values(":now", n(now))
                .condition_expression(format!(
                    "{STANDING} AND contains(secret_hashes, :h) \
                     AND (attribute_not_exists(secret_retiring) OR secret_retiring.#hash <> :h \
                     OR secret_retiring.#until > :now)"
                ))
                .expression_attribute_names("#hash", "hash")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":h", s(h.as_str())),
            None => check.condition_expression(STANDING),
        };
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(build_err)?)
            .build())
    }

    fn put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }
}

/// The parts of a refresh's transaction, by name (see [`Part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshPart {
    OldRefresh,
    SeenAccess,
    SeenRefresh,
    Access,
    Refresh,
    Grant,
}

#[async_trait]
impl RefreshRotation for DynamoTokens {
    /// One BatchGetItem, strongly consistent: the refresh token's item and its client's item.
    async fn refresh_record_and_client(
        &self,
        hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<(Option<TokenRecord>, Option<portcullis_core::model::Client>), StoreError> {
        let clients_table = self.clients_table()?;
        let mut found = self
            .batch_get_two(
                Self::one_key("pk", hash.as_str())?,
                clients_table,
                Self::one_key("client_id", client_id.as_str())?,
            )
            .await?;
        let token = found
            .remove(&self.table)
            .and_then(|items| items.into_iter().next())
            .filter(|item| item.get("kind") == Some(&s("refresh")))
            .map(from_item)
            .transpose()?;
        let client = found
            .remove(clients_table)
            .and_then(|items| items.into_iter().next())
            .map(from_item)
            .transpose()?;
        Ok((token, client))
    }

    /// One TransactWriteItems: the presented token's conditional update (retire, extend, or
    /// count a grace retry), the grace retry's deletion of the pair the first use issued, the
    /// new tokens, the client check, and the grant's update (which fails once it is revoked).
    async fn rotate(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        const ACTIVE: &str =
            "attribute_exists(pk) AND attribute_not_exists(retired_at) AND expires_at > :now";
        let mut parts: Vec<(RefreshPart, TransactWriteItem)> = Vec::new();
        let new_refresh = r.refresh.as_ref().map(|t| t.pk.clone());
        let next_refresh = new_refresh.clone().unwrap_or_else(|| r.old.clone());
        let old = Update::builder()
            .table_name(&self.table)
            .key("pk", s(r.old.as_str()))
            .expression_attribute_values(":keep", n(r.old_expires_at));
        let old = match &r.kind {
            RotationKind::Extend => old
                .condition_expression(ACTIVE)
                .update_expression("SET expires_at = :keep")
                .expression_attribute_values(":now", n(r.now)),
            RotationKind::Rotate => old
                .condition_expression(ACTIVE)
                .update_expression(
                    "SET retired_at = :now, next_access = :na, next_refresh = :nr, expires_at = :keep",
                )
                .expression_attribute_values(":now", n(r.now))
                .expression_attribute_values(":na", s(r.access.pk.as_str()))
                .expression_attribute_values(":nr", s(next_refresh.as_str())),
            RotationKind::GraceRetry {
                seen_retries,
                seen_next_refresh,
                ..
            } => {
                let retries = if *seen_retries == 0 {
                    "(attribute_not_exists(retries) OR retries = :seen)"
                } else {
                    "retries = :seen"
                };
                old.condition_expression(format!(
                    "attribute_exists(retired_at) AND next_refresh = :seen_next AND {retries}"
                ))
                .update_expression(
                    "SET retries = :more, next_access = :na, next_refresh = :nr, expires_at = :keep",
                )
                .expression_attribute_values(":seen", n(u64::from(*seen_retries)))
                .expression_attribute_values(":more", n(u64::from(*seen_retries) + 1))
                .expression_attribute_values(":seen_next", s(seen_next_refresh.as_str()))
                .expression_attribute_values(":na", s(r.access.pk.as_str()))
                .expression_attribute_values(":nr", s(next_refresh.as_str()))
            }
        };
        parts.push((
            RefreshPart::OldRefresh,
            TransactWriteItem::builder()
                .update(old.build().map_err(build_err)?)
                .build(),
        ));
        if let RotationKind::GraceRetry {
            seen_next_access,
            seen_next_refresh,
            ..
        } = &r.kind
        {
            let access = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(seen_next_access.as_str()))
                .build()
                .map_err(build_err)?;
            // Only while the first use's refresh token is unused: otherwise a second branch
            // has started, and this is reuse. It is retired, not deleted (review finding 2): if
            // whoever holds it uses it later, that is reuse and the grant ends, so a thief who
            // retried after the client cannot keep the grant quietly.
            let refresh = Update::builder()
                .table_name(&self.table)
                .key("pk", s(seen_next_refresh.as_str()))
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(retired_at)")
                .update_expression("SET retired_at = :now")
                .expression_attribute_values(":now", n(r.now))
                .build()
                .map_err(build_err)?;
            parts.push((
                RefreshPart::SeenAccess,
                TransactWriteItem::builder().delete(access).build(),
            ));
            parts.push((
                RefreshPart::SeenRefresh,
                TransactWriteItem::builder().update(refresh).build(),
            ));
        }
        parts.push((RefreshPart::Access, self.put(to_item(&r.access)?)?));
        if let Some(t) = &r.refresh {
            parts.push((RefreshPart::Refresh, self.put(to_item(t)?)?));
        }
        let grant = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&GrantRecord::key(&r.grant_id)))
            // A revoked grant is a tombstone: its refresh fails here.
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .update_expression(
                "SET previous_access = latest_access, latest_access = :la, latest_refresh = :lr, \
                 expires_at = :end, refreshed_at = :now",
            )
            .expression_attribute_values(":now", n(r.now))
            .expression_attribute_values(":la", s(r.access.pk.as_str()))
            .expression_attribute_values(":lr", s(next_refresh.as_str()))
            .expression_attribute_values(":end", n(r.grant_expires_at))
            .build()
            .map_err(build_err)?;
        parts.push((
            RefreshPart::Grant,
            TransactWriteItem::builder().update(grant).build(),
        ));

        let (names, items): (Vec<RefreshPart>, Vec<TransactWriteItem>) = parts.into_iter().unzip();
        let res = self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let e = match res {
            Ok(_) => return Ok(RotateOutcome::Rotated),
            Err(e) => e,
        };
        let failed = failed_parts(&e, &names);
        if failed.contains(&RefreshPart::Grant) {
            return Ok(RotateOutcome::GrantRevoked);
        }
        if failed.contains(&RefreshPart::OldRefresh) || failed.contains(&RefreshPart::SeenRefresh) {
            return Ok(RotateOutcome::TokenChanged);
        }
        Err(transaction_error(e))
    }
}

impl DynamoTokens {
    /// Items by key, kept only if of `kind`: one consistent BatchGetItem per 100 keys, keys the
    /// store hands back unprocessed asked for again a few times (`what` names them in the
    /// error when some stay unprocessed).
    pub(crate) async fn batch_get_kind<T: serde::de::DeserializeOwned>(
        &self,
        pks: &[String],
        kind: &str,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut found: Vec<T> = Vec::new();
        for chunk in pks.chunks(100) {
            let mut pending = Some(
                chunk
                    .iter()
                    .fold(KeysAndAttributes::builder(), |b, pk| {
                        b.keys(Item::from([("pk".to_string(), s(pk))]))
                    })
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?,
            );
            for attempt in 0..5u32 {
                let Some(request) = pending.take() else {
                    break;
                };
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .db
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(classify)?;
                if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    for item in items {
                        if item.get("kind") == Some(&s(kind)) {
                            found.push(from_item(item)?);
                        }
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut m| m.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable(
                    format!("reading {what} left unprocessed keys").into(),
                ));
            }
        }
        Ok(found)
    }

    /// Every item key an index query returns (all pages).
    pub(crate) async fn query_keys(
        &self,
        index: &str,
        condition: &str,
        values: &[(&str, &str)],
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .db
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_exclusive_start_key(start.take());
            for (k, v) in values {
                q = q.expression_attribute_values(*k, s(v));
            }
            let out = q.send().await.map_err(classify)?;
            found.extend(out.items().iter().cloned());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(found),
            }
        }
    }

    /// One strongly consistent GetItem by key, kept only if the item is of `kind`.
    pub(crate) async fn get_kind<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        kind: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match out.item {
            Some(item) if item.get("kind") == Some(&s(kind)) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }
}

impl DynamoTokens {
    /// One strongly consistent BatchGetItem of one key in the tokens table and one in
    /// `clients_table`; keys handed back unprocessed (throttling) are asked for again, briefly.
    async fn batch_get_two(
        &self,
        token_keys: KeysAndAttributes,
        clients_table: &str,
        client_keys: KeysAndAttributes,
    ) -> Result<HashMap<String, Vec<Item>>, StoreError> {
        let mut request = HashMap::from([
            (self.table.clone(), token_keys),
            (clients_table.to_string(), client_keys),
        ]);
        let mut found: HashMap<String, Vec<Item>> = HashMap::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .db
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(classify)?;
            for (table, items) in out.responses.unwrap_or_default() {
                found.entry(table).or_default().extend(items);
            }
            request = out.unprocessed_keys.unwrap_or_default();
            if request.is_empty() {
                return Ok(found);
            }
        }
        Err(StoreError::Unavailable(
            "a two-table read left keys unprocessed".into(),
        ))
    }

    fn one_key(name: &str, value: &str) -> Result<KeysAndAttributes, StoreError> {
        KeysAndAttributes::builder()
            .keys(HashMap::from([(name.to_string(), s(value))]))
            .consistent_read(true)
            .build()
            .map_err(build_err)
    }
}

type TransactError = aws_sdk_dynamodb::error::SdkError<
    TransactWriteItemsError,
    aws_sdk_dynamodb::config::http::HttpResponse,
>;

/// The parts of a cancelled transaction whose condition failed. `parts` names the items in the
/// order they were sent; a cancellation's reasons come back in that order and are read through
/// the names, never by position.
fn failed_parts<P: Copy>(e: &TransactError, parts: &[P]) -> Vec<P> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(tc)) => parts
            .iter()
            .zip(tc.cancellation_reasons())
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(p, _)| *p)
            .collect(),
        _ => Vec::new(),
    }
}

/// A transaction failure that is not a failed condition: a conflict with another transaction or
/// throttling inside it is worth a retry (503); anything else is classified as usual.
fn transaction_error(e: TransactError) -> StoreError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) = e.as_service_error() {
        let conflict = tc
            .cancellation_reasons()
            .iter()
            .filter_map(|r| r.code())
            .any(|c| c == "TransactionConflict" || c == "ThrottlingError");
        if conflict {
            return StoreError::Unavailable(Box::new(e));
        }
    }
    classify(e)
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
        let put = |item: Item| self.put(item);
        let check = self.client_check(&i.client_check, i.grant.created_at)?;
        let (parts, items): (Vec<Part>, Vec<TransactWriteItem>) = [
            (Part::Grant, put(to_item(&i.grant)?)?),
            (Part::Access, put(to_item(&i.access)?)?),
            (Part::Refresh, put(to_item(&i.refresh)?)?),
            (Part::ClientCheck, check),
        ]
        .into_iter()
        .unzip();
        let res = self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let e = match res {
            Ok(_) => return Ok(IssueOutcome::Issued),
            Err(e) => e,
        };
        let failed = failed_parts(&e, &parts);
        if failed.contains(&Part::Grant) {
            // The grant's id is derived from the code: it was exchanged already.
            return Ok(IssueOutcome::AlreadyIssued);
        }
        if failed.contains(&Part::ClientCheck) {
            return Ok(IssueOutcome::ClientRejected);
        }
        Err(transaction_error(e))
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
        // A grant record or an API key is not a token, whatever hash is presented.
        if item.get("kind") == Some(&s("grant")) || item.get("kind") == Some(&s("api_key")) {
            return Ok(None);
        }
        let rec: TokenRecord = from_item(item)?;
        Ok(
            (rec.expires_at > now && rec.kind != ItemKind::Grant && rec.retired_at.is_none())
                .then_some(rec),
        )
    }

    async fn refresh_token_item(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<TokenRecord>, StoreError> {
        self.get_kind(token_hash.as_str(), "refresh").await
    }
}

#[async_trait]
impl AccessTokenLookup for DynamoTokens {
    /// One BatchGetItem, strongly consistent: the token's item and its client's item (only the
    /// attributes the check needs).
    async fn access_token(
        &self,
        token: &AccessToken,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let Some(client_id) = token.client_id() else {
            return Ok(None);
        };
        let clients_table = self.clients_table()?;
        let token_keys = Self::one_key("pk", token.hash().as_str())?;
        let client_keys = KeysAndAttributes::builder()
            .keys(HashMap::from([(
                "client_id".to_string(),
                s(client_id.as_str()),
            )]))
            .consistent_read(true)
            .projection_expression("client_id, disabled")
            .build()
            .map_err(build_err)?;
        let mut found = self
            .batch_get_two(token_keys, clients_table, client_keys)
            .await?;
        let client_ok = found
            .remove(clients_table)
            .and_then(|items| items.into_iter().next())
            .is_some_and(|c| c.get("disabled") != Some(&AttributeValue::Bool(true)));
        let Some(item) = found
            .remove(&self.table)
            .and_then(|items| items.into_iter().next())
        else {
            return Ok(None);
        };
        if !client_ok || item.get("kind") != Some(&s("access")) {
            return Ok(None);
        }
        let rec: TokenRecord = from_item(item)?;
        Ok(rec.is_live_access_token_of(&client_id, now).then_some(rec))
    }
}

#[async_trait]
impl AccessTokenRevocation for DynamoTokens {
    /// One DeleteItem, conditional on the item being an access token of `client_id`.
    async fn revoke_access_token(
        &self,
        token_hash: &SecretHash,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(token_hash.as_str()))
            .condition_expression("#kind = :access AND token_client = :client")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":access", s("access"))
            .expression_attribute_values(":client", s(client_id.as_str()))
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl GrantRevocation for DynamoTokens {
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<GrantRecord>, StoreError> {
        self.get_kind(&GrantRecord::key(grant_id), "grant").await
    }

    async fn revoke_grant(&self, grant_id: &GrantId) -> Result<usize, StoreError> {
        // The grant item first, made a tombstone: from here on every refresh of this grant and
        // any racing exchange for it fail their conditions, and the old item names the newest
        // tokens, which the index may not show yet.
        let grant_key = GrantRecord::key(grant_id);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&grant_key))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .update_expression(
                "SET revoked_at = :now REMOVE latest_access, latest_refresh, previous_access",
            )
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match res {
            Ok(out) => out.attributes,
            // No such grant, or revoked already: its tokens are still swept below.
            Err(e) if condition_failed(&e) => None,
            Err(e) => return Err(classify(e)),
        };
        let mut keys: Vec<String> = Vec::new();
        let mut deleted = 0;
        if let Some(item) = old {
            deleted += 1;
            for name in ["latest_access", "latest_refresh", "previous_access"] {
                if let Some(AttributeValue::S(pk)) = item.get(name) {
                    keys.push(pk.clone());
                }
            }
        }
        let by_grant = self
            .query_keys("by_grant", "grant_id = :g", &[(":g", grant_id.as_str())])
            .await?;
        for item in by_grant {
            if let Some(AttributeValue::S(pk)) = item.get("pk") {
                if !keys.contains(pk) {
                    keys.push(pk.clone());
                }
            }
        }
        keys.retain(|k| *k != grant_key);
        if keys.is_empty() {
            return Ok(deleted);
        }
        let found = keys.len() + deleted;
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

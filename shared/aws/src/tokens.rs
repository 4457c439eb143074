//! The tokens table: one item per grant (`grant#<id>`, [`portcullis_core::model::Grant`]),
//! which every token names, and API keys (by their hash). Each flow is one request on the hot
//! path: a grant is written once (PutItem), moved by one conditional UpdateItem per refresh,
//! revoked by one UpdateItem, and checked by one BatchGetItem with its client. No transaction,
//! nothing on the client item, no index on the hot path (`docs/architecture.md`).
use crate::{applied, build_err, classify, from_item, n, s, to_item, value, Item, UpdateExpr};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use portcullis_core::error::StoreError;
use portcullis_core::ids::{ClientId, GrantId};
use portcullis_core::model::{Client, Grant, ItemKind};
use portcullis_core::ports::{
    AccessRevocation, AccessSlot, GrantAdvance, GrantLookup, GrantRead, GrantRevocation, GrantStart,
};
use portcullis_core::secret::SecretHash;
use std::collections::HashMap;

/// A client's own token (client credentials) as stored: a grant with no user and no refresh
/// token, in a shape of its own with none of the tokens table's index key attributes
/// (`client_id`, `user_sub`, `key_id`, `grant_id`), so its PutItem is one write unit and writes
/// no index entry. Its client is `holder`, not `client_id`. It is read back as a
/// [`Grant`] of kind [`ItemKind::Machine`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MachineItem {
    pub pk: String,
    pub kind: ItemKind,
    pub holder: ClientId,
    pub scopes: Vec<String>,
    pub created_at: u64,
    /// The token's end, and the table's TTL.
    pub expires_at: u64,
    /// Removed when the token is revoked (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_hash: Option<SecretHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// RFC 8707: the resource the token is bound to (its `aud`), when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl MachineItem {
    pub fn of(g: &Grant) -> Self {
        Self {
            pk: g.pk.clone(),
            kind: ItemKind::Machine,
            holder: g.client_id.clone(),
            scopes: g.scopes.clone(),
            created_at: g.created_at,
            expires_at: g.access_expires_at,
            access_hash: g.access_hash.clone(),
            revoked_at: g.revoked_at,
            resource: g.resource.clone(),
        }
    }

    pub fn into_grant(self) -> Result<Grant, StoreError> {
        let id = self
            .pk
            .strip_prefix("grant#")
            .ok_or_else(|| StoreError::Corrupt("a machine item whose key is not grant#…".into()))?;
        let mut g = Grant::machine(
            GrantId::new(id),
            self.holder,
            self.scopes,
            self.created_at,
            self.expires_at,
            self.access_hash,
        );
        g.revoked_at = self.revoked_at;
        g.resource = self.resource;
        Ok(g)
    }
}

/// A `grant#…` item of either shape, or `None` for any other kind.
pub(crate) fn grant_from_item(item: Item) -> Result<Option<Grant>, StoreError> {
    let kind = item.get("kind").cloned();
    if kind == Some(s("grant")) {
        Ok(Some(from_item(item)?))
    } else if kind == Some(s("machine")) {
        Ok(Some(from_item::<MachineItem>(item)?.into_grant()?))
    } else {
        Ok(None)
    }
}

#[derive(Debug, Clone)]
pub struct DynamoTokens {
    pub(crate) db: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
    /// Read beside a grant ([`GrantRead`]).
    clients_table: Option<String>,
}

impl DynamoTokens {
    /// For the operator's listings and revocations, and API keys.
    pub fn new(db: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            db,
            table: table.into(),
            clients_table: None,
        }
    }

    /// With the clients table, which [`GrantRead`] reads beside the grant.
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

    pub(crate) fn clients_table(&self) -> Result<&str, StoreError> {
        self.clients_table.as_deref().ok_or_else(|| {
            StoreError::Failed(
                "this tokens adapter was built without the clients table (DynamoTokens::with_clients)"
                    .into(),
            )
        })
    }
}

#[async_trait]
impl GrantLookup for DynamoTokens {
    /// One strongly consistent GetItem.
    async fn grant(&self, grant_id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&Grant::key(grant_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item.map_or(Ok(None), grant_from_item)
    }
}

#[async_trait]
impl GrantStart for DynamoTokens {
    /// One PutItem, condition `attribute_not_exists(pk)`: the grant id is derived from the
    /// code, so a second exchange of one code (or an exchange racing a revocation's
    /// tombstone) writes nothing.
    /// A client's own token ([`ItemKind::Machine`]) is written as a [`MachineItem`].
    async fn start_grant(&self, grant: &Grant) -> Result<bool, StoreError> {
        let item = if grant.is_machine() {
            to_item(&MachineItem::of(grant))?
        } else {
            to_item(grant)?
        };
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl GrantRead for DynamoTokens {
    /// One BatchGetItem: the grant item and the client items (only what the checks need).
    async fn grant_and_clients(
        &self,
        grant_id: &GrantId,
        clients: &[&ClientId],
        consistent: bool,
    ) -> Result<(Option<Grant>, Vec<Client>), StoreError> {
        let clients_table = self.clients_table()?;
        let grant_keys = KeysAndAttributes::builder()
            .keys(HashMap::from([(
                "pk".to_string(),
                s(&Grant::key(grant_id)),
            )]))
            .consistent_read(consistent)
            .build()
            .map_err(build_err)?;
        // Only ids that can be a client's, each once (DynamoDB refuses a batch with a key twice).
        let mut ids: Vec<&ClientId> = Vec::new();
        for c in clients.iter().copied().filter(|c| c.is_well_formed()) {
            if !ids.contains(&c) {
                ids.push(c);
            }
        }
        let mut request = HashMap::from([(self.table.clone(), grant_keys)]);
        if !ids.is_empty() {
            let keys = ids
                .iter()
                .fold(KeysAndAttributes::builder(), |b, c| {
                    b.keys(HashMap::from([("client_id".to_string(), s(c.as_str()))]))
                })
                .consistent_read(consistent)
                .build()
                .map_err(build_err)?;
            request.insert(clients_table.to_string(), keys);
        }
        let mut found = self.batch_get(request).await?;
        let grant = match found
            .remove(&self.table)
            .and_then(|items| items.into_iter().next())
        {
            Some(item) => grant_from_item(item)?,
            None => None,
        };
        let clients = found
            .remove(clients_table)
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Client>, _>>()?;
        Ok((grant, clients))
    }
}

#[async_trait]
impl GrantAdvance for DynamoTokens {
    /// One UpdateItem of the grant, condition `attribute_exists(pk) AND generation = :seen AND
    /// attribute_not_exists(revoked_at)`. It changes no index key and no projected attribute,
    /// so it writes no index: one write unit for an item under 1 KB.
    async fn advance(&self, next: &Grant, seen: u32) -> Result<bool, StoreError> {
        let mut u = UpdateExpr::default();
        u.set("generation", n(u64::from(next.generation)));
        u.set("rotated_at", n(next.rotated_at));
        u.set("refresh_expires_at", n(next.refresh_expires_at));
        u.set("access_expires_at", n(next.access_expires_at));
        u.set(
            "previous_access_expires_at",
            n(next.previous_access_expires_at),
        );
        u.set("expires_at", n(next.expires_at));
        u.set("scopes", value(&next.scopes)?);
        let hashes = [
            ("refresh_hash", &next.refresh_hash),
            ("access_hash", &next.access_hash),
            ("previous_access_hash", &next.previous_access_hash),
        ];
        for (name, h) in hashes {
            match h {
                Some(h) => u.set(name, s(h.as_str())),
                None => u.remove(name),
            }
        }
        for (name, v) in [
            ("access_scopes", &next.access_scopes),
            ("previous_access_scopes", &next.previous_access_scopes),
        ] {
            match v {
                Some(v) => u.set(name, value(v)?),
                None => u.remove(name),
            }
        }
        match next.refreshed_at {
            Some(t) => u.set("refreshed_at", n(t)),
            None => u.remove("refreshed_at"),
        }
        let mut req = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&Grant::key(&next.grant_id)))
            .update_expression(u.expression())
            .condition_expression(
                "attribute_exists(pk) AND #generation = :seen AND attribute_not_exists(revoked_at)",
            )
            .expression_attribute_values(":seen", n(u64::from(seen)))
            // Capacity is billed the same either way; the item comes back so that `make
            // bench`'s meter sees its size (the larger of before and after is what is billed).
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        for (k, v) in u.names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in u.values {
            req = req.expression_attribute_values(k, v);
        }
        applied(req.send().await)
    }
}

#[async_trait]
impl GrantRevocation for DynamoTokens {
    /// One UpdateItem: `SET revoked_at`, condition `attribute_exists(pk) AND
    /// attribute_not_exists(revoked_at)`. From that write on no token of the grant is accepted
    /// anywhere, with no index in the way.
    async fn revoke_grant(&self, grant_id: &GrantId, now: u64) -> Result<bool, StoreError> {
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&Grant::key(grant_id)))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .update_expression("SET revoked_at = :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        applied(res)
    }
}

#[async_trait]
impl AccessRevocation for DynamoTokens {
    /// One UpdateItem: `REMOVE` the slot's hash, condition that it still holds `hash`.
    async fn revoke_access(
        &self,
        grant_id: &GrantId,
        slot: AccessSlot,
        hash: &SecretHash,
    ) -> Result<bool, StoreError> {
        let attribute = match slot {
            AccessSlot::Current => "access_hash",
            AccessSlot::Previous => "previous_access_hash",
        };
        let res = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&Grant::key(grant_id)))
            .condition_expression("#slot = :h")
            .update_expression("REMOVE #slot")
            .expression_attribute_names("#slot", attribute)
            .expression_attribute_values(":h", s(hash.as_str()))
            .send()
            .await;
        applied(res)
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
    /// One BatchGetItem; keys handed back unprocessed (throttling) are asked for again, briefly.
    async fn batch_get(
        &self,
        request: HashMap<String, KeysAndAttributes>,
    ) -> Result<HashMap<String, Vec<Item>>, StoreError> {
        batch_get(&self.db, request).await
    }
}

/// One BatchGetItem, with up to two retries of unprocessed keys (DynamoDB returns some under
/// throttling); what is still unprocessed then is a 503.
pub(crate) async fn batch_get(
    db: &aws_sdk_dynamodb::Client,
    mut request: HashMap<String, KeysAndAttributes>,
) -> Result<HashMap<String, Vec<Item>>, StoreError> {
    let mut found: HashMap<String, Vec<Item>> = HashMap::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
        }
        let out = db
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
        "a batch read left keys unprocessed".into(),
    ))
}

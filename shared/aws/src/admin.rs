//! The operator's adapters (`portcullis_core::ports::admin`): the clients table's scan, update,
//! rotation and delete, and grants by user or by client through the tokens table's indexes.
use crate::{applied, classify, condition_failed, from_item, n, s, value, Item, UpdateExpr};
use crate::{DynamoClients, DynamoTokens};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use portcullis_core::error::StoreError;
use portcullis_core::ids::{ClientId, Subject};
use portcullis_core::model::{Client, Grant};
use portcullis_core::ports::{
    ClientChange, ClientChanges, ClientDirectory, ClientLookup, ClientRemoval, ClientUpdate,
    GrantListing, SecretRotation,
};

impl DynamoClients {
    /// One conditional UpdateItem returning the new item; on a failed condition, one GetItem
    /// (that path only) to say why.
    async fn conditional_update(
        &self,
        client_id: &ClientId,
        update: UpdateExpr,
        condition: &str,
        condition_names: &[(&str, &str)],
        condition_values: Vec<(String, AttributeValue)>,
    ) -> Result<ClientChange, StoreError> {
        let mut req = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("client_id", s(client_id.as_str()))
            .update_expression(update.expression())
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew);
        for (k, v) in update.names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in condition_names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in update.values.into_iter().chain(condition_values) {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(out) => match out.attributes {
                Some(item) => Ok(ClientChange::Done(Box::new(from_item(item)?))),
                None => Err(StoreError::Failed(
                    "UpdateItem with ALL_NEW returned no item".into(),
                )),
            },
            Err(e) if condition_failed(&e) => Ok(match self.client(client_id).await? {
                None => ClientChange::NotFound,
                Some(c) if c.public => ClientChange::Public,
                Some(_) => ClientChange::Changed,
            }),
            Err(e) => Err(classify(e)),
        }
    }
}

impl DynamoClients {
    /// Scan, every page, the items whose `kind` passes `filter` (`#kind` in it; `:resource`
    /// bound to the resource kind when it is used): clients and resources share the table.
    async fn scan_kind<T: serde::de::DeserializeOwned>(
        &self,
        filter: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .db
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .expression_attribute_names("#kind", "kind")
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if filter.contains(":resource") {
                req = req
                    .expression_attribute_values(":resource", s(portcullis_core::resource::KIND));
            }
            let out = req.send().await.map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                found.push(from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(found),
            }
        }
    }
}

#[async_trait]
impl ClientDirectory for DynamoClients {
    /// Scan, every page (the clients table is small: one item per app). Resources (RFC 8707)
    /// share the table, marked by `kind`; clients have none.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.scan_kind("attribute_not_exists(#kind)").await
    }
}

#[async_trait]
impl portcullis_core::ports::ResourceRegistry for DynamoClients {
    /// One conditional PutItem.
    async fn create_resource(
        &self,
        r: &portcullis_core::resource::Resource,
    ) -> Result<bool, StoreError> {
        let res = self
            .db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(crate::to_item(r)?))
            .condition_expression("attribute_not_exists(client_id)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }

    /// Scan, every page, resources only, by URI.
    async fn list_resources(&self) -> Result<Vec<portcullis_core::resource::Resource>, StoreError> {
        let mut all: Vec<portcullis_core::resource::Resource> =
            self.scan_kind("#kind = :resource").await?;
        all.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(all)
    }

    /// One DeleteItem, conditional on the item being a resource.
    async fn delete_resource(&self, uri: &str) -> Result<bool, StoreError> {
        let res = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("client_id", s(uri))
            .condition_expression("#kind = :resource")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":resource", s(portcullis_core::resource::KIND))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }
}

const EXISTS: &str = "attribute_exists(client_id)";

#[async_trait]
impl ClientUpdate for DynamoClients {
    async fn update_client(
        &self,
        client_id: &ClientId,
        changes: &ClientChanges,
    ) -> Result<ClientChange, StoreError> {
        let mut u = UpdateExpr::default();
        if let Some(name) = &changes.name {
            u.set("name", s(name));
        }
        match &changes.logo_uri {
            Some(Some(logo)) => u.set("logo_uri", s(logo)),
            Some(None) => u.remove("logo_uri"),
            None => {}
        }
        if let Some(uris) = &changes.redirect_uris {
            u.set("redirect_uris", value(uris)?);
        }
        if let Some(scopes) = &changes.scopes {
            u.set("scopes", value(scopes)?);
        }
        if let Some(trusted) = changes.trusted {
            u.set("trusted", AttributeValue::Bool(trusted));
        }
        if let Some(optional) = changes.pkce_optional {
            u.set("pkce_optional", AttributeValue::Bool(optional));
        }
        if let Some(rotation) = changes.refresh_rotation {
            u.set("refresh_rotation", AttributeValue::Bool(rotation));
        }
        if let Some(keys) = &changes.jwks {
            u.set("jwks", value(keys)?);
        }
        match &changes.jwks_retiring {
            Some(Some(r)) => u.set("jwks_retiring", value(r)?),
            Some(None) => u.remove("jwks_retiring"),
            None => {}
        }
        if changes.remove_secret {
            u.remove("secret_hashes");
            u.remove("secret_retiring");
        }
        match changes.token_rate {
            Some(Some(rate)) => u.set("token_rate", n(u64::from(rate))),
            Some(None) => u.remove("token_rate"),
            None => {}
        }
        if u.set.is_empty() && u.remove.is_empty() {
            return Err(StoreError::Failed("an update that changes nothing".into()));
        }
        if changes.needs_confidential() {
            self.conditional_update(
                client_id,
                u,
                "attribute_exists(client_id) AND (attribute_not_exists(#public) OR #public = :false)",
                &[("#public", "public")],
                vec![(":false".into(), AttributeValue::Bool(false))],
            )
            .await
            .map(|c| match c {
                ClientChange::Changed => ClientChange::Public,
                other => other,
            })
        } else {
            self.conditional_update(client_id, u, EXISTS, &[], Vec::new())
                .await
        }
    }

    async fn enable_client(&self, client_id: &ClientId) -> Result<ClientChange, StoreError> {
        let mut u = UpdateExpr::default();
        u.set("disabled", AttributeValue::Bool(false));
        self.conditional_update(client_id, u, EXISTS, &[], Vec::new())
            .await
    }

    async fn rotate_secret(
        &self,
        client_id: &ClientId,
        rotation: &SecretRotation,
    ) -> Result<ClientChange, StoreError> {
        let mut u = UpdateExpr::default();
        u.set("secret_hashes", value(&rotation.secret_hashes)?);
        match &rotation.retiring {
            Some(r) => u.set("secret_retiring", value(r)?),
            None => u.remove("secret_retiring"),
        }
        // `#secret_hashes` is named by the SET clause already.
        self.conditional_update(
            client_id,
            u,
            "attribute_exists(client_id) AND #secret_hashes = :expected",
            &[],
            vec![(":expected".into(), value(&rotation.expected)?)],
        )
        .await
    }
}

#[async_trait]
impl ClientRemoval for DynamoClients {
    async fn delete_client(&self, client_id: &ClientId) -> Result<bool, StoreError> {
        let res = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("client_id", s(client_id.as_str()))
            .condition_expression(EXISTS)
            .send()
            .await;
        applied(res)
    }
}

impl DynamoTokens {
    /// The grant items' keys an index names (every page), found with `condition` and kept when
    /// `kind = grant` (the indexes project `kind`).
    async fn grant_keys(
        &self,
        index: &str,
        condition: &str,
        values: &[(&str, &str)],
    ) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = Vec::new();
        for item in self.query_keys(index, condition, values).await? {
            if item.get("kind") != Some(&s("grant")) {
                continue;
            }
            if let Some(AttributeValue::S(pk)) = item.get("pk") {
                if !keys.contains(pk) {
                    keys.push(pk.clone());
                }
            }
        }
        Ok(keys)
    }

    /// The grant items by key: one consistent BatchGetItem per 100 (unprocessed keys asked for
    /// again a few times). A grant revoked since the query is simply absent.
    async fn grant_records(&self, keys: &[String]) -> Result<Vec<Grant>, StoreError> {
        let mut grants: Vec<Grant> = self.batch_get_kind(keys, "grant", "grants").await?;
        grants.sort_by(|a, b| (a.created_at, &a.grant_id).cmp(&(b.created_at, &b.grant_id)));
        Ok(grants)
    }
}

/// OAuth grant ids start with this (`portcullis_core::model::grant_id_for_code`); API keys'
/// ids, in the same `by_user` index, with `ak_`.
const GRANT_ID_PREFIX: &str = "g_";

#[async_trait]
impl GrantListing for DynamoTokens {
    async fn grants_of_user(&self, sub: &Subject) -> Result<Vec<Grant>, StoreError> {
        let keys = self
            .grant_keys(
                "by_user",
                "user_sub = :u AND begins_with(grant_id, :g)",
                &[(":u", sub.as_str()), (":g", GRANT_ID_PREFIX)],
            )
            .await?;
        self.grant_records(&keys).await
    }

    async fn grant_records_of_client(
        &self,
        client_id: &ClientId,
    ) -> Result<Vec<Grant>, StoreError> {
        let keys = self
            .grant_keys("by_client", "client_id = :c", &[(":c", client_id.as_str())])
            .await?;
        self.grant_records(&keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_expression_names_every_attribute() {
        let mut u = UpdateExpr::default();
        u.set("name", s("Zap"));
        u.set("trusted", AttributeValue::Bool(true));
        u.remove("logo_uri");
        assert_eq!(
            u.expression(),
            "SET #name = :name, #trusted = :trusted REMOVE #logo_uri"
        );
        assert_eq!(u.names.len(), 3);
        let mut u = UpdateExpr::default();
        u.remove("secret_retiring");
        assert_eq!(u.expression(), "REMOVE #secret_retiring");
    }
}

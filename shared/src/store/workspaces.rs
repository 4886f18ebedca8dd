//! Workspaces and their hashed API keys. A workspace is one item (`META`) that also holds
//! its keys' SHA-256 hashes in the map `api_keys` (hash → created at), so every key change
//! is a single-item update: atomic without a transaction.

use super::{applied, keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ApiKey, Workspace, WorkspaceId};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize, Deserialize)]
struct WorkspaceItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    workspace: Workspace,
}

/// The map attribute holding the key hashes.
pub(super) const API_KEYS: &str = "api_keys";

/// The expression-attribute names of one key's entry in `api_keys` (`#keys.#key`).
pub(super) fn key_entry_names(key: &ApiKey) -> HashMap<String, String> {
    HashMap::from([
        ("#keys".to_string(), API_KEYS.to_string()),
        ("#key".to_string(), key.hash()),
    ])
}

/// True when the item lists `key` among its workspace's keys.
pub(super) fn holds_key(item: &Item, key: &ApiKey) -> bool {
    item.get(API_KEYS)
        .and_then(|v| v.as_m().ok())
        .is_some_and(|m| m.contains_key(&key.hash()))
}

impl Store {
    /// The `api_keys` map holding one key, created now.
    fn key_map(&self, key: &ApiKey) -> AttributeValue {
        AttributeValue::M(HashMap::from([(key.hash(), s(self.clock.now().rfc3339()))]))
    }
}

impl Store {
    /// Creates the workspace with its first key (refused if the id exists).
    pub async fn create_workspace(&self, ws: &Workspace, key: &ApiKey) -> StoreResult<()> {
        let mut item: Item = serde_dynamo::to_item(WorkspaceItem {
            pk: keys::workspace_pk(&ws.workspace_id),
            sk: keys::META.into(),
            workspace: ws.clone(),
        })?;
        item.insert(API_KEYS.into(), self.key_map(key));
        self.db
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Replaces a workspace's key in one update: the new key works and the old one stops
    /// working at the same instant. False when the old key was already gone.
    pub async fn rotate_api_key(
        &self,
        ws: &WorkspaceId,
        old: &ApiKey,
        new: &ApiKey,
    ) -> StoreResult<bool> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("REMOVE #keys.#key SET #keys.#new = :now")
            .condition_expression("attribute_exists(#keys.#key)")
            .set_expression_attribute_names(Some(key_entry_names(old)))
            .expression_attribute_names("#new", new.hash())
            .expression_attribute_values(":now", s(self.clock.now().rfc3339()))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Revokes a key: from this instant it authenticates nothing. False when it was
    /// already gone.
    pub async fn revoke_api_key(&self, ws: &WorkspaceId, key: &ApiKey) -> StoreResult<bool> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("REMOVE #keys.#key")
            .condition_expression("attribute_exists(#keys.#key)")
            .set_expression_attribute_names(Some(key_entry_names(key)))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Replaces every key of a workspace with `new` in one update (a lost or leaked key):
    /// the old keys stop working the instant the new one starts. Returns how many keys
    /// were revoked; `None` when there is no such workspace.
    pub async fn reset_api_keys(
        &self,
        ws: &WorkspaceId,
        new: &ApiKey,
    ) -> StoreResult<Option<usize>> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("SET #keys = :fresh")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_values(":fresh", self.key_map(new))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.map(|out| {
            out.attributes
                .as_ref()
                .and_then(|a| a.get(API_KEYS))
                .and_then(|v| v.as_m().ok())
                .map_or(0, HashMap::len)
        }))
    }

    /// The workspace, if it exists.
    pub async fn workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(id)))
            .key("sk", s(keys::META))
            .projection_expression("pk, sk, workspace_id, #name, owner_email, created_at")
            .expression_attribute_names("#name", "name")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        match out.item {
            Some(item) => Ok(Some(
                serde_dynamo::from_item::<_, WorkspaceItem>(item)?.workspace,
            )),
            None => Ok(None),
        }
    }

    /// The workspace a presented key belongs to, if the key is valid.
    /// The key names its workspace; the stored hash proves it. Strongly consistent, so
    /// a revoked or rotated key is refused at once.
    pub async fn authenticate(&self, key: &ApiKey) -> StoreResult<Option<WorkspaceId>> {
        let Some(ws) = key.workspace() else {
            return Ok(None);
        };
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(&ws)))
            .key("sk", s(keys::META))
            .projection_expression("#keys.#key")
            .set_expression_attribute_names(Some(key_entry_names(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.filter(|item| holds_key(item, key)).map(|_| ws))
    }
}

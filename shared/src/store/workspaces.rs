//! Workspaces and their hashed API keys. A workspace is one item (`META`) that also holds
//! its keys in the map `api_keys` (SHA-256 hex of the key → what is kept about it: when it
//! was made, and for keys made since scopes exist its name, prefix and scopes), so every
//! key change is a single-item update: atomic without a transaction.

use super::{applied, keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ApiKey, Grant, KeyRecord, Scope, Workspace, WorkspaceId};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
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

/// The map attribute holding the keys.
pub(super) const API_KEYS: &str = "api_keys";
/// Keys a workspace may hold at once: the workspace item is read and written by every
/// ingest request, so its size is paid on each.
pub const MAX_API_KEYS: usize = 20;

/// The expression-attribute names of one key's entry in `api_keys` (`#keys.#key`) and of
/// its scopes inside it (`#keys.#key.#scopes`).
pub(super) fn key_entry_names(key: &ApiKey) -> HashMap<String, String> {
    HashMap::from([
        ("#keys".to_string(), API_KEYS.to_string()),
        ("#key".to_string(), key.hash()),
        ("#scopes".to_string(), "scopes".to_string()),
    ])
}

/// The condition that `#keys.#key` is a key holding the scope `:scope` (a key without a
/// `scopes` list holds every scope).
pub(super) const KEY_HOLDS_SCOPE: &str = "attribute_exists(#keys.#key) AND \
     (attribute_not_exists(#keys.#key.#scopes) OR contains(#keys.#key.#scopes, :scope))";

/// What the item keeps about `key`, if it is one of its workspace's keys.
pub(super) fn key_record_in(item: &Item, key: &ApiKey) -> Option<KeyRecord> {
    let entry = item.get(API_KEYS)?.as_m().ok()?.get(&key.hash())?;
    Some(key_record(entry))
}

/// One entry of `api_keys`: a plain creation time (keys made before scopes: every scope),
/// or a map with the time, name, prefix and scopes.
fn key_record(entry: &AttributeValue) -> KeyRecord {
    let Ok(map) = entry.as_m() else {
        return KeyRecord {
            prefix: None,
            name: None,
            created_at: entry.as_s().cloned().unwrap_or_default(),
            grant: Grant::Full,
        };
    };
    let text = |name: &str| map.get(name).and_then(|v| v.as_s().ok()).cloned();
    let grant = match map.get("scopes").map(|v| v.as_l()) {
        None => Grant::Full,
        // Present but not a list: grants nothing (never fail open).
        Some(Err(_)) => Grant::Only(Vec::new()),
        // A name this build does not know grants nothing here.
        Some(Ok(list)) => Grant::only(
            list.iter()
                .filter_map(|v| v.as_s().ok().and_then(|name| Scope::parse(name)))
                .collect(),
        ),
    };
    KeyRecord {
        prefix: text("prefix"),
        name: text("name"),
        created_at: text("created_at").unwrap_or_default(),
        grant,
    }
}

impl Store {
    /// The `api_keys` entry of a key made now.
    fn key_entry(&self, key: &ApiKey, name: &str, grant: &Grant) -> AttributeValue {
        let mut entry = HashMap::from([
            ("created_at".to_string(), s(self.clock.now().rfc3339())),
            ("name".to_string(), s(name)),
            ("prefix".to_string(), s(key.shown_prefix())),
        ]);
        if let Grant::Only(scopes) = grant {
            let names = scopes.iter().map(|scope| s(scope.as_str())).collect();
            entry.insert("scopes".into(), AttributeValue::L(names));
        }
        AttributeValue::M(entry)
    }

    /// The `api_keys` map holding one full key, made now.
    fn key_map(&self, key: &ApiKey, name: &str) -> AttributeValue {
        let entry = self.key_entry(key, name, &Grant::Full);
        AttributeValue::M(HashMap::from([(key.hash(), entry)]))
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
        item.insert(API_KEYS.into(), self.key_map(key, "first key"));
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

    /// Replaces a workspace's key in one update: the new key, with the old one's name and
    /// scopes, works and the old one stops working at the same instant. False when the old
    /// key was already gone.
    pub async fn rotate_api_key(
        &self,
        ws: &WorkspaceId,
        (old, record): (&ApiKey, &KeyRecord),
        new: &ApiKey,
    ) -> StoreResult<bool> {
        let name = record.name.as_deref().unwrap_or("rotated key");
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("REMOVE #keys.#key SET #keys.#new = :entry")
            .condition_expression("attribute_exists(#keys.#key)")
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_names("#key", old.hash())
            .expression_attribute_names("#new", new.hash())
            .expression_attribute_values(":entry", self.key_entry(new, name, &record.grant))
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
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_names("#key", key.hash())
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
            .expression_attribute_values(":fresh", self.key_map(new, "reset key"))
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

    /// The workspace, if it exists (the tenant's, given an endpoint's delivery scope).
    pub async fn workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let id = &id.tenant();
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

    /// The workspace a presented key belongs to and what it may do, if the key is valid.
    /// The key names its workspace; the stored hash proves it. Strongly consistent, so
    /// a revoked or rotated key is refused at once.
    pub async fn authenticate(
        &self,
        key: &ApiKey,
    ) -> StoreResult<Option<(WorkspaceId, KeyRecord)>> {
        let Some(ws) = key.workspace() else {
            return Ok(None);
        };
        let out = self
            .workspace_item_read(&ws)
            .projection_expression("#keys.#key")
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_names("#key", key.hash())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out
            .item
            .and_then(|item| key_record_in(&item, key))
            .map(|record| (ws, record)))
    }

    /// Adds a key to the workspace with `name` and `grant`, made by `maker`, which must
    /// still be one of its keys and hold `keys:manage` (a key revoked or reset meanwhile
    /// makes nothing). `Ok(None)` when the maker is gone; `Ok(Some(None))` when the
    /// workspace holds [`MAX_API_KEYS`] keys; the new key's record otherwise.
    pub async fn add_api_key(
        &self,
        ws: &WorkspaceId,
        maker: &ApiKey,
        (key, name, grant): (&ApiKey, &str, &Grant),
    ) -> StoreResult<Option<Option<KeyRecord>>> {
        let entry = self.key_entry(key, name, grant);
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET #keys.#new = :entry")
            .condition_expression(format!("{KEY_HOLDS_SCOPE} AND size(#keys) < :max"))
            .set_expression_attribute_names(Some(key_entry_names(maker)))
            .expression_attribute_names("#new", key.hash())
            .expression_attribute_values(":entry", entry.clone())
            .expression_attribute_values(":scope", s(Scope::KeysManage.as_str()))
            .expression_attribute_values(":max", super::n(MAX_API_KEYS))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(Some(key_record(&entry)))),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let maker_holds = failed
                        .item()
                        .and_then(|item| key_record_in(item, maker))
                        .is_some_and(|r| r.grant.allows(Scope::KeysManage));
                    Ok(maker_holds.then_some(None))
                }
                other => Err(StoreError::service("UpdateItem", &other)),
            },
        }
    }

    /// The workspace's keys as kept (no key itself: only hashes are stored), oldest first.
    pub async fn api_keys(&self, ws: &WorkspaceId) -> StoreResult<Vec<KeyRecord>> {
        let out = self
            .workspace_item_read(ws)
            .projection_expression("#keys")
            .expression_attribute_names("#keys", API_KEYS)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let mut records: Vec<KeyRecord> = out
            .item
            .as_ref()
            .and_then(|item| item.get(API_KEYS))
            .and_then(|v| v.as_m().ok())
            .map(|m| m.values().map(key_record).collect())
            .unwrap_or_default();
        records.sort_by(|a, b| (&a.created_at, &a.prefix).cmp(&(&b.created_at, &b.prefix)));
        Ok(records)
    }
}

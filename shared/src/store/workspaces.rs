//! Workspaces and their hashed API keys. A workspace is one item (`META`) that also holds
//! its keys in the map `api_keys` (SHA-256 hex of the key → what admission checks: the
//! scopes of a scoped key), so every change to which keys are valid is a single-item
//! update: atomic without a transaction. What is shown about a key (name, prefix, time)
//! is kept beside it (`key_details.rs`); keys stored before that carry it in their entry.

use super::filter_items::READS_FILTER_REF;
use super::key_details::{details_key, Details};
use super::{applied, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ApiKey, Grant, KeyRecord, Scope, Workspace, WorkspaceId};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Get, ReturnValue, TransactGetItem};
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

/// What the item keeps about `key`, if it is one of its workspace's keys (its details only
/// if stored in its entry, as before they were kept apart).
pub(super) fn key_record_in(item: &Item, key: &ApiKey) -> Option<KeyRecord> {
    let entry = item.get(API_KEYS)?.as_m().ok()?.get(&key.hash())?;
    Some(key_record(entry, None))
}

/// One entry of `api_keys`: a plain creation time (keys made before scopes: every scope),
/// or a map with the scopes (absent: every scope) and, for keys made before their details
/// were kept apart, the time, name and prefix; `details` fills in what the entry lacks.
fn key_record(entry: &AttributeValue, details: Option<&AttributeValue>) -> KeyRecord {
    let details = details.and_then(|d| d.as_m().ok());
    let Ok(map) = entry.as_m() else {
        return KeyRecord {
            prefix: None,
            name: None,
            created_at: entry.as_s().cloned().unwrap_or_default(),
            grant: Grant::Full,
        };
    };
    let text = |name: &str| {
        [Some(map), details]
            .into_iter()
            .flatten()
            .find_map(|m| m.get(name).and_then(|v| v.as_s().ok()).cloned())
    };
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

/// The `api_keys` entry of a key with `grant`: only what admission checks.
fn key_entry(grant: &Grant) -> AttributeValue {
    let mut entry = HashMap::new();
    if let Grant::Only(scopes) = grant {
        let names = scopes.iter().map(|scope| s(scope.as_str())).collect();
        entry.insert("scopes".to_string(), AttributeValue::L(names));
    }
    AttributeValue::M(entry)
}

/// The hashes an `api_keys` map lists.
fn hashes_in(keys: Option<&AttributeValue>) -> Vec<String> {
    keys.and_then(|v| v.as_m().ok())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

impl Store {
    /// What is shown about a key made now with `name`.
    fn details<'a>(&self, key: &ApiKey, name: &'a str) -> Details<'a> {
        Details {
            name,
            prefix: key.shown_prefix(),
            created_at: self.clock.now().rfc3339(),
        }
    }

    /// The workspace item's `api_keys` and the details item, read at one instant
    /// (TransactGetItems): two reads in turn could catch a rotation between them and show
    /// a valid key without its details.
    async fn keys_and_details(&self, ws: &WorkspaceId) -> StoreResult<(Option<Item>, Item)> {
        let get = |sk: &str, projection: Option<&str>| {
            let get = Get::builder()
                .table_name(&self.table)
                .key("pk", s(keys::workspace_pk(ws)))
                .key("sk", s(sk))
                .set_projection_expression(projection.map(str::to_string))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok::<_, StoreError>(TransactGetItem::builder().get(get).build())
        };
        let out = self
            .db
            .transact_get_items()
            .transact_items(get(keys::META, Some(API_KEYS))?)
            .transact_items(get(&details_key(ws).1, None)?)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("TransactGetItems", e))?;
        let mut items = out.responses.unwrap_or_default().into_iter();
        let mut next = || items.next().and_then(|r| r.item);
        let workspace = next();
        Ok((workspace, next().unwrap_or_default()))
    }

    /// `record` of `key` with what is kept apart about it (name, prefix, time) filled in.
    pub async fn described(
        &self,
        ws: &WorkspaceId,
        key: &ApiKey,
        record: KeyRecord,
    ) -> StoreResult<KeyRecord> {
        if record.name.is_some() {
            return Ok(record);
        }
        let details = self.key_details(ws).await?;
        let kept = key_record(&key_entry(&record.grant), details.get(&key.hash()));
        // What the key check read wins; the details item fills in what it lacked.
        Ok(KeyRecord {
            prefix: record.prefix.or(kept.prefix),
            name: kept.name,
            created_at: Some(record.created_at)
                .filter(|t| !t.is_empty())
                .unwrap_or(kept.created_at),
            grant: record.grant,
        })
    }
}

impl Store {
    /// Creates the workspace with its first key (refused if the id exists).
    pub async fn create_workspace(&self, ws: &Workspace, key: &ApiKey) -> StoreResult<()> {
        let id = &ws.workspace_id;
        self.put_key_details(id, key, &self.details(key, "first key"))
            .await?;
        let mut item: Item = serde_dynamo::to_item(WorkspaceItem {
            pk: keys::workspace_pk(id),
            sk: keys::META.into(),
            workspace: ws.clone(),
        })?;
        let entry = key_entry(&Grant::Full);
        item.insert(
            API_KEYS.into(),
            AttributeValue::M(HashMap::from([(key.hash(), entry)])),
        );
        // Made by this version: its ingest is no older (docs/deploy.md), so the mark
        // counts as set long ago.
        item.insert(READS_FILTER_REF.into(), n(0));
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
        self.put_key_details(ws, new, &self.details(new, name))
            .await?;
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("REMOVE #keys.#key SET #keys.#new = :entry")
            .condition_expression("attribute_exists(#keys.#key)")
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_names("#key", old.hash())
            .expression_attribute_names("#new", new.hash())
            .expression_attribute_values(":entry", key_entry(&record.grant))
            .send()
            .await;
        let rotated = applied("UpdateItem", result)?.is_some();
        let stale = if rotated { old } else { new };
        self.drop_key_details(ws, &[stale.hash()]).await;
        Ok(rotated)
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
        let revoked = applied("UpdateItem", result)?.is_some();
        if revoked {
            self.drop_key_details(ws, &[key.hash()]).await;
        }
        Ok(revoked)
    }

    /// Replaces every key of a workspace with `new` in one update (a lost or leaked key):
    /// the old keys stop working the instant the new one starts. Returns how many keys
    /// were revoked; `None` when there is no such workspace.
    pub async fn reset_api_keys(
        &self,
        ws: &WorkspaceId,
        new: &ApiKey,
    ) -> StoreResult<Option<usize>> {
        let found = self
            .workspace_item_read(ws)
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        if found.item.is_none() {
            return Ok(None);
        }
        self.put_key_details(ws, new, &self.details(new, "reset key"))
            .await?;
        let fresh = HashMap::from([(new.hash(), key_entry(&Grant::Full))]);
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::META))
            .update_expression("SET #keys = :fresh")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#keys", API_KEYS)
            .expression_attribute_values(":fresh", AttributeValue::M(fresh))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let Some(out) = applied("UpdateItem", result)? else {
            return Ok(None);
        };
        let revoked = hashes_in(out.attributes.as_ref().and_then(|a| a.get(API_KEYS)));
        self.drop_key_details(ws, &revoked).await;
        Ok(Some(revoked.len()))
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
        let details = self.details(key, name);
        self.put_key_details(ws, key, &details).await?;
        let entry = key_entry(grant);
        let result = self
            .workspace_item_update(ws)
            .update_expression("SET #keys.#new = :entry")
            .condition_expression(format!("{KEY_HOLDS_SCOPE} AND size(#keys) < :max"))
            .set_expression_attribute_names(Some(key_entry_names(maker)))
            .expression_attribute_names("#new", key.hash())
            .expression_attribute_values(":entry", entry)
            .expression_attribute_values(":scope", s(Scope::KeysManage.as_str()))
            .expression_attribute_values(":max", super::n(MAX_API_KEYS))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(Some(KeyRecord {
                prefix: Some(details.prefix),
                name: Some(name.to_string()),
                created_at: details.created_at,
                grant: grant.clone(),
            }))),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    // Certainly not made: its details go. (Any other error may come
                    // after the update went through, so they stay: never shown unless
                    // the workspace item lists the key.)
                    self.drop_key_details(ws, &[key.hash()]).await;
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
        let (workspace, details) = self.keys_and_details(ws).await?;
        let Some(listed) = workspace
            .as_ref()
            .and_then(|item| item.get(API_KEYS))
            .and_then(|v| v.as_m().ok())
        else {
            return Ok(Vec::new());
        };
        // Only the keys the workspace item lists: a detail left by a failed step is not one.
        let mut records: Vec<KeyRecord> = listed
            .iter()
            .map(|(hash, entry)| key_record(entry, details.get(hash)))
            .collect();
        records.sort_by(|a, b| (&a.created_at, &a.prefix).cmp(&(&b.created_at, &b.prefix)));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> AttributeValue {
        AttributeValue::M(pairs.iter().map(|(k, v)| (k.to_string(), s(*v))).collect())
    }

    #[test]
    fn a_keys_record_takes_its_details_from_its_entry_first_then_the_details_item() {
        let details = map(&[("name", "kept"), ("prefix", "ofk.p"), ("created_at", "t1")]);
        let slim = key_entry(&Grant::only(vec![Scope::LogsRead]));
        let record = key_record(&slim, Some(&details));
        assert_eq!(record.name.as_deref(), Some("kept"));
        assert_eq!(record.prefix.as_deref(), Some("ofk.p"));
        assert_eq!(record.created_at, "t1");
        assert_eq!(record.grant, Grant::Only(vec![Scope::LogsRead]));

        let old = map(&[("name", "in entry"), ("created_at", "t0")]);
        let record = key_record(&old, Some(&details));
        assert_eq!(record.name.as_deref(), Some("in entry"));
        assert_eq!(record.created_at, "t0");
        assert_eq!(record.grant, Grant::Full);

        let before_scopes = s("t-1");
        assert_eq!(
            key_record(&before_scopes, Some(&details)).grant,
            Grant::Full
        );
        assert_eq!(key_record(&slim, None).name, None);
    }

    #[test]
    fn an_entry_holds_only_what_admission_checks() {
        assert_eq!(key_entry(&Grant::Full), AttributeValue::M(HashMap::new()));
        let scoped = key_entry(&Grant::only(vec![Scope::EventsWrite]));
        let fields: Vec<&String> = scoped.as_m().unwrap().keys().collect();
        assert_eq!(fields, ["scopes"]);
    }
}

//! What is shown about a workspace's keys — name, prefix, creation time — kept apart from
//! the workspace item in an item of its own (`KEYS`, one attribute per key hash). Every
//! ingest request updates the workspace item and pays for its whole size; these details
//! took about 100 bytes a key there, so four keys passed 1 KB and doubled the admission's
//! write units. The workspace item stays the one authority on which keys are valid and
//! what they may do; a detail whose hash it does not list is never shown. Changes write
//! the details first, then the workspace item, then drop what is stale, so whatever step
//! fails, every valid key still has its details.

use super::{applied, keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ApiKey, WorkspaceId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Sort key of a workspace's key-details item.
pub(super) const KEY_DETAILS: &str = "KEYS";

/// What is shown about one key.
pub(super) struct Details<'a> {
    /// The key's name.
    pub name: &'a str,
    /// The key's shown prefix.
    pub prefix: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
}

impl Details<'_> {
    fn value(&self) -> AttributeValue {
        AttributeValue::M(HashMap::from([
            ("name".to_string(), s(self.name)),
            ("prefix".to_string(), s(&self.prefix)),
            ("created_at".to_string(), s(&self.created_at)),
        ]))
    }
}

/// Where a workspace's key details are kept.
pub(super) fn details_key(ws: &WorkspaceId) -> (String, String) {
    (keys::workspace_pk(ws), KEY_DETAILS.to_string())
}

impl Store {
    /// Keeps `details` for `key` (before the key is made valid on the workspace item).
    pub(super) async fn put_key_details(
        &self,
        ws: &WorkspaceId,
        key: &ApiKey,
        details: &Details<'_>,
    ) -> StoreResult<()> {
        let (pk, sk) = details_key(ws);
        self.update(s(pk), s(sk))
            .update_expression("SET #key = :details")
            .expression_attribute_names("#key", key.hash())
            .expression_attribute_values(":details", details.value())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Drops the details of keys that are no longer valid (`hashes`). Best effort: a
    /// detail left behind is never shown, since the workspace item no longer lists it.
    pub(super) async fn drop_key_details(&self, ws: &WorkspaceId, hashes: &[String]) {
        if hashes.is_empty() {
            return;
        }
        let (pk, sk) = details_key(ws);
        let names: Vec<String> = (0..hashes.len()).map(|i| format!("#k{i}")).collect();
        let mut update = self
            .update(s(pk), s(sk))
            .update_expression(format!("REMOVE {}", names.join(", ")))
            .condition_expression("attribute_exists(pk)");
        for (name, hash) in names.iter().zip(hashes) {
            update = update.expression_attribute_names(name, hash);
        }
        // No item (a workspace whose keys all predate it): nothing to drop.
        if let Err(e) = applied("UpdateItem", update.send().await) {
            tracing::warn!(workspace_id = %ws, error = %e, "stale key details left (never shown)");
        }
    }

    /// The details kept for a workspace's keys, by key hash (strongly consistent).
    pub(super) async fn key_details(&self, ws: &WorkspaceId) -> StoreResult<Item> {
        let out = self
            .consistent_get(details_key(ws))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.unwrap_or_default())
    }
}

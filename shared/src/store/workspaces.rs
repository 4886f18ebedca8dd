//! Workspaces and their hashed API keys.

use super::{applied, keys, s, Store, StoreError, StoreResult};
use crate::domain::{ApiKey, Timestamp, WorkspaceId};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// Its id.
    pub workspace_id: WorkspaceId,
    /// Display name.
    pub name: String,
    /// Who is emailed when the webhook is disabled.
    pub owner_email: String,
    /// When it was created.
    pub created_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct WorkspaceItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    workspace: Workspace,
}

impl Store {
    /// Creates the workspace and its first key in one transaction.
    pub async fn create_workspace(&self, ws: &Workspace, key: &ApiKey) -> StoreResult<()> {
        let pk = keys::workspace_pk(&ws.workspace_id);
        let item = serde_dynamo::to_item(WorkspaceItem {
            pk: pk.clone(),
            sk: keys::META.into(),
            workspace: ws.clone(),
        })?;
        let put_ws = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let put_key = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(keys::api_key(&key.hash())))
            .item("created_at", s(ws.created_at.rfc3339()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_ws).build())
            .transact_items(TransactWriteItem::builder().put(put_key).build())
            .send()
            .await
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(())
    }

    /// Replaces a workspace's key in one transaction: the new key works and the old one
    /// stops working at the same instant. False when the old key was already gone.
    pub async fn rotate_api_key(
        &self,
        ws: &WorkspaceId,
        old: &ApiKey,
        new: &ApiKey,
    ) -> StoreResult<bool> {
        let pk = keys::workspace_pk(ws);
        let put_new = self.put_new_key(&pk, new)?;
        let delete_old = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::api_key(&old.hash())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_new).build())
            .transact_items(TransactWriteItem::builder().delete(delete_old).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // A concurrent rotation already removed the old key: its condition failed.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::dynamo("TransactWriteItems", e)),
        }
    }

    /// Revokes a key: from this instant it authenticates nothing. False when it was
    /// already gone.
    pub async fn revoke_api_key(&self, ws: &WorkspaceId, key: &ApiKey) -> StoreResult<bool> {
        let result = self
            .db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::api_key(&key.hash())))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(applied("DeleteItem", result)?.is_some())
    }

    /// Replaces every key of a workspace with `new` in one transaction (a lost or leaked
    /// key): the old keys stop working the instant the new one starts. Returns how many
    /// keys were revoked.
    pub async fn reset_api_keys(&self, ws: &WorkspaceId, new: &ApiKey) -> StoreResult<usize> {
        let pk = keys::workspace_pk(ws);
        let existing = self
            .prefix_query(ws, keys::API_KEY_PREFIX)
            .projection_expression("sk")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?
            .items
            .unwrap_or_default();
        let put_new = self.put_new_key(&pk, new)?;
        let mut request = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_new).build());
        for item in &existing {
            let Some(sk) = item.get("sk").cloned() else {
                continue;
            };
            let delete = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", sk)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        request
            .send()
            .await
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(existing.len())
    }

    /// The Put of a fresh key (a transaction step), refused if that key already exists.
    fn put_new_key(&self, pk: &str, key: &ApiKey) -> StoreResult<Put> {
        Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(keys::api_key(&key.hash())))
            .item("created_at", s(Timestamp::now().rfc3339()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The workspace, if it exists.
    pub async fn workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(id)))
            .key("sk", s(keys::META))
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
    /// The key names its workspace; the stored hash proves it.
    pub async fn authenticate(&self, key: &ApiKey) -> StoreResult<Option<WorkspaceId>> {
        let Some(ws) = key.workspace() else {
            return Ok(None);
        };
        let out = self
            .db
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(&ws)))
            .key("sk", s(keys::api_key(&key.hash())))
            .projection_expression("pk")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.map(|_| ws))
    }
}

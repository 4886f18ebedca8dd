//! A workspace's additional endpoints: their ids listed on the workspace item (so ingest's
//! admission update returns them with the key check), each one's settings on its own
//! scope's `META` item (`WS#<workspace>.<endpoint>`), written before it is listed and
//! unlisted before it is deleted, so a listed endpoint always has its item.

use super::batch::Key;
use super::webhooks::webhook_of;
use super::{applied, keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{Endpoint, EndpointId, Kept, Timestamp, Webhook, WorkspaceId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::Instant;

/// The workspace item's attribute listing the additional endpoints (a string set).
pub(super) const ENDPOINTS_ATTRIBUTE: &str = "endpoints";

/// Kept deliveries deleted per page when an endpoint is deleted.
const PURGE_PAGE: i32 = 100;

/// The additional endpoints a workspace item lists.
pub(super) fn endpoints_in(item: &Item) -> Vec<EndpointId> {
    let mut ids: Vec<EndpointId> = item
        .get(ENDPOINTS_ATTRIBUTE)
        .and_then(|v| v.as_ss().ok())
        .map(|ids| ids.iter().map(EndpointId::new_unchecked).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

impl Store {
    /// Makes the item of a new endpoint's scope (its settings are saved next, then it is
    /// listed); false when the id is taken.
    pub async fn create_endpoint_item(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let scope = ws.endpoint_scope(endpoint);
        let result = self
            .db
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::workspace_pk(&scope)))
            .item("sk", s(keys::META))
            .item("endpoint_of", s(ws.as_str()))
            .item("created_at", s(now.rfc3339()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(applied("PutItem", result)?.is_some())
    }

    /// Lists an endpoint whose item is written, unless the workspace already has
    /// `max_additional` of them (false then: the caller deletes the item).
    pub async fn list_endpoint(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        max_additional: usize,
    ) -> StoreResult<bool> {
        // Listed already is listed: the SDK's retry of an update whose answer was lost
        // must not read as the limit (the caller would delete a listed endpoint's item).
        let condition = "attribute_exists(pk) AND (attribute_not_exists(#endpoints) \
             OR contains(#endpoints, :one) OR size(#endpoints) < :max)";
        let one = (":one", s(endpoint.as_str()));
        let max = (":max", n(max_additional));
        self.change_listing(ws, endpoint, "ADD #endpoints :id", condition, &[one, max])
            .await
    }

    /// Unlists an endpoint (ingest stops routing to it at once); false when it was not
    /// listed.
    pub async fn unlist_endpoint(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
    ) -> StoreResult<bool> {
        let one = (":one", s(endpoint.as_str()));
        let condition = "contains(#endpoints, :one)";
        self.change_listing(ws, endpoint, "DELETE #endpoints :id", condition, &[one])
            .await
    }

    /// Adds an endpoint to the workspace's list or removes it (`update` on `#endpoints`
    /// with `:id`), under `condition` with its `values`; false when the condition fails.
    async fn change_listing(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> StoreResult<bool> {
        let mut request = self
            .workspace_item_update(ws)
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#endpoints", ENDPOINTS_ATTRIBUTE)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![endpoint.to_string()]));
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        let result = request.send().await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Marks an endpoint deleted (its queued deliveries are dropped from now on); false
    /// when it has no item.
    pub async fn mark_endpoint_deleted(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let scope = ws.endpoint_scope(endpoint);
        let result = self
            .workspace_item_update(&scope)
            .update_expression("SET deleted_ms = if_not_exists(deleted_ms, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", n(now.millis()))
            .send()
            .await;
        Ok(applied("UpdateItem", result)?.is_some())
    }

    /// Deletes an endpoint scope's item (settings, secrets, health).
    pub async fn delete_endpoint_item(
        &self,
        ws: &WorkspaceId,
        endpoint: &EndpointId,
    ) -> StoreResult<()> {
        let scope = ws.endpoint_scope(endpoint);
        let key = (keys::workspace_pk(&scope), keys::META.to_string());
        Ok(self.batch_delete(&[key]).await?)
    }

    /// The default endpoint's settings (`None` before it is registered) and the
    /// additional endpoints listed, from one strongly consistent read of the workspace
    /// item.
    pub async fn webhook_and_endpoint_ids(
        &self,
        ws: &WorkspaceId,
    ) -> StoreResult<(Option<Webhook>, Vec<EndpointId>)> {
        let out = self
            .workspace_item_read(ws)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let ids = out.item.as_ref().map(endpoints_in).unwrap_or_default();
        Ok((self.webhook_in(ws, out.item).await?, ids))
    }

    /// The additional endpoints the workspace lists (strongly consistent).
    pub async fn endpoint_ids(&self, ws: &WorkspaceId) -> StoreResult<Vec<EndpointId>> {
        let out = self
            .workspace_item_read(ws)
            .projection_expression("#endpoints")
            .expression_attribute_names("#endpoints", ENDPOINTS_ATTRIBUTE)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item.as_ref().map(endpoints_in).unwrap_or_default())
    }

    /// The settings of the listed endpoints (one BatchGetItem per 100), in id order; one
    /// whose settings were never saved (a create cut short) is left out.
    pub async fn endpoints(
        &self,
        ws: &WorkspaceId,
        ids: &[EndpointId],
    ) -> StoreResult<Vec<Endpoint>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<Key> = ids
            .iter()
            .map(|id| {
                (
                    keys::workspace_pk(&ws.endpoint_scope(id)),
                    keys::META.into(),
                )
            })
            .collect();
        let mut found = self.get_items(&keys, None, true).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, key) in ids.iter().zip(&keys) {
            let webhook = webhook_of(found.remove(key))?.filter(|w| w.deleted_ms.is_none());
            if let Some(webhook) = webhook {
                out.push(Endpoint {
                    scope: ws.endpoint_scope(id),
                    webhook,
                });
            }
        }
        Ok(out)
    }

    /// Deletes what a deleted endpoint kept (held deliveries, dead letters, pending
    /// windows) until done or `deadline`; how many, and whether all. Its log, activity and
    /// counters expire; the messages its windows would have bundled are the workspace's.
    pub async fn purge_kept(
        &self,
        scope: &WorkspaceId,
        deadline: Instant,
    ) -> StoreResult<(usize, bool)> {
        let mut purged = 0;
        for kind in [Kept::Held, Kept::DeadLetter] {
            loop {
                if Instant::now() >= deadline {
                    return Ok((purged, false));
                }
                let page = self.kept(scope, kind, 0, PURGE_PAGE).await?;
                if page.is_empty() {
                    break;
                }
                purged += page.len();
                let keys: Vec<_> = page.into_iter().map(|k| k.key).collect();
                self.forget_kept(&keys).await?;
            }
        }
        let windows = self.pending_windows(scope).await?;
        for chunk in windows.chunks(PURGE_PAGE as usize) {
            if Instant::now() >= deadline {
                return Ok((purged, false));
            }
            self.finish_windows(chunk).await?;
            purged += chunk.len();
        }
        Ok((purged, true))
    }
}

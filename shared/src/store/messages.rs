//! Stored messages: the idempotency record and the source for aggregation and replay.

use super::{expires_in_days, keys, n, s, Item, PendingWindow, Store, StoreError, StoreResult};
use crate::domain::{DeliveryId, MessageEvent, MessageId, Timestamp, WorkspaceId};

/// Messages are kept this long (the aggregation issue needs ≥ 7 days).
pub const MESSAGE_RETENTION_DAYS: i64 = 14;

/// The message event of a stored message item, with any edit applied.
pub(crate) fn event_of(item: &Item) -> StoreResult<MessageEvent> {
    let mut event: MessageEvent = item
        .get("event")
        .and_then(|v| v.as_s().ok())
        .map(|t| serde_json::from_str(t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .ok_or_else(|| StoreError::Corrupt("message without event".into()))?;
    if let Some(text) = item.get("edited_text").and_then(|v| v.as_s().ok()) {
        event.message.text = text.clone();
    }
    Ok(event)
}

impl Store {
    /// Stores a message unless its id was seen before; true when it is new. `window`, in
    /// aggregated mode, makes it a member of that chat window's bundle (the `window` index).
    pub async fn insert_message(
        &self,
        ws: &WorkspaceId,
        event: &MessageEvent,
        delivery: &DeliveryId,
        received_at: Timestamp,
        window: Option<&PendingWindow>,
    ) -> StoreResult<bool> {
        let body = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut put = self.db.put_item();
        if let Some(w) = window {
            let member = format!(
                "{:013}#{}",
                event.message.timestamp.millis(),
                event.message.message_id
            );
            put = put
                .item("win_pk", s(w.members_key()))
                .item("win_sk", s(member));
        }
        let result = put
            .table_name(&self.table)
            .item("pk", s(keys::workspace_pk(ws)))
            .item("sk", s(keys::message(&event.message.message_id)))
            .item("chat_id", s(event.chat.chat_id.as_str()))
            .item("delivery_id", s(delivery.as_str()))
            .item("received_at", s(received_at.rfc3339()))
            .item("event", s(body))
            .item("expires_at", n(expires_in_days(MESSAGE_RETENTION_DAYS)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(super::applied("PutItem", result)?.is_some())
    }

    /// Removes a message written by a request that then failed, so a retry is not a duplicate.
    pub async fn delete_message(&self, ws: &WorkspaceId, id: &MessageId) -> StoreResult<()> {
        self.db
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::message(id)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(())
    }

    /// Records an edit of a stored message; false when the message is unknown.
    pub async fn edit_message(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        text: &str,
    ) -> StoreResult<bool> {
        let result = self
            .update(s(keys::workspace_pk(ws)), s(keys::message(id)))
            .update_expression("SET edited_text = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", s(text))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }
}

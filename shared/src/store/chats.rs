//! Per-chat state: whether the current conversation has been announced (`is_new_chat`)
//! and who is responsible for it.

use super::{keys, s, Store, StoreError, StoreResult};
use crate::domain::{ChatId, WorkspaceId};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

impl Store {
    /// Marks the chat's conversation as announced; true when this is its first delivery.
    pub async fn announce_chat(&self, ws: &WorkspaceId, chat: &ChatId) -> StoreResult<bool> {
        let out = self
            .db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::chat(chat)))
            .update_expression("SET announced = :true")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        let was_announced = out
            .attributes
            .and_then(|a| a.get("announced").and_then(|v| v.as_bool().ok().copied()))
            .unwrap_or(false);
        Ok(!was_announced)
    }

    /// A new conversation begins (created, or the old one resolved): the next delivery is new.
    pub async fn restart_chat(&self, ws: &WorkspaceId, chat: &ChatId) -> StoreResult<()> {
        self.db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::chat(chat)))
            .update_expression("SET announced = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Records the chat's responsible teammate.
    pub async fn set_chat_responsible(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        name: &str,
        email: &str,
    ) -> StoreResult<()> {
        self.db
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::workspace_pk(ws)))
            .key("sk", s(keys::chat(chat)))
            .update_expression("SET responsible_name = :n, responsible_email = :e")
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":e", s(email))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}

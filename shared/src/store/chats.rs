//! Per-chat state: whether the current conversation has been announced (`is_new_chat`)
//! and who is responsible for it.

use super::{keys, s, Store, StoreError, StoreResult};
use crate::domain::{ChatId, WorkspaceId};
use aws_sdk_dynamodb::types::ReturnValue;

/// What a delivery learns about its chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatState {
    /// True when this delivery is the first of the chat's current conversation.
    pub is_new: bool,
    /// The responsible teammate from a `conversation_updated`, with when it arrived (ms).
    pub responsible: Option<(String, String, i64)>,
}

impl Store {
    /// Records `delivery` as the conversation's first delivery unless one already is.
    /// Idempotent per delivery: a retry of the first delivery is still the first.
    pub async fn announce_chat(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        delivery: &str,
    ) -> StoreResult<ChatState> {
        let out = self
            .update(s(keys::workspace_pk(ws)), s(keys::chat(chat)))
            .update_expression("SET first_delivery = if_not_exists(first_delivery, :d)")
            .expression_attribute_values(":d", s(delivery))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        let item = out.attributes.unwrap_or_default();
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let responsible = match (text("responsible_name"), text("responsible_email")) {
            (Some(name), Some(email)) => {
                let at = item
                    .get("responsible_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                Some((name, email, at))
            }
            _ => None,
        };
        Ok(ChatState {
            is_new: text("first_delivery").as_deref() == Some(delivery),
            responsible,
        })
    }

    /// A new conversation begins (created, or the old one resolved): the next delivery is new.
    pub async fn restart_chat(&self, ws: &WorkspaceId, chat: &ChatId) -> StoreResult<()> {
        self.update(s(keys::workspace_pk(ws)), s(keys::chat(chat)))
            .update_expression("REMOVE first_delivery")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// Records the chat's responsible teammate, as of `at_millis`.
    pub async fn set_chat_responsible(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        name: &str,
        email: &str,
        at_millis: i64,
    ) -> StoreResult<()> {
        self.update(s(keys::workspace_pk(ws)), s(keys::chat(chat)))
            .update_expression(
                "SET responsible_name = :n, responsible_email = :e, responsible_at = :at",
            )
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":e", s(email))
            .expression_attribute_values(":at", super::n(at_millis))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}

//! Per-chat state: whether the current conversation has been announced (`is_new_chat`)
//! and who is responsible for it.

use super::batch::Key;
use super::transact::{Applied, ConditionalUpdate};
use super::{keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ChatId, WorkspaceId};
use aws_sdk_dynamodb::types::ReturnValue;
use std::collections::HashMap;

/// What a delivery learns about its chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatState {
    /// True when this delivery is the first of the chat's current conversation.
    pub is_new: bool,
    /// The responsible teammate from a `conversation_updated`, with when it arrived (ms).
    pub responsible: Option<(String, String, i64)>,
}

/// What a chat item says to `delivery`.
fn state_of(item: &Item, delivery: &str) -> ChatState {
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
    ChatState {
        is_new: text("first_delivery").as_deref() == Some(delivery),
        responsible,
    }
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
        Ok(state_of(&out.attributes.unwrap_or_default(), delivery))
    }

    /// `announce_chat` for many chats at once (one entry per chat): one consistent
    /// BatchGetItem per 100 chats, then one TransactWriteItems recording the deliveries of
    /// the chats no delivery has announced yet.
    pub async fn announce_chats(
        &self,
        wanted: &[(WorkspaceId, ChatId, String)],
    ) -> StoreResult<Vec<ChatState>> {
        let keys: Vec<Key> = wanted
            .iter()
            .map(|(ws, chat, _)| (keys::workspace_pk(ws), keys::chat(chat)))
            .collect();
        let items = self.get_items(&keys, None, true).await?;
        let none = Item::new();
        let mut states: Vec<ChatState> = wanted
            .iter()
            .zip(&keys)
            .map(|((.., delivery), key)| state_of(items.get(key).unwrap_or(&none), delivery))
            .collect();
        let unannounced: Vec<usize> = (0..wanted.len())
            .filter(|&i| {
                items
                    .get(&keys[i])
                    .is_none_or(|item| !item.contains_key("first_delivery"))
            })
            .collect();
        let claims: Vec<ConditionalUpdate> = unannounced
            .iter()
            .map(|&i| ConditionalUpdate {
                key: keys[i].clone(),
                update: "SET first_delivery = :d".into(),
                condition: "attribute_not_exists(first_delivery)".into(),
                values: HashMap::from([(":d".into(), s(&wanted[i].2))]),
            })
            .collect();
        let applied = self.transact_updates(&claims).await?;
        for (&i, applied) in unannounced.iter().zip(applied) {
            states[i] = match applied {
                Applied::Yes => ChatState {
                    is_new: true,
                    ..states[i].clone()
                },
                // Another delivery announced the conversation in between.
                Applied::ConditionFailed => ChatState {
                    is_new: false,
                    ..states[i].clone()
                },
                Applied::Other(_) => {
                    let (ws, chat, delivery) = &wanted[i];
                    self.announce_chat(ws, chat, delivery).await?
                }
            };
        }
        Ok(states)
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

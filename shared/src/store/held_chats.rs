//! Marks of the chats a sender held deliveries of from the queue while the webhook was
//! off (`HELDCHAT#<chat tag>` in the scope's home partition, with the start of that
//! switch-off, the webhook's `off_since_ms`; gone by TTL): the
//! chat's deliveries still queued behind them are newer, and must not go out before the
//! release puts the held ones back (docs/delivery.md, "Order").

use super::schema::TTL_ATTRIBUTE;
use super::{keys, n, s, Item, Store, StoreResult};
use crate::domain::{ChatId, WorkspaceId};
use std::collections::HashSet;

/// Sort-key prefix of held-chat marks.
const HELD_CHAT_PREFIX: &str = "HELDCHAT#";

/// How long a mark is kept: a webhook off longer than this loses the order guard.
const HELD_CHAT_RETENTION_DAYS: i64 = 30;

/// The key of the mark of `chat` in `scope`.
fn mark_key(scope: &WorkspaceId, chat: &ChatId) -> (String, String) {
    let sk = format!("{HELD_CHAT_PREFIX}{}", keys::chat_tag(scope, chat));
    (keys::workspace_pk(scope), sk)
}

impl Store {
    /// Marks `chats` of `scope` held from the queue in the switch-off that began at
    /// `off_since_ms` (BatchWriteItem, 25 a call).
    pub async fn mark_held_chats(
        &self,
        scope: &WorkspaceId,
        chats: &[&ChatId],
        off_since_ms: i64,
    ) -> StoreResult<()> {
        let ends = self.expires_in_days(HELD_CHAT_RETENTION_DAYS);
        let items: Vec<Item> = chats
            .iter()
            .map(|chat| {
                let (pk, sk) = mark_key(scope, chat);
                Item::from([
                    ("pk".to_string(), s(pk)),
                    ("sk".to_string(), s(sk)),
                    ("off_since_ms".to_string(), n(off_since_ms)),
                    (TTL_ATTRIBUTE.to_string(), n(ends)),
                ])
            })
            .collect();
        self.batch_put(items).await
    }

    /// Which of `chats` of `scope` a sender held from the queue in a switch-off that began
    /// at or after `since_ms` (one consistent BatchGetItem per 100).
    pub async fn chats_held_since(
        &self,
        scope: &WorkspaceId,
        chats: &[&ChatId],
        since_ms: i64,
    ) -> StoreResult<HashSet<ChatId>> {
        let keys: Vec<_> = chats.iter().map(|chat| mark_key(scope, chat)).collect();
        let found = self
            .get_items(&keys, Some("pk, sk, off_since_ms"), true)
            .await?;
        let held_since = |key| {
            let item = found.get(key)?;
            let held = item.get("off_since_ms")?.as_n().ok()?.parse::<i64>().ok()?;
            (held >= since_ms).then_some(())
        };
        Ok(chats
            .iter()
            .zip(&keys)
            .filter(|(_, key)| held_since(*key).is_some())
            .map(|(chat, _)| (*chat).clone())
            .collect())
    }
}

//! Per-chat state: whether the current conversation has been announced (`is_new_chat`)
//! and who is responsible for it.

use super::batch::{key_of, Key};
use super::conditional::{Applied, ConditionalUpdate, IN_FLIGHT};
use super::{keys, s, Item, Store, StoreError, StoreResult};
use crate::domain::{ChatId, ChatState, Responsible, WorkspaceId};
use aws_sdk_dynamodb::types::ReturnValue;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::time::Instant;

/// Chat states deleted per page when an endpoint is deleted.
const PURGE_PAGE: i32 = 100;

/// A delivery (or bundle) that may open its chat's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The tenant.
    pub ws: WorkspaceId,
    /// The chat.
    pub chat: ChatId,
    /// The delivery or bundle id that announces it (a retry of it announces again).
    pub by: String,
}

/// Whether a chat item's current conversation has been announced by some delivery.
fn announced(item: &Item) -> bool {
    item.contains_key("first_delivery")
}

/// What a chat item says to `delivery`.
fn state_of(item: &Item, delivery: &str) -> ChatState {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let responsible = match (text("responsible_name"), text("responsible_email")) {
        (Some(name), Some(email)) => {
            // Written together with the name and email; an item without it is older than
            // any message, so it never overrides one.
            let at_ms = item
                .get("responsible_at")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(i64::MIN);
            Some(Responsible { name, email, at_ms })
        }
        _ => None,
    };
    ChatState {
        is_new: text("first_delivery").as_deref() == Some(delivery),
        responsible,
    }
}

impl Store {
    /// Deletes the chat states of a deleted endpoint's `scope` (`CHAT#` in each of its
    /// spread partitions: nothing reads them again, and they have no TTL) until done or
    /// `deadline`; how many, and whether all. Never a workspace's own (its default's).
    pub async fn purge_chat_states(
        &self,
        scope: &WorkspaceId,
        deadline: Instant,
    ) -> StoreResult<(usize, bool)> {
        if !scope.is_endpoint_scope() {
            let why = format!("{scope} is a workspace, not an endpoint: its chats stay");
            return Err(StoreError::Refused(why));
        }
        let mut purged = 0;
        for pk in keys::spread_pks(scope) {
            loop {
                if Instant::now() >= deadline {
                    return Ok((purged, false));
                }
                let out = (self.partition_prefix_query(&pk, keys::CHAT_PREFIX))
                    .projection_expression("pk, sk")
                    .limit(PURGE_PAGE)
                    // A page read again after its delete must not find it still there.
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query", e))?;
                let page: Vec<Key> = out.items().iter().filter_map(key_of).collect();
                purged += page.len();
                self.batch_delete(&page).await?;
                // What was read is deleted: the next page starts again from the first.
                if out.last_evaluated_key().is_none() {
                    break;
                }
            }
        }
        Ok((purged, true))
    }

    /// An UpdateItem on a chat's state.
    fn chat_update(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let (pk, sk) = keys::chat_key(ws, chat);
        self.update(s(pk), s(sk))
    }

    /// Records `delivery` as the conversation's first delivery unless one already is.
    /// Idempotent per delivery: a retry of the first delivery is still the first. A chat
    /// announced already costs one strongly consistent read, not a write: every message of
    /// a conversation but its first (a write unit is five times a read's price).
    pub async fn announce_chat(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        delivery: &str,
    ) -> StoreResult<ChatState> {
        let read = self
            .consistent_get(keys::chat_key(ws, chat))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        // Strongly consistent: a restart (REMOVE first_delivery) is seen, so a conversation
        // that began again is announced again.
        if let Some(item) = read.item.filter(announced) {
            return Ok(state_of(&item, delivery));
        }
        self.record_first_delivery(ws, chat, delivery).await
    }

    /// `announce_chat` for several chats at once (one message's, on each endpoint that
    /// keeps a chat state for it): one consistent BatchGetItem, then the writes of the
    /// chats no delivery has announced yet, up to 32 at once. The same units as one
    /// `announce_chat` each, in two round trips instead of two per chat; the first chat
    /// that fails fails them all.
    pub async fn announce_each(&self, wanted: &[Announcement]) -> StoreResult<Vec<ChatState>> {
        match wanted {
            [] => return Ok(Vec::new()),
            [a] => return Ok(vec![self.announce_chat(&a.ws, &a.chat, &a.by).await?]),
            _ => {}
        }
        let keys: Vec<Key> = wanted
            .iter()
            .map(|a| keys::chat_key(&a.ws, &a.chat))
            .collect();
        let items = self.get_items(&keys, None, true).await?;
        // Collected first: a lazy map's closure would make the future not provably `Send`.
        let states: Vec<_> = wanted
            .iter()
            .zip(&keys)
            .map(|(a, key)| self.state_or_record(a, items.get(key).filter(|i| announced(i))))
            .collect();
        futures::stream::iter(states)
            .buffered(IN_FLIGHT)
            .try_collect()
            .await
    }

    /// `announce_chat` for many chats at once (a flush's bundles, one entry per chat): one
    /// consistent BatchGetItem per 100 chats, then TransactWriteItems of 100 recording the
    /// deliveries of the chats no delivery has announced yet (a call per 100 chats where
    /// updates take one each, for twice the write units: docs/performance.md §0). Each
    /// chat is answered on its own: the chats a transaction did not write (or whose
    /// transaction failed) are asked alone, up to 32 at once, and only its own failure
    /// fails one.
    pub async fn announce_chats(
        &self,
        wanted: &[Announcement],
    ) -> StoreResult<Vec<StoreResult<ChatState>>> {
        let keys: Vec<Key> = wanted
            .iter()
            .map(|a| keys::chat_key(&a.ws, &a.chat))
            .collect();
        let items = self.get_items(&keys, None, true).await?;
        let none = Item::new();
        let mut states: Vec<ChatState> = wanted
            .iter()
            .zip(&keys)
            .map(|(a, key)| state_of(items.get(key).unwrap_or(&none), &a.by))
            .collect();
        let unannounced: Vec<usize> = (0..wanted.len())
            .filter(|&i| items.get(&keys[i]).is_none_or(|item| !announced(item)))
            .collect();
        let claims: Vec<ConditionalUpdate> = unannounced
            .iter()
            .map(|&i| ConditionalUpdate {
                key: keys[i].clone(),
                update: "SET first_delivery = :d".into(),
                condition: "attribute_not_exists(first_delivery)".into(),
                values: HashMap::from([(":d".into(), s(&wanted[i].by))]),
            })
            .collect();
        let applied = self.transact_updates(&claims).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, chats = claims.len(), "announcing in a transaction failed; one by one");
            vec![Applied::Other(e.to_string()); claims.len()]
        });
        let mut alone = Vec::new();
        for (&i, applied) in unannounced.iter().zip(applied) {
            match applied {
                Applied::Yes => states[i].is_new = true,
                // Not written: another delivery announced the conversation in between, or
                // this one did (a retry the transaction's token did not cover); a read
                // tells which.
                _ => alone.push(i),
            }
        }
        let mut answers: Vec<StoreResult<ChatState>> = states.into_iter().map(Ok).collect();
        for (i, answer) in alone.iter().zip(self.announce_alone(wanted, &alone).await) {
            answers[*i] = answer;
        }
        Ok(answers)
    }

    /// `announce_chat` for `wanted[i]` of each `i` in `which`, up to 32 at once; each
    /// chat's answer, in that order.
    async fn announce_alone(
        &self,
        wanted: &[Announcement],
        which: &[usize],
    ) -> Vec<StoreResult<ChatState>> {
        // Collected first: a lazy map's closure would make the future not provably `Send`.
        let asked: Vec<_> = which
            .iter()
            .map(|&i| self.announce_chat(&wanted[i].ws, &wanted[i].chat, &wanted[i].by))
            .collect();
        futures::stream::iter(asked)
            .buffered(IN_FLIGHT)
            .collect()
            .await
    }

    /// The state of an announced chat item as read, or else the one recording `a` leaves.
    async fn state_or_record(
        &self,
        a: &Announcement,
        first: Option<&Item>,
    ) -> StoreResult<ChatState> {
        match first {
            Some(item) => Ok(state_of(item, &a.by)),
            None => self.record_first_delivery(&a.ws, &a.chat, &a.by).await,
        }
    }

    /// Records `delivery` as the conversation's first unless one already is; the state
    /// the chat is left in.
    async fn record_first_delivery(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        delivery: &str,
    ) -> StoreResult<ChatState> {
        let out = self
            .chat_update(ws, chat)
            .update_expression("SET first_delivery = if_not_exists(first_delivery, :d)")
            .expression_attribute_values(":d", s(delivery))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(state_of(&out.attributes.unwrap_or_default(), delivery))
    }

    /// A new conversation begins (created, or the old one resolved): the next delivery is new.
    pub async fn restart_chat(&self, ws: &WorkspaceId, chat: &ChatId) -> StoreResult<()> {
        self.chat_update(ws, chat)
            .update_expression("REMOVE first_delivery")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    /// True when `name` and `email` are not the chat's recorded teammate (strongly
    /// consistent): a first teammate named, or another one.
    pub async fn responsible_differs(
        &self,
        ws: &WorkspaceId,
        chat: &ChatId,
        name: &str,
        email: &str,
    ) -> StoreResult<bool> {
        let out = self
            .consistent_get(keys::chat_key(ws, chat))
            .projection_expression("responsible_name, responsible_email")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let item = out.item.unwrap_or_default();
        let was = |attr: &str| item.get(attr).and_then(|v| v.as_s().ok()).cloned();
        Ok(match (was("responsible_name"), was("responsible_email")) {
            // Nobody known before: a change only when somebody is named now.
            (None, None) => !name.is_empty() || !email.is_empty(),
            before => before != (Some(name.to_string()), Some(email.to_string())),
        })
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
        self.chat_update(ws, chat)
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

//! Stored messages: the idempotency record and the source for aggregation and replay.

use super::batch::Key;
use super::page_position::{self, PagePosition};
use super::window_items::{
    bucket, joined_entry, member_of, member_prefix, opening_item, window_key,
};
use super::Read;
use super::{keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{DeliveryId, MessageEvent, MessageId, PendingWindow, Timestamp, WorkspaceId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, HashSet};

/// A stored message after an edit.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// The message as stored, with its new text.
    pub event: MessageEvent,
    /// How many edits it has had (0: none; the edit's number when it changed the text).
    pub number: u32,
    /// The sort key of its aggregation window, if it was filed in one.
    window: Option<String>,
    /// The windows of other endpoints it joined (`joined` entries: endpoint, end, start).
    joined: Vec<String>,
    /// Where it stands in its windows' pages.
    position: PagePosition,
}

/// What an edit of a stored message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Edited {
    /// Recorded, or the message has that text already.
    Recorded(Box<Edit>),
    /// No message with that id is stored.
    Unknown,
    /// The message with the new text would not fit: nothing written (the check's reason).
    Refused(String),
}

/// Messages are kept this long (the aggregation issue needs ≥ 7 days).
pub const MESSAGE_RETENTION_DAYS: i64 = 14;

/// The message event of a stored message item, with any edit applied.
pub(super) fn event_of(item: &Item) -> StoreResult<MessageEvent> {
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

/// A new message as written to the table: the key is the message id, so writing it twice
/// is idempotent and needs no read first.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The message with its chat context.
    pub event: &'a MessageEvent,
    /// Its delivery (immediate mode) or the bundle's source (aggregated).
    pub delivery: &'a DeliveryId,
    /// When Outflow received it.
    pub received_at: Timestamp,
    /// In aggregated mode, the chat window whose bundle it joins (the `window` index).
    pub window: Option<&'a PendingWindow>,
    /// The windows of other endpoints that aggregate it (the `arrival` index).
    pub joined: &'a [PendingWindow],
}

impl Store {
    fn message_item(&self, ws: &WorkspaceId, m: &NewMessage<'_>) -> StoreResult<Item> {
        let event = m.event;
        let body = serde_json::to_string(event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (pk, sk) = keys::message_key(ws, &event.message.message_id);
        let mut item = Item::from([
            ("pk".into(), s(pk)),
            ("sk".into(), s(sk)),
            ("chat_id".into(), s(event.chat.chat_id.as_str())),
            ("delivery_id".into(), s(m.delivery.as_str())),
            ("received_at".into(), s(m.received_at.rfc3339())),
            ("event".into(), s(body)),
            (
                "expires_at".into(),
                n(self.expires_in_days(MESSAGE_RETENTION_DAYS)),
            ),
        ]);
        if let Some(w) = m.window {
            let member = format!(
                "{}{:013}#{}",
                member_prefix(w),
                event.message.timestamp.millis(),
                event.message.message_id
            );
            item.insert("win_pk".into(), s(bucket(w)));
            item.insert("win_sk".into(), s(member));
            item.insert("member_of".into(), s(member_of(w)));
        }
        if !m.joined.is_empty() {
            let (chat, received) = (&event.chat.chat_id, m.received_at.millis());
            let hour = received.div_euclid(keys::ARRIVAL_HOUR_MS) * keys::ARRIVAL_HOUR_MS;
            let (pk, sk) = (
                keys::arrival_pk(ws, chat, hour),
                keys::arrival_sk(
                    ws,
                    chat,
                    received,
                    event.message.timestamp.millis(),
                    event.message.message_id.as_str(),
                ),
            );
            let entries: Vec<String> = m.joined.iter().map(joined_entry).collect();
            item.insert("arr_pk".into(), s(pk));
            item.insert("arr_sk".into(), s(sk));
            item.insert("joined".into(), AttributeValue::Ss(entries));
        }
        Ok(item)
    }

    /// One existence read for an ingest request, 100 keys per BatchGetItem: which of
    /// `ids` are stored already (the duplicate check) and which of `windows` are open.
    pub async fn stored_and_open(
        &self,
        ws: &WorkspaceId,
        ids: &[MessageId],
        windows: &[PendingWindow],
    ) -> StoreResult<(HashSet<MessageId>, HashSet<PendingWindow>)> {
        let mut wanted: Vec<Key> = ids.iter().map(|id| message_key(ws, id)).collect();
        wanted.extend(windows.iter().map(window_key));
        let found = self.existing(&wanted).await?;
        let stored = ids
            .iter()
            .filter(|id| found.contains(&message_key(ws, id)))
            .cloned()
            .collect();
        let open = windows
            .iter()
            .filter(|w| found.contains(&window_key(w)))
            .cloned()
            .collect();
        Ok((stored, open))
    }

    /// Opens `windows`, then stores new messages (25 items per BatchWriteItem). The windows
    /// are written in calls of their own, before any message: DynamoDB may leave any item
    /// of a call unprocessed, so sharing one would let a message be stored without its
    /// window, bundled by no one while its retry is told `duplicate`. A crash in between
    /// leaves an empty window (flushed as nothing).
    pub async fn insert_messages(
        &self,
        ws: &WorkspaceId,
        windows: &[PendingWindow],
        messages: &[NewMessage<'_>],
    ) -> StoreResult<()> {
        let opening = windows
            .iter()
            .map(opening_item)
            .collect::<StoreResult<Vec<_>>>()?;
        let items = messages
            .iter()
            .map(|m| self.message_item(ws, m))
            .collect::<StoreResult<Vec<_>>>()?;
        if !opening.is_empty() {
            self.batch_put(opening).await?;
        }
        self.batch_put(items).await
    }

    /// The text of each of `ids` (messages of workspace `ws`) that was edited, by id: what
    /// a delivery of it that waited carries. One read per message (BatchGetItem; billed on
    /// the whole item, whatever the projection).
    pub async fn edited_texts(
        &self,
        ws: &WorkspaceId,
        ids: &[MessageId],
        read: Read,
    ) -> StoreResult<HashMap<MessageId, String>> {
        let keys: Vec<Key> = ids.iter().map(|id| message_key(ws, id)).collect();
        let consistent = read == Read::Consistent;
        let items = self
            .get_items(&keys, Some("pk, sk, edited_text"), consistent)
            .await?;
        let edited = |id: &MessageId| {
            let item = items.get(&message_key(ws, id))?;
            let text = item.get("edited_text")?.as_s().ok()?;
            Some((id.clone(), text.clone()))
        };
        Ok(ids.iter().filter_map(edited).collect())
    }

    /// True when the edited message waits in a pending window of the delivery scope
    /// `scope` (the workspace's default endpoint, or another): its bundle is not sent yet,
    /// and will carry the new text (one read, only for a message that joined one; what
    /// the window's marks say: `PagePosition::waits_in`).
    pub async fn waits_in_window(&self, scope: &WorkspaceId, edit: &Edit) -> StoreResult<bool> {
        let window = match scope.is_endpoint_scope() {
            false => edit.window.clone(),
            true => {
                let mine = format!("{}#", scope.endpoint());
                edit.joined.iter().find_map(|entry| {
                    let (end, start) = entry.strip_prefix(&mine)?.split_once('#')?;
                    let (end, start) = (end.parse().ok()?, start.parse().ok()?);
                    Some(keys::window(end, start, &edit.event.chat.chat_id))
                })
            }
        };
        let Some(window) = window else {
            return Ok(false);
        };
        let out = self
            .consistent_get((keys::workspace_pk(scope), window))
            .projection_expression(page_position::WINDOW_MARKS)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        let endpoint = scope.is_endpoint_scope();
        Ok(out
            .item
            .is_some_and(|item| edit.position.waits_in(&item, endpoint)))
    }

    /// Records an edit of a stored message: its new text and the edit's number (one
    /// conditional write on the number read, so racing edits never share one), unless
    /// `fits` refuses the message with the new text: a stored message stays one that can
    /// be delivered (a bundle with it could otherwise never be queued).
    pub async fn edit_message(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        text: &str,
        fits: impl Fn(&MessageEvent) -> Result<(), String>,
    ) -> StoreResult<Edited> {
        let key = message_key(ws, id);
        for _ in 0..3 {
            let out = self
                .consistent_get(key.clone())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("GetItem", e))?;
            let Some(item) = out.item else {
                return Ok(Edited::Unknown);
            };
            let mut edit = edit_of(&item)?;
            if edit.event.message.text == text {
                // The text it has already: a retry of this edit, or no edit at all.
                return Ok(Edited::Recorded(Box::new(edit)));
            }
            edit.event.message.text = text.to_string();
            if let Err(why) = fits(&edit.event) {
                return Ok(Edited::Refused(why));
            }
            if self.record_edit(&key, text, edit.number).await? {
                edit.number += 1;
                return Ok(Edited::Recorded(Box::new(edit)));
            }
            // Another edit got in first: read the message again.
        }
        Err(StoreError::Dynamo {
            op: "UpdateItem",
            detail: "the message kept being edited concurrently".into(),
        })
    }

    /// Writes an edit's text if the message still has `number` edits; false if not.
    async fn record_edit(&self, key: &Key, text: &str, number: u32) -> StoreResult<bool> {
        let result = self
            .update(s(key.0.clone()), s(key.1.clone()))
            .update_expression("SET edited_text = :t, edits = :next")
            .condition_expression("attribute_exists(pk) AND (edits = :n OR (attribute_not_exists(edits) AND :n = :zero))")
            .expression_attribute_values(":t", s(text))
            .expression_attribute_values(":n", n(number))
            .expression_attribute_values(":next", n(number + 1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        Ok(super::applied("UpdateItem", result)?.is_some())
    }
}

/// The stored message an edit starts from: its event, edit count and windows.
fn edit_of(item: &Item) -> StoreResult<Edit> {
    Ok(Edit {
        event: event_of(item)?,
        number: super::number_attribute(item, "edits").unwrap_or(0),
        window: item.get("member_of").and_then(|v| v.as_s().ok()).cloned(),
        joined: item
            .get("joined")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        position: PagePosition::of(item),
    })
}

fn message_key(ws: &WorkspaceId, id: &MessageId) -> Key {
    keys::message_key(ws, id)
}

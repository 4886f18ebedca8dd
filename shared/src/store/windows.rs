//! Pending aggregation windows: one item per chat window, found through the sparse `due`
//! index by due time (never a scan), claimed by exactly one aggregator run.

use super::batch::Key;
use super::schema::{DUE_INDEX, WINDOW_INDEX};
use super::transact::{Applied, ConditionalUpdate};
use super::{keys, n, s, Item, Store, StoreError, StoreResult};
use crate::domain::{Aggregation, ChatId, MessageEvent, Timestamp, Window, WorkspaceId};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A window waiting to be flushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWindow {
    /// The tenant.
    pub workspace_id: WorkspaceId,
    /// The chat.
    pub chat_id: ChatId,
    /// The granularity it was collected with.
    pub granularity: Aggregation,
    /// Window start (ms).
    pub start_ms: i64,
    /// Window end (ms).
    pub end_ms: i64,
}

impl PendingWindow {
    /// The window of `granularity` around `at` for one chat.
    pub fn new(ws: &WorkspaceId, chat: &ChatId, granularity: Aggregation, window: Window) -> Self {
        Self {
            workspace_id: ws.clone(),
            chat_id: chat.clone(),
            granularity,
            start_ms: window.start.millis(),
            end_ms: window.end.millis(),
        }
    }

    /// Its key in the table.
    pub fn table_key(&self) -> Key {
        (
            keys::workspace_pk(&self.workspace_id),
            keys::window(self.end_ms, self.start_ms, &self.chat_id),
        )
    }

    /// The item that opens it, due at its end. Written only when a read found it missing,
    /// so an open window, its claim or its parking is never overwritten.
    pub(crate) fn opening_item(&self) -> StoreResult<Item> {
        let (pk, sk) = self.table_key();
        let mut item: Item = serde_dynamo::to_item(self)?;
        item.insert("pk".into(), s(pk));
        item.insert("sk".into(), s(sk));
        item.insert(
            "due_pk".into(),
            s(keys::due_shard(&self.workspace_id, &self.chat_id)),
        );
        item.insert("due_sk".into(), s(self.due_sk(self.end_ms)));
        Ok(item)
    }

    fn key(&self) -> (AttributeValue, AttributeValue) {
        let (pk, sk) = self.table_key();
        (s(pk), s(sk))
    }

    /// The window-index partition holding its messages (with those of every window of
    /// its shard that ends at the same time).
    pub fn bucket(&self) -> String {
        keys::window_bucket(
            self.end_ms,
            keys::chat_shard(&self.workspace_id, &self.chat_id),
        )
    }

    /// The window-index sort-key prefix of its messages inside the bucket.
    pub fn member_prefix(&self) -> String {
        keys::window_member_prefix(self.start_ms, &self.workspace_id, &self.chat_id)
    }

    /// The attribute a message item carries to name its window: the window's sort key.
    pub(crate) fn member_of(&self) -> String {
        self.table_key().1
    }

    fn due_sk(&self, due_ms: i64) -> String {
        // Due time, then the same order as the messages' bucket (start, chat tag): a page of
        // windows due together is one contiguous range of their bucket. The start orders two
        // windows of one chat ending together (after a granularity change).
        format!("{due_ms:013}#{}", self.member_prefix())
    }

    fn claim(&self, run: &str, now_ms: i64, stale_ms: i64) -> ConditionalUpdate {
        ConditionalUpdate {
            key: self.table_key(),
            update: "SET claimed_at = :now, claimed_by = :run".into(),
            condition: "attribute_exists(pk) AND attribute_exists(due_pk) AND \
                        (attribute_not_exists(claimed_at) OR claimed_at < :stale)"
                .into(),
            values: HashMap::from([
                (":now".into(), n(now_ms)),
                (":run".into(), s(run)),
                (":stale".into(), n(now_ms - stale_ms)),
            ]),
        }
    }
}

/// A stored message read back for a bundle.
#[derive(Debug, Clone)]
pub struct WindowMessage {
    /// The message with its chat context (edits applied).
    pub event: MessageEvent,
    /// When Outflow received it (ms).
    pub received_ms: i64,
}

/// One page of due windows, and where the next page starts.
pub type DuePage = (Vec<PendingWindow>, Option<Item>);

impl Store {
    /// Windows of one shard due at or before `due_ms`, oldest first.
    pub async fn due_windows(
        &self,
        shard: u32,
        due_ms: i64,
        start: Option<Item>,
    ) -> StoreResult<DuePage> {
        let out = self
            .db
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX.name)
            .key_condition_expression("due_pk = :pk AND due_sk <= :upto")
            .expression_attribute_values(":pk", s(format!("DUE#{shard}")))
            .expression_attribute_values(":upto", s(format!("{due_ms:013}~")))
            .set_exclusive_start_key(start)
            .limit(100)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let windows = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<PendingWindow>, _>>()?;
        Ok((windows, out.last_evaluated_key))
    }

    /// Claims windows for one run, up to 100 per TransactWriteItems: true for each window
    /// this run now holds, false where another run holds a fresh claim or it is gone.
    pub async fn claim_windows(
        &self,
        windows: &[PendingWindow],
        run: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> StoreResult<Vec<bool>> {
        let claims: Vec<ConditionalUpdate> = windows
            .iter()
            .map(|w| w.claim(run, now_ms, stale_ms))
            .collect();
        let applied = self.transact_updates(&claims).await?;
        Ok(applied.into_iter().map(|a| a == Applied::Yes).collect())
    }

    /// The windows were flushed: they leave the due index for good (25 per BatchWriteItem).
    pub async fn finish_windows(&self, windows: &[PendingWindow]) -> StoreResult<()> {
        let keys: Vec<Key> = windows.iter().map(PendingWindow::table_key).collect();
        self.batch_delete(&keys).await
    }

    /// Takes a window out of the due index while its webhook is off (kept, not delivered).
    pub async fn park_window(&self, w: &PendingWindow) -> StoreResult<()> {
        let (pk, sk) = w.key();
        let result = self
            .update(pk, sk)
            .update_expression("REMOVE due_pk, due_sk, claimed_at, claimed_by")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        super::applied("UpdateItem", result)?;
        Ok(())
    }

    /// Puts every pending window of a workspace back in the due index: at its own end, or
    /// right now (`due_now`, after switching to immediate delivery). Returns how many.
    pub async fn reschedule_windows(&self, ws: &WorkspaceId, due_now: bool) -> StoreResult<usize> {
        let mut start = None;
        let mut count = 0;
        loop {
            let out = self
                .prefix_query(ws, keys::WINDOW_PREFIX)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in out.items.unwrap_or_default() {
                let w: PendingWindow = serde_dynamo::from_item(item)?;
                let (pk, sk) = w.key();
                self.update(pk, sk)
                    .update_expression(
                        "SET due_pk = :pk, due_sk = :sk REMOVE claimed_at, claimed_by",
                    )
                    .expression_attribute_values(
                        ":pk",
                        s(keys::due_shard(&w.workspace_id, &w.chat_id)),
                    )
                    .expression_attribute_values(
                        ":sk",
                        s(w.due_sk(if due_now { 0 } else { w.end_ms })),
                    )
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
                count += 1;
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(count),
            }
        }
    }

    /// Every message of each window, in timestamp order, with edits applied. One Query
    /// (paged) per bucket reads the range between the first and the last window's prefix.
    pub async fn windows_messages(
        &self,
        windows: &[PendingWindow],
    ) -> StoreResult<Vec<Vec<WindowMessage>>> {
        let mut by_bucket: BTreeMap<String, (String, String)> = BTreeMap::new();
        for w in windows {
            let prefix = w.member_prefix();
            let range = by_bucket
                .entry(w.bucket())
                .or_insert_with(|| (prefix.clone(), prefix.clone()));
            range.0 = range.0.clone().min(prefix.clone());
            range.1 = range.1.clone().max(prefix);
        }
        let slot: HashMap<Key, usize> = windows
            .iter()
            .enumerate()
            .map(|(i, w)| ((keys::workspace_pk(&w.workspace_id), w.member_of()), i))
            .collect();
        let mut messages: Vec<Vec<WindowMessage>> = vec![Vec::new(); windows.len()];
        for (bucket, (from, to)) in by_bucket {
            // Prefixes are fixed-width and message suffixes start with a digit, so `~`
            // closes the range right after the last window's messages.
            let to = format!("{to}~");
            let mut start = None;
            loop {
                let out = self
                    .db
                    .query()
                    .table_name(&self.table)
                    .index_name(WINDOW_INDEX.name)
                    .key_condition_expression("win_pk = :pk AND win_sk BETWEEN :from AND :to")
                    .expression_attribute_values(":pk", s(&bucket))
                    .expression_attribute_values(":from", s(&from))
                    .expression_attribute_values(":to", s(&to))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query", e))?;
                for item in out.items.unwrap_or_default() {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                    // Windows in the range but not asked for (parked, claimed elsewhere)
                    // are read and left.
                    let (Some(pk), Some(of)) = (text("pk"), text("member_of")) else {
                        continue;
                    };
                    let Some(&i) = slot.get(&(pk, of)) else {
                        continue;
                    };
                    let received_ms = text("received_at")
                        .and_then(|t| Timestamp::parse(&t))
                        .map(|t| t.millis())
                        .unwrap_or(0);
                    messages[i].push(WindowMessage {
                        event: super::messages::event_of(&item)?,
                        received_ms,
                    });
                }
                match out.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        Ok(messages)
    }
}
